package worker_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/evently/evently/internal/logging"
	"github.com/evently/evently/internal/notify"
	"github.com/evently/evently/internal/redistest"
	"github.com/evently/evently/internal/worker"
)

// TestSchedulersDeduplicateSlots runs two schedulers (two replicas) against
// one Redis: both fire every second, yet each slot is enqueued once.
func TestSchedulersDeduplicateSlots(t *testing.T) {
	t.Parallel()
	rdb := redistest.New(t)
	logger := logging.Discard()

	var (
		mu       sync.Mutex
		landed   = map[time.Time]int{} // slot → enqueues that landed
		attempts = map[time.Time]int{} // slot → replicas that fired
	)
	record := func(slot time.Time, ok bool) {
		mu.Lock()
		defer mu.Unlock()
		attempts[slot]++
		if ok {
			landed[slot]++
		}
	}
	var schedulers []*worker.Scheduler
	for range 2 {
		client := asynq.NewClientFromRedisClient(rdb)
		t.Cleanup(func() { client.Close() })
		s := worker.NewScheduler(client, logger)
		if err := s.Every("@every 1s", worker.TypeCleanup, worker.QueueCleanup, record); err != nil {
			t.Fatal(err)
		}
		schedulers = append(schedulers, s)
	}
	for _, s := range schedulers {
		if err := s.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(3500 * time.Millisecond)
	for _, s := range schedulers {
		if err := s.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	}

	mu.Lock()
	defer mu.Unlock()
	both := 0
	for slot, n := range attempts {
		if n == 2 {
			both++
		}
		if landed[slot] != 1 {
			t.Errorf("slot %v: %d enqueues landed (of %d attempts), want exactly 1", slot, landed[slot], n)
		}
	}
	if both < 2 {
		t.Errorf("only %d slots were fired by both replicas (attempts %v); the test proves nothing", both, attempts)
	}
	info, err := asynq.NewInspectorFromRedisClient(rdb).GetQueueInfo(worker.QueueCleanup)
	if err != nil {
		t.Fatal(err)
	}
	if info.Size != len(attempts) {
		t.Errorf("cleanup queue holds %d tasks, want one per slot (%d)", info.Size, len(attempts))
	}
}

// TestCleanupTaskRunsThroughTheWorker enqueues the cleanup task and checks
// that the worker's registered handler runs it.
func TestCleanupTaskRunsThroughTheWorker(t *testing.T) {
	t.Parallel()
	rdb := redistest.New(t)
	var runs atomic.Int32
	ran := make(chan struct{}, 1)
	srv := worker.NewServer(rdb, worker.ServerConfig{ShutdownTimeout: 5 * time.Second}, logging.Discard())
	srv.Handle(worker.TypeCleanup, worker.CleanupHandler(worker.CleanerFunc(func(context.Context) error {
		runs.Add(1)
		ran <- struct{}{}
		return nil
	})))
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })

	client := asynq.NewClientFromRedisClient(rdb)
	defer client.Close()
	if _, err := client.Enqueue(asynq.NewTask(worker.TypeCleanup, nil), asynq.Queue(worker.QueueCleanup)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ran:
	case <-time.After(15 * time.Second):
		t.Fatal("cleanup handler did not run within 15s")
	}
	if n := runs.Load(); n != 1 {
		t.Errorf("cleanup ran %d times, want 1", n)
	}
}

// records is a slog handler that keeps what is logged.
type records struct {
	mu   sync.Mutex
	list []slog.Record
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *records) WithGroup(string) slog.Handler            { return r }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.list = append(r.list, rec)
	return nil
}

func (r *records) snapshot() []slog.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]slog.Record(nil), r.list...)
}

type failingDeliverer struct {
	mu     sync.Mutex
	finals []bool
}

func (f *failingDeliverer) Deliver(_ context.Context, id uuid.UUID, final bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.finals = append(f.finals, final)
	return fmt.Errorf("%w: delivery %s: HTTP 503", notify.ErrAttemptFailed, id)
}

// TestWebhookRetriesLogWarnings: a failed webhook attempt that will be
// retried is logged as a warning; only the last one, after which the
// delivery has failed for good, is an error.
func TestWebhookRetriesLogWarnings(t *testing.T) {
	t.Parallel()
	rdb := redistest.New(t)
	logs := &records{}
	srv := worker.NewServer(rdb, worker.ServerConfig{ShutdownTimeout: 5 * time.Second,
		DelayedTaskCheckInterval: 100 * time.Millisecond}, slog.New(logs))
	d := &failingDeliverer{}
	srv.Handle(worker.TypeWebhook, worker.WebhookHandler(d))
	srv.Backoff(worker.TypeWebhook, func(int) time.Duration { return 50 * time.Millisecond })
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	client := asynq.NewClientFromRedisClient(rdb)
	defer client.Close()
	payload := []byte(`{"id":"` + uuid.NewString() + `"}`)
	if _, err := client.Enqueue(asynq.NewTask(worker.TypeWebhook, payload), asynq.Queue(worker.QueueNotify), asynq.MaxRetry(2)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for len(logs.snapshot()) < 3 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	got := logs.snapshot()
	var levels []string
	for _, r := range got {
		asynqOwn := false
		r.Attrs(func(a slog.Attr) bool {
			asynqOwn = asynqOwn || a.Key == "component" && a.Value.String() == "asynq"
			return true
		})
		if !asynqOwn {
			levels = append(levels, r.Level.String()+" "+r.Message)
		}
	}
	want := []string{"WARN webhook attempt failed; it will be retried", "WARN webhook attempt failed; it will be retried", "ERROR webhook delivery failed: its last attempt failed"}
	if strings.Join(levels, "|") != strings.Join(want, "|") {
		t.Errorf("logged %q, want %q", levels, want)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if fmt.Sprint(d.finals) != "[false false true]" {
		t.Errorf("attempts made with final = %v, want [false false true]", d.finals)
	}
}
