package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// BacklogStore reads how far background work is behind, for the metrics
// read at scrape time. Each query walks one end of a partial or status
// index, so it costs the same however large the tables are.
type BacklogStore struct {
	pool *pgxpool.Pool
}

// NewBacklogStore returns a store on pool.
func NewBacklogStore(pool *pgxpool.Pool) *BacklogStore {
	return &BacklogStore{pool: pool}
}

// OldestLapsedHold returns when the longest-lapsed pending booking lapsed
// (the cleanup has not expired it yet), or the zero time: the first entry
// of bookings_pending_expiry_idx.
func (s *BacklogStore) OldestLapsedHold(ctx context.Context, now time.Time) (_ time.Time, err error) {
	defer wrap(&err, "oldest lapsed hold")
	var at *time.Time
	err = s.pool.QueryRow(ctx, `SELECT min(expires_at) FROM bookings
		WHERE status = 'pending' AND expires_at < $1`, now).Scan(&at)
	if err != nil {
		return time.Time{}, err
	}
	if at == nil {
		return time.Time{}, nil
	}
	return *at, nil
}

// PendingWebhooks counts undelivered webhooks, at most limit of them, and
// returns when the oldest was recorded (the zero time when none is): both
// from the pending range of webhook_deliveries_status_idx.
func (s *BacklogStore) PendingWebhooks(ctx context.Context, limit int) (_ int, _ time.Time, err error) {
	defer wrap(&err, "pending webhooks")
	var (
		n      int
		oldest *time.Time
	)
	err = s.pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM (SELECT 1 FROM webhook_deliveries WHERE status = 'pending' LIMIT $1) p),
		(SELECT min(created_at) FROM webhook_deliveries WHERE status = 'pending')`, limit).Scan(&n, &oldest)
	if err != nil {
		return 0, time.Time{}, err
	}
	if oldest == nil {
		return n, time.Time{}, nil
	}
	return n, *oldest, nil
}
