package postgres_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/evently/evently/internal/analytics"
	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/event"
	"github.com/evently/evently/internal/logging"
	"github.com/evently/evently/internal/pgtest"
	"github.com/evently/evently/internal/postgres"
)

// history writes bookings through the BookingStore at chosen times.
type history struct {
	t        testing.TB
	pool     *pgxpool.Pool
	events   *postgres.EventStore
	bookings *postgres.BookingStore
	store    *postgres.AnalyticsStore
	user     uuid.UUID
}

func newHistory(t testing.TB) *history {
	t.Helper()
	pool := pgtest.New(t)
	h := &history{t: t, pool: pool, events: postgres.NewEventStore(pool), bookings: postgres.NewBookingStore(pool),
		store: postgres.NewAnalyticsStore(pool), user: pgtest.User(t, pool).UserID}
	return h
}

func (h *history) exec(sql string, args ...any) {
	h.t.Helper()
	if _, err := h.pool.Exec(context.Background(), sql, args...); err != nil {
		h.t.Fatalf("exec %q: %v", sql, err)
	}
}

func (h *history) event(name, currency, status string, startsAt time.Time, sections ...event.Section) event.Event {
	h.t.Helper()
	e := newEvent(name, startsAt, sections...)
	e.Currency, e.Status = currency, event.Status(status)
	if err := h.events.CreateEvent(context.Background(), &e); err != nil {
		h.t.Fatal(err)
	}
	return e
}

// hold holds the seats at the given positions at time at (for 10 minutes).
func (h *history) hold(e event.Event, at time.Time, positions ...int) uuid.UUID {
	h.t.Helper()
	var ids []uuid.UUID
	for _, p := range positions {
		var id uuid.UUID
		if err := h.pool.QueryRow(context.Background(), `SELECT id FROM seats WHERE event_id = $1 AND position = $2`,
			e.ID, p).Scan(&id); err != nil {
			h.t.Fatal(err)
		}
		ids = append(ids, id)
	}
	b, err := holdSeats(context.Background(), h.bookings, e.ID, h.user, ids, at, 10*time.Minute)
	if err != nil {
		h.t.Fatalf("HoldSeats(%s at %s) = %v", e.Name, at, err)
	}
	return b.ID
}

func (h *history) confirm(id uuid.UUID, at time.Time) {
	h.t.Helper()
	if err := confirmAs(context.Background(), h.bookings, id, h.user, at); err != nil {
		h.t.Fatalf("Confirm(%s at %s) = %v", id, at, err)
	}
}

func (h *history) cancel(id uuid.UUID, at time.Time) {
	h.t.Helper()
	if err := cancelAsAdmin(context.Background(), h.bookings, id, at); err != nil {
		h.t.Fatalf("Cancel(%s at %s) = %v", id, at, err)
	}
}

