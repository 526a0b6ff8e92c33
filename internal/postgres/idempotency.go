package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// IdempotencyStore keeps the answers to requests sent with an
// Idempotency-Key, so that a retry gets the first answer instead of a
// second hold. A key is only ever written with its answer: by the hold
// batch that decided the request, in its own transaction (see
// writeHoldsSQL), or by Record for answers given without a hold.
type IdempotencyStore struct {
	pool *pgxpool.Pool
}

// NewIdempotencyStore returns a store on pool.
func NewIdempotencyStore(pool *pgxpool.Pool) *IdempotencyStore {
	return &IdempotencyStore{pool: pool}
}

// Lookup returns the answer recorded for (user, key) and the hash of the
// request it answered; found is false when there is none.
func (s *IdempotencyStore) Lookup(ctx context.Context, userID uuid.UUID, key string) (hash []byte, status int, body []byte, found bool, err error) {
	defer wrap(&err, "read idempotency key")
	err = s.pool.QueryRow(ctx, `SELECT request_hash, status_code, response_body FROM idempotency_keys
		WHERE user_id = $1 AND key = $2`, userID, key).Scan(&hash, &status, &body)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, 0, nil, false, nil
	}
	if err != nil {
		return nil, 0, nil, false, err
	}
	return hash, status, body, true, nil
}

// Record records an answer given without a hold (a refusal decided before
// Postgres was asked) to the request hashing to hash. It returns false
// when the key already had an answer, which stands.
func (s *IdempotencyStore) Record(ctx context.Context, userID uuid.UUID, key string, hash []byte, status int, body []byte) (_ bool, err error) {
	defer wrap(&err, "record idempotent answer")
	tag, err := s.pool.Exec(ctx, `INSERT INTO idempotency_keys (user_id, key, request_hash, status_code, response_body)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, userID, key, hash, status, body)
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}

// Prune deletes answers older than keep.
func (s *IdempotencyStore) Prune(ctx context.Context, keep time.Duration) (_ int64, err error) {
	defer wrap(&err, "prune idempotency keys")
	tag, err := s.pool.Exec(ctx, `DELETE FROM idempotency_keys WHERE created_at < now() - $1::interval`, keep)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}
