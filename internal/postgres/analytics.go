package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/evently/evently/internal/analytics"
	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/event"
)

// AnalyticsStore computes the admin reports. Per-event totals and per-day
// activity come from two rollups of the bookings (analytics_event_sales,
// analytics_sales_slots; see migration 00005), which triggers on bookings
// keep in the same transaction as every booking change, so they equal an
// aggregation of the bookings at every commit; an event's sales by day and
// its seat counts come from the bookings and seats themselves.
type AnalyticsStore struct {
	pool *pgxpool.Pool
}

var (
	_ analytics.Store           = (*AnalyticsStore)(nil)
	_ analytics.WaitlistCounter = (*AnalyticsStore)(nil)
)

// NewAnalyticsStore returns a store on pool.
func NewAnalyticsStore(pool *pgxpool.Pool) *AnalyticsStore { return &AnalyticsStore{pool: pool} }

// windowEventsSQL selects the published events starting in [$1, $2) (a
// NULL bound is open) over events_status_starts_idx.
const windowEventsSQL = `
    SELECT id, name, currency FROM events
    WHERE status = 'published'
      AND starts_at >= coalesce($1::timestamptz, '-infinity')
      AND starts_at < coalesce($2::timestamptz, 'infinity')`

// Totals reads the window's events and their sales in one snapshot.
func (s *AnalyticsStore) Totals(ctx context.Context, w analytics.Window) (_ analytics.Totals, err error) {
	defer wrap(&err, "analytics totals")
	var t analytics.Totals
	err = s.readOnly(ctx, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(`WITH ev AS (`+windowEventsSQL+`)
			SELECT (SELECT count(*) FROM ev),
			       (SELECT coalesce(sum(s.capacity), 0) FROM sections s JOIN ev ON ev.id = s.event_id)`,
			w.From, w.To)
		b.Queue(`WITH ev AS (`+windowEventsSQL+`)
			SELECT a.currency, sum(a.bookings_confirmed), sum(a.tickets_sold), sum(a.revenue_cents),
			       sum(a.bookings_cancelled)
			FROM analytics_event_sales a JOIN ev ON ev.id = a.event_id
			GROUP BY a.currency
			ORDER BY a.currency`, w.From, w.To)
		res := tx.SendBatch(ctx, b)
		defer res.Close()
		if err := res.QueryRow().Scan(&t.Events, &t.Capacity); err != nil {
			return err
		}
		rows, err := res.Query()
		t.ByCurrency, err = collect(rows, err, func(r pgx.Row) (analytics.CurrencyTotals, error) {
			var c analytics.CurrencyTotals
			err := r.Scan(&c.Currency, &c.BookingsConfirmed, &c.TicketsSold, &c.RevenueCents, &c.BookingsCancelled)
			return c, err
		})
		return err
	})
	if err != nil {
		return analytics.Totals{}, err
	}
	return t, nil
}

// popularSQL ranks the window's events (of currency $3, when not empty).
// Capacities and sales are aggregated per event and hash-joined; the
// ranking key is spliced in from popularOrder.
const popularSQL = `
WITH ev AS (` + windowEventsSQL + `
      AND ($3::text = '' OR currency = $3::text)
), cap AS (
    SELECT s.event_id, sum(s.capacity) AS capacity
    FROM sections s JOIN ev ON ev.id = s.event_id
    GROUP BY s.event_id
), sales AS (
    SELECT a.event_id, sum(a.tickets_sold) AS tickets, sum(a.revenue_cents) AS revenue,
           sum(a.bookings_confirmed) AS confirmed, sum(a.bookings_cancelled) AS cancelled
    FROM analytics_event_sales a JOIN ev ON ev.id = a.event_id
    GROUP BY a.event_id
), ranked AS (
    SELECT ev.id, ev.name, ev.currency, coalesce(cap.capacity, 0) AS capacity,
           coalesce(sales.tickets, 0) AS tickets, coalesce(sales.revenue, 0) AS revenue,
           coalesce(sales.confirmed, 0) AS confirmed, coalesce(sales.cancelled, 0) AS cancelled
    FROM ev
    LEFT JOIN cap ON cap.event_id = ev.id
    LEFT JOIN sales ON sales.event_id = ev.id
)
SELECT id, name, currency, capacity, tickets, revenue, confirmed, cancelled FROM ranked
ORDER BY %s DESC, tickets DESC, id
LIMIT $4`

var popularOrder = map[analytics.PopularBy]string{
	analytics.ByTickets:     "tickets",
	analytics.ByRevenue:     "revenue",
	analytics.ByUtilization: "CASE WHEN capacity > 0 THEN tickets::float8 / capacity ELSE 0 END",
}

