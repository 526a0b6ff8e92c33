package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/clocktest"
	"github.com/evently/evently/internal/latency"
	"github.com/evently/evently/internal/redis"
	"github.com/evently/evently/internal/redistest"
)

// TestHoldTimesAcrossReplicas: two processes time holds of the same event
// in the same seconds, 90 fast ones on one and 10 slow ones on the other.
// Each alone would see a p95 of its own; once both have drained into
// Redis, the shared histogram is their union: 100 holds, p95 slow. Another
// event's holds stay apart, and seconds before the window are left out.
func TestHoldTimesAcrossReplicas(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := redis.NewHoldTimes(redistest.New(t))
	t0 := time.Date(2030, 5, 1, 10, 0, 0, 0, time.UTC)
	clock := clocktest.New(t0)
	a, b := latency.New(clock.Now), latency.New(clock.Now)
	event, other := uuid.New(), uuid.New()
	a.Observe(event, time.Hour) // 20 s before the window
	clock.Advance(20 * time.Second)
	for range 3 {
		for range 30 {
			a.Observe(event, 5*time.Millisecond)
		}
		for range 3 {
			b.Observe(event, 900*time.Millisecond)
		}
		b.Observe(other, time.Millisecond)
		clock.Advance(time.Second)
	}
	b.Observe(event, 900*time.Millisecond) // the 10th slow one
	clock.Advance(time.Second)
	now := clock.Now()
	if p95, n := a.Percentile(event, 0.95, now.Add(-10*time.Second), now); n != 90 || p95 > 6*time.Millisecond {
		t.Fatalf("one process alone: p95 %v over %d, want fast over 90", p95, n)
	}
	for _, r := range []*latency.Recorder{a, b} {
		if err := store.Add(ctx, r.Drain(now.Unix())); err != nil {
			t.Fatal(err)
		}
	}
	h, err := store.Histogram(ctx, event, now.Add(-10*time.Second), now)
	if err != nil {
		t.Fatal(err)
	}
	if p95, n := h.Percentile(0.95); n != 100 || p95 < 900*time.Millisecond || p95 > 990*time.Millisecond {
		t.Fatalf("shared: p95 %v over %d, want ~900ms over the 100 of both processes", p95, n)
	}
	if h, err := store.Histogram(ctx, other, now.Add(-10*time.Second), now); err != nil {
		t.Fatal(err)
	} else if _, n := h.Percentile(0.95); n != 3 {
		t.Fatalf("the other event: %d holds, want its own 3", n)
	}
}
