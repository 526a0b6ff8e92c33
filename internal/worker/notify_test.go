package worker_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/evently/evently/internal/logging"
	"github.com/evently/evently/internal/redis"
	"github.com/evently/evently/internal/redistest"
	"github.com/evently/evently/internal/waitlist"
	"github.com/evently/evently/internal/worker"
)

type offerer struct {
	mu     sync.Mutex
	events []uuid.UUID
}

func (o *offerer) Offer(_ context.Context, id uuid.UUID) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.events = append(o.events, id)
	return 1, nil
}

// TestOfferTriggersCoalesce: releases of one event while its offer task
// waits make one task; once the task has started, the next release makes
// another (so seats released during a run are not missed).
func TestOfferTriggersCoalesce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := redistest.New(t)
	client := asynq.NewClientFromRedisClient(rdb)
	defer client.Close()
	ins := asynq.NewInspectorFromRedisClient(rdb)
	offers := worker.NewOffers(redis.NewOfferMarkers(rdb, worker.OfferPendingTTL), client, logging.Discard())
	pending := func() []*asynq.TaskInfo {
		tasks, err := ins.ListPendingTasks(worker.QueueNotify)
		if err != nil {
			t.Fatal(err)
		}
		return tasks
	}

	a, b := uuid.New(), uuid.New()
	for range 5 {
		offers.SeatsReleased(ctx, a)
	}
	offers.SeatsReleased(ctx, b)
	tasks := pending()
	if len(tasks) != 2 {
		t.Fatalf("%d offer tasks for 6 releases of 2 events, want 2", len(tasks))
	}
	var task *asynq.TaskInfo
	for _, x := range tasks {
		var p struct {
			EventID uuid.UUID `json:"event_id"`
		}
		if err := json.Unmarshal(x.Payload, &p); err != nil {
			t.Fatal(err)
		}
		if p.EventID == a {
			task = x
		}
	}
	if task == nil || task.Type != worker.TypeWaitlistOffer {
		t.Fatalf("no offer task for event a in %+v", tasks)
	}

	o := &offerer{}
	if err := worker.OfferHandler(offers, o).ProcessTask(ctx, asynq.NewTask(task.Type, task.Payload)); err != nil {
		t.Fatal(err)
	}
	if len(o.events) != 1 || o.events[0] != a {
		t.Errorf("offers made for %v, want [%s]", o.events, a)
	}
	offers.SeatsReleased(ctx, a)
	if n := len(pending()); n != 3 {
		t.Errorf("after the task started, a release made %d tasks in all, want 3", n)
	}
	if err := worker.OfferHandler(offers, o).ProcessTask(ctx, asynq.NewTask(worker.TypeWaitlistOffer, []byte("{"))); err == nil {
		t.Error("a payload that does not decode was accepted")
	}
}

// TestOfferLapseIsScheduled: each offer schedules the cleanup for when it
// lapses; offers lapsing in the same second share one task.
func TestOfferLapseIsScheduled(t *testing.T) {
	t.Parallel()
	rdb := redistest.New(t)
	client := asynq.NewClientFromRedisClient(rdb)
	defer client.Close()
	offers := worker.NewOffers(redis.NewOfferMarkers(rdb, worker.OfferPendingTTL), client, logging.Discard())
	at := time.Now().Add(time.Hour).Truncate(time.Second).Add(300 * time.Millisecond)
	for i := range 3 {
		offers.OfferMade(context.Background(), waitlist.Offer{BookingID: uuid.New(), ExpiresAt: at.Add(time.Duration(i) * 200 * time.Millisecond)})
	}
	offers.OfferMade(context.Background(), waitlist.Offer{BookingID: uuid.New(), ExpiresAt: at.Add(2 * time.Second)})
	tasks, err := asynq.NewInspectorFromRedisClient(rdb).ListScheduledTasks(worker.QueueNotify)
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) != 2 {
		t.Fatalf("%d lapse tasks, want 2", len(tasks))
	}
	for _, task := range tasks {
		if task.Type != worker.TypeOfferLapse || task.NextProcessAt.Before(at) || task.NextProcessAt.After(at.Add(3*time.Second)) {
			t.Errorf("lapse task %s at %v (offers lapse from %v)", task.Type, task.NextProcessAt, at)
		}
	}
}

// TestWebhookBackoff: a delivery is retried for about three days — waits
// doubling from a second to six hours, each spread by ±10% of jitter —
// so that a receiver down over a weekend still gets its webhooks.
func TestWebhookBackoff(t *testing.T) {
	t.Parallel()
	const day = 24 * time.Hour
	var nominal, soonest, latest time.Duration
	for n := range worker.WebhookAttempts - 1 {
		d := worker.WebhookBackoff(n)
		if n > 0 && d < worker.WebhookBackoff(n-1) {
			t.Errorf("backoff shrinks at retry %d", n)
		}
		lo, mid, hi := worker.WebhookRetryDelay(n, 0), worker.WebhookRetryDelay(n, 0.5), worker.WebhookRetryDelay(n, 0.999999)
		if mid != d || lo != d-d/10 || hi <= mid || hi > d+d/10 {
			t.Errorf("retry %d: delays %v, %v, %v around %v, want 10%% either side", n, lo, mid, hi, d)
		}
		for range 20 {
			if r := worker.RandomWebhookRetryDelay(n); r < lo || r > d+d/10 {
				t.Errorf("retry %d: random delay %v outside [%v, %v]", n, r, lo, d+d/10)
			}
		}
		nominal, soonest, latest = nominal+d, soonest+lo, latest+hi
	}
	if worker.WebhookBackoff(0) != time.Second || worker.WebhookBackoff(1) != 2*time.Second ||
		worker.WebhookBackoff(24) != 6*time.Hour || worker.WebhookBackoff(1000) != 6*time.Hour || worker.WebhookBackoff(-1) != time.Second {
		t.Errorf("backoff(0, 1, 24, 1000, -1) = %v, %v, %v, %v, %v", worker.WebhookBackoff(0), worker.WebhookBackoff(1),
			worker.WebhookBackoff(24), worker.WebhookBackoff(1000), worker.WebhookBackoff(-1))
	}
	if nominal < 2*day+18*time.Hour || nominal > 3*day {
		t.Errorf("%d attempts span %v, want about three days", worker.WebhookAttempts, nominal)
	}
	if soonest < 2*day+12*time.Hour || latest > 3*day+8*time.Hour {
		t.Errorf("with jitter, %d attempts span %v to %v", worker.WebhookAttempts, soonest, latest)
	}
	if worker.WebhookMaxWait < 6*time.Hour+36*time.Minute {
		t.Errorf("WebhookMaxWait = %v, shorter than the longest jittered wait", worker.WebhookMaxWait)
	}
}
