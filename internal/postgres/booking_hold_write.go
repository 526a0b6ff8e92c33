package postgres

import (
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/evently/evently/internal/booking"
	"github.com/evently/evently/internal/notify"
)

// holdWrite is the write of a batch's allocation: every hold given seats
// becomes a booking, every keyed hold gets its answer recorded.
type holdWrite struct {
	eventID  uuid.UUID
	now      time.Time
	currency string
	stale    []uuid.UUID
	// per hold, in batch order
	holds    []booking.PendingHold
	bookings []booking.Booking
	refusals []error
	// filled in by writeHolds
	written map[uuid.UUID]bool
	claimed map[keyID]bool
}

type keyID struct {
	user uuid.UUID
	key  string
}

func newHoldWrite(b booking.HoldBatch, currency string, a booking.Allocation) *holdWrite {
	w := &holdWrite{eventID: b.EventID, now: b.Now, currency: currency, stale: a.Stale, holds: b.Holds,
		bookings: make([]booking.Booking, len(b.Holds)), refusals: a.Refusals}
	for i, h := range b.Holds {
		if a.Refusals[i] != nil {
			continue
		}
		bk := booking.Booking{ID: h.BookingID, EventID: b.EventID, UserID: h.UserID, Status: booking.StatusPending,
			Currency: currency, ExpiresAt: b.Now.Add(h.TTL), CreatedAt: b.Now}
		for _, seat := range a.Seats[i] {
			bk.Seats = append(bk.Seats, booking.Seat{ID: seat.ID, Section: seat.Section, Row: seat.Row,
				Number: seat.Number, Label: seat.Label, PriceCents: seat.PriceCents, Status: "held"})
			bk.TotalCents += seat.PriceCents
		}
		bk.Quantity = len(bk.Seats)
		w.bookings[i] = bk
	}
	return w
}

// outcome is hold i's answer once written.
func (w *holdWrite) outcome(i int) (booking.Booking, error) {
	h := w.holds[i]
	if h.Key != nil && !w.claimed[keyID{h.UserID, h.Key.Key}] {
		return booking.Booking{}, booking.ErrKeyUsed
	}
	if w.refusals[i] != nil {
		return booking.Booking{}, w.refusals[i]
	}
	if !w.written[h.BookingID] {
		// Only a retry of a hold already committed reuses its id.
		return booking.Booking{}, fmt.Errorf("booking %s exists already", h.BookingID)
	}
	return w.bookings[i], nil
}

// writeHoldsSQL writes a batch's holds: it records the idempotency
// answers ($9–$13; a key already answered is left alone), inserts the
// bookings ($4–$8, $14 their keys) whose key it recorded or that have none,
// marks their seats ($15 seats, $16 their bookings, $17 prices) held and
// lists them in booking_seats, each seat under its next hold sequence (a
// fencing token). Unless every booking got exactly its seats, it fails
// (booking_write_check). It returns the bookings inserted and the keys
// recorded.
// Params: $1 event, $2 now, $3 currency.
const writeHoldsSQL = `
WITH claimed AS (
    INSERT INTO idempotency_keys (user_id, key, request_hash, status_code, response_body, created_at)
    SELECT k.user_id, k.key, k.hash, k.status, k.body, $2
    FROM unnest($9::uuid[], $10::text[], $11::bytea[], $12::integer[], $13::bytea[]) AS k(user_id, key, hash, status, body)
    ON CONFLICT DO NOTHING
    RETURNING user_id, key
), req AS (
    SELECT * FROM unnest($4::uuid[], $5::uuid[], $6::integer[], $7::bigint[], $8::timestamptz[], $14::text[])
        AS r(id, user_id, quantity, total, expires_at, key)
), ok AS (
    SELECT r.* FROM req r
    WHERE r.key IS NULL OR EXISTS (SELECT 1 FROM claimed c WHERE c.user_id = r.user_id AND c.key = r.key)
), bk AS (
    INSERT INTO bookings (id, event_id, user_id, status, quantity, total_cents, currency, expires_at, created_at, updated_at)
    SELECT id, $1, user_id, 'pending', quantity, total, $3, expires_at, $2, $2 FROM ok
    ON CONFLICT (id) DO NOTHING
    RETURNING id, expires_at
), upd AS (
    UPDATE seats s SET status = 'held', booking_id = x.booking_id, held_until = bk.expires_at, hold_seq = s.hold_seq + 1
    FROM unnest($15::uuid[], $16::uuid[], $17::bigint[]) AS x(seat_id, booking_id, price)
    JOIN bk ON bk.id = x.booking_id
    WHERE s.id = ANY($15::uuid[]) AND s.id = x.seat_id
    RETURNING s.id, s.hold_seq, x.booking_id, x.price
), ins AS (
    INSERT INTO booking_seats (booking_id, seat_id, hold_seq, price_cents)
    SELECT booking_id, id, hold_seq, price FROM upd
    RETURNING booking_id
), checked AS (
    SELECT booking_write_check(
        (SELECT count(*) FROM ins) = (SELECT coalesce(sum(r.quantity), 0) FROM req r JOIN bk ON bk.id = r.id),
        'a hold batch wrote seats that disagree with its bookings') AS ok
)
SELECT 'booking', id, NULL::text FROM bk, checked
UNION ALL
SELECT 'key', user_id, key FROM claimed, checked`

