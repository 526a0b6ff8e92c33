package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/evently/evently/internal/booking"
	"github.com/evently/evently/internal/event"
)

// The hold stage: a batch of holds of one event is one transaction of
// three round trips —
//
//  1. lock: the event row FOR SHARE (so the sale is re-checked under a lock
//     that event cancellation and edits must wait for), the seats asked for
//     by id FOR UPDATE in id order, and per position range a window of
//     available seats FOR UPDATE SKIP LOCKED (concurrent batches take
//     different seats instead of queueing on the same rows);
//  2. only when a best-available hold came up short: the window before the
//     scan's starting hint, and seats of lapsed holds (through the
//     held_until index);
//  3. write: lapsed holds whose seats are taken over end, then one
//     statement inserts every booking, marks every seat held and inserts
//     every booking_seats row (arrays, unnest), with the idempotency
//     answers of keyed holds; then their webhooks.
//
// booking.Allocate decides between 1–2 and 3, in arrival order. Lock
// order: event, then seats, then bookings — as event cancellation (event,
// seats, bookings) and confirmations and cancellations (seats, bookings),
// so no two of them wait on each other in a cycle.

// lockedSeatColumns are the columns scanLockedSeat reads, from seats s
// joined with sections sec.
const lockedSeatColumns = `s.id, s.event_id, s.position, s.section_id, sec.name, s.row_label, s.number, s.label,
    sec.price_cents, s.status, s.held_until, s.booking_id`

func scanLockedSeat(r pgx.CollectableRow) (booking.LockedSeat, error) {
	var s booking.LockedSeat
	err := r.Scan(&s.ID, &s.EventID, &s.Position, &s.SectionID, &s.Section, &s.Row, &s.Number, &s.Label,
		&s.PriceCents, &s.Status, &s.HeldUntil, &s.BookingID)
	return s, err
}

// limitBinds is true when event $1's limit of seats per buyer is below
// its seat count: a limit no buyer can reach (an admin set it to the
// capacity or more) costs the holds nothing.
const limitBinds = `(SELECT coalesce(e.max_seats_per_user, e.max_seats_per_booking) <
        (SELECT coalesce(sum(capacity), 0) FROM sections WHERE event_id = e.id)
    FROM events e WHERE e.id = $1::uuid)`

// saleLockSQL reads the sale facts of event $1, and its limit of seats
// per buyer (0 when it cannot bind), under a share lock.
const saleLockSQL = `SELECT status, starts_at, sales_start, sales_end, currency,
    CASE WHEN ` + limitBinds + ` THEN coalesce(max_seats_per_user, max_seats_per_booking) ELSE 0 END
FROM events WHERE id = $1 FOR SHARE`

// buyerLockClass namespaces the advisory locks that serialise the holds
// of one buyer of one event (the key's other half hashes the pair).
const buyerLockClass = 0x62_75_79 // "buy"

// lockBuyersSQL takes the transaction-level advisory lock (class $3) of
// each buyer $2 of event $1, in key order (so that two batches never wait
// on each other's buyers in a cycle), when the event's limit can bind. It
// returns how many keys it locked.
const lockBuyersSQL = `SELECT count(pg_advisory_xact_lock($3::integer, k)) FROM (
    SELECT DISTINCT hashtext($1::uuid::text || u::text) AS k FROM unnest($2::uuid[]) u
    WHERE ` + limitBinds + `
    ORDER BY 1) keys`

// liveSeatsSQL is, per buyer $2 of event $1, the seats of their live
// bookings at $3 — pending holds that have not lapsed, and confirmed
// bookings — through the partial index bookings_live_by_user_idx, when the
// event's limit can bind. Run after lockBuyersSQL, as a statement of its
// own, its snapshot sees every hold committed by a batch that held a
// buyer's lock before.
const liveSeatsSQL = `SELECT user_id, sum(quantity)::integer FROM bookings
WHERE event_id = $1 AND user_id = ANY($2::uuid[]) AND status IN ('pending', 'confirmed')
  AND (status = 'confirmed' OR expires_at > $3) AND ` + limitBinds + `
GROUP BY user_id`

