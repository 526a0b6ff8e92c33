package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/event"
	"github.com/evently/evently/internal/pgtest"
	"github.com/evently/evently/internal/postgres"
	"github.com/evently/evently/internal/telemetry"
)

var _ telemetry.BacklogSource = (*postgres.BacklogStore)(nil)

// TestBacklog: the oldest lapsed hold is the pending booking whose time
// ran out first (ended and live bookings do not count); undelivered
// webhooks are counted up to the limit, with the oldest one's age.
func TestBacklog(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.New(t)
	store := postgres.NewBacklogStore(pool)
	now := time.Now().UTC().Truncate(time.Microsecond)

	if at, err := store.OldestLapsedHold(ctx, now); err != nil || !at.IsZero() {
		t.Fatalf("OldestLapsedHold() on an empty database = %v, %v; want the zero time", at, err)
	}
	if n, oldest, err := store.PendingWebhooks(ctx, 10); err != nil || n != 0 || !oldest.IsZero() {
		t.Fatalf("PendingWebhooks() on an empty database = %d, %v, %v; want none", n, oldest, err)
	}

	e := newEvent("Backlog", now.Add(24*time.Hour), event.Section{Name: "Floor", Capacity: 10})
	if err := postgres.NewEventStore(pool).CreateEvent(ctx, &e); err != nil {
		t.Fatal(err)
	}
	user := pgtest.User(t, pool).UserID
	for _, b := range []struct {
		status  string
		expires time.Duration
	}{
		{"pending", 5 * time.Minute},   // live
		{"pending", -30 * time.Second}, // lapsed
		{"pending", -90 * time.Second}, // lapsed first
		{"expired", -time.Hour},        // already expired by the cleanup
		{"cancelled", -2 * time.Hour},
	} {
		mustExec(t, pool, `INSERT INTO bookings (id, event_id, user_id, status, quantity, total_cents, currency,
			expires_at, created_at, updated_at, cancelled_at)
			VALUES ($1, $2, $3, $4::text, 1, 0, 'USD', $5, $6::timestamptz, $6, CASE WHEN $4 = 'cancelled' THEN $6::timestamptz END)`,
			uuid.Must(uuid.NewV7()), e.ID, user, b.status, now.Add(b.expires), now.Add(b.expires-10*time.Minute))
	}
	if at, err := store.OldestLapsedHold(ctx, now); err != nil || !at.Equal(now.Add(-90*time.Second)) {
		t.Errorf("OldestLapsedHold() = %v, %v; want %v", at, err, now.Add(-90*time.Second))
	}

	// One webhook, delivered to five endpoints' worth of deliveries.
	hook := uuid.Must(uuid.NewV7())
	mustExec(t, pool, `INSERT INTO webhooks (id, type, subject_id, body, created_at) VALUES ($1, 'booking.held', $1, '{}', $2)`,
		hook, now.Add(-time.Hour))
	for i, status := range []string{"pending", "pending", "pending", "delivered", "failed"} {
		mustExec(t, pool, `INSERT INTO webhook_deliveries (id, webhook_id, status, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $4)`,
			uuid.Must(uuid.NewV7()), hook, status, now.Add(-time.Duration(10-i)*time.Minute))
	}
	n, oldest, err := store.PendingWebhooks(ctx, 10)
	if err != nil || n != 3 || !oldest.Equal(now.Add(-10*time.Minute)) {
		t.Errorf("PendingWebhooks(10) = %d, %v, %v; want 3 and %v", n, oldest, err, now.Add(-10*time.Minute))
	}
	if n, _, err := store.PendingWebhooks(ctx, 2); err != nil || n != 2 {
		t.Errorf("PendingWebhooks(2) = %d, %v; want the count stopped at 2", n, err)
	}
}