// heldHooksSQL records booking.held for the bookings $1 made at $2.
var heldHooksSQL = bookingHookSQL(notify.TypeBookingHeld, "$2", `b.id = ANY($1::uuid[])`)

// queue queues the write of a hold batch (round trip 3; waitlist offers
// use it too): the lapsed holds taken over end, then the holds are
// written, then their webhooks are recorded. It fills in the write's
// arrays; read reads the results in the same order.
func (w *holdWrite) queue(hooksOn bool) *pgx.Batch {
	var (
		ids, users, bookingOf, seatIDs []uuid.UUID
		quantities                     []int32
		totals, prices                 []int64
		expires                        []time.Time
		keys                           []*string
		kUsers                         []uuid.UUID
		kKeys                          []string
		kHashes, kBodies               [][]byte
		kStatus                        []int32
	)
	for i, h := range w.holds {
		if h.Key != nil {
			status, body := h.Key.Render(w.bookings[i], w.refusals[i])
			kUsers, kKeys, kHashes = append(kUsers, h.UserID), append(kKeys, h.Key.Key), append(kHashes, h.Key.Hash)
			kStatus, kBodies = append(kStatus, int32(status)), append(kBodies, body)
		}
		if w.refusals[i] != nil {
			continue
		}
		bk := w.bookings[i]
		ids, users = append(ids, bk.ID), append(users, bk.UserID)
		quantities, totals, expires = append(quantities, int32(bk.Quantity)), append(totals, bk.TotalCents), append(expires, bk.ExpiresAt)
		var key *string
		if h.Key != nil {
			key = &h.Key.Key
		}
		keys = append(keys, key)
		for _, seat := range bk.Seats {
			seatIDs, bookingOf, prices = append(seatIDs, seat.ID), append(bookingOf, bk.ID), append(prices, seat.PriceCents)
		}
	}
	w.written, w.claimed = map[uuid.UUID]bool{}, map[keyID]bool{}
	b := &pgx.Batch{}
	if len(ids) == 0 && len(kKeys) == 0 {
		return b
	}
	if len(w.stale) > 0 {
		ending{status: "expired", ids: w.stale}.queue(b, w.now, hooksOn)
	}
	b.Queue(writeHoldsSQL, w.eventID, w.now, w.currency, ids, users, quantities, totals, expires,
		kUsers, kKeys, kHashes, kStatus, kBodies, keys, seatIDs, bookingOf, prices)
	if hooksOn {
		b.Queue(heldHooksSQL, ids, w.now)
	}
	return b
}

// read reads the results of queue's statements: which bookings were
// written, which keys recorded, and the ids of the webhooks recorded.
func (w *holdWrite) read(res pgx.BatchResults, hooksOn bool) ([]uuid.UUID, error) {
	var hooks []uuid.UUID
	if len(w.stale) > 0 {
		_, staleHooks, err := ending{status: "expired", ids: w.stale}.read(res, hooksOn)
		if err != nil {
			return nil, err
		}
		hooks = staleHooks
	}
	rows, err := res.Query()
	if err != nil {
		return nil, fmt.Errorf("write holds: %w", err)
	}
	for rows.Next() {
		var (
			kind string
			id   uuid.UUID
			key  *string
		)
		if err := rows.Scan(&kind, &id, &key); err != nil {
			rows.Close()
			return nil, fmt.Errorf("write holds: %w", err)
		}
		if kind == "booking" {
			w.written[id] = true
		} else {
			w.claimed[keyID{id, *key}] = true
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("write holds: %w", err)
	}
	if hooksOn {
		held, err := collectIDs(res.Query())
		if err != nil {
			return nil, fmt.Errorf("record holds: %w", err)
		}
		hooks = append(hooks, held...)
	}
	return hooks, nil
}