// noDrift fails the test when a rollup differs from the bookings.
func (h *history) noDrift(when string) {
	h.t.Helper()
	n, err := h.store.RollupDrift(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	if n != 0 {
		h.t.Fatalf("%s: %d rollup keys differ from the bookings", when, n)
	}
}

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// storeHistory builds a small history:
//
//	Alpha (USD; Stalls 10 × 5000, Floor 10 × 2000; capacity 20)
//	  b1 seats 1-2   confirmed 03-28 22:05Z                      10000
//	  b2 seat 11     confirmed 03-28 23:50Z                       2000
//	  b3 seats 3-5   confirmed 03-29 00:40Z, cancelled 03-30 10:00Z 15000
//	  b4 seat 6      held 03-29 01:00Z, lapsed (expired by the cleanup)
//	  b5 seat 7      held 03-29 02:00Z, released (cancelled unconfirmed)
//	Beta (EUR; Floor 8 × 3000)
//	  b6 seats 1-3   confirmed 03-29 09:10Z                       9000
//	  b7 seat 4      confirmed 03-30 23:45Z                       3000
//	Gamma (USD; 5 × 4000), cancelled after b8 (seat 1, confirmed 03-29 12:00Z)
func storeHistory(t *testing.T) (*history, event.Event, event.Event, event.Event) {
	h := newHistory(t)
	ctx := context.Background()
	alpha := h.event("Alpha", "USD", "published", at("2027-06-01T19:00:00Z"),
		event.Section{Name: "Stalls", PriceCents: 5000, Rows: 1, SeatsPerRow: 10},
		event.Section{Name: "Floor", PriceCents: 2000, Capacity: 10})
	beta := h.event("Beta", "EUR", "published", at("2027-07-01T19:00:00Z"),
		event.Section{Name: "Floor", PriceCents: 3000, Capacity: 8})
	gamma := h.event("Gamma", "USD", "published", at("2027-09-01T19:00:00Z"),
		event.Section{Name: "Floor", PriceCents: 4000, Capacity: 5})

	b1 := h.hold(alpha, at("2026-03-28T22:00:00Z"), 1, 2)
	h.confirm(b1, at("2026-03-28T22:05:00Z"))
	b2 := h.hold(alpha, at("2026-03-28T23:45:00Z"), 11)
	h.confirm(b2, at("2026-03-28T23:50:00Z"))
	b3 := h.hold(alpha, at("2026-03-29T00:35:00Z"), 3, 4, 5)
	h.confirm(b3, at("2026-03-29T00:40:00Z"))
	h.hold(alpha, at("2026-03-29T01:00:00Z"), 6)
	b5 := h.hold(alpha, at("2026-03-29T02:00:00Z"), 7)
	h.cancel(b5, at("2026-03-29T02:01:00Z"))
	if _, err := h.bookings.ExpireHolds(ctx, at("2026-03-29T03:00:00Z"), 100); err != nil {
		t.Fatal(err)
	}
	b6 := h.hold(beta, at("2026-03-29T09:05:00Z"), 1, 2, 3)
	h.confirm(b6, at("2026-03-29T09:10:00Z"))
	b8 := h.hold(gamma, at("2026-03-29T11:55:00Z"), 1)
	h.confirm(b8, at("2026-03-29T12:00:00Z"))
	h.cancel(b3, at("2026-03-30T10:00:00Z"))
	b7 := h.hold(beta, at("2026-03-30T23:40:00Z"), 4)
	h.confirm(b7, at("2026-03-30T23:45:00Z"))
	if _, err := h.events.CancelEvent(ctx, gamma.ID); err != nil {
		t.Fatal(err)
	}
	h.noDrift("after the history")
	return h, alpha, beta, gamma
}

func TestAnalyticsStoreFigures(t *testing.T) {
	t.Parallel()
	h, alpha, beta, gamma := storeHistory(t)
	ctx := context.Background()

	totals, err := h.store.Totals(ctx, analytics.Window{})
	if err != nil {
		t.Fatal(err)
	}
	want := analytics.Totals{Events: 2, Capacity: 28, ByCurrency: []analytics.CurrencyTotals{
		{Currency: "EUR", BookingsConfirmed: 2, TicketsSold: 4, RevenueCents: 12000},
		{Currency: "USD", BookingsConfirmed: 2, TicketsSold: 3, RevenueCents: 12000, BookingsCancelled: 1},
	}}
	if !reflect.DeepEqual(totals, want) {
		t.Errorf("Totals() = %+v\nwant %+v", totals, want)
	}
	from, to := at("2027-06-15T00:00:00Z"), at("2027-07-01T19:00:00Z")
	if totals, _ := h.store.Totals(ctx, analytics.Window{From: &from}); totals.Events != 1 || totals.Capacity != 8 ||
		len(totals.ByCurrency) != 1 || totals.ByCurrency[0].Currency != "EUR" {
		t.Errorf("Totals(from %s) = %+v, want Beta alone", from, totals)
	}
	// to is exclusive: Beta starts exactly there.
	if totals, _ := h.store.Totals(ctx, analytics.Window{From: &from, To: &to}); totals.Events != 0 || len(totals.ByCurrency) != 0 {
		t.Errorf("Totals([%s, %s)) = %+v, want nothing", from, to, totals)
	}

	alphaSales := analytics.EventSales{EventID: alpha.ID, Name: "Alpha", Currency: "USD", Capacity: 20, TicketsSold: 3,
		RevenueCents: 12000, BookingsConfirmed: 2, BookingsCancelled: 1}
	betaSales := analytics.EventSales{EventID: beta.ID, Name: "Beta", Currency: "EUR", Capacity: 8, TicketsSold: 4,
		RevenueCents: 12000, BookingsConfirmed: 2}
	for _, tc := range []struct {
		q    analytics.PopularQuery
		want []analytics.EventSales
	}{
		{analytics.PopularQuery{By: analytics.ByTickets, Limit: 10}, []analytics.EventSales{betaSales, alphaSales}},
		// A tie on revenue goes to the most tickets.
		{analytics.PopularQuery{By: analytics.ByRevenue, Limit: 10}, []analytics.EventSales{betaSales, alphaSales}},
		{analytics.PopularQuery{By: analytics.ByUtilization, Limit: 1}, []analytics.EventSales{betaSales}},
		{analytics.PopularQuery{By: analytics.ByRevenue, Limit: 10, Currency: "USD"}, []analytics.EventSales{alphaSales}},
		{analytics.PopularQuery{By: analytics.ByTickets, Limit: 10, Window: analytics.Window{To: &from}}, []analytics.EventSales{alphaSales}},
	} {
		got, err := h.store.Popular(ctx, tc.q)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Popular(%+v) = %+v\nwant %+v", tc.q, got, tc.want)
		}
	}

	facts, err := h.store.Event(ctx, alpha.ID, at("2026-03-31T00:00:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	wantFacts := analytics.EventFacts{EventSales: alphaSales, Booked: 3, SalesByDay: []analytics.DaySales{
		{Date: at("2026-03-28T00:00:00Z"), BookingsConfirmed: 2, TicketsSold: 3, RevenueCents: 12000},
	}}
	if !reflect.DeepEqual(facts, wantFacts) {
		t.Errorf("Event(Alpha) = %+v\nwant %+v", facts, wantFacts)
	}
	// Gamma was cancelled: its booking counts as cancelled, its seats are free.
	facts, _ = h.store.Event(ctx, gamma.ID, time.Now())
	if facts.BookingsConfirmed != 0 || facts.BookingsCancelled != 1 || facts.Booked != 0 || facts.Capacity != 5 ||
		len(facts.SalesByDay) != 0 {
		t.Errorf("Event(Gamma) = %+v", facts)
	}
	if _, err := h.store.Event(ctx, uuid.New(), time.Now()); !apperr.Is(err, apperr.NotFound) {
		t.Errorf("Event(unknown) = %v, want not_found", err)
	}
}