// seatsByIDSQL locks the seats $1 in id order.
const seatsByIDSQL = `SELECT ` + lockedSeatColumns + `
FROM seats s JOIN sections sec ON sec.id = s.section_id
WHERE s.id = ANY($1::uuid[])
ORDER BY s.id
FOR UPDATE OF s`

// freeWindowSQL locks up to $4 available seats of event $1 between
// positions $2 and $3, in position order, skipping seats other
// transactions have locked.
const freeWindowSQL = `SELECT ` + lockedSeatColumns + `
FROM seats s JOIN sections sec ON sec.id = s.section_id
WHERE s.event_id = $1 AND s.status = 'available' AND s.position BETWEEN $2 AND $3
ORDER BY s.position
LIMIT $4
FOR UPDATE OF s SKIP LOCKED`

// freeCountSQL counts up to $4 available seats of event $1 between
// positions $2 and $3 (those the batch is about to take included).
const freeCountSQL = `SELECT count(*) FROM (
    SELECT 1 FROM seats WHERE event_id = $1 AND status = 'available' AND position BETWEEN $2 AND $3 LIMIT $4) free`

// lapsedSeatsSQL locks up to $5 seats of event $1 between positions $2 and
// $3 whose hold lapsed before $4, found through the held_until index
// (which holds only the few seats whose hold ran out before the cleanup
// freed them, not every live hold of a busy on-sale).
const lapsedSeatsSQL = `SELECT ` + lockedSeatColumns + `
FROM seats s JOIN sections sec ON sec.id = s.section_id
WHERE s.status = 'held' AND s.held_until <= $4 AND s.event_id = $1 AND s.position BETWEEN $2 AND $3
ORDER BY s.held_until
LIMIT $5
FOR UPDATE OF s SKIP LOCKED`

// Hold implements booking.Store.
func (s *BookingStore) Hold(ctx context.Context, b booking.HoldBatch) (_ booking.HoldResults, err error) {
	defer wrap(&err, "hold batch event=%s holds=%d", b.EventID, len(b.Holds))
	var (
		res   booking.HoldResults
		hooks []uuid.UUID
	)
	_, err = retryOnConflict(ctx, func() (struct{}, error) {
		return struct{}{}, inPipeline(ctx, s.pool, func(p *pipeline) error {
			var err error
			res, hooks, err = s.hold(ctx, p, b)
			return err
		})
	})
	if err != nil {
		return booking.HoldResults{}, err
	}
	s.hooks.sent(ctx, hooks)
	return res, nil
}

