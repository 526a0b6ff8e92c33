package seed_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/event"
	"github.com/evently/evently/internal/pgtest"
	"github.com/evently/evently/internal/postgres"
	"github.com/evently/evently/internal/seed"
)

// TestEventsSeedOnceAndValidly: the demo events pass the event rules on
// the real database (the stadium's self-tuning waiting room included),
// and a second run creates nothing.
func TestEventsSeedOnceAndValidly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.New(t)
	now := time.Now()
	events := event.NewService(postgres.NewEventStore(pool), func() time.Time { return now }, event.Options{})

	res, err := seed.Events(ctx, events, now)
	if err != nil || res.Created != 5 || res.Existing != 0 {
		t.Fatalf("first seed = %+v, %v; want 5 created", res, err)
	}
	again, err := seed.Events(ctx, events, now)
	if err != nil || again.Created != 0 || again.Existing != 5 {
		t.Fatalf("second seed = %+v, %v; want the 5 found", again, err)
	}

	var id uuid.UUID
	if err := pool.QueryRow(ctx, `SELECT id FROM events WHERE wr_enabled`).Scan(&id); err != nil {
		t.Fatalf("the one event with a waiting room: %v", err)
	}
	room, err := postgres.NewWaitingRoomStore(pool).Room(ctx, id)
	if err != nil || !room.Auto || room.AdmitPerMinute != 2000 || room.MinPerMinute != 500 || room.MaxPerMinute != 10_000 {
		t.Fatalf("the stadium's room = %+v, %v; want auto from 2000 in [500, 10000]", room, err)
	}
}