// Popular ranks the window's published events.
func (s *AnalyticsStore) Popular(ctx context.Context, q analytics.PopularQuery) (_ []analytics.EventSales, err error) {
	defer wrap(&err, "popular events")
	order, ok := popularOrder[q.By]
	if !ok {
		return nil, fmt.Errorf("popular events: unknown ranking %q", q.By)
	}
	rows, err := s.pool.Query(ctx, fmt.Sprintf(popularSQL, order), q.Window.From, q.Window.To, q.Currency, q.Limit)
	return collect(rows, err, func(r pgx.Row) (analytics.EventSales, error) {
		var e analytics.EventSales
		err := r.Scan(&e.EventID, &e.Name, &e.Currency, &e.Capacity, &e.TicketsSold, &e.RevenueCents,
			&e.BookingsConfirmed, &e.BookingsCancelled)
		return e, err
	})
}

// slotSeconds is the width of a slot of analytics_sales_slots.
const slotSeconds = 15 * 60

// activitySlotsSQL sums the slots of each day (width_bucket finds the day
// whose start is the last one at or before the slot) over the primary key
// range [first bound, last bound).
const activitySlotsSQL = `
SELECT width_bucket(slot, $1::timestamptz[]) - 1, currency,
       sum(confirmed), sum(confirmed_seats), sum(confirmed_cents),
       sum(cancelled), sum(cancelled_seats), sum(cancelled_cents)
FROM analytics_sales_slots
WHERE slot >= $2 AND slot < $3
GROUP BY 1, 2
HAVING sum(confirmed) <> 0 OR sum(cancelled) <> 0
ORDER BY 1, 2`

// activityBookingsSQL is the same report computed from the bookings.
const activityBookingsSQL = `
SELECT day, currency, sum(confirmed), sum(confirmed_seats), sum(confirmed_cents),
       sum(cancelled), sum(cancelled_seats), sum(cancelled_cents)
FROM (
    SELECT width_bucket(confirmed_at, $1::timestamptz[]) - 1 AS day, currency,
           1 AS confirmed, quantity AS confirmed_seats, total_cents AS confirmed_cents,
           0 AS cancelled, 0 AS cancelled_seats, 0 AS cancelled_cents
    FROM bookings
    WHERE status IN ('confirmed', 'cancelled') AND confirmed_at >= $2 AND confirmed_at < $3
    UNION ALL
    SELECT width_bucket(cancelled_at, $1::timestamptz[]) - 1, currency, 0, 0, 0, 1, quantity,
           coalesce(refund_cents, total_cents)
    FROM bookings
    WHERE status = 'cancelled' AND confirmed_at IS NOT NULL AND cancelled_at >= $2 AND cancelled_at < $3
) changes
GROUP BY 1, 2
ORDER BY 1, 2`

// Activity reports each day's confirmations and cancellations from the
// 15-minute slots when every day starts on a slot boundary (true of every
// time zone in use since 1972), and from the bookings otherwise.
func (s *AnalyticsStore) Activity(ctx context.Context, bounds []time.Time) ([]analytics.Activity, error) {
	if len(bounds) < 2 {
		return nil, nil
	}
	for _, b := range bounds {
		if b.Unix()%slotSeconds != 0 || b.Nanosecond() != 0 {
			return s.ActivityFromBookings(ctx, bounds)
		}
	}
	return s.activity(ctx, activitySlotsSQL, bounds)
}

// ActivityFromBookings is Activity computed from the bookings table alone
// (a scan of the bookings confirmed or cancelled in the period): the
// reference the rollup is checked against, and the way for days that do
// not start on a slot boundary.
func (s *AnalyticsStore) ActivityFromBookings(ctx context.Context, bounds []time.Time) ([]analytics.Activity, error) {
	if len(bounds) < 2 {
		return nil, nil
	}
	return s.activity(ctx, activityBookingsSQL, bounds)
}

