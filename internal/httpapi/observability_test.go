package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/evently/evently/internal/apptest"
	"github.com/evently/evently/internal/redistest"
	"github.com/evently/evently/internal/version"
	"github.com/evently/evently/internal/worker"
)

// scrape reads /metrics into a map from each series as the text format
// writes it (name{labels}, labels sorted by name) to its value.
func scrape(t *testing.T, env *apptest.Env) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, line := range strings.Split(env.Metrics(t), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// wantSeries fails t unless every series is exported with its value.
func wantSeries(t *testing.T, step string, got map[string]float64, want map[string]float64) {
	t.Helper()
	for s, v := range want {
		if g, ok := got[s]; !ok || g != v {
			t.Errorf("%s: %s = %v (exported: %v), want %v", step, s, g, ok, v)
		}
	}
}

// TestBuildInfo: /healthz names the build, and evently_build_info carries
// the same version and commit with the Go version.
func TestBuildInfo(t *testing.T) {
	t.Parallel()
	env := apptest.Start(t)
	var health struct {
		Status, Version, Revision string
	}
	env.Get(t, "/healthz", "").Decode(t, &health)
	v := version.Get()
	if health.Status != "ok" || health.Version != v.Version || health.Revision != v.Revision {
		t.Errorf("/healthz = %+v, want ok, %s, %s", health, v.Version, v.Revision)
	}
	series := `evently_build_info{go_version="` + v.GoVersion + `",revision="` + v.Revision + `",version="` + v.Version + `"}`
	wantSeries(t, "scrape", scrape(t, env), map[string]float64{series: 1})
}

// TestWebhookMetrics: while the receiver refuses, the failed attempt is
// counted as retried on attempt 1 and the undelivered row shows in the
// outbox backlog; once the receiver accepts, the delivery is counted on a
// later attempt and the backlog is empty again.
func TestWebhookMetrics(t *testing.T) {
	t.Parallel()
	var refuse atomic.Bool
	refuse.Store(true)
	var hits atomic.Int32
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		if refuse.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rc.Close)
	f := newFixture(t, apptest.WithEnv("EVENTLY_WEBHOOK_URL", rc.URL), apptest.WithEnv("EVENTLY_WEBHOOK_SECRET", "whsec_metrics_test"))
	const (
		retried1  = `evently_webhook_delivery_attempts_total{attempt="1",outcome="retried"}`
		delivered = `evently_webhook_delivery_attempts_total{attempt="%s",outcome="delivered"}`
		pending   = "evently_webhook_outbox_pending"
		oldest    = "evently_webhook_outbox_oldest_age_seconds"
	)
	wantSeries(t, "before any webhook", scrape(t, f.env), map[string]float64{retried1: 0, pending: 0, oldest: 0})

	e := f.publish(t, gaEvent(1))
	f.hold(t, f.buyers(t, 1)[0], map[string]any{"event_id": e.ID, "quantity": 1})
	var m map[string]float64
	eventually(t, 10*time.Second, "the refused attempt counted", func() bool {
		m = scrape(t, f.env)
		return m[retried1] >= 1
	})
	if m[pending] != 1 || m[oldest] <= 0 {
		t.Errorf("while refused: %s = %v, %s = %v; want 1 and a positive age", pending, m[pending], oldest, m[oldest])
	}
	refuse.Store(false)
	eventually(t, 20*time.Second, "the delivery counted and the outbox empty", func() bool {
		m = scrape(t, f.env)
		n := 0.0
		for _, a := range []string{"2", "3", "4-7"} {
			n += m[strings.Replace(delivered, "%s", a, 1)]
		}
		return n == 1 && m[pending] == 0 && m[oldest] == 0
	})
	if got := m[strings.Replace(delivered, "%s", "1", 1)]; got != 0 {
		t.Errorf("delivered on attempt 1 = %v, want 0 (the first attempt was refused)", got)
	}
	if int(m[retried1]) > int(hits.Load()) {
		t.Errorf("%v refused attempts counted, but the receiver saw %d requests", m[retried1], hits.Load())
	}
}

