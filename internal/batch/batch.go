// Package batch coalesces concurrent requests into batches ("group
// commit"): while a batch of one key runs, the requests of that key that
// arrive wait, and the next batch takes all of them at once. There is no
// timer and no sleep — a request that finds its key idle starts a batch of
// one at once — so under low load a request costs what it costs alone, and
// under high load each batch amortises its fixed cost (a database
// transaction, a round trip) over everything that queued behind the
// previous one.
package batch

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Result is the answer to one request of a batch.
type Result[R any] struct {
	Value R
	Err   error
}

// Func runs one batch of requests of key and answers each of them: it
// returns exactly one Result per request, in the requests' order.
type Func[K comparable, Q, R any] func(ctx context.Context, key K, reqs []Q) []Result[R]

// Options shape a Runner.
type Options[Q any] struct {
	// MaxWeight bounds a batch: requests are taken in arrival order while
	// the sum of their weights stays within it (a batch always takes at
	// least one request). Zero means 256.
	MaxWeight int
	// Weight is a request's share of MaxWeight; nil counts each as 1.
	Weight func(Q) int
	// Distinct, when set, keeps requests with equal non-nil identities in
	// different batches: a request whose identity is already in the
	// forming batch waits for the next one, keeping its place in line.
	Distinct func(Q) any
	// Parallel is how many batches of one key may run at once (default 1).
	Parallel int
	// Timeout bounds each batch (default 30s). Batches run on a context of
	// their own: a caller that gives up does not cancel its neighbours.
	Timeout time.Duration
}

// Runner coalesces the requests given to Do into batches per key and runs
// them with its Func.
type Runner[K comparable, Q, R any] struct {
	run  Func[K, Q, R]
	opts Options[Q]

	mu     sync.Mutex
	queues map[K]*queue[Q, R]
}

type queue[Q, R any] struct {
	waiting []*call[Q, R]
	running int
}

type call[Q, R any] struct {
	req  Q
	done chan struct{}
	res  Result[R]
	// gone is set when the caller stopped waiting; guarded by Runner.mu
	// while the call is still queued.
	gone bool
}

// New returns a Runner that runs batches with run.
func New[K comparable, Q, R any](run Func[K, Q, R], opts Options[Q]) *Runner[K, Q, R] {
	if opts.MaxWeight <= 0 {
		opts.MaxWeight = 256
	}
	if opts.Weight == nil {
		opts.Weight = func(Q) int { return 1 }
	}
	if opts.Parallel <= 0 {
		opts.Parallel = 1
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	return &Runner[K, Q, R]{run: run, opts: opts, queues: map[K]*queue[Q, R]{}}
}

// Do queues req under key and waits for its batch's answer. When ctx ends
// first, Do returns ctx's error; a request already in a running batch
// still takes effect (as a request whose answer was lost would).
func (r *Runner[K, Q, R]) Do(ctx context.Context, key K, req Q) (R, error) {
	c := &call[Q, R]{req: req, done: make(chan struct{})}
	r.mu.Lock()
	q := r.queues[key]
	if q == nil {
		q = &queue[Q, R]{}
		r.queues[key] = q
	}
	q.waiting = append(q.waiting, c)
	start := q.running < r.opts.Parallel
	if start {
		q.running++
	}
	r.mu.Unlock()
	if start {
		go r.loop(key, q)
	}
	select {
	case <-c.done:
		return c.res.Value, c.res.Err
	case <-ctx.Done():
		r.mu.Lock()
		c.gone = true
		r.mu.Unlock()
		var zero R
		return zero, ctx.Err()
	}
}

// Waiting is the number of requests of key waiting for a batch.
func (r *Runner[K, Q, R]) Waiting(key K) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	if q := r.queues[key]; q != nil {
		for _, c := range q.waiting {
			if !c.gone {
				n++
			}
		}
	}
	return n
}

// loop runs batches of key until its queue is empty.
func (r *Runner[K, Q, R]) loop(key K, q *queue[Q, R]) {
	for {
		r.mu.Lock()
		calls := r.take(q)
		if len(calls) == 0 {
			q.running--
			if q.running == 0 && len(q.waiting) == 0 {
				delete(r.queues, key)
			}
			r.mu.Unlock()
			return
		}
		r.mu.Unlock()
		r.runBatch(key, calls)
	}
}

// take removes the next batch from q (callers that gave up are dropped).
// r.mu is held.
func (r *Runner[K, Q, R]) take(q *queue[Q, R]) []*call[Q, R] {
	var (
		batch  []*call[Q, R]
		rest   = q.waiting[:0]
		weight int
		seen   map[any]bool
		full   bool
	)
	for _, c := range q.waiting {
		if c.gone {
			continue
		}
		w := r.opts.Weight(c.req)
		if full || (len(batch) > 0 && weight+w > r.opts.MaxWeight) {
			full = true
			rest = append(rest, c)
			continue
		}
		if r.opts.Distinct != nil {
			if id := r.opts.Distinct(c.req); id != nil {
				if seen[id] {
					rest = append(rest, c)
					continue
				}
				if seen == nil {
					seen = map[any]bool{}
				}
				seen[id] = true
			}
		}
		batch = append(batch, c)
		weight += w
	}
	clear(q.waiting[len(rest):])
	q.waiting = rest
	return batch
}

// runBatch runs one batch and answers its callers; a panic in the batch
// answers them all with an error instead of taking the process down.
func (r *Runner[K, Q, R]) runBatch(key K, calls []*call[Q, R]) {
	reqs := make([]Q, len(calls))
	for i, c := range calls {
		reqs[i] = c.req
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.opts.Timeout)
	defer cancel()
	results := func() (res []Result[R]) {
		defer func() {
			if p := recover(); p != nil {
				res = failAll[R](len(reqs), fmt.Errorf("batch panicked: %v", p))
			}
		}()
		return r.run(ctx, key, reqs)
	}()
	if len(results) != len(calls) {
		results = failAll[R](len(calls), errors.New("batch answered a different number of requests"))
	}
	for i, c := range calls {
		c.res = results[i]
		close(c.done)
	}
}

func failAll[R any](n int, err error) []Result[R] {
	out := make([]Result[R], n)
	for i := range out {
		out[i].Err = err
	}
	return out
}
