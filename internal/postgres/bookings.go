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
)

// BookingStore keeps bookings. Every write locks seats before bookings, in
// seat-id order, so that holds, confirmations, cancellations and the
// cleanup job never wait on each other in a cycle.
type BookingStore struct {
	pool *pgxpool.Pool
}

var _ booking.Store = (*BookingStore)(nil)

// NewBookingStore returns a store on pool.
func NewBookingStore(pool *pgxpool.Pool) *BookingStore { return &BookingStore{pool: pool} }

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
// stop counting as live before the new ones are inserted.
const lockSeatsSQL = `
WITH locked AS (
    SELECT id, event_id, status, held_until, booking_id
    FROM seats WHERE id = ANY($1::uuid[])
    ORDER BY id
    FOR UPDATE
), stale AS (
    UPDATE bookings b SET status = 'expired', updated_at = $2
    WHERE b.id IN (SELECT booking_id FROM locked WHERE status = 'held' AND held_until <= $2)
      AND b.status = 'pending'
    RETURNING b.id
), deactivated AS (
    UPDATE booking_seats SET active = false
    WHERE booking_id IN (SELECT id FROM stale) AND active
)
SELECT id, event_id, status, held_until FROM locked`

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

// HoldSeats locks the seats and holds them in one round trip: both
// statements travel in one batch, which Postgres runs as one implicit
// transaction.
func (s *BookingStore) HoldSeats(ctx context.Context, h booking.SeatHold) (booking.Booking, error) {
	return retryOnConflict(ctx, func() (booking.Booking, error) {
		b := &pgx.Batch{}
		b.Queue(lockSeatsSQL, h.SeatIDs, h.Now)
		b.Queue(holdSeatsSQL, h.EventID, h.SeatIDs, h.Now, h.BookingID, h.UserID, h.ExpiresAt)
		res := s.pool.SendBatch(ctx, b)
		defer res.Close()

		type lockedSeat struct {
			id, event uuid.UUID
			status    string
			heldUntil *time.Time
		}
		rows, err := res.Query()
		if err != nil {
			return booking.Booking{}, fmt.Errorf("lock seats event=%s: %w", h.EventID, err)
		}
		locked, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (lockedSeat, error) {
			var l lockedSeat
			err := r.Scan(&l.id, &l.event, &l.status, &l.heldUntil)
			return l, err
		})
		if err != nil {
			return booking.Booking{}, fmt.Errorf("lock seats event=%s: %w", h.EventID, err)
		}
		rows, err = res.Query()
		if err != nil {
			return booking.Booking{}, fmt.Errorf("hold seats event=%s: %w", h.EventID, err)
		}
		bk, err := collectHeld(rows, h.BookingID, h.EventID, h.UserID, h.Now, h.ExpiresAt)
		if err != nil {
			return booking.Booking{}, fmt.Errorf("hold seats event=%s: %w", h.EventID, err)
		}
		if len(bk.Seats) == len(h.SeatIDs) {
			return bk, nil
		}

		// Nothing was held: say why.
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
			return booking.Booking{}, apperr.Invalid(apperr.FieldError{Field: "seat_ids",
				Message: fmt.Sprintf("%d seat(s) are not seats of this event", len(foreign))}).With("seat_ids", foreign)
		case len(taken) > 0:
			return booking.Booking{}, apperr.New(apperr.SeatUnavailable, "%d of the seats asked for are taken.", len(taken)).
				With("seat_ids", taken)
		default:
			return booking.Booking{}, apperr.New(apperr.SalesClosed, "The event is not on sale.")
		}
	})
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

// HoldBest holds the best available seats in one statement.
func (s *BookingStore) HoldBest(ctx context.Context, h booking.BestHold) (booking.Booking, int, error) {
	window := h.Quantity
	if h.Adjacent {
		window += adjacencySlack
	}
	var first int
	bk, err := retryOnConflict(ctx, func() (booking.Booking, error) {
		rows, err := s.pool.Query(ctx, holdBestSQL, h.EventID, h.Quantity, h.Now, h.BookingID, h.UserID,
			h.ExpiresAt, h.Lo, h.Hi, window, h.Adjacent)
		if err != nil {
			return booking.Booking{}, fmt.Errorf("hold best event=%s: %w", h.EventID, err)
		}
		var (
			open     bool
			firstPos *int
		)
		bk := booking.Booking{ID: h.BookingID, EventID: h.EventID, UserID: h.UserID, Status: booking.StatusPending,
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
				rows.Close()
				return booking.Booking{}, fmt.Errorf("hold best event=%s: %w", h.EventID, err)
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
			return booking.Booking{}, fmt.Errorf("hold best event=%s: %w", h.EventID, err)
		}
		if firstPos != nil {
			first = *firstPos
		}
		switch {
		case !open:
			return booking.Booking{}, apperr.New(apperr.SalesClosed, "The event is not on sale.")
		case len(bk.Seats) < h.Quantity:
			return booking.Booking{}, apperr.New(apperr.SoldOut, "Fewer than %d seats are free.", h.Quantity)
		}
		return bk, nil
	})
	if apperr.Is(err, apperr.SoldOut) {
		// Holds that lapsed unconfirmed do not block their seats, even
		// before the cleanup job frees them: take over such seats.
		return s.holdLapsed(ctx, h)
	}
	return bk, first, err
}

