package telemetry

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// BacklogSource reads how far background work is behind, each figure
// through an index in one short query.
type BacklogSource interface {
	// OldestLapsedHold returns when the longest-lapsed hold that the
	// cleanup has not yet expired lapsed, or the zero time when none has.
	OldestLapsedHold(ctx context.Context, now time.Time) (time.Time, error)
	// PendingWebhooks counts undelivered webhooks (at most limit) and
	// returns when the oldest was recorded (the zero time when none is).
	PendingWebhooks(ctx context.Context, limit int) (n int, oldest time.Time, err error)
}

// OutboxCountLimit bounds the count of undelivered webhooks, so that a
// scrape during a long receiver outage stays cheap: past it the gauge
// reads the limit.
const OutboxCountLimit = 100_000

// Backlogs exports the cleanup's lag and the webhook outbox's backlog,
// read from Postgres at scrape time: every replica reports the same
// values, so aggregate them with max, not sum.
type Backlogs struct {
	src                         BacklogSource
	now                         func() time.Time
	cleanupLag, pending, oldest *prometheus.Desc
}

var _ prometheus.Collector = (*Backlogs)(nil)

// NewBacklogs reads the figures from src.
func NewBacklogs(src BacklogSource) *Backlogs {
	return &Backlogs{
		src: src,
		now: time.Now,
		cleanupLag: prometheus.NewDesc("evently_cleanup_lag_seconds",
			"Age of the oldest lapsed hold the cleanup has not yet expired (0 when none): "+
				"up to the cleanup schedule's period is normal.", nil, nil),
		pending: prometheus.NewDesc("evently_webhook_outbox_pending",
			"Webhooks recorded and not yet delivered or given up (counted up to 100000).", nil, nil),
		oldest: prometheus.NewDesc("evently_webhook_outbox_oldest_age_seconds",
			"Age of the oldest webhook not yet delivered or given up (0 when none).", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *Backlogs) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.cleanupLag
	ch <- c.pending
	ch <- c.oldest
}

// Collect implements prometheus.Collector. A figure that cannot be read
// (Postgres down) is left out of the scrape.
func (c *Backlogs) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	now := c.now()
	if lapsed, err := c.src.OldestLapsedHold(ctx, now); err == nil {
		ch <- prometheus.MustNewConstMetric(c.cleanupLag, prometheus.GaugeValue, age(now, lapsed))
	}
	if n, oldest, err := c.src.PendingWebhooks(ctx, OutboxCountLimit); err == nil {
		ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(n))
		ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, age(now, oldest))
	}
}

// age is how long ago t was, in seconds; 0 for the zero time.
func age(now, t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return max(now.Sub(t).Seconds(), 0)
}
