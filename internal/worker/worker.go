// Package worker runs Evently's background work: one asynq server consuming
// the waitroom, cleanup and notify queues, and the cron scheduler that
// enqueues periodic jobs.
package worker

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
	goredis "github.com/redis/go-redis/v9"
)

// Queue names and their weights: admissions are the most time-critical,
// expired-hold cleanup the least.
const (
	QueueWaitroom = "waitroom"
	QueueNotify   = "notify"
	QueueCleanup  = "cleanup"
)

// Queues maps each queue to its priority weight.
var queues = map[string]int{
	QueueWaitroom: 6,
	QueueNotify:   3,
	QueueCleanup:  1,
}

// QueueNames lists every queue the worker consumes.
func QueueNames() []string { return []string{QueueWaitroom, QueueNotify, QueueCleanup} }

// Server is the asynq server with Evently's task handlers.
type Server struct {
	srv    *asynq.Server
	mux    *asynq.ServeMux
	logger *slog.Logger
	// backoff holds the retry delays of task types that have their own.
	backoff map[string]func(n int) time.Duration
}

// ServerConfig tunes the asynq server.
type ServerConfig struct {
	Concurrency     int
	ShutdownTimeout time.Duration
	// DelayedTaskCheckInterval is how often scheduled and retried tasks are
	// moved to their queues; admissions re-enqueue themselves with ProcessIn,
	// so it bounds their jitter.
	DelayedTaskCheckInterval time.Duration
	// TaskCheckInterval is how long an idle worker waits (±50%) before it
	// looks at its queues again (default 200ms; asynq's own is 1s). It
	// bounds the delay between a release of seats and their waitlist
	// offer, during which ordinary buyers can take them.
	TaskCheckInterval time.Duration
}

// NewServer builds a server on the shared Redis client. Register handlers
// with Handle before Start.
func NewServer(rdb goredis.UniversalClient, cfg ServerConfig, logger *slog.Logger) *Server {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 10
	}
	if cfg.DelayedTaskCheckInterval <= 0 {
		cfg.DelayedTaskCheckInterval = time.Second
	}
	if cfg.TaskCheckInterval <= 0 {
		cfg.TaskCheckInterval = 200 * time.Millisecond
	}
	backoff := map[string]func(n int) time.Duration{}
	srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Concurrency:              cfg.Concurrency,
		Queues:                   queues,
		ShutdownTimeout:          cfg.ShutdownTimeout,
		DelayedTaskCheckInterval: cfg.DelayedTaskCheckInterval,
		TaskCheckInterval:        cfg.TaskCheckInterval,
		Logger:                   asynqLogger{logger},
		LogLevel:                 asynq.WarnLevel,
		ErrorHandler: asynq.ErrorHandlerFunc(func(ctx context.Context, t *asynq.Task, err error) {
			if attempt, of, ok := webhookAttempt(ctx, err); ok {
				if attempt < of {
					logger.WarnContext(ctx, "webhook attempt failed; it will be retried", "type", t.Type(),
						"attempt", attempt, "of", of, "err", err)
				} else {
					logger.ErrorContext(ctx, "webhook delivery failed: its last attempt failed", "type", t.Type(),
						"attempt", attempt, "of", of, "err", err)
				}
				return
			}
			logger.ErrorContext(ctx, "task failed", "type", t.Type(), "err", err)
		}),
		RetryDelayFunc: func(n int, err error, t *asynq.Task) time.Duration {
			if d, ok := backoff[t.Type()]; ok {
				return d(n)
			}
			return retryDelay(n, err, t)
		},
	})
	return &Server{srv: srv, mux: asynq.NewServeMux(), logger: logger, backoff: backoff}
}

// Handle registers h for tasks of the given type.
func (s *Server) Handle(taskType string, h asynq.Handler) { s.mux.Handle(taskType, h) }

// Backoff sets the delay before retry n+1 of tasks of the given type (n
// retries done). Call it before Start.
func (s *Server) Backoff(taskType string, delay func(n int) time.Duration) {
	s.backoff[taskType] = delay
}

// Start begins processing in the background.
func (s *Server) Start(context.Context) error {
	if err := s.srv.Start(s.mux); err != nil {
		return fmt.Errorf("start asynq server: %w", err)
	}
	return nil
}

// Shutdown stops fetching tasks and waits, up to the configured shutdown
// timeout, for running ones to finish; unfinished tasks go back to their
// queue to be retried.
func (s *Server) Shutdown(ctx context.Context) error {
	done := make(chan struct{})
	go func() { s.srv.Shutdown(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("asynq shutdown: %w", ctx.Err())
	}
}

// asynqLogger routes asynq's own logging into slog.
type asynqLogger struct{ l *slog.Logger }

func (a asynqLogger) Debug(args ...any) { a.l.Debug(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Info(args ...any)  { a.l.Info(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Warn(args ...any)  { a.l.Warn(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Error(args ...any) { a.l.Error(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Fatal(args ...any) { a.l.Error(fmt.Sprint(args...), "component", "asynq") }
