package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/booking"
	"github.com/evently/evently/internal/notify"
)

// BookingStore keeps bookings. Every write locks seats before bookings
// (and bookings before waitlist entries), in seat-id order, so that holds,
// confirmations, cancellations, offers and the cleanup job never wait on
// each other in a cycle. The notifications a change causes are written in
// its transaction, and so are its webhook deliveries when webhooks are on.
type BookingStore struct {
	pool  *pgxpool.Pool
	hooks outbox
}

var _ booking.Store = (*BookingStore)(nil)

// NewBookingStore returns a store on pool.
func NewBookingStore(pool *pgxpool.Pool) *BookingStore { return &BookingStore{pool: pool} }

// EnableWebhooks makes the store record a webhook delivery for every
// booking state change, in the transaction of the change, and hand the
// ids to dispatch once committed. Call it before the store is used.
func (s *BookingStore) EnableWebhooks(dispatch Dispatch) { s.hooks = outbox{dispatch: dispatch} }

// Sale reads an event's sale facts and its sections in one round trip.
func (s *BookingStore) Sale(ctx context.Context, eventID uuid.UUID) (booking.Sale, error) {
	b := &pgx.Batch{}
	b.Queue(`SELECT status, starts_at, sales_start, sales_end, max_seats_per_booking,
		hold_ttl_seconds, currency, wr_enabled FROM events WHERE id = $1`, eventID)
	b.Queue(`SELECT id, name, first_seat + 1, first_seat + capacity, rows IS NOT NULL
		FROM sections WHERE event_id = $1 ORDER BY position`, eventID)
	res := s.pool.SendBatch(ctx, b)
	defer res.Close()

	sale := booking.Sale{EventID: eventID}
	var ttl int
	err := res.QueryRow().Scan(&sale.Status, &sale.StartsAt, &sale.SalesStart, &sale.SalesEnd,
		&sale.MaxSeatsPerBooking, &ttl, &sale.Currency, &sale.WaitingRoomEnabled)
	if errors.Is(err, pgx.ErrNoRows) {
		return booking.Sale{}, apperr.New(apperr.NotFound, "No such event.")
	}
	if err != nil {
		return booking.Sale{}, fmt.Errorf("read sale event=%s: %w", eventID, err)
	}
	sale.HoldTTL = time.Duration(ttl) * time.Second
	rows, err := res.Query()
	if err != nil {
		return booking.Sale{}, fmt.Errorf("read sections event=%s: %w", eventID, err)
	}
	sale.Sections, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (booking.Section, error) {
		var sec booking.Section
		err := r.Scan(&sec.ID, &sec.Name, &sec.First, &sec.Last, &sec.Numbered)
		return sec, err
	})
	if err != nil {
		return booking.Sale{}, fmt.Errorf("read sections event=%s: %w", eventID, err)
	}
	return sale, nil
}

// lockSeatsSQL locks the asked-for seats in id order and marks expired the
// lapsed holds it takes seats over from, so that their booking_seats rows
// stop counting as live before the new ones are inserted (their owners are
// told, and a lapsed waitlist offer ends its entry).
var lockSeatsSQL = `
WITH locked AS (
    SELECT id, event_id, status, held_until, booking_id
    FROM seats WHERE id = ANY($1::uuid[])
    ORDER BY id
    FOR UPDATE
), stale AS (
    UPDATE bookings b SET status = 'expired', updated_at = $2
    WHERE b.id IN (SELECT booking_id FROM locked WHERE status = 'held' AND held_until <= $2)
      AND b.status = 'pending'
    RETURNING b.id, b.user_id, b.event_id, b.quantity
), deactivated AS (
    UPDATE booking_seats SET active = false
    WHERE booking_id IN (SELECT id FROM stale) AND active
), lapsed_offers AS (
    UPDATE waitlist_entries SET status = 'expired', updated_at = $2
    WHERE offer_booking_id IN (SELECT id FROM stale) AND status = 'offered'
), notes AS (` + holdExpiredNoteSQL("stale", "$2") + `
)
SELECT id, event_id, status, held_until FROM locked`

// staleHookSQL records booking.expired for the lapsed holds lockSeatsSQL
// just expired (their seats still name them until the hold takes them).
// Params: $1 seat ids, $2 now.
var staleHookSQL = bookingHookSQL(notify.TypeBookingExpired, "$2", `b.status = 'expired' AND b.id IN (
    SELECT booking_id FROM seats WHERE id = ANY($1::uuid[]) AND status = 'held' AND held_until <= $2)`)

// heldHookSQL records booking.held for a new hold. Params: $1 booking, $2
// now.
var heldHookSQL = bookingHookSQL(notify.TypeBookingHeld, "$2", `b.id = $1`)

// saleOpenSQL is the events condition every hold re-checks atomically.
const saleOpenSQL = `
    SELECT currency FROM events
    WHERE id = $1 AND status = 'published' AND starts_at > $3
      AND (sales_start IS NULL OR sales_start <= $3)
      AND (sales_end IS NULL OR sales_end > $3)`

