package batch_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/evently/evently/internal/batch"
)

// recorder is a batch Func that remembers every batch it ran and can be
// held (blocked) to let requests pile up behind a running batch.
type recorder struct {
	mu      sync.Mutex
	batches [][]int
	hold    chan struct{} // closed to let batches finish; nil: never block
	entered chan struct{} // receives once per batch started
	running atomic.Int32
	peak    atomic.Int32
}

func (r *recorder) run(_ context.Context, key string, reqs []int) []batch.Result[string] {
	n := r.running.Add(1)
	for {
		p := r.peak.Load()
		if n <= p || r.peak.CompareAndSwap(p, n) {
			break
		}
	}
	defer r.running.Add(-1)
	if r.entered != nil {
		r.entered <- struct{}{}
	}
	if r.hold != nil {
		<-r.hold
	}
	r.mu.Lock()
	r.batches = append(r.batches, append([]int(nil), reqs...))
	r.mu.Unlock()
	out := make([]batch.Result[string], len(reqs))
	for i, q := range reqs {
		if q < 0 {
			out[i].Err = errors.New("refused")
			continue
		}
		out[i].Value = key + ":" + string(rune('a'+q%26))
	}
	return out
}

func TestIdleKeyRunsAtOnce(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	r := batch.New(rec.run, batch.Options[int]{})
	v, err := r.Do(context.Background(), "ev", 1)
	if err != nil || v != "ev:b" {
		t.Fatalf("Do = %q, %v; want ev:b", v, err)
	}
	if len(rec.batches) != 1 || len(rec.batches[0]) != 1 {
		t.Errorf("batches = %v, want one batch of one", rec.batches)
	}
}

// TestRequestsQueueBehindARunningBatch: while one batch runs, 50 requests
// arrive; they are answered by one next batch, each with its own answer,
// and a refusal in the batch does not touch its neighbours.
func TestRequestsQueueBehindARunningBatch(t *testing.T) {
	t.Parallel()
	rec := &recorder{hold: make(chan struct{}), entered: make(chan struct{}, 10)}
	r := batch.New(rec.run, batch.Options[int]{})
	first := make(chan error, 1)
	go func() { _, err := r.Do(context.Background(), "ev", 0); first <- err }()
	<-rec.entered // the first batch is running and blocked

	var wg sync.WaitGroup
	answers := make([]string, 50)
	errs := make([]error, 50)
	for i := range 50 {
		wg.Go(func() {
			q := i + 1
			if i == 7 {
				q = -1
			}
			answers[i], errs[i] = r.Do(context.Background(), "ev", q)
		})
	}
	waitQueued(t, r, 50)
	close(rec.hold)
	wg.Wait()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if len(rec.batches) != 2 || len(rec.batches[1]) != 50 {
		t.Fatalf("batch sizes = %v, want [1 50]", sizes(rec.batches))
	}
	for i := range 50 {
		if i == 7 {
			if errs[i] == nil {
				t.Errorf("request %d: refusal lost", i)
			}
			continue
		}
		want := "ev:" + string(rune('a'+(i+1)%26))
		if errs[i] != nil || answers[i] != want {
			t.Errorf("request %d = %q, %v; want %q", i, answers[i], errs[i], want)
		}
	}
}

// waitQueued waits until n requests of key wait for a batch.
func waitQueued(t *testing.T, r interface{ Waiting(string) int }, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for r.Waiting("ev") < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests waiting, want %d", r.Waiting("ev"), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func sizes(b [][]int) []int {
	out := make([]int, len(b))
	for i, x := range b {
		out[i] = len(x)
	}
	return out
}

func TestMaxWeightSplitsBatchesInOrder(t *testing.T) {
	t.Parallel()
	rec := &recorder{hold: make(chan struct{}), entered: make(chan struct{}, 10)}
	r := batch.New(rec.run, batch.Options[int]{MaxWeight: 10, Weight: func(q int) int { return q }})
	go func() { _, _ = r.Do(context.Background(), "ev", 1) }()
	<-rec.entered
	var wg sync.WaitGroup
	for i, q := range []int{4, 4, 4, 12, 1} {
		wg.Go(func() { _, _ = r.Do(context.Background(), "ev", q) })
		waitQueued(t, r, i+1) // keep the arrival order
	}
	go func() {
		for range rec.entered {
		}
	}()
	close(rec.hold)
	wg.Wait()
	// 4+4 fit in 10; the third 4 starts the next batch; 12 alone exceeds
	// the bound and goes alone; 1 follows.
	got := sizes(rec.batches)
	want := []int{1, 2, 1, 1, 1}
	if len(got) != len(want) {
		t.Fatalf("batches = %v, want sizes %v", rec.batches, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("batches = %v, want sizes %v", rec.batches, want)
		}
	}
	if rec.batches[1][0] != 4 || rec.batches[3][0] != 12 || rec.batches[4][0] != 1 {
		t.Errorf("batches out of arrival order: %v", rec.batches)
	}
}

