package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/evently/evently/internal/waitroom"
)

// Waiting-room task types: TypeAdmit is one step of an event's admission
// chain; TypeRearm, run by the cron with the cleanup, restarts chains that
// a crash lost.
const (
	TypeAdmit = "waitroom:admit"
	TypeRearm = "waitroom:rearm"
)

// admitRetries bounds the retries of a failed admission step; if they run
// out, the chain's lease lapses and the next join or re-arm starts a new
// one.
const admitRetries = 10

// admitPayload is a waitroom.Run on the wire.
type admitPayload struct {
	EventID uuid.UUID `json:"event_id"`
	Chain   string    `json:"chain"`
	Step    int64     `json:"step"`
}

// Admissions schedules admission steps as asynq tasks on the waitroom
// queue. Each step has the task id waitroom:admit:<event>:<chain>:<step>,
// so scheduling a step twice (a retried predecessor, two replicas) yields
// one task.
type Admissions struct {
	queue Enqueuer
}

var _ waitroom.Scheduler = (*Admissions)(nil)

// NewAdmissions schedules through q.
func NewAdmissions(q Enqueuer) *Admissions { return &Admissions{queue: q} }

// Schedule implements waitroom.Scheduler.
func (a *Admissions) Schedule(ctx context.Context, run waitroom.Run, delay time.Duration) error {
	payload, err := json.Marshal(admitPayload{EventID: run.EventID, Chain: run.Chain, Step: run.Step})
	if err != nil {
		return err
	}
	id := TypeAdmit + ":" + run.EventID.String() + ":" + run.Chain + ":" + strconv.FormatInt(run.Step, 10)
	_, err = a.queue.EnqueueContext(ctx, asynq.NewTask(TypeAdmit, payload),
		asynq.Queue(QueueWaitroom),
		asynq.TaskID(id),
		asynq.ProcessIn(delay),
		asynq.MaxRetry(admitRetries),
		asynq.Timeout(30*time.Second),
	)
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("schedule admission event=%s step=%d: %w", run.EventID, run.Step, err)
	}
	return nil
}

// Admitter runs one admission step.
type Admitter interface {
	RunAdmission(ctx context.Context, run waitroom.Run) error
}

// AdmissionHandler runs a for each admission task.
func AdmissionHandler(a Admitter) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		var p admitPayload
		if err := json.Unmarshal(t.Payload(), &p); err != nil || p.EventID == uuid.Nil || p.Chain == "" {
			return fmt.Errorf("admission task payload %q: %w", t.Payload(), asynq.SkipRetry)
		}
		return a.RunAdmission(ctx, waitroom.Run{EventID: p.EventID, Chain: p.Chain, Step: p.Step})
	})
}

// retryDelay retries admission steps within seconds (a room must not stall
// for asynq's default backoff of a minute or more); other tasks back off
// as asynq does by default.
func retryDelay(n int, err error, t *asynq.Task) time.Duration {
	if t.Type() == TypeAdmit {
		return time.Duration(min(n+1, 5)) * time.Second
	}
	return asynq.DefaultRetryDelayFunc(n, err, t)
}