// holdSeatsSQL holds exactly the seats $2 for booking $4, or nothing.
// Params: $1 event, $2 seat ids, $3 now, $4 booking id, $5 user, $6 expires.
const holdSeatsSQL = `
WITH ev AS (` + saleOpenSQL + `
), cand AS (
    SELECT s.id, sec.price_cents
    FROM seats s JOIN sections sec ON sec.id = s.section_id
    WHERE s.id = ANY($2::uuid[]) AND s.event_id = $1
      AND (s.status = 'available' OR (s.status = 'held' AND s.held_until <= $3))
), bk AS (
    INSERT INTO bookings (id, event_id, user_id, status, quantity, total_cents, currency, expires_at, created_at, updated_at)
    SELECT $4, $1, $5, 'pending', cardinality($2::uuid[]), (SELECT sum(price_cents) FROM cand), ev.currency, $6, $3, $3
    FROM ev WHERE (SELECT count(*) FROM cand) = cardinality($2::uuid[])
    RETURNING id
), upd AS (
    UPDATE seats s SET status = 'held', booking_id = $4, held_until = $6, hold_seq = s.hold_seq + 1
    FROM cand WHERE s.id = cand.id AND EXISTS (SELECT 1 FROM bk)
    RETURNING s.id, s.hold_seq, cand.price_cents, s.section_id, s.row_label, s.number, s.label, s.position
), ins AS (
    INSERT INTO booking_seats (booking_id, seat_id, hold_seq, price_cents)
    SELECT $4, id, hold_seq, price_cents FROM upd
)
SELECT u.id, sec.name, u.row_label, u.number, u.label, u.price_cents, (SELECT currency FROM ev)
FROM upd u JOIN sections sec ON sec.id = u.section_id
ORDER BY u.position`

// HoldSeats locks the seats and holds them in one round trip: the
// statements travel in one batch, which Postgres runs as one implicit
// transaction.
func (s *BookingStore) HoldSeats(ctx context.Context, h booking.SeatHold) (booking.Booking, error) {
	type outcome struct {
		bk    booking.Booking
		hooks []uuid.UUID
		// refused is why nothing was held (the batch still committed: it
		// may have expired lapsed holds).
		refused error
	}
	o, err := retryOnConflict(ctx, func() (outcome, error) {
		var o outcome
		b := &pgx.Batch{}
		b.Queue(lockSeatsSQL, h.SeatIDs, h.Now)
		if s.hooks.on() {
			b.Queue(staleHookSQL, h.SeatIDs, h.Now)
		}
		b.Queue(holdSeatsSQL, h.EventID, h.SeatIDs, h.Now, h.BookingID, h.UserID, h.ExpiresAt)
		if s.hooks.on() {
			b.Queue(heldHookSQL, h.BookingID, h.Now)
		}
		res := s.pool.SendBatch(ctx, b)
		defer res.Close()

		rows, err := res.Query()
		if err != nil {
			return o, fmt.Errorf("lock seats event=%s: %w", h.EventID, err)
		}
		locked, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (lockedSeat, error) {
			var l lockedSeat
			err := r.Scan(&l.id, &l.event, &l.status, &l.heldUntil)
			return l, err
		})
		if err != nil {
			return o, fmt.Errorf("lock seats event=%s: %w", h.EventID, err)
		}
		if s.hooks.on() {
			if o.hooks, err = collectIDs(res.Query()); err != nil {
				return o, fmt.Errorf("record expiries event=%s: %w", h.EventID, err)
			}
		}
		rows, err = res.Query()
		if err != nil {
			return o, fmt.Errorf("hold seats event=%s: %w", h.EventID, err)
		}
		if o.bk, err = collectHeld(rows, h.BookingID, h.EventID, h.UserID, h.Now, h.ExpiresAt); err != nil {
			return o, fmt.Errorf("hold seats event=%s: %w", h.EventID, err)
		}
		if s.hooks.on() {
			ids, err := collectIDs(res.Query())
			if err != nil {
				return o, fmt.Errorf("record hold event=%s: %w", h.EventID, err)
			}
			o.hooks = append(o.hooks, ids...)
		}
		if err := res.Close(); err != nil {
			return o, fmt.Errorf("hold seats event=%s: %w", h.EventID, err)
		}
		if len(o.bk.Seats) != len(h.SeatIDs) {
			o.refused = whyNotHeld(h, locked)
		}
		return o, nil
	})
	if err != nil {
		return booking.Booking{}, err
	}
	s.hooks.sent(ctx, o.hooks)
	if o.refused != nil {
		return booking.Booking{}, o.refused
	}
	return o.bk, nil
}

type lockedSeat struct {
	id, event uuid.UUID
	status    string
	heldUntil *time.Time
}

// whyNotHeld says why a hold of specific seats held nothing.
func whyNotHeld(h booking.SeatHold, locked []lockedSeat) error {
	found := map[uuid.UUID]lockedSeat{}
	for _, l := range locked {
		found[l.id] = l
	}
	var foreign, taken []uuid.UUID
	for _, id := range h.SeatIDs {
		l, ok := found[id]
		switch {
		case !ok || l.event != h.EventID:
			foreign = append(foreign, id)
		case l.status == "booked" || (l.status == "held" && l.heldUntil != nil && l.heldUntil.After(h.Now)):
			taken = append(taken, id)
		}
	}
	switch {
	case len(foreign) > 0:
		return apperr.Invalid(apperr.FieldError{Field: "seat_ids",
			Message: fmt.Sprintf("%d seat(s) are not seats of this event", len(foreign))}).With("seat_ids", foreign)
	case len(taken) > 0:
		return apperr.New(apperr.SeatUnavailable, "%d of the seats asked for are taken.", len(taken)).
			With("seat_ids", taken)
	default:
		return apperr.New(apperr.SalesClosed, "The event is not on sale.")
	}
}

