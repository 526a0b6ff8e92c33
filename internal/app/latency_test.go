package app

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"

	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/booking"
	"github.com/evently/evently/internal/clocktest"
	"github.com/evently/evently/internal/latency"
	"github.com/evently/evently/internal/redis"
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

// TestHoldTimesFallBackToTheProcess: while Redis cannot be read, the
// booking p95 is this process's own holds, not nothing.
func TestHoldTimesFallBackToTheProcess(t *testing.T) {
	at := time.Date(2030, 5, 1, 10, 0, 0, 0, time.UTC)
	clock := clocktest.New(at)
	rec := latency.New(clock.Now)
	dead := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	t.Cleanup(func() { _ = dead.Close() })
	h := holdTimes{local: rec, shared: redis.NewHoldTimes(dead)}
	event := uuid.New()
	for range 30 {
		rec.Observe(event, 40*time.Millisecond)
	}
	clock.Advance(time.Second)
	p95, n := h.BookingP95(context.Background(), event, at.Add(-10*time.Second), clock.Now())
	if n != 30 || p95 < 40*time.Millisecond || p95 > 44*time.Millisecond {
		t.Fatalf("p95 = %v over %d with Redis down, want ~40ms over this process's 30 holds", p95, n)
	}
}
