package telemetry

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/evently/evently/internal/clocktest"
	"github.com/evently/evently/internal/notify"
	"github.com/evently/evently/internal/version"
)

// TestRedisMode walks degraded mode through its transitions: a failure
// enters it, an answer within the hold does not end it, an answer after
// the hold does, and a failure while degraded counts no second entry.
func TestRedisMode(t *testing.T) {
	t.Parallel()
	c := clocktest.New(time.Unix(1_900_000_000, 0))
	m := NewRedisMode(nil, 5*time.Second)
	m.now = c.Now
	check := func(step string, degraded, entered, left float64) {
		t.Helper()
		want := map[string]float64{
			"evently_redis_degraded":                                  degraded,
			`evently_redis_degraded_transitions_total{to="degraded"}`: entered,
			`evently_redis_degraded_transitions_total{to="normal"}`:   left,
		}
		if got := series(t, m); !maps.Equal(got, want) {
			t.Errorf("%s: exported %v, want %v", step, got, want)
		}
	}
	check("start", 0, 0, 0)
	m.Answered()
	check("answer while normal", 0, 0, 0)
	m.Failed(errors.New("dial tcp: connection refused"))
	check("failure", 1, 1, 0)
	c.Advance(3 * time.Second)
	m.Failed(errors.New("i/o timeout"))
	check("second failure", 1, 1, 0)
	c.Advance(4 * time.Second)
	m.Answered()
	check("answer 4s after the last failure", 1, 1, 0)
	c.Advance(time.Second)
	m.Answered()
	check("answer 5s after the last failure", 0, 1, 1)
	m.Failed(nil)
	check("failure again", 1, 2, 1)
}

// TestRedisModeScrapePings: with nothing else using Redis, the scrape's
// own ping keeps the gauge true.
func TestRedisModeScrapePings(t *testing.T) {
	t.Parallel()
	up := false
	c := clocktest.New(time.Unix(1_900_000_000, 0))
	m := NewRedisMode(func(context.Context) error {
		if up {
			return nil
		}
		return errors.New("down")
	}, 5*time.Second)
	m.now = c.Now
	if got := series(t, m)["evently_redis_degraded"]; got != 1 {
		t.Errorf("scrape with Redis down: evently_redis_degraded = %v, want 1", got)
	}
	up = true
	c.Advance(10 * time.Second)
	if got := series(t, m)["evently_redis_degraded"]; got != 0 {
		t.Errorf("scrape with Redis back: evently_redis_degraded = %v, want 0", got)
	}
}

func TestAttemptLabel(t *testing.T) {
	t.Parallel()
	for n, want := range map[int]string{0: "1", 1: "1", 2: "2", 3: "3", 4: "4-7", 7: "4-7", 8: "8+", 15: "8+", 1000: "8+"} {
		if got := attemptLabel(n); got != want {
			t.Errorf("attemptLabel(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestWebhooksSeriesBounded: every series exists from the start, and no
// attempt number adds one.
func TestWebhooksSeriesBounded(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m := NewWebhooks(reg)
	want := len(notify.AttemptOutcomes) * len(attemptLabels)
	if n := len(series(t, m.attempts)); n != want {
		t.Fatalf("%d series at start, want %d", n, want)
	}
	for n := range 100 {
		m.Attempted(n, notify.AttemptRetried)
	}
	m.Attempted(15, notify.AttemptFailed)
	if n := len(series(t, m.attempts)); n != want {
		t.Errorf("%d series after 100 attempt numbers, want %d", n, want)
	}
	if got := series(t, m.attempts)[`evently_webhook_delivery_attempts_total{attempt="8+",outcome="failed"}`]; got != 1 {
		t.Errorf(`failed at "8+" = %v, want 1`, got)
	}
}

type backlog struct {
	lapsed, oldest time.Time
	pending        int
	err            error
}

func (b backlog) OldestLapsedHold(context.Context, time.Time) (time.Time, error) {
	return b.lapsed, b.err
}
func (b backlog) PendingWebhooks(_ context.Context, limit int) (int, time.Time, error) {
	return min(b.pending, limit), b.oldest, b.err
}

func TestBacklogs(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_900_000_000, 0)
	c := NewBacklogs(backlog{lapsed: now.Add(-90 * time.Second), oldest: now.Add(-time.Hour), pending: 7})
	c.now = func() time.Time { return now }
	for name, want := range map[string]float64{
		"evently_cleanup_lag_seconds":               90,
		"evently_webhook_outbox_pending":            7,
		"evently_webhook_outbox_oldest_age_seconds": 3600,
	} {
		if got := series(t, c)[name]; got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	idle := NewBacklogs(backlog{})
	if got, ok := series(t, idle)["evently_cleanup_lag_seconds"]; !ok || got != 0 {
		t.Errorf("no lapsed hold: lag = %v, want 0", got)
	}
	if n := len(series(t, NewBacklogs(backlog{err: errors.New("down")}))); n != 0 {
		t.Errorf("Postgres down: %d series, want none", n)
	}
}

func TestBuildInfo(t *testing.T) {
	t.Parallel()
	got := series(t, NewBuildInfo(version.Info{Version: "v1.2.3", Revision: "abc", GoVersion: "go1.99"}))
	want := map[string]float64{`evently_build_info{go_version="go1.99",revision="abc",version="v1.2.3"}`: 1}
	if !maps.Equal(got, want) {
		t.Errorf("exported %v, want %v", got, want)
	}
}

// series returns what c exports, by name{labels} (labels sorted, as in
// the text format), through a pedantic registry that checks the metrics
// are consistent with their descriptions.
func series(t *testing.T, c prometheus.Collector) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			key := mf.GetName()
			if len(labels) > 0 {
				key += "{" + strings.Join(labels, ",") + "}"
			}
			switch {
			case m.GetGauge() != nil:
				out[key] = m.GetGauge().GetValue()
			case m.GetCounter() != nil:
				out[key] = m.GetCounter().GetValue()
			}
		}
	}
	return out
}