func TestAnalyticsStoreActivity(t *testing.T) {
	t.Parallel()
	h, _, _, _ := storeHistory(t)
	ctx := context.Background()

	utc := []time.Time{at("2026-03-28T00:00:00Z"), at("2026-03-29T00:00:00Z"), at("2026-03-30T00:00:00Z"), at("2026-03-31T00:00:00Z")}
	got, err := h.store.Activity(ctx, utc)
	if err != nil {
		t.Fatal(err)
	}
	want := []analytics.Activity{
		{Day: 0, Currency: "USD", Confirmed: 2, ConfirmedSeats: 3, ConfirmedCents: 12000},
		{Day: 1, Currency: "EUR", Confirmed: 1, ConfirmedSeats: 3, ConfirmedCents: 9000},
		{Day: 1, Currency: "USD", Confirmed: 2, ConfirmedSeats: 4, ConfirmedCents: 19000}, // b3 and Gamma's b8
		{Day: 2, Currency: "EUR", Confirmed: 1, ConfirmedSeats: 1, ConfirmedCents: 3000},
		{Day: 2, Currency: "USD", Cancelled: 1, CancelledSeats: 3, CancelledCents: 15000},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Activity(UTC days) = %+v\nwant %+v", got, want)
	}

	// The rollup and the bookings agree on the days of any zone.
	for _, zone := range []string{"UTC", "Europe/London", "Asia/Kolkata", "Asia/Kathmandu", "America/New_York", "Pacific/Chatham"} {
		q, err := analytics.ParseDailyQuery("2026-03-01", "2026-12-31", zone)
		if err != nil {
			t.Fatal(err)
		}
		fromRollup, err := h.store.Activity(ctx, q.Bounds())
		if err != nil {
			t.Fatal(err)
		}
		fromBookings, err := h.store.ActivityFromBookings(ctx, q.Bounds())
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(fromRollup, fromBookings) || len(fromRollup) < 5 {
			t.Errorf("%s: rollup %+v\nbookings %+v", zone, fromRollup, fromBookings)
		}
	}

	// Days that do not start on a quarter hour are read from the bookings.
	odd := []time.Time{at("2026-03-28T22:02:00Z"), at("2026-03-28T23:55:00Z"), at("2026-03-29T00:35:00Z"), at("2026-03-29T00:41:00Z")}
	got, err = h.store.Activity(ctx, odd)
	if err != nil {
		t.Fatal(err)
	}
	want = []analytics.Activity{
		{Day: 0, Currency: "USD", Confirmed: 2, ConfirmedSeats: 3, ConfirmedCents: 12000},
		{Day: 2, Currency: "USD", Confirmed: 1, ConfirmedSeats: 3, ConfirmedCents: 15000},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Activity(odd bounds) = %+v\nwant %+v", got, want)
	}
}

