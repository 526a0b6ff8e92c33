package postgres

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/evently/evently/internal/booking"
	"github.com/evently/evently/internal/notify"
)

// The lifecycle stage: a batch of confirmations and cancellations is one
// transaction of two round trips —
//
//  1. lock and read: the seats the bookings hold or own FOR UPDATE in id
//     order, then the bookings FOR UPDATE in id order (seats before
//     bookings, as every write locks them), then the bookings' seats with
//     their hold sequences;
//  2. write: the confirmations in one statement, the cancellations and the
//     expiries (holds found lapsed) each in one ending, and their webhooks.
//
// booking.Decide rules on each change in between.

// lifecycleLockSQL locks the seats held or owned by the bookings $1.
const lifecycleLockSQL = `SELECT id FROM seats WHERE booking_id = ANY($1::uuid[]) ORDER BY id FOR UPDATE`

// lifecycleBookingsSQL locks and reads the bookings $1 with their event's
// start and refund schedule.
const lifecycleBookingsSQL = `SELECT ` + bookingColumns + `, e.starts_at, e.refund_policy
FROM bookings b JOIN events e ON e.id = b.event_id
WHERE b.id = ANY($1::uuid[])
ORDER BY b.id
FOR UPDATE OF b`

// lifecycleSeatsSQL reads the seats of the bookings $1: as listed in the
// booking, and as they stand, with whether each is still the booking's
// under the hold sequence it took it with.
//
// The seats are looked up one by one through a LATERAL subquery that the
// planner may not flatten (OFFSET 0): the batch is always a few bookings,
// and a plan cached while the tables were small must not turn the lookup
// into a scan of every seat.
const lifecycleSeatsSQL = `
SELECT bs.booking_id, s.id, s.section, s.row_label, s.number, s.label, bs.price_cents, s.status, s.held_until,
       s.booking_id IS NOT DISTINCT FROM bs.booking_id,
       bs.active AND s.booking_id = bs.booking_id AND s.hold_seq = bs.hold_seq AND s.status = 'held'
FROM booking_seats bs
CROSS JOIN LATERAL (
    SELECT s.id, sec.name AS section, s.row_label, s.number, s.label, s.status, s.held_until, s.booking_id,
           s.hold_seq, s.position
    FROM seats s JOIN sections sec ON sec.id = s.section_id
    WHERE s.id = bs.seat_id
    OFFSET 0
) s
WHERE bs.booking_id = ANY($1::uuid[])
ORDER BY bs.booking_id, s.position`

// confirmSQL confirms the pending bookings $1 (with payment references
// $2) at $3 and books their seats; the waitlist offers among them are
// fulfilled and their owners told. The caller has checked, under the row
// locks, that every seat is still the booking's under its hold sequence;
// the statement fails unless it booked exactly the bookings' seats.
// Every table is reached by key (= ANY of the ids): a plan cached for
// arrays of any size stays an index lookup.
var confirmSQL = `
WITH booked AS (
    UPDATE seats SET status = 'booked', held_until = NULL
    WHERE booking_id = ANY($1::uuid[]) -- all held: checked under the row locks
    RETURNING id
), confirmed AS (
    UPDATE bookings b SET status = 'confirmed', confirmed_at = $3, updated_at = $3, payment_reference = c.ref
    FROM unnest($1::uuid[], $2::text[]) AS c(id, ref)
    WHERE b.id = ANY($1::uuid[]) AND b.id = c.id AND b.status = 'pending'
    RETURNING b.id, b.user_id, b.event_id, b.quantity
), fulfilled AS (
    UPDATE waitlist_entries SET status = 'fulfilled', updated_at = $3
    WHERE offer_booking_id = ANY($1::uuid[]) AND status = 'offered'
      AND offer_booking_id IN (SELECT id FROM confirmed)
), note AS (` + noteSQL(notify.KindBookingConfirmed, `SELECT c.user_id, 'Booking confirmed' AS title,
        format('Your booking of %s seat(s) for %s is confirmed.', c.quantity, e.name) AS body,
        jsonb_build_object('booking_id', c.id, 'event_id', c.event_id) AS data, $3::timestamptz AS at
        FROM confirmed c JOIN events e ON e.id = c.event_id`) + `
), checked AS (
    SELECT booking_write_check(
        (SELECT count(*) FROM booked) = (SELECT coalesce(sum(quantity), 0) FROM confirmed)
        AND (SELECT count(*) FROM confirmed) = cardinality($1::uuid[]),
        'a confirmation batch booked seats that disagree with its bookings') AS ok
)
SELECT id FROM confirmed, checked`

