package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
	"github.com/robfig/cron/v3"

	"github.com/evently/evently/internal/schedule"
)

// slotRetention keeps a finished slot's task id in Redis long enough for
// every replica's enqueue for that slot to find it and be refused.
const slotRetention = time.Hour

// Enqueuer is the part of asynq.Client the scheduler needs.
type Enqueuer interface {
	EnqueueContext(ctx context.Context, t *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error)
}

// Scheduler enqueues periodic tasks. Every replica runs one; each task is
// enqueued under an id naming its time slot, so that however many replicas
// fire, a slot's task is enqueued once.
type Scheduler struct {
	cron   *cron.Cron
	queue  Enqueuer
	logger *slog.Logger
	now    func() time.Time
}

// NewScheduler returns a scheduler that enqueues through q.
func NewScheduler(q Enqueuer, logger *slog.Logger) *Scheduler {
	return &Scheduler{
		cron:   cron.New(cron.WithLocation(time.UTC)),
		queue:  q,
		logger: logger,
		now:    time.Now,
	}
}

// Every enqueues a task of taskType on queue at each activation of spec.
// Enqueued reports, per activation, whether this replica's enqueue was the
// one that landed (false: another replica had already enqueued that slot);
// it may be nil.
func (s *Scheduler) Every(spec, taskType, queue string, enqueued func(slot time.Time, ok bool)) error {
	sched, err := schedule.Parse(spec)
	if err != nil {
		return fmt.Errorf("schedule %s %q: %w", taskType, spec, err)
	}
	s.cron.Schedule(sched, cron.FuncJob(func() {
		slot := sched.Slot(s.now()).UTC()
		ok, err := s.enqueueSlot(taskType, queue, slot)
		if err != nil {
			s.logger.Error("enqueue periodic task", "type", taskType, "slot", slot, "err", err)
			return
		}
		if enqueued != nil {
			enqueued(slot, ok)
		}
	}))
	return nil
}

func (s *Scheduler) enqueueSlot(taskType, queue string, slot time.Time) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	id := taskType + "@" + slot.Format(time.RFC3339)
	_, err := s.queue.EnqueueContext(ctx, asynq.NewTask(taskType, nil),
		asynq.Queue(queue),
		asynq.TaskID(id),
		asynq.Retention(slotRetention),
		asynq.MaxRetry(3),
		asynq.Timeout(5*time.Minute),
	)
	switch {
	case errors.Is(err, asynq.ErrTaskIDConflict):
		return false, nil
	case err != nil:
		return false, err
	}
	s.logger.Debug("enqueued periodic task", "type", taskType, "slot", slot)
	return true, nil
}

// Start starts the cron loop.
func (s *Scheduler) Start(context.Context) error {
	s.cron.Start()
	return nil
}

// Shutdown stops the cron loop and waits for a running enqueue to finish.
func (s *Scheduler) Shutdown(ctx context.Context) error {
	done := s.cron.Stop().Done()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("scheduler shutdown: %w", ctx.Err())
	}
}
