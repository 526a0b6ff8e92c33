package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// conflictAttempts is how many times a transaction is run when Postgres
// aborts it to break a deadlock or a serialization conflict: the one
// retry policy of the stores (inTx, and the batched writes' pipelines).
const conflictAttempts = 3

// retryOnConflict reruns fn, up to conflictAttempts times in all, while
// Postgres aborts it with deadlock_detected or serialization_failure: both
// mean "nothing was done; try again". fn must be safe to run again (it
// starts its own transaction and sets, not accumulates, what it returns).
func retryOnConflict[T any](ctx context.Context, fn func() (T, error)) (T, error) {
	for attempt := 1; ; attempt++ {
		v, err := fn()
		if err == nil || attempt == conflictAttempts || !(isCode(err, "40P01") || isCode(err, "40001")) || ctx.Err() != nil {
			return v, err
		}
	}
}

// inTx runs fn in a transaction, committed when fn returns nil and rolled
// back otherwise (fn's error is returned as it is), under retryOnConflict.
func inTx(ctx context.Context, pool *pgxpool.Pool, fn func(tx pgx.Tx) error) error {
	_, err := retryOnConflict(ctx, func() (struct{}, error) {
		tx, err := pool.Begin(ctx)
		if err != nil {
			return struct{}{}, fmt.Errorf("begin: %w", err)
		}
		defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit
		if err := fn(tx); err != nil {
			return struct{}{}, err
		}
		if err := tx.Commit(ctx); err != nil {
			return struct{}{}, fmt.Errorf("commit: %w", err)
		}
		return struct{}{}, nil
	})
	return err
}

// isNoRows reports whether err is pgx's "no rows in result set".
func isNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }
