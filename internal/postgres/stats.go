package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Commits returns how many transactions have committed in the pool's
// database since its statistics were last reset (pg_stat_database's
// xact_commit). Postgres publishes each session's counts at most once a
// second, and an idle session's up to 10 seconds late, so a difference of
// two readings is only exact once that much time has passed.
func Commits(ctx context.Context, pool *pgxpool.Pool) (int64, error) {
	var n int64
	if err := pool.QueryRow(ctx,
		`SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()`).Scan(&n); err != nil {
		return 0, fmt.Errorf("read commit count: %w", err)
	}
	return n, nil
}
