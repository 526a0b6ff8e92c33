package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/notify"
)

// NotificationStore reads the inbox and the webhook outbox. Their rows are
// written by the other stores, in the transactions of the changes they
// report.
type NotificationStore struct {
	pool *pgxpool.Pool
}

var (
	_ notify.Store         = (*NotificationStore)(nil)
	_ notify.DeliveryStore = (*NotificationStore)(nil)
)

// NewNotificationStore returns a store on pool.
func NewNotificationStore(pool *pgxpool.Pool) *NotificationStore {
	return &NotificationStore{pool: pool}
}

// Notifications lists a user's notifications newest first, through the
// inbox index (or its unread part).
func (s *NotificationStore) Notifications(ctx context.Context, f notify.ListFilter) ([]notify.Notification, error) {
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
	if err != nil {
		return nil, fmt.Errorf("list notifications user=%s: %w", f.UserID, err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (notify.Notification, error) {
		var n notify.Notification
		err := r.Scan(&n.ID, &n.UserID, &n.Kind, &n.Title, &n.Body, &n.Data, &n.CreatedAt, &n.ReadAt)
		return n, err
	})
	if err != nil {
		return nil, fmt.Errorf("list notifications user=%s: %w", f.UserID, err)
	}
	return list, nil
}

// MarkRead sets read_at once.
func (s *NotificationStore) MarkRead(ctx context.Context, id, userID uuid.UUID, now time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE notifications SET read_at = coalesce(read_at, $3)
		WHERE id = $1 AND user_id = $2`, id, userID, now)
	if err != nil {
		return fmt.Errorf("mark notification %s read: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return apperr.New(apperr.NotFound, "No such notification.")
	}
	return nil
}

const deliveryColumns = `id, type, subject_id, body, status, attempts, last_error, created_at, updated_at, delivered_at`

func scanDelivery(row pgx.Row) (notify.Delivery, error) {
	var (
		d    notify.Delivery
		body string
	)
	err := row.Scan(&d.ID, &d.Type, &d.SubjectID, &body, &d.Status, &d.Attempts, &d.LastError,
		&d.CreatedAt, &d.UpdatedAt, &d.DeliveredAt)
	d.Body = []byte(body)
	return d, err
}

// Delivery returns one webhook delivery.
func (s *NotificationStore) Delivery(ctx context.Context, id uuid.UUID) (notify.Delivery, error) {
	d, err := scanDelivery(s.pool.QueryRow(ctx, `SELECT `+deliveryColumns+` FROM webhook_deliveries WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return notify.Delivery{}, apperr.New(apperr.NotFound, "No such webhook delivery.")
	}
	if err != nil {
		return notify.Delivery{}, fmt.Errorf("webhook delivery %s: %w", id, err)
	}
	return d, nil
}

// RecordAttempt counts an attempt on a pending delivery and records its
// outcome.
func (s *NotificationStore) RecordAttempt(ctx context.Context, id uuid.UUID, a notify.Attempt) error {
	var lastError *string
	if a.Error != "" {
		lastError = &a.Error
	}
	_, err := s.pool.Exec(ctx, `
		UPDATE webhook_deliveries SET
		    attempts = attempts + 1,
		    status = CASE WHEN $2 THEN 'delivered' WHEN $3 THEN 'failed' ELSE 'pending' END,
		    last_error = $4,
		    delivered_at = CASE WHEN $2 THEN $5::timestamptz END,
		    updated_at = $5
		WHERE id = $1 AND status = 'pending'`, id, a.OK, a.Final, lastError, a.At)
	if err != nil {
		return fmt.Errorf("record attempt on webhook %s: %w", id, err)
	}
	return nil
}

// Deliveries lists webhook deliveries newest first, optionally of one
// status (through the (status, created_at, id) index).
func (s *NotificationStore) Deliveries(ctx context.Context, f notify.DeliveryFilter) ([]notify.Delivery, error) {
	var (
		status  *string
		afterAt *time.Time
		afterID *uuid.UUID
	)
	if f.Status != nil {
		st := string(*f.Status)
		status = &st
	}
	if f.After != nil {
		afterAt, afterID = &f.After.CreatedAt, &f.After.ID
	}
	rows, err := s.pool.Query(ctx, `SELECT `+deliveryColumns+` FROM webhook_deliveries
		WHERE ($1::text IS NULL OR status = $1)
		  AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3::uuid))
		ORDER BY created_at DESC, id DESC LIMIT $4`, status, afterAt, afterID, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("list webhook deliveries: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (notify.Delivery, error) { return scanDelivery(r) })
	if err != nil {
		return nil, fmt.Errorf("list webhook deliveries: %w", err)
	}
	return list, nil
}

// Stalled returns pending deliveries created before the given time.
func (s *NotificationStore) Stalled(ctx context.Context, before time.Time, limit int) ([]uuid.UUID, error) {
	rows, err := s.pool.Query(ctx, `SELECT id FROM webhook_deliveries
		WHERE status = 'pending' AND created_at < $1 ORDER BY created_at LIMIT $2`, before, limit)
	if err != nil {
		return nil, fmt.Errorf("stalled webhook deliveries: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, fmt.Errorf("stalled webhook deliveries: %w", err)
	}
	return ids, nil
}
