package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/notify"
	"github.com/evently/evently/internal/pgtest"
	"github.com/evently/evently/internal/postgres"
)

// TestRecordAttempt walks a webhook delivery through its states: a failed
// attempt keeps it pending with the error, the last failed attempt fails
// it, a success delivers it, and a delivery that is no longer pending
// records nothing more.
func TestRecordAttempt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.New(t)
	store := postgres.NewNotificationStore(pool)
	created := time.Now().Add(-time.Hour).UTC().Truncate(time.Microsecond)
	ids := []uuid.UUID{uuid.Must(uuid.NewV7()), uuid.Must(uuid.NewV7())}
	for _, id := range ids {
		if _, err := pool.Exec(ctx, `INSERT INTO webhook_deliveries (id, type, subject_id, body, created_at, updated_at)
			VALUES ($1, 'booking.held', gen_random_uuid(), '{"id":"x"}', $2, $2)`, id, created); err != nil {
			t.Fatal(err)
		}
	}
	failing, ok := ids[0], ids[1]
	now := time.Now().UTC().Truncate(time.Microsecond)
	steps := []struct {
		id      uuid.UUID
		attempt notify.Attempt
		status  notify.DeliveryStatus
		tries   int
		lastErr string
	}{
		{failing, notify.Attempt{At: now, Error: "HTTP 500"}, notify.DeliveryPending, 1, "HTTP 500"},
		{failing, notify.Attempt{At: now, Error: "timeout", Final: true}, notify.DeliveryFailed, 2, "timeout"},
		{failing, notify.Attempt{At: now, OK: true}, notify.DeliveryFailed, 2, "timeout"},
		{ok, notify.Attempt{At: now, Error: "HTTP 502"}, notify.DeliveryPending, 1, "HTTP 502"},
		{ok, notify.Attempt{At: now, OK: true}, notify.DeliveryDelivered, 2, ""},
		{ok, notify.Attempt{At: now, Error: "HTTP 500", Final: true}, notify.DeliveryDelivered, 2, ""},
	}
	for i, s := range steps {
		if err := store.RecordAttempt(ctx, s.id, s.attempt); err != nil {
			t.Fatal(err)
		}
		d, err := store.Delivery(ctx, s.id)
		if err != nil {
			t.Fatal(err)
		}
		lastErr := ""
		if d.LastError != nil {
			lastErr = *d.LastError
		}
		if d.Status != s.status || d.Attempts != s.tries || lastErr != s.lastErr || string(d.Body) != `{"id":"x"}` {
			t.Errorf("step %d: %s, %d attempts, last error %q; want %s, %d, %q", i, d.Status, d.Attempts, lastErr, s.status, s.tries, s.lastErr)
		}
		if (d.Status == notify.DeliveryDelivered) != (d.DeliveredAt != nil) {
			t.Errorf("step %d: status %s with delivered_at %v", i, d.Status, d.DeliveredAt)
		}
	}
	failed := notify.DeliveryFailed
	list, err := store.Deliveries(ctx, notify.DeliveryFilter{Status: &failed, Limit: 10})
	if err != nil || len(list) != 1 || list[0].ID != failing {
		t.Errorf("failed deliveries = %+v, %v", list, err)
	}
	if _, err := store.Delivery(ctx, uuid.New()); !apperr.Is(err, apperr.NotFound) {
		t.Errorf("unknown delivery: %v", err)
	}
	if stalled, err := store.Stalled(ctx, time.Now(), 10); err != nil || len(stalled) != 0 {
		t.Errorf("stalled = %v, %v; want none (nothing is pending)", stalled, err)
	}
}

// TestWaitlistQueriesUseIndexes checks that the waitlist, inbox and outbox
// queries use their indexes on a waitlist of 3,000 entries (sequential
// scans are switched off, so a plan without an index means there is none
// to use).
func TestWaitlistQueriesUseIndexes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.New(t)
	const id = `'0192f3c4-5e6f-7a8b-9c0d-1e2f3a4b5c6d'`
	for _, sql := range []string{
		`INSERT INTO events (id, name, venue, starts_at, hold_ttl_seconds) VALUES (` + id + `, 'Big', 'Hall', now() + interval '1 day', 600)`,
		`INSERT INTO users (id, email, name, password_hash) SELECT gen_random_uuid(), 'u' || i || '@example.com', 'U', 'x' FROM generate_series(1, 3000) i`,
		`INSERT INTO waitlist_entries (id, event_id, user_id, quantity, status, created_at, updated_at)
		 SELECT gen_uuid_v7(), ` + id + `, id, 1, CASE WHEN random() < 0.3 THEN 'waiting' ELSE 'left' END,
		        now() - make_interval(secs => random() * 86400), now() FROM users`,
		`ANALYZE waitlist_entries`,
	} {
		if _, err := pool.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SET enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, query, index string }{
		{"next entry to offer", `SELECT id FROM waitlist_entries WHERE event_id = ` + id + ` AND status = 'waiting'
			ORDER BY created_at, id LIMIT 1 FOR UPDATE`, "waitlist_entries_queue_idx"},
		{"position", `SELECT count(*) FROM waitlist_entries o WHERE o.event_id = ` + id + ` AND o.status = 'waiting'
			AND (o.created_at, o.id) <= (now() - interval '23 hours', ` + id + `::uuid)`, "waitlist_entries_queue_idx"},
		{"entry of an offer", `UPDATE waitlist_entries SET status = 'fulfilled' WHERE offer_booking_id = ` + id + `
			AND status = 'offered'`, "waitlist_entries_offer_idx"},
		{"my entry", `SELECT id FROM waitlist_entries w WHERE w.user_id = ` + id + ` AND w.event_id = ` + id + `
			ORDER BY w.status IN ('waiting', 'offered') DESC, w.created_at DESC LIMIT 1`, "waitlist_entries"},
		{"admin list", `SELECT id FROM waitlist_entries w WHERE w.event_id = ` + id + `
			AND (w.created_at, w.id) > (now(), ` + id + `::uuid) ORDER BY w.created_at, w.id LIMIT 21`, "waitlist_entries_event_idx"},
		{"inbox", `SELECT id FROM notifications WHERE user_id = ` + id + `
			ORDER BY created_at DESC, id DESC LIMIT 21`, "notifications_inbox_idx"},
		{"unread", `SELECT id FROM notifications WHERE user_id = ` + id + ` AND read_at IS NULL
			AND (created_at, id) < (now(), ` + id + `::uuid) ORDER BY created_at DESC, id DESC LIMIT 21`, "notifications_unread_idx"},
		{"failed deliveries", `SELECT id FROM webhook_deliveries WHERE status = 'failed'
			ORDER BY created_at DESC, id DESC LIMIT 21`, "webhook_deliveries_status_idx"},
		{"stalled deliveries", `SELECT id FROM webhook_deliveries WHERE status = 'pending' AND created_at < now()
			ORDER BY created_at LIMIT 1000`, "webhook_deliveries_status_idx"},
	}
	for _, tc := range tests {
		rows, err := conn.Query(ctx, "EXPLAIN "+tc.query)
		if err != nil {
			t.Fatalf("EXPLAIN %s: %v", tc.name, err)
		}
		var plan strings.Builder
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			plan.WriteString(line + "\n")
		}
		if rows.Err() != nil {
			t.Fatal(rows.Err())
		}
		if !strings.Contains(plan.String(), tc.index) || strings.Contains(plan.String(), "Seq Scan") {
			t.Errorf("%s: plan does not use %s:\n%s", tc.name, tc.index, plan.String())
		}
	}
}