// activity runs a daily report query, planned for its actual arguments:
// the generic plan of the prepared statement knows neither how many slots
// the period holds nor how few days they fall into, and sorts them. A year
// of slots is about 100,000 rows whose groups the planner overestimates
// (it counts distinct slots, not the few hundred days); a larger work_mem
// lets it hash them in memory instead of sorting them on disk, 2-3 times
// faster. The query is too short for JIT compilation to pay off.
func (s *AnalyticsStore) activity(ctx context.Context, sql string, bounds []time.Time) ([]analytics.Activity, error) {
	var list []analytics.Activity
	err := s.readOnly(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL plan_cache_mode = force_custom_plan;
			SET LOCAL work_mem = '64MB'; SET LOCAL jit = off`); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, sql, bounds, bounds[0], bounds[len(bounds)-1])
		list, err = collect(rows, err, func(r pgx.Row) (analytics.Activity, error) {
			var a analytics.Activity
			err := r.Scan(&a.Day, &a.Currency, &a.Confirmed, &a.ConfirmedSeats, &a.ConfirmedCents,
				&a.Cancelled, &a.CancelledSeats, &a.CancelledCents)
			return a, err
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("daily activity: %w", err)
	}
	return list, nil
}

// Event reads one event's sales (rollup), seat counts (the seats index:
// only held and booked seats are visited) and sales by day
// (bookings_event_confirmed_idx) in one snapshot.
func (s *AnalyticsStore) Event(ctx context.Context, id uuid.UUID, now time.Time) (_ analytics.EventFacts, err error) {
	defer wrap(&err, "event analytics event=%s", id)
	f := analytics.EventFacts{EventSales: analytics.EventSales{EventID: id}}
	err = s.readOnly(ctx, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(`
			SELECT e.name, e.currency,
			       (SELECT coalesce(sum(capacity), 0) FROM sections WHERE event_id = e.id),
			       coalesce(sum(a.bookings_confirmed), 0), coalesce(sum(a.tickets_sold), 0),
			       coalesce(sum(a.revenue_cents), 0), coalesce(sum(a.bookings_cancelled), 0)
			FROM events e LEFT JOIN analytics_event_sales a ON a.event_id = e.id
			WHERE e.id = $1
			GROUP BY e.id`, id)
		b.Queue(`
			SELECT count(*) FILTER (WHERE status = 'held' AND held_until >= $2),
			       count(*) FILTER (WHERE status = 'booked')
			FROM seats
			WHERE event_id = $1 AND status IN ('held', 'booked')`, id, now)
		// The bookings still confirmed, and the money kept from those
		// cancelled with a partial refund, by day of confirmation.
		b.Queue(`
			SELECT day, sum(confirmed), sum(tickets), sum(cents) FROM (
			    SELECT (confirmed_at AT TIME ZONE 'UTC')::date AS day, 1 AS confirmed, quantity AS tickets,
			           total_cents AS cents
			    FROM bookings
			    WHERE event_id = $1 AND status = 'confirmed'
			    UNION ALL
			    SELECT (confirmed_at AT TIME ZONE 'UTC')::date, 0, 0, total_cents - refund_cents
			    FROM bookings
			    WHERE event_id = $1 AND status = 'cancelled' AND refund_cents < total_cents
			) sales
			GROUP BY 1
			ORDER BY 1`, id)
		res := tx.SendBatch(ctx, b)
		defer res.Close()
		err := res.QueryRow().Scan(&f.Name, &f.Currency, &f.Capacity, &f.BookingsConfirmed, &f.TicketsSold,
			&f.RevenueCents, &f.BookingsCancelled)
		if errors.Is(err, pgx.ErrNoRows) {
			return event.NotFound(id)
		}
		if err != nil {
			return err
		}
		if err := res.QueryRow().Scan(&f.Held, &f.Booked); err != nil {
			return err
		}
		rows, err := res.Query()
		f.SalesByDay, err = collect(rows, err, func(r pgx.Row) (analytics.DaySales, error) {
			var d analytics.DaySales
			err := r.Scan(&d.Date, &d.BookingsConfirmed, &d.TicketsSold, &d.RevenueCents)
			return d, err
		})
		return err
	})
	if apperr.Is(err, apperr.NotFound) {
		return analytics.EventFacts{}, err
	}
	if err != nil {
		return analytics.EventFacts{}, err
	}
	return f, nil
}

// Waiting counts the event's waitlist entries with status 'waiting'.
func (s *AnalyticsStore) Waiting(ctx context.Context, eventID uuid.UUID) (_ int64, err error) {
	defer wrap(&err, "count waitlist event=%s", eventID)
	var n int64
	err = s.pool.QueryRow(ctx, `SELECT count(*) FROM waitlist_entries WHERE event_id = $1 AND status = 'waiting'`,
		eventID).Scan(&n)
	if err != nil {
		return 0, err
	}
	return n, nil
}

// readOnly runs fn in a read-only repeatable-read transaction, so that the
// queries of one report see one snapshot.
func (s *AnalyticsStore) readOnly(ctx context.Context, fn func(pgx.Tx) error) error {
	return pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, fn)
}

// rebuildSQL recomputes both rollups from the bookings (the function is
// the migration's, which backfills with it too).
const rebuildSQL = `SELECT analytics_rebuild()`

// Rebuild recomputes the rollups from the bookings, holding off booking
// writes meanwhile (for bulk loads made with the triggers disabled, and
// for repairs; the triggers keep them exact otherwise).
func (s *AnalyticsStore) Rebuild(ctx context.Context) (err error) {
	defer wrap(&err, "rebuild analytics")
	err = inTx(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `LOCK TABLE bookings IN SHARE MODE`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, rebuildSQL)
		return err
	})
	if err != nil {
		return err
	}
	return nil
}

// foldEventShardsSQL moves up to $1 shard rows (other than shard 0) of
// the per-event rollup into shard 0 of their key, skipping rows a booking
// transaction holds (picked once, in a materialized CTE: SKIP LOCKED
// evaluated again could pick others): the sums move in one statement, so
// every snapshot sees them once.
const foldEventShardsSQL = `
WITH m AS MATERIALIZED (
    SELECT event_id, currency, shard FROM analytics_event_sales
    WHERE shard <> 0 LIMIT $1 FOR UPDATE SKIP LOCKED
), moved AS (
    DELETE FROM analytics_event_sales a USING m
    WHERE (a.event_id, a.currency, a.shard) = (m.event_id, m.currency, m.shard)
    RETURNING a.*
), folded AS (
    SELECT event_id, currency, sum(bookings_confirmed) AS c, sum(tickets_sold) AS t,
           sum(revenue_cents) AS r, sum(bookings_cancelled) AS x, count(*) AS n
    FROM moved GROUP BY 1, 2
), ins AS (
    INSERT INTO analytics_event_sales AS a
        (event_id, currency, shard, bookings_confirmed, tickets_sold, revenue_cents, bookings_cancelled)
    SELECT event_id, currency, 0, c, t, r, x FROM folded
    ON CONFLICT (event_id, currency, shard) DO UPDATE SET
        bookings_confirmed = a.bookings_confirmed + EXCLUDED.bookings_confirmed,
        tickets_sold = a.tickets_sold + EXCLUDED.tickets_sold,
        revenue_cents = a.revenue_cents + EXCLUDED.revenue_cents,
        bookings_cancelled = a.bookings_cancelled + EXCLUDED.bookings_cancelled
)
SELECT coalesce(sum(n), 0) FROM folded`

// foldSlotShardsSQL does the same for the slots before $2.
const foldSlotShardsSQL = `
WITH m AS MATERIALIZED (
    SELECT slot, currency, shard FROM analytics_sales_slots
    WHERE shard <> 0 AND slot < $2 LIMIT $1 FOR UPDATE SKIP LOCKED
), moved AS (
    DELETE FROM analytics_sales_slots a USING m
    WHERE (a.slot, a.currency, a.shard) = (m.slot, m.currency, m.shard)
    RETURNING a.*
), folded AS (
    SELECT slot, currency, sum(confirmed) AS c, sum(confirmed_seats) AS cs, sum(confirmed_cents) AS cc,
           sum(cancelled) AS x, sum(cancelled_seats) AS xs, sum(cancelled_cents) AS xc, count(*) AS n
    FROM moved GROUP BY 1, 2
), ins AS (
    INSERT INTO analytics_sales_slots AS a
        (slot, currency, shard, confirmed, confirmed_seats, confirmed_cents, cancelled, cancelled_seats, cancelled_cents)
    SELECT slot, currency, 0, c, cs, cc, x, xs, xc FROM folded
    ON CONFLICT (slot, currency, shard) DO UPDATE SET
        confirmed = a.confirmed + EXCLUDED.confirmed,
        confirmed_seats = a.confirmed_seats + EXCLUDED.confirmed_seats,
        confirmed_cents = a.confirmed_cents + EXCLUDED.confirmed_cents,
        cancelled = a.cancelled + EXCLUDED.cancelled,
        cancelled_seats = a.cancelled_seats + EXCLUDED.cancelled_seats,
        cancelled_cents = a.cancelled_cents + EXCLUDED.cancelled_cents
)
SELECT coalesce(sum(n), 0) FROM folded`

// foldBatch is how many shard rows one fold statement moves.
const foldBatch = 5000

// FoldShards merges the shard rows that contention created back into one
// row per key: every per-event row, and the slot rows before before (slots
// no longer written). The reports then read one row per key, whatever
// the on-sales of the past were like. Rows a booking transaction has
// locked are left for the next run. It returns how many rows it folded.
func (s *AnalyticsStore) FoldShards(ctx context.Context, before time.Time) (_ int64, err error) {
	defer wrap(&err, "fold analytics shards")
	var total int64
	for _, q := range []string{foldEventShardsSQL, foldSlotShardsSQL} {
		for {
			var n int64
			args := []any{foldBatch}
			if q == foldSlotShardsSQL {
				args = append(args, before)
			}
			if err := s.pool.QueryRow(ctx, q, args...).Scan(&n); err != nil {
				return total, err
			}
			total += n
			if n < foldBatch {
				break
			}
		}
	}
	return total, nil
}

// rollupDriftSQL compares each rollup key's totals with the bookings'.
const rollupDriftSQL = `
WITH truth_events AS (
    SELECT event_id, currency,
           count(*) FILTER (WHERE status = 'confirmed') AS confirmed,
           coalesce(sum(quantity) FILTER (WHERE status = 'confirmed'), 0) AS tickets,
           coalesce(sum(CASE WHEN status = 'confirmed' THEN total_cents
                             ELSE total_cents - coalesce(refund_cents, total_cents) END), 0) AS revenue,
           count(*) FILTER (WHERE status = 'cancelled') AS cancelled
    FROM bookings
    WHERE confirmed_at IS NOT NULL AND status IN ('confirmed', 'cancelled')
    GROUP BY 1, 2
), rollup_events AS (
    SELECT event_id, currency, sum(bookings_confirmed) AS confirmed, sum(tickets_sold) AS tickets,
           sum(revenue_cents) AS revenue, sum(bookings_cancelled) AS cancelled
    FROM analytics_event_sales
    GROUP BY 1, 2
    HAVING sum(bookings_confirmed) <> 0 OR sum(tickets_sold) <> 0 OR sum(revenue_cents) <> 0
        OR sum(bookings_cancelled) <> 0
), truth_slots AS (
    SELECT slot, currency, sum(confirmed) AS confirmed, sum(confirmed_seats) AS confirmed_seats,
           sum(confirmed_cents) AS confirmed_cents, sum(cancelled) AS cancelled,
           sum(cancelled_seats) AS cancelled_seats, sum(cancelled_cents) AS cancelled_cents
    FROM (
        SELECT analytics_slot(confirmed_at) AS slot, currency, 1 AS confirmed, quantity AS confirmed_seats,
               total_cents AS confirmed_cents, 0 AS cancelled, 0 AS cancelled_seats, 0 AS cancelled_cents
        FROM bookings WHERE confirmed_at IS NOT NULL AND status IN ('confirmed', 'cancelled')
        UNION ALL
        SELECT analytics_slot(cancelled_at), currency, 0, 0, 0, 1, quantity, coalesce(refund_cents, total_cents)
        FROM bookings WHERE confirmed_at IS NOT NULL AND status = 'cancelled'
    ) changes
    GROUP BY 1, 2
), rollup_slots AS (
    SELECT slot, currency, sum(confirmed) AS confirmed, sum(confirmed_seats) AS confirmed_seats,
           sum(confirmed_cents) AS confirmed_cents, sum(cancelled) AS cancelled,
           sum(cancelled_seats) AS cancelled_seats, sum(cancelled_cents) AS cancelled_cents
    FROM analytics_sales_slots
    GROUP BY 1, 2
    HAVING sum(confirmed) <> 0 OR sum(confirmed_seats) <> 0 OR sum(confirmed_cents) <> 0
        OR sum(cancelled) <> 0 OR sum(cancelled_seats) <> 0 OR sum(cancelled_cents) <> 0
)
SELECT (SELECT count(*) FROM truth_events t FULL JOIN rollup_events r USING (event_id, currency)
        WHERE (t.confirmed, t.tickets, t.revenue, t.cancelled)
              IS DISTINCT FROM (r.confirmed, r.tickets, r.revenue, r.cancelled))
     + (SELECT count(*) FROM truth_slots t FULL JOIN rollup_slots r USING (slot, currency)
        WHERE (t.confirmed, t.confirmed_seats, t.confirmed_cents, t.cancelled, t.cancelled_seats, t.cancelled_cents)
              IS DISTINCT FROM
              (r.confirmed, r.confirmed_seats, r.confirmed_cents, r.cancelled, r.cancelled_seats, r.cancelled_cents))`

// RollupDrift counts the rollup keys (event and currency, or slot and
// currency) whose totals differ from an aggregation of the bookings in the
// same snapshot: 0 unless something bypassed the triggers.
func (s *AnalyticsStore) RollupDrift(ctx context.Context) (_ int64, err error) {
	defer wrap(&err, "analytics rollup drift")
	var n int64
	err = s.readOnly(ctx, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, rollupDriftSQL).Scan(&n)
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}