// holdBestSQL takes the best $2 available seats between positions $7 and
// $8: it locks a window of $9 free seats in position order (skipping seats
// other holds have locked, so concurrent buyers take different seats
// instead of queueing), picks the first block of $2 adjacent seats in one
// row within it when $10 is set and such a block exists, else the first
// $2, and holds them. The result rows (at least one) also tell whether the
// sale is open and where the first free seat was.
// Params: $1 event, $2 quantity, $3 now, $4 booking id, $5 user,
// $6 expires, $7 lo, $8 hi, $9 window, $10 adjacent.
const holdBestSQL = `
WITH ev AS (` + saleOpenSQL + `
), pick AS (
    SELECT s.id, s.position, s.section_id, s.row_label
    FROM seats s
    WHERE s.event_id = $1 AND s.status = 'available' AND s.position BETWEEN $7 AND $8
      AND EXISTS (SELECT 1 FROM ev)
    ORDER BY s.position
    LIMIT $9
    FOR UPDATE OF s SKIP LOCKED
), runs AS (
    SELECT id, position, section_id, row_label,
           position - row_number() OVER (ORDER BY position) AS grp
    FROM pick
), block AS (
    SELECT grp, section_id, row_label FROM runs
    WHERE $10
    GROUP BY grp, section_id, row_label
    HAVING count(*) >= $2
    ORDER BY min(position)
    LIMIT 1
), in_block AS (
    SELECT r.id, r.position FROM runs r JOIN block b
      ON r.grp = b.grp AND r.section_id = b.section_id AND r.row_label IS NOT DISTINCT FROM b.row_label
    ORDER BY r.position LIMIT $2
), chosen AS (
    SELECT id FROM in_block
    UNION ALL
    (SELECT id FROM runs WHERE NOT EXISTS (SELECT 1 FROM in_block) ORDER BY position LIMIT $2)
), priced AS (
    SELECT c.id, sec.price_cents
    FROM chosen c JOIN seats s ON s.id = c.id JOIN sections sec ON sec.id = s.section_id
), bk AS (
    INSERT INTO bookings (id, event_id, user_id, status, quantity, total_cents, currency, expires_at, created_at, updated_at)
    SELECT $4, $1, $5, 'pending', $2, (SELECT sum(price_cents) FROM priced), ev.currency, $6, $3, $3
    FROM ev WHERE (SELECT count(*) FROM priced) = $2
    RETURNING id
), upd AS (
    UPDATE seats s SET status = 'held', booking_id = $4, held_until = $6, hold_seq = s.hold_seq + 1
    FROM priced WHERE s.id = priced.id AND EXISTS (SELECT 1 FROM bk)
    RETURNING s.id, s.hold_seq, priced.price_cents, s.section_id, s.row_label, s.number, s.label, s.position
), ins AS (
    INSERT INTO booking_seats (booking_id, seat_id, hold_seq, price_cents)
    SELECT $4, id, hold_seq, price_cents FROM upd
)
SELECT u.id, sec.name, u.row_label, u.number, u.label, u.price_cents, (SELECT currency FROM ev),
       EXISTS (SELECT 1 FROM ev), (SELECT min(position) FROM pick)
FROM (SELECT 1) one
LEFT JOIN upd u ON true
LEFT JOIN sections sec ON sec.id = u.section_id
ORDER BY u.position`

// adjacencySlack is how many free seats beyond the quantity a
// best-available hold considers when looking for an adjacent block.
const adjacencySlack = 8

// HoldBest holds the best available seats in one statement (and, with
// webhooks on, records the hold's webhook in the same round trip).
func (s *BookingStore) HoldBest(ctx context.Context, h booking.BestHold) (booking.Booking, int, error) {
	type outcome struct {
		bk    booking.Booking
		first int
		hooks []uuid.UUID
	}
	args := bestArgs(h)
	o, err := retryOnConflict(ctx, func() (outcome, error) {
		var o outcome
		var (
			rows pgx.Rows
			err  error
			res  pgx.BatchResults
		)
		if s.hooks.on() {
			b := &pgx.Batch{}
			b.Queue(holdBestSQL, args...)
			b.Queue(heldHookSQL, h.BookingID, h.Now)
			res = s.pool.SendBatch(ctx, b)
			defer res.Close()
			rows, err = res.Query()
		} else {
			rows, err = s.pool.Query(ctx, holdBestSQL, args...)
		}
		if err != nil {
			return o, fmt.Errorf("hold best event=%s: %w", h.EventID, err)
		}
		bk, open, first, err := scanBest(rows, h)
		if err != nil {
			return o, fmt.Errorf("hold best event=%s: %w", h.EventID, err)
		}
		o.first = first
		if res != nil {
			if o.hooks, err = collectIDs(res.Query()); err != nil {
				return o, fmt.Errorf("record hold event=%s: %w", h.EventID, err)
			}
			if err := res.Close(); err != nil {
				return o, fmt.Errorf("hold best event=%s: %w", h.EventID, err)
			}
		}
		switch {
		case !open:
			return o, apperr.New(apperr.SalesClosed, "The event is not on sale.")
		case len(bk.Seats) < h.Quantity:
			return o, apperr.New(apperr.SoldOut, "Fewer than %d seats are free.", h.Quantity)
		}
		o.bk = bk
		return o, nil
	})
	if apperr.Is(err, apperr.SoldOut) {
		// Holds that lapsed unconfirmed do not block their seats, even
		// before the cleanup job frees them: take over such seats.
		return s.holdLapsed(ctx, h)
	}
	if err != nil {
		return booking.Booking{}, 0, err
	}
	s.hooks.sent(ctx, o.hooks)
	return o.bk, o.first, nil
}

