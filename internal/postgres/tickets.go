package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/booking"
	"github.com/evently/evently/internal/event"
	"github.com/evently/evently/internal/notify"
	"github.com/evently/evently/internal/ticket"
)

// issueTicketsSQL issues one ticket per seat of the bookings $1 confirmed
// at $2: one statement per confirmation batch, in its transaction, after
// confirmSQL booked the seats (so every seat of the batch is booked by
// its booking, found through seats_booking_idx). The unique index on
// valid tickets per seat refuses a second ticket for a seat.
const issueTicketsSQL = `
INSERT INTO tickets (id, event_id, booking_id, seat_id, section, seat_label, position, issued_at)
SELECT gen_uuid_v7(), s.event_id, s.booking_id, s.id, sec.name, s.label, s.position, $2
FROM seats s JOIN sections sec ON sec.id = s.section_id
WHERE s.booking_id = ANY($1::uuid[]) AND s.status = 'booked'`

// TicketStore reads tickets and checks them in. Tickets are issued and
// voided by the booking statements (issueTicketsSQL, endBookingsSQL).
type TicketStore struct {
	pool  *pgxpool.Pool
	hooks outbox
}

var _ ticket.Store = (*TicketStore)(nil)

// NewTicketStore returns a store on pool.
func NewTicketStore(pool *pgxpool.Pool, opts ...StoreOption) *TicketStore {
	return &TicketStore{pool: pool, hooks: newOutbox(opts)}
}

// ticketColumns reads a ticket t with its holder (h, the booking's owner)
// and who checked it in (c).
const ticketColumns = `t.id, t.event_id, t.booking_id, t.seat_id, t.section, t.seat_label, h.name, t.status,
	t.issued_at, t.voided_at, t.checked_in_at, t.checked_in_by, c.name`

const ticketFrom = `FROM tickets t JOIN bookings b ON b.id = t.booking_id JOIN users h ON h.id = b.user_id
	LEFT JOIN users c ON c.id = t.checked_in_by`

func scanTicket(row pgx.Row) (ticket.Ticket, error) {
	var (
		t      ticket.Ticket
		status string
	)
	err := row.Scan(&t.ID, &t.EventID, &t.BookingID, &t.SeatID, &t.Section, &t.SeatLabel, &t.HolderName, &status,
		&t.IssuedAt, &t.VoidedAt, &t.CheckedInAt, &t.CheckedInBy, &t.CheckedInByName)
	t.Status = ticket.Status(status)
	t.IssuedAt = t.IssuedAt.UTC()
	t.VoidedAt, t.CheckedInAt = utcPtr(t.VoidedAt), utcPtr(t.CheckedInAt)
	return t, err
}

// BookingTickets implements ticket.Store.
func (s *TicketStore) BookingTickets(ctx context.Context, bookingID uuid.UUID, userID *uuid.UUID) (_ []ticket.Ticket, err error) {
	defer wrap(&err, "tickets of booking %s", bookingID)
	b := &pgx.Batch{}
	b.Queue(`SELECT user_id FROM bookings WHERE id = $1`, bookingID)
	b.Queue(`SELECT `+ticketColumns+` `+ticketFrom+` WHERE t.booking_id = $1 ORDER BY t.position, t.id`, bookingID)
	res := s.pool.SendBatch(ctx, b)
	defer res.Close()
	var owner uuid.UUID
	err = res.QueryRow().Scan(&owner)
	if isNoRows(err) || (err == nil && userID != nil && *userID != owner) {
		return nil, booking.NoSuchBooking()
	}
	if err != nil {
		return nil, err
	}
	rows, err := res.Query()
	return collect(rows, err, scanTicket)
}

// Ticket implements ticket.Store.
func (s *TicketStore) Ticket(ctx context.Context, id uuid.UUID, userID *uuid.UUID) (_ ticket.Ticket, err error) {
	defer wrap(&err, "ticket %s", id)
	t, err := scanTicket(s.pool.QueryRow(ctx, `SELECT `+ticketColumns+` `+ticketFrom+`
		WHERE t.id = $1 AND ($2::uuid IS NULL OR b.user_id = $2)`, id, userID))
	if isNoRows(err) {
		return ticket.Ticket{}, apperr.New(apperr.NotFound, "No such ticket.")
	}
	if err != nil {
		return ticket.Ticket{}, err
	}
	return t, nil
}

// checkInSQL checks ticket $2 of event $1 in at $4 by $3 if it is valid
// and nobody has: under concurrent scans the row lock queues the writers
// and each re-checks the condition once the one before it committed, so
// exactly one sets checked_in_at. With hooks it records ticket.checked_in
// in the same statement. It returns whether it checked the ticket in, and
// the webhook ids.
func checkInSQL(hooks bool) string {
	sql := `
WITH done AS (
    UPDATE tickets SET checked_in_at = $4, checked_in_by = $3
    WHERE id = $2 AND event_id = $1 AND status = 'valid' AND checked_in_at IS NULL
    RETURNING id, event_id, booking_id, section, seat_label, checked_in_at, checked_in_by
)`
	hookIDs := `'{}'::uuid[]`
	if hooks {
		sql += `, hook AS (` + hookSQL(notify.TypeTicketCheckedIn, `SELECT gen_uuid_v7() AS id, d.id AS subject,
        $4::timestamptz AS at, `+checkInJSON+` AS data
        FROM done d JOIN bookings b ON b.id = d.booking_id JOIN users h ON h.id = b.user_id
        LEFT JOIN users c ON c.id = d.checked_in_by`) + `)`
		hookIDs = `ARRAY(SELECT id FROM hook)`
	}
	return sql + `
SELECT EXISTS (SELECT 1 FROM done), ` + hookIDs
}