// confirmedHooksSQL records booking.confirmed for the bookings $1
// confirmed at $2.
var confirmedHooksSQL = bookingHookSQL(notify.TypeBookingConfirmed, "$2",
	`b.id = ANY($1::uuid[]) AND b.status = 'confirmed' AND b.confirmed_at = $2`)

// Settle implements booking.Store.
func (s *BookingStore) Settle(ctx context.Context, now time.Time, changes []booking.Change) (_ []booking.ChangeOutcome, err error) {
	defer wrap(&err, "settle %d booking change(s)", len(changes))
	var (
		outs  []booking.ChangeOutcome
		hooks []uuid.UUID
	)
	_, err = retryOnConflict(ctx, func() (struct{}, error) {
		return struct{}{}, inPipeline(ctx, s.pool, func(p *pipeline) error {
			var err error
			outs, hooks, err = s.settle(ctx, p, now, changes)
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	s.hooks.sent(ctx, hooks)
	return outs, nil
}

// settle runs a lifecycle batch in the transaction p.
func (s *BookingStore) settle(ctx context.Context, p *pipeline, now time.Time, changes []booking.Change) ([]booking.ChangeOutcome, []uuid.UUID, error) {
	ids := make([]uuid.UUID, len(changes))
	for i, c := range changes {
		ids[i] = c.BookingID
	}
	states, owns, locked, err := lockBookings(ctx, p, ids, now)
	if err != nil {
		return nil, nil, err
	}

	outs := make([]booking.ChangeOutcome, len(changes))
	var (
		confirm, refs       = []uuid.UUID{}, []*string{}
		cancel, expire      = ending{status: "cancelled", seats: locked}, ending{status: "expired", seats: locked}
		byOwner, byAdmin    = "owner", "admin"
		confirmed, released = map[uuid.UUID]bool{}, map[uuid.UUID]bool{}
	)
	for i, c := range changes {
		st := states[c.BookingID]
		verdict, err := booking.Decide(c, st, now)
		outs[i] = booking.ChangeOutcome{Verdict: verdict, Err: err, Booking: st.Booking}
		switch verdict {
		case booking.DoConfirm:
			confirm, refs = append(confirm, c.BookingID), append(refs, c.PaymentRef)
			confirmed[c.BookingID] = true
		case booking.DoCancel:
			by := &byOwner
			if c.Owner == nil {
				by = &byAdmin
			}
			cancel.ids, cancel.by = append(cancel.ids, c.BookingID), append(cancel.by, by)
			_, cents, _ := booking.Refund(st.Booking, st.RefundPolicy, st.StartsAt, now)
			cancel.refunds = append(cancel.refunds, &cents)
			released[c.BookingID] = true
		case booking.DoExpire:
			expire.ids = append(expire.ids, c.BookingID)
			released[c.BookingID] = true
		}
	}

	hooksOn := s.hooks.on()
	b := &pgx.Batch{}
	if len(confirm) > 0 {
		b.Queue(confirmSQL, confirm, refs, now)
		b.Queue(issueTicketsSQL, confirm, now)
		if hooksOn {
			b.Queue(confirmedHooksSQL, confirm, now)
		}
	}
	endings := []ending{}
	for _, e := range []ending{cancel, expire} {
		if len(e.ids) > 0 {
			e.queue(b, now, hooksOn)
			endings = append(endings, e)
		}
	}
	var hooks []uuid.UUID
	if b.Len() > 0 {
		err := p.exchange(ctx, b, true, func(res pgx.BatchResults) error {
			if len(confirm) > 0 {
				if _, err := collectIDs(res.Query()); err != nil {
					return fmt.Errorf("confirm: %w", err)
				}
				if _, err := res.Exec(); err != nil {
					return fmt.Errorf("issue tickets: %w", err)
				}
				if hooksOn {
					ids, err := collectIDs(res.Query())
					if err != nil {
						return fmt.Errorf("record confirmations: %w", err)
					}
					hooks = append(hooks, ids...)
				}
			}
			for _, e := range endings {
				_, ids, err := e.read(res, hooksOn)
				if err != nil {
					return err
				}
				hooks = append(hooks, ids...)
			}
			return nil
		})
		if err != nil {
			return nil, nil, err
		}
	}

	for i, c := range changes {
		o := &outs[i]
		switch o.Verdict {
		case booking.DoConfirm:
			o.Booking = confirmedBooking(o.Booking, now, c.PaymentRef)
		case booking.DoCancel, booking.DoExpire:
			wasConfirmed := o.Booking.Status == booking.StatusConfirmed
			o.Booking = endedBooking(o.Booking, owns[c.BookingID], now, o.Verdict)
			if o.Verdict == booking.DoCancel && wasConfirmed {
				_, cents, _ := booking.Refund(states[c.BookingID].Booking, states[c.BookingID].RefundPolicy,
					states[c.BookingID].StartsAt, now)
				o.Booking.RefundCents = &cents
			}
		}
		if o.Err != nil && o.Verdict == booking.Leave {
			o.Booking = booking.Booking{}
		}
	}
	return outs, hooks, nil
}

// lockBookings is round trip 1 of a lifecycle batch: it locks the seats
// the bookings hold or own (returned), then the bookings, and reads their
// state, and for each seat of each booking whether the booking still holds
// or owns it.
func lockBookings(ctx context.Context, p *pipeline, ids []uuid.UUID, now time.Time) (
	states map[uuid.UUID]booking.BookingState, owns map[uuid.UUID][]bool, locked []uuid.UUID, err error) {
	b := &pgx.Batch{}
	b.Queue(lifecycleLockSQL, ids)
	b.Queue(lifecycleBookingsSQL, ids)
	b.Queue(lifecycleSeatsSQL, ids)
	states, owns = map[uuid.UUID]booking.BookingState{}, map[uuid.UUID][]bool{}
	err = p.exchange(ctx, b, false, func(res pgx.BatchResults) error {
		var err error
		if locked, err = collectIDs(res.Query()); err != nil {
			return fmt.Errorf("lock seats: %w", err)
		}
		rows, err := res.Query()
		if err != nil {
			return fmt.Errorf("lock bookings: %w", err)
		}
		for rows.Next() {
			var st booking.BookingState
			if err := rows.Scan(&st.Booking.ID, &st.Booking.EventID, &st.Booking.UserID, &st.Booking.Status,
				&st.Booking.Quantity, &st.Booking.TotalCents, &st.Booking.Currency, &st.Booking.ExpiresAt,
				&st.Booking.PaymentReference, &st.Booking.CreatedAt, &st.Booking.ConfirmedAt, &st.Booking.CancelledAt,
				&st.Booking.RefundCents, &st.StartsAt, refundPolicyColumn{&st.RefundPolicy}); err != nil {
				rows.Close()
				return fmt.Errorf("lock bookings: %w", err)
			}
			st.Found = true
			states[st.Booking.ID] = st
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("lock bookings: %w", err)
		}
		if rows, err = res.Query(); err != nil {
			return fmt.Errorf("read booking seats: %w", err)
		}
		for rows.Next() {
			var (
				bookingID      uuid.UUID
				seat           booking.Seat
				heldUntil      *time.Time
				theirs, fenced bool
			)
			if err := rows.Scan(&bookingID, &seat.ID, &seat.Section, &seat.Row, &seat.Number, &seat.Label,
				&seat.PriceCents, &seat.Status, &heldUntil, &theirs, &fenced); err != nil {
				rows.Close()
				return fmt.Errorf("read booking seats: %w", err)
			}
			seat.Status = publicStatus(seat.Status, heldUntil, now)
			st := states[bookingID]
			st.Booking.Seats = append(st.Booking.Seats, seat)
			if fenced {
				st.Fenced++
			}
			owns[bookingID] = append(owns[bookingID], theirs)
			states[bookingID] = st
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read booking seats: %w", err)
		}
		return nil
	})
	return states, owns, locked, err
}

// publicStatus is a seat's state as buyers see it: a held seat whose hold
// lapsed is available.
func publicStatus(status string, heldUntil *time.Time, now time.Time) string {
	if status == "held" && heldUntil != nil && !heldUntil.After(now) {
		return "available"
	}
	return status
}

// confirmedBooking is b after its confirmation at now.
func confirmedBooking(b booking.Booking, now time.Time, ref *string) booking.Booking {
	b.Status, b.ConfirmedAt, b.PaymentReference = booking.StatusConfirmed, &now, ref
	b.Seats = slices.Clone(b.Seats)
	for i := range b.Seats {
		b.Seats[i].Status = "booked"
	}
	return b
}

// endedBooking is b after it was cancelled or expired at now: the seats it
// still held or owned (owns, per seat) are available.
func endedBooking(b booking.Booking, owns []bool, now time.Time, v booking.Verdict) booking.Booking {
	b.Status = booking.StatusExpired
	if v == booking.DoCancel {
		b.Status, b.CancelledAt = booking.StatusCancelled, &now
	}
	b.Seats = slices.Clone(b.Seats)
	for i := range b.Seats {
		if owns[i] {
			b.Seats[i].Status = "available"
		}
	}
	return b
}

// lapsedHoldsSQL locks up to $2 seats whose hold lapsed before $1 (skipping
// any a buyer is taking over right now), oldest first.
const lapsedHoldsSQL = `
SELECT s.id, s.event_id, s.booking_id, b.status = 'pending' AND b.expires_at <= $1
FROM seats s LEFT JOIN bookings b ON b.id = s.booking_id
WHERE s.status = 'held' AND s.held_until <= $1
ORDER BY s.held_until LIMIT $2
FOR UPDATE OF s SKIP LOCKED`

// freeSeatsSQL puts the seats $1 back on sale (their holds lapsed).
const freeSeatsSQL = `
UPDATE seats SET status = 'available', booking_id = NULL, held_until = NULL
WHERE id = ANY($1::uuid[]) AND status = 'held'`

// ExpireHolds implements booking.Store: one cleanup batch, in one
// transaction. It locks up to limit seats whose hold lapsed, ends their
// pending bookings (with every side effect of an expiry) and frees the
// seats — also those still held by a booking that ended earlier, when a
// buyer took over only some of its seats.
func (s *BookingStore) ExpireHolds(ctx context.Context, now time.Time, limit int) (_ booking.Released, err error) {
	defer wrap(&err, "lock lapsed holds")
	var (
		out   booking.Released
		hooks []uuid.UUID
	)
	err = inTx(ctx, s.pool, func(tx pgx.Tx) error {
		out, hooks = booking.Released{SeatsByEvent: map[uuid.UUID]int{}}, nil
		rows, err := tx.Query(ctx, lapsedHoldsSQL, now, limit)
		if err != nil {
			return err
		}
		var (
			seats, expire []uuid.UUID
			seatsOf       = map[uuid.UUID][]uuid.UUID{}
		)
		for rows.Next() {
			var (
				seat, event uuid.UUID
				bookingID   *uuid.UUID
				live        *bool
			)
			if err := rows.Scan(&seat, &event, &bookingID, &live); err != nil {
				rows.Close()
				return err
			}
			seats = append(seats, seat)
			out.SeatsByEvent[event]++
			if bookingID != nil && live != nil && *live {
				if _, ok := seatsOf[*bookingID]; !ok {
					expire = append(expire, *bookingID)
				}
				seatsOf[*bookingID] = append(seatsOf[*bookingID], seat)
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if len(seats) == 0 {
			return nil
		}
		ended, ids, err := ending{status: "expired", ids: expire, seats: seats}.end(ctx, tx, now, s.hooks.on())
		if err != nil {
			return err
		}
		hooks = ids
		for _, e := range ended {
			out.Bookings = append(out.Bookings, booking.ReleasedBooking{ID: e.id, EventID: e.event, UserID: e.user, SeatIDs: seatsOf[e.id]})
		}
		if _, err := tx.Exec(ctx, freeSeatsSQL, seats); err != nil {
			return fmt.Errorf("free lapsed seats: %w", err)
		}
		return nil
	})
	if err != nil {
		return booking.Released{SeatsByEvent: map[uuid.UUID]int{}}, fmt.Errorf("expire holds: %w", err)
	}
	s.hooks.sent(ctx, hooks)
	return out, nil
}
