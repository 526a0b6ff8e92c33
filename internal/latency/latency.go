// Package latency keeps a short memory of how long requests took, per
// key (an event), so that a recent percentile can be read at any moment
// without a metrics system: the self-tuning waiting room asks for the
// booking p95 of the last seconds. A Recorder remembers one process's
// requests; its seconds can be drained into Histograms shared between
// processes.
//
// Durations fall into buckets that grow by 10% (from 100µs to about a
// minute, everything longer in the last), kept per second of the
// Recorder's clock for the last Span. A percentile is the upper bound of
// the bucket its rank falls in: at most 10% above the true value, never
// below it.
package latency

import (
	"math"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Span is how far back a Recorder remembers.
const Span = time.Minute

// The buckets: bucket i holds durations up to floor·growth^i.
const (
	floor    = 100 * time.Microsecond
	growth   = 1.1
	nBuckets = 140 // floor·1.1^139 ≈ 56 s
)

var bounds = func() [nBuckets]time.Duration {
	var b [nBuckets]time.Duration
	for i := range b {
		b[i] = time.Duration(float64(floor) * math.Pow(growth, float64(i)))
	}
	return b
}()

// bucket returns the index of the bucket d falls in.
func bucket(d time.Duration) int {
	if d <= floor {
		return 0
	}
	i := int(math.Ceil(math.Log(float64(d)/float64(floor)) / math.Log(growth)))
	// Rounding may land one off; settle on the first bound at or above d.
	for i > 0 && bounds[min(i, nBuckets-1)-1] >= d {
		i--
	}
	for i < nBuckets-1 && bounds[i] < d {
		i++
	}
	return min(i, nBuckets-1)
}

const slots = int(Span / time.Second)

// second is one second's histogram.
type second struct {
	at     int64 // Unix second; 0 for an unused slot
	counts [nBuckets]uint32
}

// ring is one key's last Span of seconds.
type ring struct {
	secs    [slots]second
	last    int64 // the latest second observed
	drained int64 // seconds up to this one have been drained
}

// Recorder records durations per key. It is safe for concurrent use.
type Recorder struct {
	now   func() time.Time
	mu    sync.Mutex
	rings map[uuid.UUID]*ring
	swept int64
}

// New returns a Recorder on the clock now (time.Now when nil).
func New(now func() time.Time) *Recorder {
	if now == nil {
		now = time.Now
	}
	return &Recorder{now: now, rings: map[uuid.UUID]*ring{}}
}

// Observe records that a request for key took d, now.
func (r *Recorder) Observe(key uuid.UUID, d time.Duration) {
	sec := r.now().Unix()
	b := bucket(d)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sweep(sec)
	g := r.rings[key]
	if g == nil {
		g = &ring{}
		r.rings[key] = g
	}
	s := &g.secs[sec%int64(slots)]
	if s.at != sec {
		*s = second{at: sec}
	}
	s.counts[b]++
	g.last = max(g.last, sec)
}

// sweep forgets, once per Span, the keys with nothing in the last Span.
func (r *Recorder) sweep(sec int64) {
	if sec-r.swept < int64(slots) {
		return
	}
	r.swept = sec
	for k, g := range r.rings {
		if sec-g.last >= int64(slots) {
			delete(r.rings, k)
		}
	}
}

// Second is one key's durations of one second, by bucket (only the
// buckets that hold any).
type Second struct {
	Key    uuid.UUID
	At     int64 // Unix second
	Counts map[int]uint32
}

// Drain returns the seconds before the Unix second before that were not
// drained yet, for sharing with other processes (see Histogram); each
// second is returned once. Seconds already older than Span are lost.
func (r *Recorder) Drain(before int64) []Second {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Second
	for k, g := range r.rings {
		from := max(g.drained+1, before-int64(slots))
		for sec := from; sec < before; sec++ {
			s := &g.secs[sec%int64(slots)]
			if s.at != sec {
				continue
			}
			d := Second{Key: k, At: sec, Counts: map[int]uint32{}}
			for i, c := range s.counts {
				if c > 0 {
					d.Counts[i] = c
				}
			}
			out = append(out, d)
		}
		g.drained = max(g.drained, before-1)
	}
	return out
}

// NumBuckets is how many buckets a Histogram has.
const NumBuckets = nBuckets

// Histogram is a count of durations per bucket, summed over seconds and
// processes.
type Histogram [nBuckets]uint64

// Percentile returns the p-th percentile (0 < p ≤ 1, nearest rank) of h
// and how many durations it holds; 0, 0 when empty.
func (h *Histogram) Percentile(p float64) (time.Duration, int) {
	n := uint64(0)
	for _, c := range h {
		n += c
	}
	if n == 0 {
		return 0, 0
	}
	rank := max(uint64(math.Ceil(p*float64(n))), 1)
	seen := uint64(0)
	for i, c := range h {
		if seen += c; seen >= rank {
			return bounds[i], int(n)
		}
	}
	return bounds[nBuckets-1], int(n)
}

// Percentile returns the p-th percentile (0 < p ≤ 1, nearest rank) of the
// durations recorded for key in the whole seconds after since up to and
// including now's (at most Span back), and how many there were; 0, 0
// without any.
func (r *Recorder) Percentile(key uuid.UUID, p float64, since, now time.Time) (time.Duration, int) {
	from, to := max(since.Unix()+1, now.Unix()-int64(slots)+1), now.Unix()
	var h Histogram
	r.mu.Lock()
	if g := r.rings[key]; g != nil {
		for sec := from; sec <= to; sec++ {
			s := &g.secs[sec%int64(slots)]
			if s.at != sec {
				continue
			}
			for i, c := range s.counts {
				h[i] += uint64(c)
			}
		}
	}
	r.mu.Unlock()
	return h.Percentile(p)
}