// checkInJSON renders a check-in (d: the ticket checked in, h: its holder,
// c: who checked it in) as the CheckIn of api/openapi.yaml.
var checkInJSON = `jsonb_build_object('status', 'checked_in', 'ticket_id', d.id, 'event_id', d.event_id,
        'booking_id', d.booking_id, 'section', d.section, 'seat', d.seat_label, 'holder_name', h.name,
        'checked_in_at', ` + sqlTime("d.checked_in_at") + `,
        'checked_in_by', jsonb_build_object('id', d.checked_in_by, 'name', c.name))`

// CheckIn implements ticket.Store: the conditional write and the read of
// the ticket as it then stands are one round trip, in one implicit
// transaction (the read, a statement of its own, sees the check-in that a
// concurrent scan committed while this one waited for the row).
func (s *TicketStore) CheckIn(ctx context.Context, eventID, id, staff uuid.UUID, now time.Time) (_ ticket.Ticket, _ bool, err error) {
	defer wrap(&err, "check in ticket %s event=%s", id, eventID)
	hooksOn := s.hooks.on()
	b := &pgx.Batch{}
	b.Queue(checkInSQL(hooksOn), eventID, id, staff, now)
	b.Queue(`SELECT `+ticketColumns+` `+ticketFrom+` WHERE t.id = $1 AND t.event_id = $2`, id, eventID)
	res := s.pool.SendBatch(ctx, b)
	var (
		done  bool
		hooks []uuid.UUID
		t     ticket.Ticket
	)
	err = res.QueryRow().Scan(&done, &hooks)
	if err == nil {
		t, err = scanTicket(res.QueryRow())
	}
	if cerr := res.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if isNoRows(err) {
		return ticket.Ticket{}, false, apperr.New(apperr.NotFound, "No such ticket.")
	}
	if err != nil {
		return ticket.Ticket{}, false, err
	}
	s.hooks.sent(ctx, hooks)
	return t, done, nil
}

// Stats implements ticket.Store (tickets_event_section_idx).
func (s *TicketStore) Stats(ctx context.Context, eventID uuid.UUID) (_ []ticket.SectionStats, err error) {
	defer wrap(&err, "check-in stats event=%s", eventID)
	b := &pgx.Batch{}
	b.Queue(`SELECT EXISTS (SELECT 1 FROM events WHERE id = $1)`, eventID)
	b.Queue(`
		SELECT section, count(*) FILTER (WHERE status = 'valid'),
		       count(*) FILTER (WHERE status = 'valid' AND checked_in_at IS NOT NULL)
		FROM tickets WHERE event_id = $1
		GROUP BY section
		ORDER BY min(position)`, eventID)
	res := s.pool.SendBatch(ctx, b)
	defer res.Close()
	var found bool
	if err := res.QueryRow().Scan(&found); err != nil {
		return nil, err
	}
	if !found {
		return nil, event.NotFound(eventID)
	}
	rows, err := res.Query()
	return collect(rows, err, func(r pgx.Row) (ticket.SectionStats, error) {
		var st ticket.SectionStats
		err := r.Scan(&st.Section, &st.Issued, &st.CheckedIn)
		return st, err
	})
}

// refundTierJSON is a tier of events.refund_policy.
type refundTierJSON struct {
	UntilHoursBeforeStart int `json:"until_hours_before_start"`
	Percent               int `json:"percent"`
}

// refundPolicyJSON is p as stored: NULL for the default schedule.
func refundPolicyJSON(p event.RefundPolicy) []byte {
	if p == nil {
		return nil
	}
	tiers := make([]refundTierJSON, len(p))
	for i, t := range p {
		tiers[i] = refundTierJSON(t)
	}
	b, _ := json.Marshal(tiers) // plain ints: cannot fail
	return b
}

// refundPolicyColumn scans events.refund_policy into p (nil for NULL).
type refundPolicyColumn struct{ p *event.RefundPolicy }

func (c refundPolicyColumn) Scan(src any) error {
	*c.p = nil
	var raw []byte
	switch v := src.(type) {
	case nil:
		return nil
	case []byte:
		raw = v
	case string:
		raw = []byte(v)
	default:
		return fmt.Errorf("refund_policy: cannot scan %T", src)
	}
	var tiers []refundTierJSON
	if err := json.Unmarshal(raw, &tiers); err != nil {
		return fmt.Errorf("refund_policy: %w", err)
	}
	p := make(event.RefundPolicy, len(tiers))
	for i, t := range tiers {
		p[i] = event.RefundTier(t)
	}
	*c.p = p
	return nil
}
