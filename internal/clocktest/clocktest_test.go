package clocktest_test

import (
	"sync"
	"testing"
	"time"

	"github.com/evently/evently/internal/clocktest"
)

func TestStandingClockMovesOnlyWhenMoved(t *testing.T) {
	t.Parallel()
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	c := clocktest.New(start)
	if got := c.Now(); !got.Equal(start) {
		t.Fatalf("Now() = %v, want %v", got, start)
	}
	time.Sleep(2 * time.Millisecond)
	if got := c.Now(); !got.Equal(start) {
		t.Fatalf("Now() after a real pause = %v, want it still at %v", got, start)
	}
	c.Advance(90 * time.Second)
	if got, want := c.Now(), start.Add(90*time.Second); !got.Equal(want) {
		t.Fatalf("after Advance: Now() = %v, want %v", got, want)
	}
	c.Advance(-30 * time.Second)
	if got, want := c.Now(), start.Add(time.Minute); !got.Equal(want) {
		t.Fatalf("after Advance back: Now() = %v, want %v", got, want)
	}
	c.Set(start)
	if got := c.Now(); !got.Equal(start) {
		t.Fatalf("after Set: Now() = %v, want %v", got, start)
	}
}

func TestRunningClockFollowsTheWallClockMoved(t *testing.T) {
	t.Parallel()
	c := clocktest.Running()
	before := time.Now()
	got := c.Now()
	if got.Before(before) || got.After(time.Now()) {
		t.Fatalf("Now() = %v, want the wall clock (%v)", got, before)
	}
	c.Advance(time.Hour)
	lo := time.Now().Add(time.Hour)
	got = c.Now()
	if got.Before(lo) || got.After(time.Now().Add(time.Hour)) {
		t.Fatalf("after Advance(1h): Now() = %v, want the wall clock plus an hour (%v)", got, lo)
	}
	target := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	c.Set(target)
	time.Sleep(2 * time.Millisecond)
	if got := c.Now(); !got.After(target) || got.After(target.Add(time.Minute)) {
		t.Fatalf("after Set: Now() = %v, want a little after %v", got, target)
	}
}

// TestClockIsSafeForConcurrentUse: readers and movers race (run with
// -race), and every move is counted.
func TestClockIsSafeForConcurrentUse(t *testing.T) {
	t.Parallel()
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	c := clocktest.New(start)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				c.Advance(time.Millisecond)
				_ = c.Now()
			}
		})
	}
	wg.Wait()
	if got, want := c.Now(), start.Add(800*time.Millisecond); !got.Equal(want) {
		t.Fatalf("Now() = %v, want %v", got, want)
	}
}