// holdLapsed is the rare path of a best-available hold that found too few
// free seats: it looks for seats whose hold lapsed and holds those.
func (s *BookingStore) holdLapsed(ctx context.Context, h booking.BestHold) (booking.Booking, int, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT id FROM seats
		WHERE event_id = $1 AND status IN ('available', 'held') AND position BETWEEN $2 AND $3
		  AND (status = 'available' OR held_until <= $4)
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

// expireSQL marks a pending booking expired and frees the seats it still
// holds.
const expireSQL = `
WITH b AS (
    UPDATE bookings SET status = 'expired', updated_at = $2 WHERE id = $1 AND status = 'pending' RETURNING id
), d AS (
    UPDATE booking_seats SET active = false WHERE booking_id IN (SELECT id FROM b) AND active
)
UPDATE seats SET status = 'available', booking_id = NULL, held_until = NULL
WHERE id IN (SELECT seat_id FROM booking_seats WHERE booking_id = $1)
  AND booking_id IN (SELECT id FROM b) AND status = 'held'`

// confirmLockSQL locks the seats a booking holds (seats before bookings,
// as every write does).
const confirmLockSQL = `SELECT id FROM seats WHERE booking_id = $1 ORDER BY id FOR UPDATE`

// confirmSQL confirms a live hold of user $2 when every one of its seats is
// still its own under the hold sequence it took it with (a fencing token:
// a seat held since by another booking is never captured): it books the
// seats and confirms the booking, or changes nothing. It returns one row
// per fenced seat (or one row without a seat), each with the booking's
// state before the statement and whether it was confirmed.
// Params: $1 booking, $2 user, $3 now, $4 payment reference.
const confirmSQL = `
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
)
SELECT b.user_id, b.status, b.expires_at, c.event_id, c.total_cents, c.currency, c.created_at,
       f.id, sec.name, f.row_label, f.number, f.label, f.price_cents
FROM b
LEFT JOIN confirmed c ON true
LEFT JOIN fenced f ON c.event_id IS NOT NULL
LEFT JOIN sections sec ON sec.id = f.section_id
ORDER BY f.position`

// Confirm confirms a pending hold of the owner's in one round trip: the
// seat locks and the confirmation travel in one batch, which Postgres runs
// as one implicit transaction.
func (s *BookingStore) Confirm(ctx context.Context, id, userID uuid.UUID, paymentRef *string, now time.Time) (booking.Booking, bool, error) {
	type outcome struct {
		owner     uuid.UUID
		status    booking.Status
		expires   time.Time
		confirmed booking.Booking
		ok        bool
	}
	o, err := retryOnConflict(ctx, func() (outcome, error) {
		var o outcome
		b := &pgx.Batch{}
		b.Queue(confirmLockSQL, id)
		b.Queue(confirmSQL, id, userID, now, paymentRef)
		res := s.pool.SendBatch(ctx, b)
		defer res.Close()
		if _, err := res.Exec(); err != nil {
			return o, fmt.Errorf("lock seats of booking=%s: %w", id, err)
		}
		rows, err := res.Query()
		if err != nil {
			return o, fmt.Errorf("confirm booking=%s: %w", id, err)
		}
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
				return o, fmt.Errorf("confirm booking=%s: %w", id, err)
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
		return o, rows.Err()
	})
	switch {
	case err != nil:
		return booking.Booking{}, false, err
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
	if err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := lockBooking(ctx, tx, id, &userID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, expireSQL, id, now)
		return err
	}); err != nil {
		return booking.Booking{}, false, fmt.Errorf("expire booking=%s: %w", id, err)
	}
	return booking.Booking{}, false, apperr.New(apperr.HoldExpired, "The hold expired before it was confirmed.")
}

// cancelLockSQL locks every seat a booking ever had (seats before
// bookings, as every write does).
const cancelLockSQL = `SELECT id FROM seats WHERE id IN (SELECT seat_id FROM booking_seats WHERE booking_id = $1) ORDER BY id FOR UPDATE`

