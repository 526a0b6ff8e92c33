package postgres_test

import (
	"context"
	"strings"
	"testing"

	"github.com/evently/evently/internal/pgtest"
)

// TestWaitlistQueriesUseIndexes checks that the waitlist, inbox and outbox
// queries use their indexes on a waitlist of 3,000 entries (sequential
// scans are switched off, so a plan without an index means there is none
// to use).
func TestWaitlistQueriesUseIndexes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.New(t)
	const id = `'0192f3c4-5e6f-7a8b-9c0d-1e2f3a4b5c6d'`
	pgtest.Users(t, pool, 3000)
	for _, sql := range []string{
		`INSERT INTO events (id, name, venue, starts_at, hold_ttl_seconds) VALUES (` + id + `, 'Big', 'Hall', now() + interval '1 day', 600)`,
		`INSERT INTO waitlist_entries (id, event_id, user_id, quantity, status, created_at, updated_at)
		 SELECT gen_uuid_v7(), ` + id + `, id, 1, CASE WHEN random() < 0.3 THEN 'waiting' ELSE 'left' END,
		        now() - make_interval(secs => random() * 86400), now() FROM users`,
		`ANALYZE waitlist_entries`,
	} {
		if _, err := pool.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	conn := withoutSeqScans(t, pool)
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
		{"all deliveries", `SELECT id FROM webhook_deliveries d
			ORDER BY d.created_at DESC, d.id DESC LIMIT 21`, "webhook_deliveries_created_idx"},
		{"failed deliveries", `SELECT id FROM webhook_deliveries d WHERE d.status = 'failed'
			ORDER BY d.created_at DESC, d.id DESC LIMIT 21`, "webhook_deliveries_status_idx"},
		{"an endpoint's deliveries", `SELECT id FROM webhook_deliveries d WHERE d.endpoint_id = ` + id + `
			AND (d.created_at, d.id) < (now(), ` + id + `::uuid) ORDER BY d.created_at DESC, d.id DESC LIMIT 21`,
			"webhook_deliveries_endpoint_idx"},
		{"stalled deliveries", `SELECT id FROM webhook_deliveries WHERE status = 'pending' AND updated_at < now()
			AND (attempts = 0 OR updated_at < now() - interval '7 hours') ORDER BY updated_at LIMIT 1000`,
			"webhook_deliveries_pending_idx"},
		{"unsent webhooks", `SELECT id FROM webhooks WHERE dispatched_at IS NULL AND created_at < now()
			ORDER BY created_at LIMIT 1000`, "webhooks_unsent_idx"},
		{"fan-out", `SELECT id FROM webhook_deliveries WHERE webhook_id = ANY(ARRAY[` + id + `]::uuid[])
			AND redelivery_of IS NULL AND status = 'pending' AND attempts = 0`, "webhook_deliveries_fanout_idx"},
	}
	for _, tc := range tests {
		plan := plan(t, conn, tc.query)
		if !strings.Contains(plan, tc.index) || strings.Contains(plan, "Seq Scan") {
			t.Errorf("%s: plan does not use %s:\n%s", tc.name, tc.index, plan)
		}
	}
}
