package httpapi

import (
	"context"
	"crypto/md5"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/evently/evently/api"
	"github.com/evently/evently/internal/analytics"
	"github.com/evently/evently/internal/auth"
	"github.com/evently/evently/internal/logging"
	"github.com/evently/evently/internal/pgtest"
	"github.com/evently/evently/internal/postgres"
)

// Benchmark data: 1,000,000 bookings over 1,000 events, made with
// generate_series. Event 0 is a 100,000-seat stadium with 40,000 of the
// bookings; the others hold 3,000 seats each. Statuses: 72% confirmed, 8%
// cancelled after confirmation, 5% released holds, 13% expired, 2%
// pending; confirmations spread over the last 365 days; currencies USD
// (60%), EUR (30%), GBP (10%) by event.
const (
	benchEvents   = 1000
	benchBookings = 1_000_000
	benchBig      = 40_000 // bookings of event 0
)

// benchDataSQL loads the data with the analytics triggers off; the
// rollups are then built in one pass (AnalyticsStore.Rebuild), as the
// migration does for existing bookings.
var benchDataSQL = []string{
	`INSERT INTO users (id, email, name, password_hash)
	 SELECT md5('user' || i)::uuid, 'bench' || i || '@example.com', 'Buyer ' || i, 'x'
	 FROM generate_series(1, 1000) i`,
	`INSERT INTO events (id, name, venue, starts_at, status, currency, hold_ttl_seconds, created_at, updated_at)
	 SELECT md5('event' || i)::uuid, 'Event ' || i, 'Venue ' || (i % 37),
	        date_trunc('hour', now()) - interval '200 days' + i * interval '9 hours',
	        CASE WHEN i % 50 = 49 THEN 'cancelled' ELSE 'published' END,
	        CASE WHEN i % 10 < 6 THEN 'USD' WHEN i % 10 < 9 THEN 'EUR' ELSE 'GBP' END,
	        600, now() - interval '400 days', now()
	 FROM generate_series(0, 999) i`,
	`INSERT INTO sections (id, event_id, position, name, price_cents, capacity, first_seat)
	 SELECT md5('section' || i || '-' || p)::uuid, md5('event' || i)::uuid, p,
	        CASE p WHEN 1 THEN 'Stalls' ELSE 'Floor' END,
	        CASE p WHEN 1 THEN 1000 * (1 + i % 5) ELSE 2500 END,
	        CASE WHEN i = 0 THEN 50000 WHEN p = 1 THEN 2000 ELSE 1000 END,
	        CASE WHEN p = 1 THEN 0 WHEN i = 0 THEN 50000 ELSE 2000 END
	 FROM generate_series(0, 999) i, generate_series(1, 2) p`,
	`ALTER TABLE bookings DISABLE TRIGGER analytics_bookings_insert`,
	`INSERT INTO bookings (id, event_id, user_id, status, quantity, total_cents, currency, expires_at,
	                       created_at, confirmed_at, cancelled_at, updated_at)
	 SELECT b.id, e.id, md5('user' || (1 + g % 1000))::uuid, st, q, q * price, e.currency,
	        created + interval '10 minutes', created,
	        CASE WHEN st = 'confirmed' OR (st = 'cancelled' AND r < 0.80) THEN created + interval '4 minutes' END,
	        CASE WHEN st = 'cancelled' THEN least(now(), created + interval '4 minutes' + random() * interval '20 days') END,
	        now()
	 FROM (
	     SELECT g, gen_random_uuid() AS id, r,
	            CASE WHEN g <= 40000 THEN 0 ELSE 1 + g % 999 END AS ev,
	            CASE WHEN g <= 40000 THEN 2 ELSE 1 + g % 4 END AS q,
	            CASE WHEN r < 0.72 THEN 'confirmed' WHEN r < 0.85 THEN 'cancelled'
	                 WHEN r < 0.98 THEN 'expired' ELSE 'pending' END AS st,
	            now() - interval '365 days' + random() * interval '364 days' AS created
	     FROM (SELECT g, random() AS r FROM generate_series(1, 1000000) g) s
	 ) b
	 JOIN events e ON e.id = md5('event' || b.ev)::uuid
	 JOIN LATERAL (SELECT price_cents AS price FROM sections WHERE event_id = e.id AND position = 1) p ON true`,
	`ALTER TABLE bookings ENABLE TRIGGER analytics_bookings_insert`,
}

