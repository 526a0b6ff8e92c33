package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/booking"
	"github.com/evently/evently/internal/latency"
	"github.com/evently/evently/internal/redis"
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

// holdTimes is the booking p95 self-tuning rooms follow: the holds of
// every replica, which each drains into Redis every second (shareHoldTimes);
// this process's own while Redis cannot be read.
type holdTimes struct {
	local  *latency.Recorder
	shared *redis.HoldTimes
}

// BookingP95 implements waitroom.Latency.
func (h holdTimes) BookingP95(ctx context.Context, eventID uuid.UUID, since, now time.Time) (time.Duration, int) {
	hist, err := h.shared.Histogram(ctx, eventID, since, now)
	if err != nil {
		return h.local.Percentile(eventID, 0.95, since, now)
	}
	return hist.Percentile(0.95)
}

// shareHoldTimes drains this process's finished seconds of hold times into
// Redis every second until ctx ends. A second that cannot be written is
// dropped: the rooms then judge on fewer holds, never on wrong ones.
func shareHoldTimes(ctx context.Context, h holdTimes, now func() time.Time, logger *slog.Logger) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		secs := h.local.Drain(now().Unix())
		wctx, cancel := context.WithTimeout(ctx, time.Second)
		if err := h.shared.Add(wctx, secs); err != nil && ctx.Err() == nil {
			logger.Debug("hold times not shared", "seconds", len(secs), "err", err)
		}
		cancel()
	}
}
