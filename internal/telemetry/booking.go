// Package telemetry turns the domain's observations into Prometheus
// metrics, so that the domain packages need not know Prometheus.
package telemetry

import (
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/booking"
)

// Bookings records the booking engine's outcomes.
type Bookings struct {
	holds      prometheus.Counter
	seatsHeld  prometheus.Counter
	refusals   *prometheus.CounterVec
	confirms   prometheus.Counter
	cancels    prometheus.Counter
	expiries   prometheus.Counter
	holdTiming *prometheus.HistogramVec
	batchSize  *prometheus.HistogramVec
	batchTime  *prometheus.HistogramVec
}

var _ booking.Observer = (*Bookings)(nil)

// NewBookings registers the booking metrics with reg.
func NewBookings(reg prometheus.Registerer) *Bookings {
	m := &Bookings{
		holds: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "evently_booking_holds_total", Help: "Holds created."}),
		seatsHeld: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "evently_booking_seats_held_total", Help: "Seats held by created holds."}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "evently_booking_hold_refusals_total", Help: "Hold requests refused, by error code."}, []string{"code"}),
		confirms: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "evently_booking_confirms_total", Help: "Bookings confirmed."}),
		cancels: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "evently_booking_cancels_total", Help: "Bookings cancelled."}),
		expiries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "evently_booking_expiries_total", Help: "Holds that lapsed unconfirmed."}),
		holdTiming: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "evently_booking_hold_duration_seconds",
			Help:    "Time to answer a hold request, by outcome (held or the error code).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}, []string{"outcome"}),
		batchSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "evently_booking_batch_size",
			Help:    "Requests answered by one committed booking transaction, by kind (hold or lifecycle: confirmations and cancellations).",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512},
		}, []string{"kind"}),
		batchTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "evently_booking_batch_duration_seconds",
			Help:    "Time one booking batch took, from start to commit, by kind.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}, []string{"kind"}),
	}
	reg.MustRegister(m.holds, m.seatsHeld, m.refusals, m.confirms, m.cancels, m.expiries, m.holdTiming,
		m.batchSize, m.batchTime)
	return m
}

// Held implements booking.Observer.
func (m *Bookings) Held(b booking.Booking, took time.Duration) {
	m.holds.Inc()
	m.seatsHeld.Add(float64(len(b.Seats)))
	m.holdTiming.WithLabelValues("held").Observe(took.Seconds())
}

// Refused implements booking.Observer.
func (m *Bookings) Refused(_ uuid.UUID, code apperr.Code, took time.Duration) {
	m.refusals.WithLabelValues(string(code)).Inc()
	m.holdTiming.WithLabelValues(string(code)).Observe(took.Seconds())
}

// Confirmed implements booking.Observer.
func (m *Bookings) Confirmed(booking.Booking) { m.confirms.Inc() }

// Cancelled implements booking.Observer.
func (m *Bookings) Cancelled(booking.Booking) { m.cancels.Inc() }

// Expired implements booking.Observer.
func (m *Bookings) Expired(n int) { m.expiries.Add(float64(n)) }

// Batched implements booking.Observer.
func (m *Bookings) Batched(kind string, size int, took time.Duration) {
	m.batchSize.WithLabelValues(kind).Observe(float64(size))
	m.batchTime.WithLabelValues(kind).Observe(took.Seconds())
}
