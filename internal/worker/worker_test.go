package worker_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/evently/evently/internal/logging"
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
