package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/pgtest"
	"github.com/evently/evently/internal/postgres"
)

func TestIdempotencyStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.New(t)
	s := postgres.NewIdempotencyStore(pool)
	user := uuid.New()

	if _, _, replay, err := s.Begin(ctx, user, "k1", []byte("a")); err != nil || replay {
		t.Fatalf("first Begin = replay %v, %v; want a claim", replay, err)
	}
	if _, _, _, err := s.Begin(ctx, user, "k1", []byte("a")); !apperr.Is(err, apperr.Conflict) {
		t.Errorf("Begin while running = %v, want conflict", err)
	}
	if _, _, _, err := s.Begin(ctx, user, "k1", []byte("b")); !apperr.Is(err, apperr.IdempotencyKeyReused) {
		t.Errorf("Begin with another body = %v, want idempotency_key_reused", err)
	}
	if err := s.Complete(ctx, user, "k1", 201, []byte(`{"id":"x"}`)); err != nil {
		t.Fatal(err)
	}
	status, body, replay, err := s.Begin(ctx, user, "k1", []byte("a"))
	if err != nil || !replay || status != 201 || string(body) != `{"id":"x"}` {
		t.Errorf("Begin after Complete = %d %s %v %v; want the recorded 201", status, body, replay, err)
	}
	// Abandoned keys can be claimed again.
	if _, _, _, err := s.Begin(ctx, user, "k2", []byte("a")); err != nil {
		t.Fatal(err)
	}
	if err := s.Abandon(ctx, user, "k2"); err != nil {
		t.Fatal(err)
	}
	if _, _, replay, err := s.Begin(ctx, user, "k2", []byte("a")); err != nil || replay {
		t.Errorf("Begin after Abandon = %v %v; want a fresh claim", replay, err)
	}
	// Answers are kept for the retention time, then pruned.
	if _, err := pool.Exec(ctx, `UPDATE idempotency_keys SET created_at = now() - interval '26 hours' WHERE key = 'k1'`); err != nil {
		t.Fatal(err)
	}
	n, err := s.Prune(ctx, 25*time.Hour)
	if err != nil || n != 1 {
		t.Fatalf("Prune = %d, %v; want 1 (only the 26-hour-old key)", n, err)
	}
	if _, _, replay, err := s.Begin(ctx, user, "k2", []byte("a")); !apperr.Is(err, apperr.Conflict) || replay {
		t.Errorf("the fresh key was pruned too (Begin = %v, %v)", replay, err)
	}
}