// bestArgs are holdBestSQL's parameters for h.
func bestArgs(h booking.BestHold) []any {
	window := h.Quantity
	if h.Adjacent {
		window += adjacencySlack
	}
	return []any{h.EventID, h.Quantity, h.Now, h.BookingID, h.UserID, h.ExpiresAt, h.Lo, h.Hi, window, h.Adjacent}
}

// scanBest reads holdBestSQL's rows: the seats held (none when too few
// were free), whether the sale is open, and the first free position seen.
func scanBest(rows pgx.Rows, h booking.BestHold) (bk booking.Booking, open bool, first int, err error) {
	defer rows.Close()
	var firstPos *int
	bk = booking.Booking{ID: h.BookingID, EventID: h.EventID, UserID: h.UserID, Status: booking.StatusPending,
		Quantity: h.Quantity, ExpiresAt: h.ExpiresAt, CreatedAt: h.Now}
	for rows.Next() {
		var (
			seat     booking.Seat
			id       *uuid.UUID
			section  *string
			label    *string
			price    *int64
			currency *string
		)
		if err := rows.Scan(&id, &section, &seat.Row, &seat.Number, &label, &price, &currency, &open, &firstPos); err != nil {
			return bk, false, 0, err
		}
		if id == nil {
			continue
		}
		seat.ID, seat.Section, seat.Label, seat.PriceCents, seat.Status = *id, *section, *label, *price, "held"
		bk.Seats = append(bk.Seats, seat)
		bk.TotalCents += *price
		bk.Currency = *currency
	}
	if err := rows.Err(); err != nil {
		return bk, false, 0, err
	}
	if firstPos != nil {
		first = *firstPos
	}
	return bk, open, first, nil
}

// holdLapsed is the rare path of a best-available hold that found too few
// free seats: it looks for seats whose hold lapsed and holds those.
func (s *BookingStore) holdLapsed(ctx context.Context, h booking.BestHold) (booking.Booking, int, error) {
	// Lapsed holds are found through the held_until index, which holds
	// only the few seats whose hold ran out before cleanup freed them —
	// not by walking every live hold of a busy on-sale.
	rows, err := s.pool.Query(ctx, `
		SELECT id FROM (
		    (SELECT id, position FROM seats
		     WHERE status = 'held' AND held_until <= $4 AND event_id = $1 AND position BETWEEN $2 AND $3
		     ORDER BY held_until LIMIT $5)
		    UNION ALL
		    (SELECT id, position FROM seats
		     WHERE event_id = $1 AND status = 'available' AND position BETWEEN $2 AND $3
		     ORDER BY position LIMIT $5)
		) free
		ORDER BY position LIMIT $5`, h.EventID, h.Lo, h.Hi, h.Now, h.Quantity)
	if err != nil {
		return booking.Booking{}, 0, fmt.Errorf("find lapsed holds event=%s: %w", h.EventID, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return booking.Booking{}, 0, fmt.Errorf("find lapsed holds event=%s: %w", h.EventID, err)
	}
	if len(ids) < h.Quantity {
		return booking.Booking{}, 0, apperr.New(apperr.SoldOut, "Fewer than %d seats are free.", h.Quantity)
	}
	bk, err := s.HoldSeats(ctx, booking.SeatHold{BookingID: h.BookingID, EventID: h.EventID, UserID: h.UserID,
		SeatIDs: ids, Now: h.Now, ExpiresAt: h.ExpiresAt})
	if apperr.Is(err, apperr.SeatUnavailable) || apperr.Is(err, apperr.ValidationFailed) {
		// Someone else took them first; for a quantity buyer that is the
		// same as too few seats.
		return booking.Booking{}, 0, apperr.New(apperr.SoldOut, "Fewer than %d seats are free.", h.Quantity)
	}
	return bk, 0, err
}

// collectHeld reads the seats a hold statement returned.
func collectHeld(rows pgx.Rows, id, eventID, userID uuid.UUID, now, expires time.Time) (booking.Booking, error) {
	bk := booking.Booking{ID: id, EventID: eventID, UserID: userID, Status: booking.StatusPending,
		ExpiresAt: expires, CreatedAt: now}
	for rows.Next() {
		var seat booking.Seat
		if err := rows.Scan(&seat.ID, &seat.Section, &seat.Row, &seat.Number, &seat.Label, &seat.PriceCents, &bk.Currency); err != nil {
			rows.Close()
			return booking.Booking{}, err
		}
		seat.Status = "held"
		bk.Seats = append(bk.Seats, seat)
		bk.TotalCents += seat.PriceCents
	}
	if err := rows.Err(); err != nil {
		return booking.Booking{}, err
	}
	bk.Quantity = len(bk.Seats)
	return bk, nil
}

// lockBookingSQL locks a booking's seats (first, in id order), then the
// booking.
const lockBookingSQL = `
WITH seat_locks AS (
    SELECT s.id FROM seats s JOIN booking_seats bs ON bs.seat_id = s.id
    WHERE bs.booking_id = $1
    ORDER BY s.id
    FOR UPDATE OF s
)
SELECT b.user_id, b.status, b.expires_at, e.starts_at
FROM bookings b JOIN events e ON e.id = b.event_id
WHERE b.id = $1 AND (SELECT count(*) FROM seat_locks) >= 0
FOR UPDATE OF b`

type lockedBooking struct {
	userID   uuid.UUID
	status   booking.Status
	expires  time.Time
	startsAt time.Time
}

func lockBooking(ctx context.Context, tx pgx.Tx, id uuid.UUID, owner *uuid.UUID) (lockedBooking, error) {
	var l lockedBooking
	err := tx.QueryRow(ctx, lockBookingSQL, id).Scan(&l.userID, &l.status, &l.expires, &l.startsAt)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && owner != nil && *owner != l.userID) {
		return l, apperr.New(apperr.NotFound, "No such booking.")
	}
	if err != nil {
		return l, fmt.Errorf("lock booking=%s: %w", id, err)
	}
	return l, nil
}

