package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/event"
)

// EventStore keeps events, sections and seats in Postgres.
type EventStore struct {
	pool  *pgxpool.Pool
	hooks outbox
}

var _ event.Store = (*EventStore)(nil)

// NewEventStore returns a store on pool.
func NewEventStore(pool *pgxpool.Pool, opts ...StoreOption) *EventStore {
	return &EventStore{pool: pool, hooks: newOutbox(opts)}
}

const eventColumns = `id, name, description, venue, category, starts_at, ends_at, status,
	currency, max_seats_per_booking, max_seats_per_user, hold_ttl_seconds, sales_start, sales_end,
	wr_enabled, wr_admit_per_minute, wr_max_active, wr_admission_ttl_seconds,
	wr_admit_mode, wr_admit_min_per_minute, wr_admit_max_per_minute, wr_target_p95_ms,
	created_at, updated_at, refund_policy`

func scanEvent(row pgx.Row) (event.Event, error) {
	var (
		e            event.Event
		status, mode string
	)
	err := row.Scan(&e.ID, &e.Name, &e.Description, &e.Venue, &e.Category, &e.StartsAt, &e.EndsAt, &status,
		&e.Currency, &e.MaxSeatsPerBooking, &e.MaxSeatsPerUser, &e.HoldTTLSeconds, &e.SalesStart, &e.SalesEnd,
		&e.WaitingRoom.Enabled, &e.WaitingRoom.AdmitPerMinute, &e.WaitingRoom.MaxActive, &e.WaitingRoom.AdmissionTTLSeconds,
		&mode, &e.WaitingRoom.AdmitMinPerMinute, &e.WaitingRoom.AdmitMaxPerMinute, &e.WaitingRoom.TargetP95Ms,
		&e.CreatedAt, &e.UpdatedAt, refundPolicyColumn{&e.RefundPolicy})
	if err != nil {
		return event.Event{}, err
	}
	e.Status = event.Status(status)
	e.WaitingRoom.AdmitMode = event.AdmitMode(mode)
	e.StartsAt = e.StartsAt.UTC()
	e.EndsAt = utcPtr(e.EndsAt)
	e.SalesStart = utcPtr(e.SalesStart)
	e.SalesEnd = utcPtr(e.SalesEnd)
	e.CreatedAt = e.CreatedAt.UTC()
	e.UpdatedAt = e.UpdatedAt.UTC()
	return e, nil
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// CreateEvent inserts the event, its sections and all their seats in one
// transaction of three statements, however many seats there are.
func (s *EventStore) CreateEvent(ctx context.Context, e *event.Event) (err error) {
	defer wrap(&err, "create event %s", e.ID)
	err = inTx(ctx, s.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `
			INSERT INTO events (id, name, description, venue, category, starts_at, ends_at, status,
				currency, max_seats_per_booking, hold_ttl_seconds, sales_start, sales_end,
				wr_enabled, wr_admit_per_minute, wr_max_active, wr_admission_ttl_seconds, max_seats_per_user,
				refund_policy, wr_admit_mode, wr_admit_min_per_minute, wr_admit_max_per_minute, wr_target_p95_ms)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
				$20, $21, $22, $23)
			ON CONFLICT (id) DO NOTHING
			RETURNING created_at, updated_at`,
			e.ID, e.Name, e.Description, e.Venue, e.Category, e.StartsAt, e.EndsAt, string(e.Status),
			e.Currency, e.MaxSeatsPerBooking, e.HoldTTLSeconds, e.SalesStart, e.SalesEnd,
			e.WaitingRoom.Enabled, e.WaitingRoom.AdmitPerMinute, e.WaitingRoom.MaxActive, e.WaitingRoom.AdmissionTTLSeconds,
			e.MaxSeatsPerUser, refundPolicyJSON(e.RefundPolicy), admitMode(e.WaitingRoom),
			e.WaitingRoom.AdmitMinPerMinute, e.WaitingRoom.AdmitMaxPerMinute, targetP95(e.WaitingRoom),
		).Scan(&e.CreatedAt, &e.UpdatedAt)
		if isNoRows(err) {
			return apperr.New(apperr.Conflict, "Event %s already exists.", e.ID)
		}
		if err != nil {
			return err
		}
		e.CreatedAt, e.UpdatedAt = e.CreatedAt.UTC(), e.UpdatedAt.UTC()
		return insertSections(ctx, tx, e.ID, e.Sections)
	})
	if err != nil {
		return err
	}
	return nil
}

