package app

import (
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/booking"
	"github.com/evently/evently/internal/latency"
)

// holdLatency records, per event, the time in the engine of every hold
// that reached the seats: the booking p95 that self-tuning waiting rooms
// follow. Refusals count when the engine got as far as the seats (taken,
// sold out) or failed on the way (unavailable, internal): under overload
// those are the slowest answers. Refusals of the request itself (invalid,
// not admitted, rate limited) say nothing about the booking path.
type holdLatency struct {
	booking.Observers // the other outcomes are not its business
	rec               *latency.Recorder
}

// Held implements booking.Observer.
func (h holdLatency) Held(b booking.Booking, took time.Duration) { h.rec.Observe(b.EventID, took) }

// Refused implements booking.Observer.
func (h holdLatency) Refused(eventID uuid.UUID, code apperr.Code, took time.Duration) {
	switch code {
	case apperr.SeatUnavailable, apperr.SoldOut, apperr.Unavailable, apperr.Internal:
		h.rec.Observe(eventID, took)
	}
}
