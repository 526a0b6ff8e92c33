package latency

import (
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/clocktest"
)

var t0 = time.Date(2030, 5, 1, 10, 0, 0, 0, time.UTC)

func TestBucketBoundsAreTight(t *testing.T) {
	for d := time.Microsecond; d < 70*time.Second; d = d*21/20 + 1 {
		i := bucket(d)
		if i < nBuckets-1 && bounds[i] < d {
			t.Fatalf("bucket(%v) = %d with bound %v below it", d, i, bounds[i])
		}
		if i > 0 && bounds[i-1] >= d {
			t.Fatalf("bucket(%v) = %d, but bucket %d (bound %v) holds it", d, i, i-1, bounds[i-1])
		}
	}
}

// TestPercentileWithinTenPercent: 100 requests of 1..100 ms: the p95 is
// the bound over 95 ms, at most 10% above it; the p50 over 50 ms.
func TestPercentileWithinTenPercent(t *testing.T) {
	c := clocktest.New(t0)
	r := New(c.Now)
	key := uuid.New()
	for i := 1; i <= 100; i++ {
		r.Observe(key, time.Duration(i)*time.Millisecond)
	}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{0.95, 95 * time.Millisecond}, {0.5, 50 * time.Millisecond}, {1, 100 * time.Millisecond}} {
		got, n := r.Percentile(key, tc.p, t0.Add(-time.Second), t0)
		if n != 100 || got < tc.want || float64(got) > 1.1*float64(tc.want) {
			t.Errorf("p%v = %v over %d, want within [%v, +10%%] over 100", tc.p*100, got, n, tc.want)
		}
	}
	if d, n := r.Percentile(uuid.New(), 0.95, t0.Add(-time.Second), t0); d != 0 || n != 0 {
		t.Errorf("an unknown key = %v over %d, want nothing", d, n)
	}
}

// TestWindowCountsOnlyItsSeconds: slow requests ten seconds ago and fast
// ones now: a five-second window sees only the fast; a minute's both;
// after Span the slow ones are gone.
func TestWindowCountsOnlyItsSeconds(t *testing.T) {
	c := clocktest.New(t0)
	r := New(c.Now)
	key := uuid.New()
	for range 50 {
		r.Observe(key, 2*time.Second)
	}
	c.Advance(10 * time.Second)
	for range 50 {
		r.Observe(key, 5*time.Millisecond)
	}
	now := c.Now()
	if d, n := r.Percentile(key, 0.95, now.Add(-5*time.Second), now); n != 50 || d > 6*time.Millisecond {
		t.Errorf("last 5 s p95 = %v over %d, want ~5ms over 50", d, n)
	}
	if d, n := r.Percentile(key, 0.95, now.Add(-time.Minute), now); n != 100 || d < 2*time.Second {
		t.Errorf("last minute p95 = %v over %d, want ≥2s over 100", d, n)
	}
	later := now.Add(Span - 5*time.Second)
	if d, n := r.Percentile(key, 0.95, later.Add(-time.Hour), later); n != 50 || d > 6*time.Millisecond {
		t.Errorf("a minute on, p95 = %v over %d, want only the 50 fast ones", d, n)
	}
	c.Advance(2 * Span)
	r.Observe(uuid.New(), time.Millisecond) // sweeps
	r.mu.Lock()
	_, kept := r.rings[key]
	r.mu.Unlock()
	if kept {
		t.Error("a key quiet for over a Span is still kept")
	}
}

// TestConcurrentObserversLoseNothing: 16 goroutines record 1,000 each
// into the same second: all 16,000 are counted.
func TestConcurrentObserversLoseNothing(t *testing.T) {
	c := clocktest.New(t0)
	r := New(c.Now)
	key := uuid.New()
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 1000 {
				r.Observe(key, time.Duration(g*1000+i)*time.Microsecond)
			}
		})
	}
	wg.Wait()
	d, n := r.Percentile(key, 0.95, t0.Add(-time.Second), t0)
	if n != 16_000 || d < 15200*time.Microsecond || float64(d) > 1.1*float64(15200*time.Microsecond) {
		t.Errorf("p95 = %v over %d, want ~15.2ms over 16000", d, n)
	}
}

// TestDrainGivesEachSecondOnce: the seconds before the given one are
// drained once, with their counts by bucket; the current second waits for
// the next drain; summed into a Histogram they give the Recorder's own
// percentile.
func TestDrainGivesEachSecondOnce(t *testing.T) {
	c := clocktest.New(t0)
	r := New(c.Now)
	key := uuid.New()
	for s := range 3 {
		for i := 1; i <= 10; i++ {
			r.Observe(key, time.Duration(s*10+i)*time.Millisecond)
		}
		c.Advance(time.Second)
	}
	now := c.Now()
	first := r.Drain(now.Unix() - 1) // the first two seconds
	if len(first) != 2 || first[0].At == first[1].At {
		t.Fatalf("first drain = %+v, want two seconds", first)
	}
	if again := r.Drain(now.Unix() - 1); len(again) != 0 {
		t.Fatalf("drained again = %+v, want nothing", again)
	}
	rest := r.Drain(now.Unix() + 1)
	if len(rest) != 1 || rest[0].At != now.Unix()-1 {
		t.Fatalf("second drain = %+v, want the third second only", rest)
	}
	var h Histogram
	total := 0
	for _, s := range append(first, rest...) {
		for b, n := range s.Counts {
			h[b] += uint64(n)
			total += int(n)
		}
	}
	got, n := h.Percentile(0.95)
	want, wantN := r.Percentile(key, 0.95, t0.Add(-time.Second), now)
	if total != 30 || n != 30 || got != want || wantN != 30 {
		t.Errorf("drained p95 %v over %d (%d counted), recorder's %v over %d; want the same over 30", got, n, total, want, wantN)
	}
}

// BenchmarkObserve is the cost the booking hot path pays per hold, with
// every core recording for the same event.
func BenchmarkObserve(b *testing.B) {
	r := New(nil)
	key := uuid.New()
	b.RunParallel(func(pb *testing.PB) {
		d := time.Millisecond
		for pb.Next() {
			r.Observe(key, d)
			d += time.Microsecond
		}
	})
}
