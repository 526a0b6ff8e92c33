package worker_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/evently/evently/internal/redistest"
	"github.com/evently/evently/internal/waitroom"
	"github.com/evently/evently/internal/worker"
)

// TestAdmissionsScheduleEachStepOnce: scheduling a step twice (a retried
// predecessor, two replicas) leaves one task; the next step is another.
func TestAdmissionsScheduleEachStepOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := redistest.New(t)
	client := asynq.NewClientFromRedisClient(rdb)
	t.Cleanup(func() { client.Close() })
	a := worker.NewAdmissions(client)
	run := waitroom.Run{EventID: uuid.New(), Chain: uuid.NewString(), Step: 3}
	for range 3 {
		if err := a.Schedule(ctx, run, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	run.Step++
	if err := a.Schedule(ctx, run, 0); err != nil {
		t.Fatal(err)
	}
	info, err := asynq.NewInspectorFromRedisClient(rdb).GetQueueInfo(worker.QueueWaitroom)
	if err != nil {
		t.Fatal(err)
	}
	if info.Scheduled != 1 || info.Pending != 1 {
		t.Errorf("waitroom queue: %d scheduled, %d pending; want 1 and 1", info.Scheduled, info.Pending)
	}
}

type admitter struct{ runs chan waitroom.Run }

func (a admitter) RunAdmission(_ context.Context, run waitroom.Run) error {
	a.runs <- run
	return nil
}

// TestAdmissionHandler decodes the run; a payload that cannot decode is
// not retried.
func TestAdmissionHandler(t *testing.T) {
	t.Parallel()
	a := admitter{runs: make(chan waitroom.Run, 1)}
	h := worker.AdmissionHandler(a)
	want := waitroom.Run{EventID: uuid.New(), Chain: "c", Step: 7}
	payload := `{"event_id":"` + want.EventID.String() + `","chain":"c","step":7}`
	if err := h.ProcessTask(context.Background(), asynq.NewTask(worker.TypeAdmit, []byte(payload))); err != nil {
		t.Fatal(err)
	}
	if got := <-a.runs; got != want {
		t.Errorf("run = %+v, want %+v", got, want)
	}
	for _, bad := range []string{`{`, `{"chain":"c"}`, `{"event_id":"` + want.EventID.String() + `"}`} {
		err := h.ProcessTask(context.Background(), asynq.NewTask(worker.TypeAdmit, []byte(bad)))
		if !errors.Is(err, asynq.SkipRetry) {
			t.Errorf("payload %s: %v, want SkipRetry", bad, err)
		}
	}
}