// TestAnalyticsRollupFollowsAnyWrite changes bookings with plain SQL, the
// way an operator or another store would, and checks the rollups follow.
func TestAnalyticsRollupFollowsAnyWrite(t *testing.T) {
	t.Parallel()
	h, alpha, _, _ := storeHistory(t)
	ctx := context.Background()
	steps := []struct{ what, sql string }{
		{"move confirmations to another day", `UPDATE bookings SET confirmed_at = confirmed_at - interval '1 day 7 minutes' WHERE status = 'confirmed'`},
		{"move a cancellation", `UPDATE bookings SET cancelled_at = cancelled_at + interval '3 hours' WHERE status = 'cancelled'`},
		{"change a total", `UPDATE bookings SET total_cents = total_cents + 1 WHERE status IN ('confirmed', 'cancelled')`},
		{"uncancel", `UPDATE bookings SET status = 'confirmed', cancelled_at = NULL WHERE status = 'cancelled' AND confirmed_at IS NOT NULL AND event_id = '` + alpha.ID.String() + `'`},
		{"insert a confirmed booking", `INSERT INTO bookings (id, event_id, user_id, status, quantity, total_cents, currency, expires_at, created_at, confirmed_at, updated_at)
			SELECT gen_random_uuid(), event_id, user_id, 'confirmed', 2, 777, currency, expires_at, created_at, confirmed_at, now()
			FROM bookings WHERE status = 'confirmed' LIMIT 1`},
		{"insert a cancelled booking", `INSERT INTO bookings (id, event_id, user_id, status, quantity, total_cents, currency, expires_at, created_at, confirmed_at, cancelled_at, updated_at)
			SELECT gen_random_uuid(), event_id, user_id, 'cancelled', 1, 500, currency, expires_at, created_at, confirmed_at, now(), now()
			FROM bookings WHERE status = 'confirmed' LIMIT 1`},
		{"delete bookings", `DELETE FROM bookings WHERE total_cents IN (777, 500)`},
		{"expire a confirmed booking (not a transition the engine makes)", `UPDATE bookings SET status = 'expired' WHERE id = (SELECT id FROM bookings WHERE status = 'confirmed' LIMIT 1)`},
	}
	for _, s := range steps {
		h.exec(s.sql)
		h.noDrift(s.what)
	}
	before, _ := h.store.Totals(ctx, analytics.Window{})
	if err := h.store.Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	h.noDrift("after Rebuild")
	if after, _ := h.store.Totals(ctx, analytics.Window{}); !reflect.DeepEqual(before, after) {
		t.Errorf("Rebuild changed the totals: %+v, then %+v", before, after)
	}
	h.exec(`TRUNCATE bookings CASCADE`)
	h.noDrift("after TRUNCATE")
	var rows int
	if err := h.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM analytics_event_sales) + (SELECT count(*) FROM analytics_sales_slots)`).Scan(&rows); err != nil || rows != 0 {
		t.Errorf("after TRUNCATE bookings: %d rollup rows (%v), want 0", rows, err)
	}
}

// TestAnalyticsRollupSkipsLockedShards holds shard 0 of an event's row
// locked in another transaction and confirms a booking: the confirmation
// must not wait for it, and lands in another shard.
func TestAnalyticsRollupSkipsLockedShards(t *testing.T) {
	t.Parallel()
	h := newHistory(t)
	ctx := context.Background()
	e := h.event("Hot", "USD", "published", at("2027-01-01T00:00:00Z"), event.Section{Name: "Floor", PriceCents: 100, Capacity: 50})
	now := time.Now().UTC()
	first := h.hold(e, now, 1)
	h.confirm(first, now)

	tx, err := h.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck
	if _, err := tx.Exec(ctx, `SELECT 1 FROM analytics_event_sales WHERE event_id = $1 AND shard = 0 FOR UPDATE`, e.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT 1 FROM analytics_sales_slots WHERE slot = analytics_slot($1) AND shard = 0 FOR UPDATE`, now); err != nil {
		t.Fatal(err)
	}
	second := h.hold(e, now, 2)
	done := make(chan error, 1)
	go func() {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		err := confirmAs(cctx, h.bookings, second, h.user, now)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Confirm() = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Confirm() waited for the locked shard")
	}
	_ = tx.Rollback(ctx)

	var shards []int
	rows, err := h.pool.Query(ctx, `SELECT shard FROM analytics_event_sales WHERE event_id = $1 ORDER BY shard`, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s int
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		shards = append(shards, s)
	}
	if !reflect.DeepEqual(shards, []int{0, 1}) {
		t.Errorf("event shards = %v, want [0 1]", shards)
	}
	h.noDrift("after confirming past a locked shard")
	facts, _ := h.store.Event(ctx, e.ID, now)
	if facts.BookingsConfirmed != 2 || facts.TicketsSold != 2 || facts.RevenueCents != 200 {
		t.Errorf("Event() = %+v, want 2 bookings, 2 seats, 200 cents", facts)
	}
}