// expireSQL marks a pending booking expired, frees the seats it still
// holds, ends the waitlist entry it was offered to and tells its owner.
// Params: $1 booking, $2 now.
var expireSQL = `
WITH b AS (
    UPDATE bookings SET status = 'expired', updated_at = $2 WHERE id = $1 AND status = 'pending'
    RETURNING id, user_id, event_id, quantity
), d AS (
    UPDATE booking_seats SET active = false WHERE booking_id IN (SELECT id FROM b) AND active
), lapsed_offer AS (
    UPDATE waitlist_entries SET status = 'expired', updated_at = $2
    WHERE offer_booking_id IN (SELECT id FROM b) AND status = 'offered'
), note AS (` + holdExpiredNoteSQL("b", "$2") + `
)
UPDATE seats SET status = 'available', booking_id = NULL, held_until = NULL
WHERE id IN (SELECT seat_id FROM booking_seats WHERE booking_id = $1)
  AND booking_id IN (SELECT id FROM b) AND status = 'held'`

// expiredHookSQL records booking.expired for booking $1. Params: $1
// booking, $2 now.
var expiredHookSQL = bookingHookSQL(notify.TypeBookingExpired, "$2", `b.id = $1 AND b.status = 'expired'`)

// expire runs expireSQL (and its webhook) in tx, returning the webhook ids.
func (s *BookingStore) expire(ctx context.Context, tx pgx.Tx, id uuid.UUID, now time.Time) ([]uuid.UUID, error) {
	if _, err := tx.Exec(ctx, expireSQL, id, now); err != nil {
		return nil, err
	}
	if !s.hooks.on() {
		return nil, nil
	}
	return collectIDs(tx.Query(ctx, expiredHookSQL, id, now))
}

// confirmLockSQL locks the seats a booking holds (seats before bookings,
// as every write does).
const confirmLockSQL = `SELECT id FROM seats WHERE booking_id = $1 ORDER BY id FOR UPDATE`

// confirmSQL confirms a live hold of user $2 when every one of its seats is
// still its own under the hold sequence it took it with (a fencing token:
// a seat held since by another booking is never captured): it books the
// seats and confirms the booking, or changes nothing. It returns one row
// per fenced seat (or one row without a seat), each with the booking's
// state before the statement and whether it was confirmed.
// Confirming a waitlist offer fulfils its entry; the owner is notified.
// Params: $1 booking, $2 user, $3 now, $4 payment reference.
var confirmSQL = `
WITH b AS (
    SELECT id, user_id, status, expires_at, quantity FROM bookings WHERE id = $1 FOR UPDATE
), fenced AS (
    SELECT s.id, s.section_id, s.row_label, s.number, s.label, s.position, bs.price_cents
    FROM booking_seats bs JOIN seats s ON s.id = bs.seat_id
    WHERE bs.booking_id = $1 AND bs.active
      AND s.booking_id = $1 AND s.hold_seq = bs.hold_seq AND s.status = 'held'
), ok AS (
    SELECT 1 FROM b
    WHERE b.user_id = $2 AND b.status = 'pending' AND b.expires_at > $3
      AND b.quantity = (SELECT count(*) FROM fenced)
), booked AS (
    UPDATE seats SET status = 'booked', held_until = NULL
    WHERE id IN (SELECT id FROM fenced) AND EXISTS (SELECT 1 FROM ok)
), confirmed AS (
    UPDATE bookings SET status = 'confirmed', confirmed_at = $3, updated_at = $3, payment_reference = $4
    WHERE id = $1 AND EXISTS (SELECT 1 FROM ok)
    RETURNING event_id, quantity, total_cents, currency, expires_at, created_at
), fulfilled AS (
    UPDATE waitlist_entries SET status = 'fulfilled', updated_at = $3
    WHERE offer_booking_id = $1 AND status = 'offered' AND EXISTS (SELECT 1 FROM ok)
), note AS (` + noteSQL("booking_confirmed", `SELECT $2::uuid AS user_id, 'Booking confirmed' AS title,
        format('Your booking of %s seat(s) for %s is confirmed.', c.quantity, e.name) AS body,
        jsonb_build_object('booking_id', $1::uuid, 'event_id', c.event_id) AS data, $3::timestamptz AS at
        FROM confirmed c JOIN events e ON e.id = c.event_id`) + `
)
SELECT b.user_id, b.status, b.expires_at, c.event_id, c.total_cents, c.currency, c.created_at,
       f.id, sec.name, f.row_label, f.number, f.label, f.price_cents
FROM b
LEFT JOIN confirmed c ON true
LEFT JOIN fenced f ON c.event_id IS NOT NULL
LEFT JOIN sections sec ON sec.id = f.section_id
ORDER BY f.position`