// hold runs a hold batch in the transaction p.
func (s *BookingStore) hold(ctx context.Context, p *pipeline, b booking.HoldBatch) (booking.HoldResults, []uuid.UUID, error) {
	n := len(b.Holds)
	res := booking.HoldResults{Bookings: make([]booking.Booking, n), Refusals: make([]error, n)}
	ranges := b.Ranges()
	want := map[booking.Range]int{}
	for _, h := range b.Holds {
		if len(h.SeatIDs) == 0 {
			want[h.Range] += h.Quantity
		}
	}

	// 1. Lock the event, the buyers, the seats asked for, and a window per
	// range.
	sale, specific, pool, counts, err := lockForHolds(ctx, p, b, ranges, want)
	if err != nil {
		return res, nil, err
	}
	b.Limit = sale.limit
	if refusal := saleRefusal(sale, b.EventID, b.Now); refusal != nil {
		for i := range res.Refusals {
			res.Refusals[i] = refusal
		}
		return res, nil, nil
	}
	res.First = map[booking.Range]int{}
	for _, r := range ranges {
		for _, seat := range pool {
			if r.Lo <= seat.Position && seat.Position <= r.Hi {
				res.First[r] = seat.Position
				break
			}
		}
	}
	alloc := booking.Allocate(b, specific, pool)

	// 2. Short: look before the hints and among lapsed holds, and decide
	// again on everything found.
	if len(alloc.Short) > 0 {
		more, err := lockMore(ctx, p, b, alloc.Short, want)
		if err != nil {
			return res, nil, err
		}
		if len(more) > 0 {
			pool = mergeSeats(pool, more)
			alloc = booking.Allocate(b, specific, pool)
			for r := range alloc.Short {
				delete(res.First, r) // the hint found too few: start over next time
			}
		}
	}
	res.Short = alloc.Short
	res.Free = freeLeft(ranges, counts, alloc)

	// 3. Write, and commit in the same round trip.
	w := newHoldWrite(b, sale.currency, alloc)
	var hooks []uuid.UUID
	hooksOn := s.hooks.on()
	if batch := w.queue(hooksOn); batch.Len() > 0 {
		if err := p.exchange(ctx, batch, true, func(r pgx.BatchResults) error {
			hooks, err = w.read(r, hooksOn)
			return err
		}); err != nil {
			return res, nil, err
		}
	}
	for i := range b.Holds {
		res.Bookings[i], res.Refusals[i] = w.outcome(i)
	}
	return res, hooks, nil
}

// freeLeft is, per range counted, the available seats the allocation
// leaves: the count (which saw the seats the batch takes as available)
// minus the seats it gives in the range. Ranges counted at the limit are
// left out.
func freeLeft(ranges []booking.Range, counts map[booking.Range]int, a booking.Allocation) map[booking.Range]int {
	out := map[booking.Range]int{}
	for _, r := range ranges {
		n, ok := counts[r]
		if !ok || n >= booking.FreeCountLimit {
			continue
		}
		for _, seats := range a.Seats {
			for _, s := range seats {
				if s.Status == "available" && r.Lo <= s.Position && s.Position <= r.Hi {
					n--
				}
			}
		}
		out[r] = max(n, 0)
	}
	return out
}

// lockedSale is the sale facts read under the event's share lock, with
// the live seats of the batch's buyers.
type lockedSale struct {
	booking.Sale
	currency string
	found    bool
	limit    booking.PurchaseLimit
}

// lockForHolds is round trip 1 of a hold batch.
func lockForHolds(ctx context.Context, p *pipeline, b booking.HoldBatch, ranges []booking.Range,
	want map[booking.Range]int) (sale lockedSale, specific map[uuid.UUID]booking.LockedSeat, pool []booking.LockedSeat,
	counts map[booking.Range]int, err error) {
	batch := &pgx.Batch{}
	batch.Queue(saleLockSQL, b.EventID)
	buyers := b.Buyers()
	batch.Queue(lockBuyersSQL, b.EventID, buyers, buyerLockClass)
	batch.Queue(liveSeatsSQL, b.EventID, buyers, b.Now)
	ids := b.SeatIDs()
	if len(ids) > 0 {
		batch.Queue(seatsByIDSQL, ids)
	}
	for _, r := range ranges {
		batch.Queue(freeWindowSQL, b.EventID, max(r.Lo, b.From[r]), r.Hi, windowSize(b, r, want[r]))
		batch.Queue(freeCountSQL, b.EventID, r.Lo, r.Hi, booking.FreeCountLimit)
	}
	counts = map[booking.Range]int{}
	sale.EventID = b.EventID
	specific = map[uuid.UUID]booking.LockedSeat{}
	err = p.exchange(ctx, batch, false, func(res pgx.BatchResults) error {
		err := res.QueryRow().Scan(&sale.Status, &sale.StartsAt, &sale.SalesStart, &sale.SalesEnd, &sale.currency,
			&sale.limit.Max)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return fmt.Errorf("lock event: %w", err)
		default:
			sale.found = true
		}
		if sale.limit.Live, err = lockBuyers(res); err != nil {
			return err
		}
		if len(ids) > 0 {
			seats, err := collectSeats(res)
			if err != nil {
				return fmt.Errorf("lock seats: %w", err)
			}
			for _, seat := range seats {
				specific[seat.ID] = seat
			}
		}
		for _, r := range ranges {
			seats, err := collectSeats(res)
			if err != nil {
				return fmt.Errorf("lock free seats: %w", err)
			}
			pool = mergeSeats(pool, seats)
			var n int
			if err := res.QueryRow().Scan(&n); err != nil {
				return fmt.Errorf("count free seats: %w", err)
			}
			counts[r] = n
		}
		return nil
	})
	return sale, specific, pool, counts, err
}

