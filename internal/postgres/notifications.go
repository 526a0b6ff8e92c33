package postgres

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/notify"
)

// NotificationStore reads the inbox. Its rows are written by the other
// stores, in the transactions of the changes they report.
type NotificationStore struct {
	pool *pgxpool.Pool
}

var _ notify.Store = (*NotificationStore)(nil)

// NewNotificationStore returns a store on pool.
func NewNotificationStore(pool *pgxpool.Pool) *NotificationStore {
	return &NotificationStore{pool: pool}
}

// Notifications lists a user's notifications newest first, through the
// inbox index (or its unread part).
func (s *NotificationStore) Notifications(ctx context.Context, f notify.ListFilter) (_ []notify.Notification, err error) {
	defer wrap(&err, "list notifications user=%s", f.UserID)
	var (
		afterAt *time.Time
		afterID *uuid.UUID
	)
	if f.After != nil {
		afterAt, afterID = &f.After.CreatedAt, &f.After.ID
	}
	query := `SELECT id, user_id, kind, title, body, data, created_at, read_at FROM notifications
		WHERE user_id = $1 AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3::uuid))`
	if f.UnreadOnly {
		query += ` AND read_at IS NULL`
	}
	query += ` ORDER BY created_at DESC, id DESC LIMIT $4`
	rows, err := s.pool.Query(ctx, query, f.UserID, afterAt, afterID, f.Limit)
	return collect(rows, err, func(r pgx.Row) (notify.Notification, error) {
		var n notify.Notification
		err := r.Scan(&n.ID, &n.UserID, &n.Kind, &n.Title, &n.Body, &n.Data, &n.CreatedAt, &n.ReadAt)
		return n, err
	})
}

// MarkRead sets read_at once.
func (s *NotificationStore) MarkRead(ctx context.Context, id, userID uuid.UUID, now time.Time) (err error) {
	defer wrap(&err, "mark notification %s read", id)
	tag, err := s.pool.Exec(ctx, `UPDATE notifications SET read_at = coalesce(read_at, $3)
		WHERE id = $1 AND user_id = $2`, id, userID, now)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return apperr.New(apperr.NotFound, "No such notification.")
	}
	return nil
}