// confirmedHookSQL records booking.confirmed for booking $1 confirmed at
// $2 (by this transaction: a booking is confirmed once).
var confirmedHookSQL = bookingHookSQL(notify.TypeBookingConfirmed, "$2",
	`b.id = $1 AND b.status = 'confirmed' AND b.confirmed_at = $2`)

// Confirm confirms a pending hold of the owner's in one round trip: the
// seat locks and the confirmation travel in one batch, which Postgres runs
// as one implicit transaction.
func (s *BookingStore) Confirm(ctx context.Context, id, userID uuid.UUID, paymentRef *string, now time.Time) (booking.Booking, bool, error) {
	o, err := retryOnConflict(ctx, func() (confirmOutcome, error) {
		var o confirmOutcome
		b := &pgx.Batch{}
		b.Queue(confirmLockSQL, id)
		b.Queue(confirmSQL, id, userID, now, paymentRef)
		if s.hooks.on() {
			b.Queue(confirmedHookSQL, id, now)
		}
		res := s.pool.SendBatch(ctx, b)
		defer res.Close()
		if _, err := res.Exec(); err != nil {
			return o, fmt.Errorf("lock seats of booking=%s: %w", id, err)
		}
		rows, err := res.Query()
		if err != nil {
			return o, fmt.Errorf("confirm booking=%s: %w", id, err)
		}
		if err := o.scan(rows, id, userID, paymentRef, now); err != nil {
			return o, fmt.Errorf("confirm booking=%s: %w", id, err)
		}
		if s.hooks.on() {
			if o.hooks, err = collectIDs(res.Query()); err != nil {
				return o, fmt.Errorf("record confirmation booking=%s: %w", id, err)
			}
		}
		if err := res.Close(); err != nil {
			return o, fmt.Errorf("confirm booking=%s: %w", id, err)
		}
		return o, nil
	})
	if err != nil {
		return booking.Booking{}, false, err
	}
	s.hooks.sent(ctx, o.hooks)
	switch {
	case o.owner == uuid.Nil || o.owner != userID:
		return booking.Booking{}, false, apperr.New(apperr.NotFound, "No such booking.")
	case o.ok:
		return o.confirmed, true, nil
	case o.status == booking.StatusConfirmed:
		b, err := s.Get(ctx, id, nil, now)
		return b, false, err
	case o.status == booking.StatusCancelled:
		return booking.Booking{}, false, apperr.New(apperr.InvalidState, "The booking is cancelled.")
	case o.status == booking.StatusExpired:
		return booking.Booking{}, false, apperr.New(apperr.HoldExpired, "The hold expired before it was confirmed.")
	}
	// Pending but lapsed, or a seat is no longer this hold's: it is over.
	var hooks []uuid.UUID
	if err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := lockBooking(ctx, tx, id, &userID); err != nil {
			return err
		}
		var err error
		hooks, err = s.expire(ctx, tx, id, now)
		return err
	}); err != nil {
		return booking.Booking{}, false, fmt.Errorf("expire booking=%s: %w", id, err)
	}
	s.hooks.sent(ctx, hooks)
	return booking.Booking{}, false, apperr.New(apperr.HoldExpired, "The hold expired before it was confirmed.")
}

// confirmOutcome is what a confirmation found and did.
type confirmOutcome struct {
	owner     uuid.UUID
	status    booking.Status // before the confirmation
	expires   time.Time
	confirmed booking.Booking
	ok        bool // confirmed by this call
	hooks     []uuid.UUID
}

// scan reads confirmSQL's rows.
func (o *confirmOutcome) scan(rows pgx.Rows, id, userID uuid.UUID, paymentRef *string, now time.Time) error {
	defer rows.Close()
	bk := &o.confirmed
	for rows.Next() {
		var (
			eventID  *uuid.UUID
			total    *int64
			currency *string
			created  *time.Time
			seatID   *uuid.UUID
			section  *string
			label    *string
			price    *int64
			seat     booking.Seat
		)
		if err := rows.Scan(&o.owner, &o.status, &o.expires, &eventID, &total, &currency, &created,
			&seatID, &section, &seat.Row, &seat.Number, &label, &price); err != nil {
			return err
		}
		if eventID == nil {
			continue
		}
		o.ok = true
		*bk = booking.Booking{ID: id, EventID: *eventID, UserID: userID, Status: booking.StatusConfirmed,
			Seats: bk.Seats, TotalCents: *total, Currency: *currency, ExpiresAt: o.expires,
			PaymentReference: paymentRef, CreatedAt: *created, ConfirmedAt: &now}
		if seatID != nil {
			seat.ID, seat.Section, seat.Label, seat.PriceCents, seat.Status = *seatID, *section, *label, *price, "booked"
			bk.Seats = append(bk.Seats, seat)
		}
	}
	bk.Quantity = len(bk.Seats)
	return rows.Err()
}

// cancelSQL cancels a booking and puts the seats it holds or owns back on
// sale. A waitlist offer cancelled by its user was declined (its entry is
// left); cancelled by an admin, its entry expired. The owner of a
// confirmed booking is told. Params: $1 booking, $2 now, $3 who
// cancels (owner or admin), $4 whether the booking was confirmed.
var cancelSQL = `
WITH b AS (
    UPDATE bookings SET status = 'cancelled', cancelled_at = $2, updated_at = $2 WHERE id = $1
    RETURNING id, user_id, event_id, quantity
), d AS (
    UPDATE booking_seats SET active = false WHERE booking_id IN (SELECT id FROM b) AND active
), declined AS (
    UPDATE waitlist_entries SET status = CASE WHEN $3::text = 'owner' THEN 'left' ELSE 'expired' END, updated_at = $2
    WHERE offer_booking_id IN (SELECT id FROM b) AND status = 'offered'
), note AS (` + cancelledNoteSQL("(SELECT * FROM b WHERE $4::boolean)", "$3::text", "$2") + `
)
UPDATE seats SET status = 'available', booking_id = NULL, held_until = NULL
WHERE id IN (SELECT seat_id FROM booking_seats WHERE booking_id = $1)
  AND booking_id IN (SELECT id FROM b)`