func TestDistinctKeepsEqualRequestsApart(t *testing.T) {
	t.Parallel()
	rec := &recorder{hold: make(chan struct{}), entered: make(chan struct{}, 10)}
	r := batch.New(rec.run, batch.Options[int]{Distinct: func(q int) any { return q % 10 }})
	go func() { _, _ = r.Do(context.Background(), "ev", 0) }()
	<-rec.entered
	var wg sync.WaitGroup
	for i, q := range []int{1, 11, 2, 21, 3} {
		wg.Go(func() { _, _ = r.Do(context.Background(), "ev", q) })
		waitQueued(t, r, i+1)
	}
	go func() {
		for range rec.entered {
		}
	}()
	close(rec.hold)
	wg.Wait()
	for _, b := range rec.batches {
		ids := map[int]bool{}
		for _, q := range b {
			if ids[q%10] {
				t.Errorf("batch %v has two requests of identity %d", b, q%10)
			}
			ids[q%10] = true
		}
	}
	if len(rec.batches) != 4 {
		t.Errorf("batches = %v, want [0] [1 2 3] [11] [21]", rec.batches)
	}
}

func TestKeysRunIndependentlyAndParallelIsBounded(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	r := batch.New(func(ctx context.Context, key string, reqs []int) []batch.Result[string] {
		time.Sleep(2 * time.Millisecond)
		return rec.run(ctx, key, reqs)
	}, batch.Options[int]{Parallel: 2})
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() {
			key := []string{"a", "b", "c"}[i%3]
			if v, err := r.Do(context.Background(), key, i); err != nil || !strings.HasPrefix(v, key+":") {
				t.Errorf("Do(%s, %d) = %q, %v", key, i, v, err)
			}
		})
	}
	wg.Wait()
	if p := rec.peak.Load(); p > 6 {
		t.Errorf("%d batches ran at once, want at most 2 per key (6)", p)
	}
	total := 0
	for _, b := range rec.batches {
		total += len(b)
	}
	if total != 200 {
		t.Errorf("%d requests answered by batches, want 200", total)
	}
}

func TestCallerGivingUpLeavesTheQueue(t *testing.T) {
	t.Parallel()
	rec := &recorder{hold: make(chan struct{}), entered: make(chan struct{}, 10)}
	r := batch.New(rec.run, batch.Options[int]{})
	go func() { _, _ = r.Do(context.Background(), "ev", 0) }()
	<-rec.entered
	ctx, cancel := context.WithCancel(context.Background())
	gaveUp := make(chan error, 1)
	go func() { _, err := r.Do(ctx, "ev", 5); gaveUp <- err }()
	waitQueued(t, r, 1)
	cancel()
	if err := <-gaveUp; !errors.Is(err, context.Canceled) {
		t.Fatalf("Do after cancel = %v, want context.Canceled", err)
	}
	if n := r.Waiting("ev"); n != 0 {
		t.Errorf("%d waiting after the only waiter gave up, want 0", n)
	}
	stayed := make(chan error, 1)
	go func() { _, err := r.Do(context.Background(), "ev", 6); stayed <- err }()
	waitQueued(t, r, 1)
	go func() {
		for range rec.entered {
		}
	}()
	close(rec.hold)
	if err := <-stayed; err != nil {
		t.Fatal(err)
	}
	for _, b := range rec.batches {
		for _, q := range b {
			if q == 5 {
				t.Errorf("the abandoned request ran in batch %v", b)
			}
		}
	}
}

func TestPanicAnswersTheBatchWithAnError(t *testing.T) {
	t.Parallel()
	r := batch.New(func(context.Context, string, []int) []batch.Result[string] { panic("boom") }, batch.Options[int]{})
	if _, err := r.Do(context.Background(), "ev", 1); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("Do = %v, want the panic as an error", err)
	}
	// The key still works afterwards.
	if _, err := r.Do(context.Background(), "ev", 1); err == nil {
		t.Fatal("second Do: want the panic again, got nil")
	}
}