// cancelSQL cancels a pending or confirmed booking of user $2 (any user's
// when $2 is NULL) whose event has not started, and puts the seats it still
// holds or owns back on sale; a pending booking whose hold has lapsed is
// marked expired instead. It returns the booking's state before and after.
// Params: $1 booking, $2 user or NULL, $3 now.
const cancelSQL = `
WITH b AS (
    SELECT b.id, b.user_id, b.status, b.expires_at, e.starts_at
    FROM bookings b JOIN events e ON e.id = b.event_id
    WHERE b.id = $1
    FOR UPDATE OF b
), mine AS (
    SELECT * FROM b WHERE $2::uuid IS NULL OR b.user_id = $2
), next AS (
    SELECT CASE WHEN status = 'confirmed' OR expires_at > $3 THEN 'cancelled' ELSE 'expired' END AS status
    FROM mine WHERE status IN ('pending', 'confirmed') AND starts_at > $3
), upd AS (
    UPDATE bookings SET status = next.status, updated_at = $3,
           cancelled_at = CASE WHEN next.status = 'cancelled' THEN $3 END
    FROM next WHERE bookings.id = $1
    RETURNING bookings.id, bookings.status
), deactivated AS (
    UPDATE booking_seats SET active = false WHERE booking_id IN (SELECT id FROM upd) AND active
), freed AS (
    UPDATE seats SET status = 'available', booking_id = NULL, held_until = NULL
    WHERE id IN (SELECT seat_id FROM booking_seats WHERE booking_id = $1)
      AND booking_id IN (SELECT id FROM upd)
)
SELECT mine.user_id, mine.status, mine.starts_at, (SELECT status FROM upd) FROM mine`

// Cancel cancels a pending or confirmed booking (of the owner's, unless
// owner is nil) in one round trip.
func (s *BookingStore) Cancel(ctx context.Context, id uuid.UUID, owner *uuid.UUID, now time.Time) (booking.Booking, error) {
	type outcome struct {
		found    bool
		before   booking.Status
		startsAt time.Time
		after    *booking.Status
	}
	o, err := retryOnConflict(ctx, func() (outcome, error) {
		var o outcome
		b := &pgx.Batch{}
		b.Queue(cancelLockSQL, id)
		b.Queue(cancelSQL, id, owner, now)
		res := s.pool.SendBatch(ctx, b)
		defer res.Close()
		if _, err := res.Exec(); err != nil {
			return o, fmt.Errorf("lock seats of booking=%s: %w", id, err)
		}
		var user uuid.UUID
		err := res.QueryRow().Scan(&user, &o.before, &o.startsAt, &o.after)
		if errors.Is(err, pgx.ErrNoRows) {
			return o, nil
		}
		if err != nil {
			return o, fmt.Errorf("cancel booking=%s: %w", id, err)
		}
		o.found = true
		return o, nil
	})
	switch {
	case err != nil:
		return booking.Booking{}, err
	case !o.found:
		return booking.Booking{}, apperr.New(apperr.NotFound, "No such booking.")
	case o.after != nil && *o.after == booking.StatusCancelled:
		return s.Get(ctx, id, nil, now)
	case o.after != nil:
		return booking.Booking{}, apperr.New(apperr.InvalidState, "The hold has expired; its seats are already released.")
	case o.before == booking.StatusCancelled || o.before == booking.StatusExpired:
		return booking.Booking{}, apperr.New(apperr.InvalidState, "The booking is already %s.", o.before)
	default:
		return booking.Booking{}, apperr.New(apperr.InvalidState, "The event has started; the booking can no longer be cancelled.")
	}
}

// expireHoldsSQL frees up to $2 seats whose hold lapsed (locking them first
// and skipping any a buyer is taking over right now), then expires their
// pending bookings.
const expireHoldsSQL = `
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
    RETURNING b.id, b.event_id, b.user_id
), deactivated AS (
    UPDATE booking_seats SET active = false
    WHERE booking_id IN (SELECT id FROM expired) AND active
)
SELECT 'booking' AS kind, e.id, e.event_id, e.user_id,
       coalesce((SELECT array_agg(f.id) FROM freed f WHERE f.booking_id = e.id), '{}')
FROM expired e
UNION ALL
SELECT 'seats', NULL, f.event_id, NULL, array_agg(f.id) FROM freed f GROUP BY f.event_id`

// ExpireHolds runs one cleanup batch.
func (s *BookingStore) ExpireHolds(ctx context.Context, now time.Time, limit int) (booking.Released, error) {
	out := booking.Released{SeatsByEvent: map[uuid.UUID]int{}}
	rows, err := s.pool.Query(ctx, expireHoldsSQL, now, limit)
	if err != nil {
		return out, fmt.Errorf("expire holds: %w", err)
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
			return out, fmt.Errorf("expire holds: %w", err)
		}
		if kind == "booking" {
			out.Bookings = append(out.Bookings, booking.ReleasedBooking{ID: *id, EventID: eventID, UserID: *user, SeatIDs: seats})
		} else {
			out.SeatsByEvent[eventID] += len(seats)
		}
	}
	if err := rows.Err(); err != nil {
		return out, fmt.Errorf("expire holds: %w", err)
	}
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