// cancelledHookSQL records booking.cancelled for booking $1. Params: $1
// booking, $2 now.
var cancelledHookSQL = bookingHookSQL(notify.TypeBookingCancelled, "$2", `b.id = $1 AND b.status = 'cancelled'`)

// Cancel cancels a pending or confirmed booking (of the owner's, unless
// owner is nil; only a pending one when pendingOnly is set).
func (s *BookingStore) Cancel(ctx context.Context, id uuid.UUID, owner *uuid.UUID, now time.Time, pendingOnly bool) (booking.Booking, error) {
	var (
		lapsed bool
		hooks  []uuid.UUID
	)
	by := "owner"
	if owner == nil {
		by = "admin"
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		hooks = nil
		l, err := lockBooking(ctx, tx, id, owner)
		if err != nil {
			return err
		}
		switch {
		case l.status == booking.StatusCancelled || l.status == booking.StatusExpired:
			return apperr.New(apperr.InvalidState, "The booking is already %s.", l.status)
		case pendingOnly && l.status == booking.StatusConfirmed:
			return apperr.New(apperr.InvalidState, "The booking is confirmed.")
		case !now.Before(l.startsAt):
			return apperr.New(apperr.InvalidState, "The event has started; the booking can no longer be cancelled.")
		case l.status == booking.StatusPending && !now.Before(l.expires):
			lapsed = true
			hooks, err = s.expire(ctx, tx, id, now)
			return err
		}
		if _, err := tx.Exec(ctx, cancelSQL, id, now, by, l.status == booking.StatusConfirmed); err != nil {
			return err
		}
		if s.hooks.on() {
			hooks, err = collectIDs(tx.Query(ctx, cancelledHookSQL, id, now))
		}
		return err
	})
	if err != nil {
		return booking.Booking{}, err
	}
	s.hooks.sent(ctx, hooks)
	if lapsed {
		return booking.Booking{}, apperr.New(apperr.InvalidState, "The hold has expired; its seats are already released.")
	}
	return s.Get(ctx, id, nil, now)
}

// expireHoldsSQL frees up to $2 seats whose hold lapsed (locking them first
// and skipping any a buyer is taking over right now), then expires their
// pending bookings, ends the waitlist offers among them and tells their
// owners.
var expireHoldsSQL = `
WITH lapsed AS (
    SELECT id, booking_id, event_id FROM seats
    WHERE status = 'held' AND held_until <= $1
    ORDER BY held_until LIMIT $2
    FOR UPDATE SKIP LOCKED
), freed AS (
    UPDATE seats s SET status = 'available', booking_id = NULL, held_until = NULL
    FROM lapsed WHERE s.id = lapsed.id
    RETURNING lapsed.id, lapsed.booking_id, lapsed.event_id
), expired AS (
    UPDATE bookings b SET status = 'expired', updated_at = $1
    WHERE b.id IN (SELECT booking_id FROM freed) AND b.status = 'pending' AND b.expires_at <= $1
    RETURNING b.id, b.event_id, b.user_id, b.quantity
), deactivated AS (
    UPDATE booking_seats SET active = false
    WHERE booking_id IN (SELECT id FROM expired) AND active
), lapsed_offers AS (
    UPDATE waitlist_entries SET status = 'expired', updated_at = $1
    WHERE offer_booking_id IN (SELECT id FROM expired) AND status = 'offered'
), notes AS (` + holdExpiredNoteSQL("expired", "$1") + `
)
SELECT 'booking' AS kind, e.id, e.event_id, e.user_id,
       coalesce((SELECT array_agg(f.id) FROM freed f WHERE f.booking_id = e.id), '{}')
FROM expired e
UNION ALL
SELECT 'seats', NULL, f.event_id, NULL, array_agg(f.id) FROM freed f GROUP BY f.event_id`

// expiredManyHookSQL records booking.expired for the bookings $1. Params:
// $1 booking ids, $2 now.
var expiredManyHookSQL = bookingHookSQL(notify.TypeBookingExpired, "$2", `b.id = ANY($1::uuid[]) AND b.status = 'expired'`)

// ExpireHolds runs one cleanup batch, in one transaction.
func (s *BookingStore) ExpireHolds(ctx context.Context, now time.Time, limit int) (booking.Released, error) {
	var (
		out   booking.Released
		hooks []uuid.UUID
	)
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		out, hooks = booking.Released{SeatsByEvent: map[uuid.UUID]int{}}, nil
		rows, err := tx.Query(ctx, expireHoldsSQL, now, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				kind     string
				id, user *uuid.UUID
				eventID  uuid.UUID
				seats    []uuid.UUID
			)
			if err := rows.Scan(&kind, &id, &eventID, &user, &seats); err != nil {
				return err
			}
			if kind == "booking" {
				out.Bookings = append(out.Bookings, booking.ReleasedBooking{ID: *id, EventID: eventID, UserID: *user, SeatIDs: seats})
			} else {
				out.SeatsByEvent[eventID] += len(seats)
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if !s.hooks.on() || len(out.Bookings) == 0 {
			return nil
		}
		ids := make([]uuid.UUID, len(out.Bookings))
		for i, b := range out.Bookings {
			ids[i] = b.ID
		}
		hooks, err = collectIDs(tx.Query(ctx, expiredManyHookSQL, ids, now))
		return err
	})
	if err != nil {
		return booking.Released{SeatsByEvent: map[uuid.UUID]int{}}, fmt.Errorf("expire holds: %w", err)
	}
	s.hooks.sent(ctx, hooks)
	return out, nil
}

