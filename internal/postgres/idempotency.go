package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/evently/evently/internal/apperr"
)

// IdempotencyStore records the answers to requests sent with an
// Idempotency-Key, so that a retry gets the first answer instead of a
// second hold.
type IdempotencyStore struct {
	pool *pgxpool.Pool
	// stale is how long a running request may keep its key before a retry
	// may take it over (the first one died).
	stale time.Duration
}

// NewIdempotencyStore returns a store on pool.
func NewIdempotencyStore(pool *pgxpool.Pool) *IdempotencyStore {
	return &IdempotencyStore{pool: pool, stale: time.Minute}
}

// Begin claims (user, key) for a request whose body hashes to hash. When
// the key was used before for the same request it returns the recorded
// answer (replay true); IdempotencyKeyReused when it was used for another;
// Conflict while the first request is still running.
func (s *IdempotencyStore) Begin(ctx context.Context, userID uuid.UUID, key string, hash []byte) (status int, body []byte, replay bool, err error) {
	tag, err := s.pool.Exec(ctx, `INSERT INTO idempotency_keys (user_id, key, request_hash) VALUES ($1, $2, $3)
		ON CONFLICT DO NOTHING`, userID, key, hash)
	if err != nil {
		return 0, nil, false, fmt.Errorf("claim idempotency key: %w", err)
	}
	if tag.RowsAffected() == 1 {
		return 0, nil, false, nil
	}
	var (
		prev     []byte
		recorded *int
		created  time.Time
	)
	err = s.pool.QueryRow(ctx, `SELECT request_hash, status_code, response_body, created_at
		FROM idempotency_keys WHERE user_id = $1 AND key = $2`, userID, key).Scan(&prev, &recorded, &body, &created)
	if errors.Is(err, pgx.ErrNoRows) {
		return s.Begin(ctx, userID, key, hash) // released meanwhile
	}
	if err != nil {
		return 0, nil, false, fmt.Errorf("read idempotency key: %w", err)
	}
	switch {
	case !bytes.Equal(prev, hash):
		return 0, nil, false, apperr.New(apperr.IdempotencyKeyReused, "This Idempotency-Key was used for a different request.")
	case recorded != nil:
		return *recorded, body, true, nil
	case time.Since(created) > s.stale:
		tag, err := s.pool.Exec(ctx, `UPDATE idempotency_keys SET created_at = now()
			WHERE user_id = $1 AND key = $2 AND status_code IS NULL AND created_at = $3`, userID, key, created)
		if err != nil {
			return 0, nil, false, fmt.Errorf("take over idempotency key: %w", err)
		}
		if tag.RowsAffected() == 1 {
			return 0, nil, false, nil
		}
	}
	return 0, nil, false, apperr.New(apperr.Conflict, "A request with this Idempotency-Key is still being processed.")
}

// Complete records the answer to a claimed key.
func (s *IdempotencyStore) Complete(ctx context.Context, userID uuid.UUID, key string, status int, body []byte) error {
	_, err := s.pool.Exec(ctx, `UPDATE idempotency_keys SET status_code = $3, response_body = $4
		WHERE user_id = $1 AND key = $2`, userID, key, status, body)
	if err != nil {
		return fmt.Errorf("record idempotent answer: %w", err)
	}
	return nil
}

// Abandon releases a claimed key without an answer (the request failed in
// a way a retry may fix).
func (s *IdempotencyStore) Abandon(ctx context.Context, userID uuid.UUID, key string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM idempotency_keys WHERE user_id = $1 AND key = $2 AND status_code IS NULL`, userID, key)
	if err != nil {
		return fmt.Errorf("release idempotency key: %w", err)
	}
	return nil
}

// Prune deletes answers older than keep.
func (s *IdempotencyStore) Prune(ctx context.Context, keep time.Duration) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM idempotency_keys WHERE created_at < now() - $1::interval`, keep)
	if err != nil {
		return 0, fmt.Errorf("prune idempotency keys: %w", err)
	}
	return tag.RowsAffected(), nil
}
