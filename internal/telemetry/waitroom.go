package telemetry

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/evently/evently/internal/waitroom"
)

// RoomStats lists the open waiting rooms' figures.
type RoomStats interface {
	OpenRoomStats(ctx context.Context) ([]waitroom.Stats, error)
}

// WaitingRooms exports each open waiting room's figures, read from the
// shared queue at scrape time: every replica reports the same values, so
// aggregate them with max, not sum.
type WaitingRooms struct {
	src                                        RoomStats
	waiting, active, admitted, lastMinute, apm *prometheus.Desc
}

var _ prometheus.Collector = (*WaitingRooms)(nil)

// NewWaitingRooms reads the figures from src.
func NewWaitingRooms(src RoomStats) *WaitingRooms {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("evently_waitroom_"+name, help, []string{"event_id"}, nil)
	}
	return &WaitingRooms{
		src:        src,
		waiting:    d("waiting", "Users waiting in the event's waiting room."),
		active:     d("active", "Users admitted whose admission has not lapsed."),
		admitted:   d("admitted_total", "Users admitted since the room opened."),
		lastMinute: d("admitted_last_minute", "Users admitted in the last 60 seconds: the admission rate achieved, per minute."),
		apm:        d("admit_per_minute", "The admission rate the room runs at (set by the organiser, or tuned by the room in admit_mode auto)."),
	}
}

// Describe implements prometheus.Collector.
func (c *WaitingRooms) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.waiting, c.active, c.admitted, c.lastMinute, c.apm} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. When the rooms cannot be read
// (Redis or Postgres down) the scrape leaves them out.
func (c *WaitingRooms) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	stats, _ := c.src.OpenRoomStats(ctx)
	for _, s := range stats {
		id := s.EventID.String()
		ch <- prometheus.MustNewConstMetric(c.waiting, prometheus.GaugeValue, float64(s.Waiting), id)
		ch <- prometheus.MustNewConstMetric(c.active, prometheus.GaugeValue, float64(s.Active), id)
		ch <- prometheus.MustNewConstMetric(c.admitted, prometheus.CounterValue, float64(s.AdmittedTotal), id)
		ch <- prometheus.MustNewConstMetric(c.lastMinute, prometheus.GaugeValue, float64(s.AdmittedLastMinute), id)
		ch <- prometheus.MustNewConstMetric(c.apm, prometheus.GaugeValue, float64(s.AdmitPerMinute), id)
	}
}