// lockBuyers reads the results of lockBuyersSQL and liveSeatsSQL: the
// live seats of each buyer.
func lockBuyers(res pgx.BatchResults) (map[uuid.UUID]int, error) {
	var n int
	if err := res.QueryRow().Scan(&n); err != nil {
		return nil, fmt.Errorf("lock buyers: %w", err)
	}
	rows, err := res.Query()
	if err != nil {
		return nil, fmt.Errorf("count live seats: %w", err)
	}
	live := map[uuid.UUID]int{}
	var (
		user  uuid.UUID
		seats int
	)
	if _, err := pgx.ForEachRow(rows, []any{&user, &seats}, func() error {
		live[user] = seats
		return nil
	}); err != nil {
		return nil, fmt.Errorf("count live seats: %w", err)
	}
	return live, nil
}

// collectSeats reads the next result of res as locked seats.
func collectSeats(res pgx.BatchResults) ([]booking.LockedSeat, error) {
	rows, err := res.Query()
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanLockedSeat)
}

// windowSize is how many free seats of r a batch locks: what its holds of
// r ask for, plus room to find adjacent blocks.
func windowSize(b booking.HoldBatch, r booking.Range, want int) int {
	for _, h := range b.Holds {
		if len(h.SeatIDs) == 0 && h.Range == r && h.Adjacent {
			return want + booking.AdjacencySlack
		}
	}
	return want
}

// lockMore is round trip 2 of a hold batch: for each range that came up
// short, the available seats before where its scan started, and the seats
// of lapsed holds.
func lockMore(ctx context.Context, p *pipeline, b booking.HoldBatch, short, want map[booking.Range]int) ([]booking.LockedSeat, error) {
	batch := &pgx.Batch{}
	for r := range short {
		n := windowSize(b, r, want[r])
		if from := b.From[r]; from > r.Lo {
			batch.Queue(freeWindowSQL, b.EventID, r.Lo, from-1, n)
		}
		batch.Queue(lapsedSeatsSQL, b.EventID, r.Lo, r.Hi, b.Now, n)
	}
	var more []booking.LockedSeat
	err := p.exchange(ctx, batch, false, func(res pgx.BatchResults) error {
		for range batch.Len() {
			seats, err := collectSeats(res)
			if err != nil {
				return fmt.Errorf("lock more seats: %w", err)
			}
			more = mergeSeats(more, seats)
		}
		return nil
	})
	return more, err
}

// mergeSeats adds seats to pool, each seat once, keeping position order.
func mergeSeats(pool, seats []booking.LockedSeat) []booking.LockedSeat {
	seen := make(map[uuid.UUID]bool, len(pool))
	for _, s := range pool {
		seen[s.ID] = true
	}
	for _, s := range seats {
		if !seen[s.ID] {
			seen[s.ID] = true
			pool = append(pool, s)
		}
	}
	slices.SortFunc(pool, func(a, b booking.LockedSeat) int { return a.Position - b.Position })
	return pool
}

// saleRefusal is why a batch's holds cannot be made on the event as
// locked, or nil.
func saleRefusal(sale lockedSale, eventID uuid.UUID, now time.Time) error {
	if !sale.found {
		return event.NotFound(eventID)
	}
	return sale.OpenAt(now)
}
