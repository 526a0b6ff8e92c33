package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/event"
	"github.com/evently/evently/internal/pgtest"
	"github.com/evently/evently/internal/postgres"
)

// TestWaitingRoomStore reads rooms, lists the open ones, and checks that
// the list walks its partial index among 20,000 other events.
func TestWaitingRoomStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.New(t)
	events := postgres.NewEventStore(pool)
	rooms := postgres.NewWaitingRoomStore(pool)
	now := time.Now().UTC()
	maxActive := 500
	salesEnded := now.Add(-time.Minute)

	open := newEvent("Final", now.Add(48*time.Hour), event.Section{Name: "Pitch", Capacity: 10})
	open.WaitingRoom = event.WaitingRoom{Enabled: true, AdmitPerMinute: 600, MaxActive: &maxActive, AdmissionTTLSeconds: 300}
	off := newEvent("Quiet", now.Add(24*time.Hour), event.Section{Name: "Floor", Capacity: 10})
	over := newEvent("Over", now.Add(24*time.Hour), event.Section{Name: "Floor", Capacity: 10})
	over.WaitingRoom.Enabled = true
	salesStarted := salesEnded.Add(-time.Hour)
	over.SalesStart, over.SalesEnd = &salesStarted, &salesEnded
	for _, e := range []*event.Event{&open, &off, &over} {
		if err := events.CreateEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	mustExec(t, pool, `INSERT INTO events (id, name, venue, starts_at, status, hold_ttl_seconds, wr_enabled)
		SELECT gen_random_uuid(), 'Event ' || i, 'Venue', now() + make_interval(hours => i),
			(ARRAY['draft','published','cancelled'])[i % 3 + 1], 600, i % 1000 = 0
		FROM generate_series(1, 20000) AS i`)
	mustExec(t, pool, `ANALYZE events`)

	r, err := rooms.Room(ctx, open.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r.EventID != open.ID || r.Status != "published" || !r.Enabled || r.AdmitPerMinute != 600 || r.MaxActive != 500 ||
		r.AdmissionTTL != 5*time.Minute || !r.StartsAt.Equal(open.StartsAt) {
		t.Errorf("Room = %+v", r)
	}
	if r, err := rooms.Room(ctx, off.ID); err != nil || r.Enabled || r.MaxActive != 0 {
		t.Errorf("Room(off) = %+v, %v", r, err)
	}
	if _, err := rooms.Room(ctx, uuid.New()); !apperr.Is(err, apperr.NotFound) {
		t.Errorf("Room(unknown) = %v, want NotFound", err)
	}

	list, err := rooms.OpenRooms(ctx, now, 1000)
	if err != nil {
		t.Fatal(err)
	}
	// "Final" and the enabled, published events among the 20,000.
	var want int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE wr_enabled AND status = 'published'
		AND starts_at > now() AND (sales_end IS NULL OR sales_end > now())`).Scan(&want); err != nil {
		t.Fatal(err)
	}
	if want < 5 || len(list) != want || list[0].EventID != open.ID {
		t.Errorf("OpenRooms = %d rooms (first %v), want %d starting with the final", len(list), list[0].EventID, want)
	}
	for _, r := range list {
		if r.EventID == off.ID || r.EventID == over.ID {
			t.Errorf("OpenRooms lists %s, whose room is off or whose sales are over", r.EventID)
		}
	}

	plan := explain(t, pool, `SELECT id FROM events WHERE wr_enabled AND status = 'published' AND starts_at > now()
		AND (sales_end IS NULL OR sales_end > now()) ORDER BY starts_at LIMIT 1000`)
	if strings.Contains(plan, "Seq Scan") || !strings.Contains(plan, "events_waiting_room_idx") {
		t.Errorf("open rooms do not walk events_waiting_room_idx:\n%s", plan)
	}
}