// TestRedisDegradedMetrics: a hold made while Redis is cut trips the
// booking engine's breaker, which enters Redis-degraded mode; it is still
// on when Redis answers again within the engine's pause, and ends after
// it.
func TestRedisDegradedMetrics(t *testing.T) {
	t.Parallel()
	proxied, proxy := apptest.Proxied(t, redistest.NewURL(t))
	f := newFixture(t, apptest.WithEnv("REDIS_URL", proxied))
	e := f.publish(t, gaEvent(4))
	seats := f.seatIDs(t, e.ID)
	buyer := f.buyers(t, 1)[0]
	const (
		gauge   = "evently_redis_degraded"
		entered = `evently_redis_degraded_transitions_total{to="degraded"}`
		left    = `evently_redis_degraded_transitions_total{to="normal"}`
	)
	wantSeries(t, "Redis up", scrape(t, f.env), map[string]float64{gauge: 0, entered: 0, left: 0})

	proxy.Stop()
	// The breaker trips during the hold: no earlier than this.
	tripped := time.Now()
	f.hold(t, buyer, map[string]any{"event_id": e.ID, "seat_ids": seats[:1]}) // on Postgres alone
	proxy.Start()
	// Redis answers the scrape's own ping now: what the gauge shows is the
	// breaker's trip.
	m := scrape(t, f.env)
	if time.Since(tripped) < 4*time.Second {
		wantSeries(t, "after the hold without Redis", m, map[string]float64{gauge: 1, entered: 1, left: 0})
	}
	eventually(t, 15*time.Second, "degraded mode ends", func() bool { return scrape(t, f.env)[gauge] == 0 })
	if since := time.Since(tripped); since < 5*time.Second {
		t.Errorf("degraded mode ended %v after the trip, before the engine's 5 s pause", since)
	}
	wantSeries(t, "Redis back", scrape(t, f.env), map[string]float64{gauge: 0, entered: 1, left: 1})
	f.hold(t, buyer, map[string]any{"event_id": e.ID, "seat_ids": seats[1:2]}) // with seat locks again
	wantSeries(t, "a hold with Redis", scrape(t, f.env), map[string]float64{gauge: 0, entered: 1})
}

// TestCleanupLagMetric: a lapsed hold shows as cleanup lag, growing, until
// the cleanup job expires it.
func TestCleanupLagMetric(t *testing.T) {
	t.Parallel()
	f := newFixture(t, apptest.WithEnv("EVENTLY_HOLD_TTL", "1s"),
		// Only the cleanup this test enqueues runs.
		apptest.WithEnv("EVENTLY_CLEANUP_SCHEDULE", "0 0 1 1 *"))
	const lag = "evently_cleanup_lag_seconds"
	e := f.publish(t, gaEvent(2))
	buyer := f.buyers(t, 1)[0]
	b := f.hold(t, buyer, map[string]any{"event_id": e.ID, "quantity": 1})
	if m := scrape(t, f.env); time.Now().Before(b.ExpiresAt) {
		wantSeries(t, "hold not lapsed", m, map[string]float64{lag: 0})
	}
	time.Sleep(time.Until(b.ExpiresAt) + 1500*time.Millisecond)
	first := scrape(t, f.env)[lag]
	if first < 1.5 || first > 30 {
		t.Fatalf("1.5 s after the hold lapsed: %s = %v", lag, first)
	}
	time.Sleep(500 * time.Millisecond)
	if second := scrape(t, f.env)[lag]; second < first+0.4 {
		t.Errorf("%s went from %v to %v in 0.5 s, want it growing", lag, first, second)
	}

	opt, err := asynq.ParseRedisURI(f.env.RedisURL)
	if err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClient(opt)
	defer client.Close()
	if _, err := client.EnqueueContext(context.Background(), asynq.NewTask(worker.TypeCleanup, nil), asynq.Queue(worker.QueueCleanup)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "the cleanup ran", func() bool { return scrape(t, f.env)[lag] == 0 })
	var got bookingJSON
	f.env.Get(t, "/api/v1/bookings/"+b.ID, buyer).Decode(t, &got)
	if got.Status != "expired" {
		t.Errorf("booking after the cleanup = %s, want expired", got.Status)
	}
}