// insertSections inserts sections and generates their seats server-side:
// one INSERT for the sections, one INSERT ... SELECT over generate_series
// for every seat of them.
func insertSections(ctx context.Context, tx pgx.Tx, eventID uuid.UUID, secs []event.Section) error {
	n := len(secs)
	ids := make([]uuid.UUID, n)
	positions, capacities, firstSeats := make([]int32, n), make([]int32, n), make([]int32, n)
	rows, perRow := make([]*int32, n), make([]*int32, n)
	names := make([]string, n)
	prices := make([]int64, n)
	maxRows := 0
	for i, sec := range secs {
		ids[i], names[i], prices[i] = sec.ID, sec.Name, sec.PriceCents
		positions[i], capacities[i], firstSeats[i] = int32(sec.Position), int32(sec.Capacity), int32(sec.FirstSeat)
		if sec.Numbered() {
			r, p := int32(sec.Rows), int32(sec.SeatsPerRow)
			rows[i], perRow[i] = &r, &p
			maxRows = max(maxRows, sec.Rows)
		}
	}
	_, err := tx.Exec(ctx, `
		INSERT INTO sections (id, event_id, position, name, price_cents, capacity, rows, seats_per_row, first_seat)
		SELECT id, $1, position, name, price_cents, capacity, rows, seats_per_row, first_seat
		FROM unnest($2::uuid[], $3::int[], $4::text[], $5::bigint[], $6::int[], $7::int[], $8::int[], $9::int[])
			AS s (id, position, name, price_cents, capacity, rows, seats_per_row, first_seat)`,
		eventID, ids, positions, names, prices, capacities, rows, perRow, firstSeats)
	if err != nil {
		return fmt.Errorf("insert sections: %w", err)
	}
	// Seat i (0-based) of a section sits at position first_seat+i+1; in a
	// numbered section it is in row i / seats_per_row, number
	// i % seats_per_row + 1. Labels follow event.Section.SeatLabel.
	// Seat ids are UUIDv7 (time-ordered, so that a big insert appends to
	// the primary key index instead of scattering over it).
	_, err = tx.Exec(ctx, `
		INSERT INTO seats (id, event_id, section_id, position, row_label, number, label)
		SELECT `+uuidV7SQL+`, $1, s.id, s.first_seat + i + 1,
			CASE WHEN s.spr IS NOT NULL THEN ($7::text[])[i / s.spr + 1] END,
			CASE WHEN s.spr IS NOT NULL THEN i % s.spr + 1 END,
			CASE WHEN s.spr IS NOT NULL
				THEN s.name || '-' || ($7::text[])[i / s.spr + 1] || '-' || (i % s.spr + 1)
				ELSE s.name || '-' || lpad((i + 1)::text, greatest(5, length((i + 1)::text)), '0')
			END
		FROM unnest($2::uuid[], $3::text[], $4::int[], $5::int[], $6::int[]) AS s (id, name, first_seat, capacity, spr)
		CROSS JOIN LATERAL generate_series(0, s.capacity - 1) AS i`,
		eventID, ids, names, firstSeats, capacities, perRow, event.RowLabels(maxRows))
	if err != nil {
		return fmt.Errorf("insert seats: %w", err)
	}
	return nil
}

