package app

import (
	"time"

	"github.com/evently/evently/internal/booking"
	"github.com/evently/evently/internal/latency"
)

// holdLatency records every hold's time in the engine per event: the
// booking p95 that self-tuning waiting rooms follow.
type holdLatency struct {
	booking.Observers // the other outcomes are not its business
	rec               *latency.Recorder
}

// Held implements booking.Observer.
func (h holdLatency) Held(b booking.Booking, took time.Duration) { h.rec.Observe(b.EventID, took) }
