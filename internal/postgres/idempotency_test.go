package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/pgtest"
	"github.com/evently/evently/internal/postgres"
)

func TestIdempotencyStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.New(t)
	s := postgres.NewIdempotencyStore(pool)
	user := uuid.New()

	if _, _, _, found, err := s.Lookup(ctx, user, "k1"); err != nil || found {
		t.Fatalf("Lookup of a new key = found %v, %v; want nothing", found, err)
	}
	first := []byte(`{"code":"validation_failed"}`)
	if ok, err := s.Record(ctx, user, "k1", []byte("a"), 400, first); err != nil || !ok {
		t.Fatalf("Record = %v, %v; want recorded", ok, err)
	}
	if ok, err := s.Record(ctx, user, "k1", []byte("a"), 201, []byte(`{}`)); err != nil || ok {
		t.Errorf("second Record = %v, %v; want the first answer to stand", ok, err)
	}
	hash, status, body, found, err := s.Lookup(ctx, user, "k1")
	if err != nil || !found || status != 400 || string(body) != string(first) || string(hash) != "a" {
		t.Errorf("Lookup = %s %d %s %v %v; want the first answer", hash, status, body, found, err)
	}
	if _, _, _, found, _ := s.Lookup(ctx, uuid.New(), "k1"); found {
		t.Error("keys are per user: another user's lookup found one")
	}
	if _, err := s.Record(ctx, user, "k2", []byte("a"), 400, first); err != nil {
		t.Fatal(err)
	}
	// Answers are kept for the retention time, then pruned.
	if _, err := pool.Exec(ctx, `UPDATE idempotency_keys SET created_at = now() - interval '26 hours' WHERE key = 'k1'`); err != nil {
		t.Fatal(err)
	}
	n, err := s.Prune(ctx, 25*time.Hour)
	if err != nil || n != 1 {
		t.Fatalf("Prune = %d, %v; want 1 (only the 26-hour-old key)", n, err)
	}
	if _, _, _, found, _ := s.Lookup(ctx, user, "k2"); !found {
		t.Error("the fresh key was pruned too")
	}
}
