package app

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/booking"
	"github.com/evently/evently/internal/clocktest"
	"github.com/evently/evently/internal/latency"
)

// TestHoldLatencyTimesWhatReachedTheSeats: holds and the refusals that
// reached the seats or failed on the way are timed for their event; the
// refusals of the request itself are not.
func TestHoldLatencyTimesWhatReachedTheSeats(t *testing.T) {
	at := time.Date(2030, 5, 1, 10, 0, 0, 0, time.UTC)
	rec := latency.New(clocktest.New(at).Now)
	h := holdLatency{rec: rec}
	event := uuid.New()
	h.Held(booking.Booking{EventID: event}, time.Millisecond)
	for _, code := range []apperr.Code{apperr.SeatUnavailable, apperr.SoldOut, apperr.Unavailable, apperr.Internal} {
		h.Refused(event, code, 2*time.Second)
	}
	for _, code := range []apperr.Code{apperr.ValidationFailed, apperr.WaitingRoomRequired, apperr.RateLimited, apperr.NotFound} {
		h.Refused(event, code, time.Hour)
	}
	p95, n := rec.Percentile(event, 0.95, at.Add(-time.Second), at)
	if n != 5 || p95 < 2*time.Second || p95 > 3*time.Second {
		t.Fatalf("p95 = %v over %d, want about 2s over the hold and 4 refusals that reached the seats", p95, n)
	}
}
