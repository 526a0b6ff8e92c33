package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/evently/evently/internal/pgtest"
	"github.com/evently/evently/internal/postgres"
)

func TestCommitsCountsThisDatabasesCommits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.New(t)
	before, err := postgres.Commits(ctx, pool)
	if err != nil {
		t.Fatalf("Commits() error = %v", err)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	for range 5 {
		if _, err := conn.Exec(ctx, "SELECT 1"); err != nil {
			t.Fatal(err)
		}
	}
	// Publish this session's counts now rather than up to 10s later.
	if _, err := conn.Exec(ctx, "SELECT pg_stat_force_next_flush()"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		after, err := postgres.Commits(ctx, pool)
		if err != nil {
			t.Fatalf("Commits() error = %v", err)
		}
		if after >= before+5 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Commits() = %d after 5 commits, want at least %d", after, before+5)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