// benchSeatsSQL gives events 0 and 1 their seats: the first ones booked,
// as many as their confirmed bookings hold, then 200 held.
const benchSeatsSQL = `
WITH ev AS MATERIALIZED (
    SELECT e.id, (SELECT coalesce(sum(quantity), 0) FROM bookings WHERE event_id = e.id AND status = 'confirmed') AS sold
    FROM events e WHERE e.id IN (md5('event0')::uuid, md5('event1')::uuid)
)
INSERT INTO seats (id, event_id, section_id, position, label, status, held_until)
SELECT gen_random_uuid(), ev.id, sec.id, pos, sec.name || '-' || lpad(pos::text, 6, '0'),
       CASE WHEN pos <= ev.sold THEN 'booked' WHEN pos <= ev.sold + 200 THEN 'held' ELSE 'available' END,
       CASE WHEN pos > ev.sold AND pos <= ev.sold + 200 THEN now() + interval '1 hour' END
FROM ev JOIN sections sec ON sec.event_id = ev.id,
     generate_series(sec.first_seat + 1, sec.first_seat + sec.capacity) pos`

// queryRecorder remembers the last arguments of every query the store
// runs, to EXPLAIN them afterwards.
type queryRecorder struct {
	mu      sync.Mutex
	queries map[string][]any
	order   []string
}

// take returns what was recorded since the last take, and forgets it.
func (r *queryRecorder) take() (order []string, queries map[string][]any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	order, queries = r.order, r.queries
	r.order, r.queries = nil, map[string][]any{}
	return order, queries
}

func (r *queryRecorder) record(sql string, args []any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.queries[sql]; !ok {
		r.order = append(r.order, sql)
	}
	r.queries[sql] = args
}

