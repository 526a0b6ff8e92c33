package telemetry

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// RedisMode follows whether this process is running degraded, without
// Redis: from the first Redis failure it notices (the booking engine's
// seat locks failing, the login throttle, a readiness check, the scrape's
// own PING) until Redis is seen answering again and hold has passed since
// the last failure — the time the booking engine keeps skipping Redis
// after one. It exports evently_redis_degraded (0 or 1) and
// evently_redis_degraded_transitions_total{to}.
type RedisMode struct {
	ping func(context.Context) error
	hold time.Duration
	now  func() time.Time

	mu         sync.Mutex
	degraded   bool
	lastFailed time.Time
	entered    int
	left       int

	gauge, transitions *prometheus.Desc
}

var _ prometheus.Collector = (*RedisMode)(nil)

// NewRedisMode returns the tracker; ping, when set, is called at every
// scrape, so the gauge follows Redis even while nothing else uses it.
func NewRedisMode(ping func(context.Context) error, hold time.Duration) *RedisMode {
	return &RedisMode{
		ping: ping,
		hold: hold,
		now:  time.Now,
		gauge: prometheus.NewDesc("evently_redis_degraded",
			"1 while this process runs without Redis (seat locks and hold rationing skipped, logins limited per address only), else 0.", nil, nil),
		transitions: prometheus.NewDesc("evently_redis_degraded_transitions_total",
			"Changes of Redis-degraded mode, by the mode entered (degraded or normal).", []string{"to"}, nil),
	}
}

// Failed records a Redis failure. Its signature fits the booking engine's
// LocksDown and the login throttle's error callback.
func (m *RedisMode) Failed(error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lastFailed = m.now()
	if !m.degraded {
		m.degraded = true
		m.entered++
	}
}

// Answered records that Redis answered: degraded mode ends once hold has
// passed since the last failure.
func (m *RedisMode) Answered() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.degraded && !m.now().Before(m.lastFailed.Add(m.hold)) {
		m.degraded = false
		m.left++
	}
}

// Watch wraps a Redis check (such as the readiness ping) so that its
// outcome is recorded too.
func (m *RedisMode) Watch(check func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		err := check(ctx)
		if err != nil {
			m.Failed(err)
		} else {
			m.Answered()
		}
		return err
	}
}

// Describe implements prometheus.Collector.
func (m *RedisMode) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.gauge
	ch <- m.transitions
}

// Collect implements prometheus.Collector.
func (m *RedisMode) Collect(ch chan<- prometheus.Metric) {
	if m.ping != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = m.Watch(m.ping)(ctx)
		cancel()
	}
	m.mu.Lock()
	degraded, entered, left := 0.0, float64(m.entered), float64(m.left)
	if m.degraded {
		degraded = 1
	}
	m.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(m.gauge, prometheus.GaugeValue, degraded)
	ch <- prometheus.MustNewConstMetric(m.transitions, prometheus.CounterValue, entered, "degraded")
	ch <- prometheus.MustNewConstMetric(m.transitions, prometheus.CounterValue, left, "normal")
}
