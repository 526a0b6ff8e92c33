package worker

import (
	"context"
	"fmt"

	"github.com/hibiken/asynq"
)

// TypeCleanup is the task that expires lapsed holds and frees their seats.
const TypeCleanup = "cleanup:expired-holds"

// Cleaner does the work of one cleanup run. It must be idempotent: a run may
// be retried, and runs of neighbouring slots may overlap.
type Cleaner interface {
	Cleanup(ctx context.Context) error
}

// CleanerFunc adapts a function to Cleaner.
type CleanerFunc func(ctx context.Context) error

// Cleanup calls f.
func (f CleanerFunc) Cleanup(ctx context.Context) error { return f(ctx) }

// CleanupHandler runs c for each cleanup task.
func CleanupHandler(c Cleaner) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, _ *asynq.Task) error {
		if err := c.Cleanup(ctx); err != nil {
			return fmt.Errorf("cleanup: %w", err)
		}
		return nil
	})
}