func (r *queryRecorder) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	r.record(d.SQL, d.Args)
	return ctx
}
func (r *queryRecorder) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (r *queryRecorder) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return ctx
}
func (r *queryRecorder) TraceBatchQuery(_ context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	r.record(d.SQL, d.Args)
}
func (r *queryRecorder) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// BenchmarkAnalytics measures each analytics endpoint, through the HTTP
// handler with an admin token and without the cache, on 1,000,000
// bookings over 1,000 events (generated in a fresh database, about a
// minute), and EXPLAINs every query the store ran; then again with every
// rollup key split over all 8 shards (the worst case, before the fold job
// merges them), and times that fold:
//
//	go test -run '^$' -bench Analytics -benchtime 20x ./internal/httpapi/
func BenchmarkAnalytics(b *testing.B) {
	ctx := context.Background()
	rec := &queryRecorder{queries: map[string][]any{}}
	cfg, err := pgxpool.ParseConfig(pgtest.NewURL(b))
	if err != nil {
		b.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["timezone"] = "UTC"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)

	started := time.Now()
	for _, sql := range benchDataSQL {
		if _, err := pool.Exec(ctx, sql); err != nil {
			b.Fatalf("load: %v\n%s", err, sql)
		}
	}
	if _, err := pool.Exec(ctx, benchSeatsSQL); err != nil {
		b.Fatalf("seats: %v", err)
	}
	loaded := time.Since(started)
	store := postgres.NewAnalyticsStore(pool)
	started = time.Now()
	if err := store.Rebuild(ctx); err != nil {
		b.Fatal(err)
	}
	rebuilt := time.Since(started)
	if _, err := pool.Exec(ctx, `VACUUM ANALYZE`); err != nil {
		b.Fatal(err)
	}
	var bookings, slotRows, eventRows int64
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM bookings), (SELECT count(*) FROM analytics_sales_slots),
		(SELECT count(*) FROM analytics_event_sales)`).Scan(&bookings, &slotRows, &eventRows); err != nil {
		b.Fatal(err)
	}
	if bookings != benchBookings {
		b.Fatalf("%d bookings, want %d", bookings, benchBookings)
	}
	b.Logf("loaded %d bookings over %d events in %s; rollups built in %s (%d slot rows, %d event rows)",
		bookings, benchEvents, loaded.Round(time.Millisecond), rebuilt.Round(time.Millisecond), slotRows, eventRows)

	cfg.ConnConfig.Tracer = rec
	traced, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(traced.Close)
	tokens := auth.NewTokens([]byte(strings.Repeat("k", 32)), time.Hour, nil)
	admin, err := tokens.Issue(auth.Principal{UserID: uuid.New(), Role: auth.RoleAdmin})
	if err != nil {
		b.Fatal(err)
	}
	serve := func(cacheTTL time.Duration) *httptest.Server {
		tstore := postgres.NewAnalyticsStore(traced)
		s, err := New(Options{
			Logger: logging.Discard(), Registry: prometheus.NewRegistry(), Spec: api.Spec, Tokens: tokens,
			Accounts:  stubAccounts{},
			Analytics: analytics.NewService(tstore, analytics.Options{Waitlist: tstore, CacheTTL: cacheTTL}),
		})
		if err != nil {
			b.Fatal(err)
		}
		srv := httptest.NewServer(s.Handler())
		b.Cleanup(srv.Close)
		return srv
	}
	uncached, cached := serve(0), serve(2*time.Second)
	get := func(b *testing.B, srv *httptest.Server, path string) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+admin)
		resp, err := srv.Client().Do(req)
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("GET %s = %d %s", path, resp.StatusCode, body)
		}
	}

	now := time.Now().UTC()
	yearAgo := now.AddDate(0, 0, -365).Format(time.DateOnly)
	today := now.Format(time.DateOnly)
	endpoints := []struct{ name, path string }{
		{"summary", "/api/v1/admin/analytics/summary"},
		{"summary/quarter", "/api/v1/admin/analytics/summary?from=" + now.AddDate(0, -2, 0).Format(time.DateOnly) +
			"&to=" + now.AddDate(0, 1, 0).Format(time.DateOnly)},
		{"popular/tickets", "/api/v1/admin/analytics/events/popular?by=tickets"},
		{"popular/revenue", "/api/v1/admin/analytics/events/popular?by=revenue&limit=100"},
		{"popular/utilization", "/api/v1/admin/analytics/events/popular?by=utilization"},
		{"daily/366d-UTC", "/api/v1/admin/analytics/daily?from=" + yearAgo + "&to=" + today},
		{"daily/366d-Europe/London", "/api/v1/admin/analytics/daily?tz=Europe/London&from=" + yearAgo + "&to=" + today},
		{"daily/366d-Asia/Kolkata", "/api/v1/admin/analytics/daily?tz=Asia/Kolkata&from=" + yearAgo + "&to=" + today},
		{"daily/31d-America/New_York", "/api/v1/admin/analytics/daily?tz=America/New_York&from=" +
			now.AddDate(0, 0, -30).Format(time.DateOnly) + "&to=" + today},
		{"event/3k-seats", "/api/v1/admin/analytics/events/" + md5UUID("event1")},
		{"event/100k-seats-40k-bookings", "/api/v1/admin/analytics/events/" + md5UUID("event0")},
	}
	type explained struct {
		endpoint string
		order    []string
		queries  map[string][]any
	}
	var plans []explained
	run := func(prefix string, srv *httptest.Server) {
		for _, ep := range endpoints {
			rec.take()
			b.Run(prefix+ep.name, func(b *testing.B) {
				get(b, srv, ep.path) // warm the connection and the plan cache
				b.ResetTimer()
				for b.Loop() {
					get(b, srv, ep.path)
				}
				b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
			})
			order, queries := rec.take()
			plans = append(plans, explained{prefix + ep.name, order, queries})
		}
	}
	run("", uncached)
	b.Run("cached/summary", func(b *testing.B) {
		get(b, cached, endpoints[0].path)
		for b.Loop() {
			get(b, cached, endpoints[0].path)
		}
	})
	for _, p := range plans {
		explain(b, pool, p.endpoint, p.order, p.queries)
	}

	// The worst case for the rollups: every key split over all 8 shards
	// (what sustained contention leaves behind).
	if _, err := pool.Exec(ctx, benchSpreadShardsSQL); err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `VACUUM ANALYZE analytics_event_sales, analytics_sales_slots`); err != nil {
		b.Fatal(err)
	}
	if n, err := store.RollupDrift(ctx); err != nil || n != 0 {
		b.Fatalf("RollupDrift() after spreading = %d, %v", n, err)
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM analytics_sales_slots`).Scan(&slotRows); err != nil {
		b.Fatal(err)
	}
	b.Logf("rollups spread over 8 shards: %d slot rows", slotRows)
	run("8-shards/", uncached)

	// The fold job merges them back.
	started = time.Now()
	folded, err := store.FoldShards(ctx, now.Add(-time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	if n, err := store.RollupDrift(ctx); err != nil || n != 0 {
		b.Fatalf("RollupDrift() after folding = %d, %v", n, err)
	}
	b.Logf("FoldShards folded %d rows in %s", folded, time.Since(started).Round(time.Millisecond))
}

// benchSpreadShardsSQL splits every rollup row into 8 shard rows with the
// same sums.
const benchSpreadShardsSQL = `
WITH e AS (DELETE FROM analytics_event_sales RETURNING *)
INSERT INTO analytics_event_sales
SELECT event_id, currency, s,
       bookings_confirmed / 8 + CASE WHEN s = 0 THEN bookings_confirmed % 8 ELSE 0 END,
       tickets_sold / 8 + CASE WHEN s = 0 THEN tickets_sold % 8 ELSE 0 END,
       revenue_cents / 8 + CASE WHEN s = 0 THEN revenue_cents % 8 ELSE 0 END,
       bookings_cancelled / 8 + CASE WHEN s = 0 THEN bookings_cancelled % 8 ELSE 0 END
FROM e, generate_series(0, 7) s;
WITH d AS (DELETE FROM analytics_sales_slots RETURNING *)
INSERT INTO analytics_sales_slots
SELECT slot, currency, s,
       confirmed / 8 + CASE WHEN s = 0 THEN confirmed % 8 ELSE 0 END,
       confirmed_seats / 8 + CASE WHEN s = 0 THEN confirmed_seats % 8 ELSE 0 END,
       confirmed_cents / 8 + CASE WHEN s = 0 THEN confirmed_cents % 8 ELSE 0 END,
       cancelled / 8 + CASE WHEN s = 0 THEN cancelled % 8 ELSE 0 END,
       cancelled_seats / 8 + CASE WHEN s = 0 THEN cancelled_seats % 8 ELSE 0 END,
       cancelled_cents / 8 + CASE WHEN s = 0 THEN cancelled_cents % 8 ELSE 0 END
FROM d, generate_series(0, 7) s;`

// explain logs the plan of each query an endpoint ran, with the arguments
// it last ran it with and the settings the store runs it with.
func explain(b *testing.B, pool *pgxpool.Pool, endpoint string, order []string, queries map[string][]any) {
	ctx := context.Background()
	for _, sql := range order {
		trimmed := strings.ToLower(strings.TrimSpace(sql))
		if !strings.HasPrefix(trimmed, "select") && !strings.HasPrefix(trimmed, "with") {
			continue
		}
		var lines []string
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if strings.Contains(sql, "width_bucket") { // as AnalyticsStore.Activity runs it
				if _, err := tx.Exec(ctx, `SET LOCAL work_mem = '64MB'; SET LOCAL jit = off`); err != nil {
					return err
				}
			}
			rows, err := tx.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS) "+sql, queries[sql]...)
			if err != nil {
				return err
			}
			lines, err = pgx.CollectRows(rows, pgx.RowTo[string])
			return err
		})
		if err != nil {
			b.Errorf("explain: %v\n%s", err, sql)
			continue
		}
		b.Logf("%s:\n%s\n%s", endpoint, strings.TrimSpace(sql), strings.Join(lines, "\n"))
	}
}

// md5UUID is Postgres's md5(s)::uuid.
func md5UUID(s string) string {
	sum := md5.Sum([]byte(s))
	return uuid.Must(uuid.FromBytes(sum[:])).String()
}