// TestAnalyticsConcurrentConfirmations confirms and cancels many bookings
// of one event at once: the rollups stay exact.
func TestAnalyticsConcurrentConfirmations(t *testing.T) {
	t.Parallel()
	h := newHistory(t)
	ctx := context.Background()
	e := h.event("Rush", "GBP", "published", at("2027-01-01T00:00:00Z"), event.Section{Name: "Floor", PriceCents: 250, Capacity: 200})
	// One buyer holds every booking here.
	if _, err := h.pool.Exec(ctx, `UPDATE events SET max_seats_per_user = 1000 WHERE id = $1`, e.ID); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	const n = 60
	ids := make([]uuid.UUID, n)
	for i := range ids {
		ids[i] = h.hold(e, now, i+1)
	}
	errs := make(chan error, n)
	for i, id := range ids {
		go func() {
			err := confirmAs(ctx, h.bookings, id, h.user, now)
			if err == nil && i%4 == 0 {
				err = cancelAsAdmin(ctx, h.bookings, id, now.Add(time.Second))
			}
			errs <- err
		}()
	}
	for range ids {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	h.noDrift("after concurrent confirmations")
	facts, err := h.store.Event(ctx, e.ID, now)
	if err != nil {
		t.Fatal(err)
	}
	if facts.BookingsConfirmed != 45 || facts.BookingsCancelled != 15 || facts.TicketsSold != 45 || facts.RevenueCents != 45*250 {
		t.Errorf("Event() = %+v, want 45 confirmed, 15 cancelled", facts)
	}
	var shards int
	if err := h.pool.QueryRow(ctx, `SELECT count(*) FROM analytics_event_sales WHERE event_id = $1`, e.ID).Scan(&shards); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d concurrent confirmations used %d shard rows", n, shards)

	// Folding merges them into one row per key, past a row a booking
	// transaction holds.
	rowCount := func() (events, slots int) {
		t.Helper()
		if err := h.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM analytics_event_sales),
			(SELECT count(*) FROM analytics_sales_slots)`).Scan(&events, &slots); err != nil {
			t.Fatal(err)
		}
		return events, slots
	}
	h.exec(`INSERT INTO analytics_event_sales (event_id, currency, shard, bookings_confirmed) VALUES ($1, 'GBP', 7, 0)
		ON CONFLICT DO NOTHING`, e.ID)
	tx, err := h.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck
	if _, err := tx.Exec(ctx, `SELECT 1 FROM analytics_event_sales WHERE event_id = $1 AND shard = 7 FOR UPDATE`, e.ID); err != nil {
		t.Fatal(err)
	}
	_, slotsBefore := rowCount()
	if _, err := h.store.FoldShards(ctx, now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if events, slots := rowCount(); events != 2 || slots != slotsBefore {
		t.Errorf("after folding past a locked row: %d event rows, %d slot rows; want 2 event rows, recent slots untouched", events, slots)
	}
	_ = tx.Rollback(ctx)
	folded, err := h.store.FoldShards(ctx, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var distinctSlots int
	if err := h.pool.QueryRow(ctx, `SELECT count(DISTINCT (slot, currency)) FROM analytics_sales_slots`).Scan(&distinctSlots); err != nil {
		t.Fatal(err)
	}
	if events, slots := rowCount(); events != 1 || slots != distinctSlots || folded == 0 {
		t.Errorf("after folding: %d event rows, %d slot rows (%d folded); want 1 and %d, one per slot", events, slots, folded, distinctSlots)
	}
	h.noDrift("after folding")
	if again, _ := h.store.Event(ctx, e.ID, now); !reflect.DeepEqual(again, facts) {
		t.Errorf("folding changed the figures: %+v, then %+v", facts, again)
	}
}

func TestAnalyticsWaitlistSeam(t *testing.T) {
	t.Parallel()
	h := newHistory(t)
	ctx := context.Background()
	start := time.Now().Add(48 * time.Hour)
	e := h.event("Waitlisted", "USD", "published", start, event.Section{Name: "Floor", PriceCents: 100, Capacity: 1})
	other := h.event("Other", "USD", "published", start, event.Section{Name: "Floor", PriceCents: 100, Capacity: 1})
	if n, err := h.store.Waiting(ctx, e.ID); err != nil || n != 0 {
		t.Fatalf("Waiting() of an empty waitlist = %d, %v; want 0", n, err)
	}
	for i, status := range []string{"waiting", "waiting", "fulfilled", "left", "waiting"} {
		ev := e.ID
		if i == 4 {
			ev = other.ID
		}
		user := pgtest.User(t, h.pool).UserID
		h.exec(`INSERT INTO waitlist_entries (id, event_id, user_id, quantity, status, created_at, updated_at)
			VALUES (gen_random_uuid(), $1, $2, 1, $3, now(), now())`, ev, user, status)
	}
	if n, err := h.store.Waiting(ctx, e.ID); err != nil || n != 2 {
		t.Errorf("Waiting() = %d, %v; want 2", n, err)
	}
}

// TestAnalyticsMigrationRollsUpExistingBookings rolls the analytics
// migration back and forth over a history: the bookings made before it are
// rolled up when it is applied.
func TestAnalyticsMigrationRollsUpExistingBookings(t *testing.T) {
	t.Parallel()
	h, _, _, _ := storeHistory(t)
	ctx := context.Background()
	before, err := h.store.Totals(ctx, analytics.Window{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := postgres.NewMigrator(h.pool, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Down(ctx); err != nil {
		t.Fatalf("Down() = %v", err)
	}
	if n, err := m.Up(ctx); err != nil || n != 1 {
		t.Fatalf("Up() = %d, %v; want the analytics migration applied", n, err)
	}
	h.noDrift("after migrating")
	if after, _ := h.store.Totals(ctx, analytics.Window{}); !reflect.DeepEqual(before, after) {
		t.Errorf("Totals() = %+v after migrating, %+v before", after, before)
	}
}

// TestAnalyticsShardFallbackSurvivesFold: when every shard row of a key is
// locked, a writer waits for a random one; if the fold job merges that row
// away meanwhile, the writer's delta still lands (before, it failed the
// booking transaction).
func TestAnalyticsShardFallbackSurvivesFold(t *testing.T) {
	t.Parallel()
	h := newHistory(t)
	ctx := context.Background()
	e := h.event("Hot", "USD", "published", time.Now().Add(48*time.Hour), event.Section{Name: "Floor", PriceCents: 100, Capacity: 1})
	h.exec(`INSERT INTO analytics_event_sales (event_id, currency, shard, bookings_confirmed)
		SELECT $1, 'USD', s, 1 FROM generate_series(0, 7) s`, e.ID)

	holder, err := h.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback(ctx) //nolint:errcheck
	if _, err := holder.Exec(ctx, `SELECT 1 FROM analytics_event_sales WHERE event_id = $1 FOR UPDATE`, e.ID); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := h.pool.Exec(ctx, `SELECT analytics_add_event($1, 'USD', 1, 2, 300, 0)`, e.ID)
		done <- err
	}()
	time.Sleep(300 * time.Millisecond) // the writer is now waiting for a busy shard
	// The fold: every shard row merged into shard 0 by another transaction.
	if _, err := holder.Exec(ctx, `DELETE FROM analytics_event_sales WHERE event_id = $1 AND shard <> 0`, e.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := holder.Exec(ctx, `UPDATE analytics_event_sales SET bookings_confirmed = 8 WHERE event_id = $1 AND shard = 0`, e.ID); err != nil {
		t.Fatal(err)
	}
	if err := holder.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("writer failed after the fold: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("writer still waiting")
	}
	var confirmed, tickets int64
	if err := h.pool.QueryRow(ctx, `SELECT sum(bookings_confirmed), sum(tickets_sold) FROM analytics_event_sales WHERE event_id = $1`,
		e.ID).Scan(&confirmed, &tickets); err != nil {
		t.Fatal(err)
	}
	if confirmed != 9 || tickets != 2 {
		t.Errorf("after fold and write: %d confirmed, %d tickets; want 9 and 2", confirmed, tickets)
	}
}