// uuidV7SQL makes a UUIDv7 per row: the current Unix time in milliseconds
// over the first 48 bits of a random UUID, with the version bits set to 7.
const uuidV7SQL = `encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
	placing substring(int8send((extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
	FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid`

// Event returns an event and its sections.
func (s *EventStore) Event(ctx context.Context, id uuid.UUID) (_ event.Event, err error) {
	defer wrap(&err, "get event %s", id)
	e, err := scanEvent(s.pool.QueryRow(ctx, `SELECT `+eventColumns+` FROM events WHERE id = $1`, id))
	if isNoRows(err) {
		return event.Event{}, event.NotFound(id)
	}
	if err != nil {
		return event.Event{}, err
	}
	if err := loadSections(ctx, s.pool, []*event.Event{&e}); err != nil {
		return event.Event{}, err
	}
	return e, nil
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// loadSections fills in the sections of events, in position order, with
// one query.
func loadSections(ctx context.Context, q querier, events []*event.Event) error {
	if len(events) == 0 {
		return nil
	}
	ids := make([]uuid.UUID, len(events))
	byID := make(map[uuid.UUID]*event.Event, len(events))
	for i, e := range events {
		ids[i] = e.ID
		byID[e.ID] = e
		e.Sections = nil
	}
	rows, err := q.Query(ctx, `
		SELECT event_id, id, position, name, price_cents, capacity, rows, seats_per_row, first_seat
		FROM sections WHERE event_id = ANY($1) ORDER BY event_id, position`, ids)
	if err != nil {
		return fmt.Errorf("load sections: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			eventID      uuid.UUID
			sec          event.Section
			nRows, nSeat *int
		)
		if err := rows.Scan(&eventID, &sec.ID, &sec.Position, &sec.Name, &sec.PriceCents, &sec.Capacity,
			&nRows, &nSeat, &sec.FirstSeat); err != nil {
			return fmt.Errorf("load sections: %w", err)
		}
		if nRows != nil && nSeat != nil {
			sec.Rows, sec.SeatsPerRow = *nRows, *nSeat
		}
		e := byID[eventID]
		e.Sections = append(e.Sections, sec)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load sections: %w", err)
	}
	return nil
}

// Events runs a keyset-paginated list over (starts_at, id). With a status
// filter it walks events_status_starts_idx, without one events_starts_idx;
// ?q= uses the GIN index on the search column.
func (s *EventStore) Events(ctx context.Context, f event.Filter) (_ []event.Event, err error) {
	defer wrap(&err, "list events")
	var (
		where conditions
		args  queryArgs
	)
	arg := args.add
	switch len(f.Statuses) {
	case 0:
	case 1:
		where.add("status = " + arg(string(f.Statuses[0])))
	default:
		ss := make([]string, len(f.Statuses))
		for i, st := range f.Statuses {
			ss[i] = string(st)
		}
		where.add("status = ANY(" + arg(ss) + ")")
	}
	if f.From != nil {
		where.add("starts_at >= " + arg(*f.From))
	}
	if f.To != nil {
		where.add("starts_at < " + arg(*f.To))
	}
	if f.After != nil {
		where.add("(starts_at, id) > (" + arg(f.After.StartsAt) + ", " + arg(f.After.ID) + ")")
	}
	if len(f.Terms) > 0 {
		where.add("search @@ to_tsquery('simple', " + arg(prefixQuery(f.Terms)) + ")")
	}
	if f.Category != "" {
		where.add("lower(category) = lower(" + arg(f.Category) + ")")
	}
	if f.Venue != "" {
		where.add("lower(venue) = lower(" + arg(f.Venue) + ")")
	}
	sql := `SELECT ` + eventColumns + ` FROM events`
	sql += where.sql()
	sql += " ORDER BY starts_at, id LIMIT " + arg(f.Limit)

	rows, err := s.pool.Query(ctx, sql, args...)
	events, err := collect(rows, err, scanEvent)
	if err != nil {
		return nil, err
	}
	ptrs := make([]*event.Event, len(events))
	for i := range events {
		ptrs[i] = &events[i]
	}
	if err := loadSections(ctx, s.pool, ptrs); err != nil {
		return nil, err
	}
	return events, nil
}

// prefixQuery turns words of letters and digits into a tsquery matching
// documents with a word starting with each: 'jazz':* & 'lon':*. The words
// cannot hold quotes or operators (event.Filter says so), so quoting them
// is enough.
func prefixQuery(terms []string) string {
	parts := make([]string, len(terms))
	for i, t := range terms {
		parts[i] = "'" + strings.ReplaceAll(t, "'", "''") + "':*"
	}
	return strings.Join(parts, " & ")
}

// Availability counts held and booked seats per event from the
// (event_id, status, position) INCLUDE (held_until) index: only the seats
// that are not available are visited, so it costs what has been sold, not
// the event's size. Available is left for the caller (capacity minus
// these).
func (s *EventStore) Availability(ctx context.Context, ids []uuid.UUID) (_ map[uuid.UUID]event.Availability, err error) {
	defer wrap(&err, "count seats")
	rows, err := s.pool.Query(ctx, `
		SELECT event_id,
			count(*) FILTER (WHERE status = 'held' AND held_until >= now()),
			count(*) FILTER (WHERE status = 'booked')
		FROM seats
		WHERE event_id = ANY($1) AND status IN ('held', 'booked')
		GROUP BY event_id`, ids)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[uuid.UUID]event.Availability, len(ids))
	for rows.Next() {
		var (
			id uuid.UUID
			a  event.Availability
		)
		if err := rows.Scan(&id, &a.Held, &a.Booked); err != nil {
			return nil, err
		}
		out[id] = a
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// Seats lists seats by position over seats_event_position_idx (or, with a
// status, seats_event_status_idx). A hold whose held_until has passed shows
// as available.
func (s *EventStore) Seats(ctx context.Context, f event.SeatFilter) (_ []event.Seat, err error) {
	defer wrap(&err, "list seats of event %s", f.EventID)
	cond := ""
	switch f.Status {
	case event.SeatAvailable:
		cond = "AND (status = 'available' OR (status = 'held' AND held_until < now()))"
	case event.SeatHeld:
		cond = "AND status = 'held' AND held_until >= now()"
	case event.SeatBooked:
		cond = "AND status = 'booked'"
	}
	rows, err := s.pool.Query(ctx, `
		SELECT id, section_id, row_label, number, label,
			CASE WHEN status = 'held' AND held_until < now() THEN 'available' ELSE status END,
			position
		FROM seats
		WHERE event_id = $1 AND position > $2 AND position <= $3 `+cond+`
		ORDER BY position
		LIMIT $4`, f.EventID, max(f.After, f.FirstSeat), f.LastSeat, f.Limit)
	seats, err := collect(rows, err, func(r pgx.Row) (event.Seat, error) {
		var (
			st     event.Seat
			row    *string
			number *int
			status string
		)
		err := r.Scan(&st.ID, &st.SectionID, &row, &number, &st.Label, &status, &st.Position)
		if row != nil {
			st.Row = *row
		}
		if number != nil {
			st.Number = *number
		}
		st.Status = event.SeatStatus(status)
		return st, err
	})
	if err != nil {
		return nil, err
	}
	return seats, nil
}

// admitMode is w's admission mode as stored: fixed unless set.
func admitMode(w event.WaitingRoom) string {
	if w.AdmitMode == "" {
		return string(event.AdmitFixed)
	}
	return string(w.AdmitMode)
}

// targetP95 is w's booking p95 target as stored: the default unless set.
func targetP95(w event.WaitingRoom) int {
	if w.TargetP95Ms == 0 {
		return event.DefaultTargetP95Ms
	}
	return w.TargetP95Ms
}