const bookingColumns = `b.id, b.event_id, b.user_id, b.status, b.quantity, b.total_cents, b.currency,
	b.expires_at, b.payment_reference, b.created_at, b.confirmed_at, b.cancelled_at`

func scanBooking(row pgx.Row, b *booking.Booking) error {
	return row.Scan(&b.ID, &b.EventID, &b.UserID, &b.Status, &b.Quantity, &b.TotalCents, &b.Currency,
		&b.ExpiresAt, &b.PaymentReference, &b.CreatedAt, &b.ConfirmedAt, &b.CancelledAt)
}

// Get returns one booking with its seats.
func (s *BookingStore) Get(ctx context.Context, id uuid.UUID, owner *uuid.UUID, now time.Time) (booking.Booking, error) {
	var b booking.Booking
	err := scanBooking(s.pool.QueryRow(ctx, `SELECT `+bookingColumns+` FROM bookings b WHERE b.id = $1`, id), &b)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && owner != nil && *owner != b.UserID) {
		return booking.Booking{}, apperr.New(apperr.NotFound, "No such booking.")
	}
	if err != nil {
		return booking.Booking{}, fmt.Errorf("get booking=%s: %w", id, err)
	}
	list := []booking.Booking{b}
	if err := s.attachSeats(ctx, list, now); err != nil {
		return booking.Booking{}, err
	}
	return list[0], nil
}

// List returns bookings newest first, with their seats.
func (s *BookingStore) List(ctx context.Context, f booking.ListFilter, now time.Time) ([]booking.Booking, error) {
	var (
		afterAt *time.Time
		afterID *uuid.UUID
		status  *string
	)
	if f.After != nil {
		afterAt, afterID = &f.After.CreatedAt, &f.After.ID
	}
	if f.Status != nil {
		st := string(*f.Status)
		status = &st
	}
	rows, err := s.pool.Query(ctx, `SELECT `+bookingColumns+` FROM bookings b
		WHERE ($1::uuid IS NULL OR b.user_id = $1)
		  AND ($2::uuid IS NULL OR b.event_id = $2)
		  AND ($3::text IS NULL OR b.status = $3)
		  AND ($4::timestamptz IS NULL OR (b.created_at, b.id) < ($4, $5::uuid))
		ORDER BY b.created_at DESC, b.id DESC
		LIMIT $6`, f.UserID, f.EventID, status, afterAt, afterID, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("list bookings: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (booking.Booking, error) {
		var b booking.Booking
		err := scanBooking(r, &b)
		return b, err
	})
	if err != nil {
		return nil, fmt.Errorf("list bookings: %w", err)
	}
	if err := s.attachSeats(ctx, list, now); err != nil {
		return nil, err
	}
	return list, nil
}

// attachSeats loads the seats of the given bookings in one query.
func (s *BookingStore) attachSeats(ctx context.Context, list []booking.Booking, now time.Time) error {
	if len(list) == 0 {
		return nil
	}
	ids := make([]uuid.UUID, len(list))
	index := make(map[uuid.UUID]int, len(list))
	for i, b := range list {
		ids[i] = b.ID
		index[b.ID] = i
	}
	rows, err := s.pool.Query(ctx, `
		SELECT bs.booking_id, s.id, sec.name, s.row_label, s.number, s.label, bs.price_cents,
		       CASE WHEN s.status = 'held' AND s.held_until <= $2 THEN 'available' ELSE s.status END
		FROM booking_seats bs
		JOIN seats s ON s.id = bs.seat_id
		JOIN sections sec ON sec.id = s.section_id
		WHERE bs.booking_id = ANY($1::uuid[])
		ORDER BY s.position`, ids, now)
	if err != nil {
		return fmt.Errorf("booking seats: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			bookingID uuid.UUID
			seat      booking.Seat
		)
		if err := rows.Scan(&bookingID, &seat.ID, &seat.Section, &seat.Row, &seat.Number, &seat.Label,
			&seat.PriceCents, &seat.Status); err != nil {
			return fmt.Errorf("booking seats: %w", err)
		}
		b := &list[index[bookingID]]
		b.Seats = append(b.Seats, seat)
	}
	return rows.Err()
}

// inTx runs fn in a transaction, retrying it when Postgres aborted it to
// break a deadlock or a serialization conflict.
func (s *BookingStore) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	_, err := retryOnConflict(ctx, func() (struct{}, error) {
		return struct{}{}, pgx.BeginFunc(ctx, s.pool, fn)
	})
	return err
}

// retryOnConflict reruns fn (up to 3 times) when Postgres aborted it with
// deadlock_detected or serialization_failure: both mean "try again".
func retryOnConflict[T any](ctx context.Context, fn func() (T, error)) (T, error) {
	for attempt := 1; ; attempt++ {
		v, err := fn()
		if err == nil || attempt == 3 || !(isCode(err, "40P01") || isCode(err, "40001")) || ctx.Err() != nil {
			return v, err
		}
	}
}
