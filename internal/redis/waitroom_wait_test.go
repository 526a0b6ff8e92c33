package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/redis"
	"github.com/evently/evently/internal/redistest"
	"github.com/evently/evently/internal/waitroom"
)

// TestWaitNeverNegative: a user who joins while an admission run is
// starting (stamped 3 ms after the run's now) and is admitted by it
// waited no time: the funnel records 0, not −3 ms.
func TestWaitNeverNegative(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := redistest.New(t)
	q := redis.NewWaitingRooms(rdb)
	event, user := uuid.New(), uuid.New()
	runAt := time.Date(2030, 5, 1, 10, 0, 0, 0, time.UTC)
	if _, _, err := q.Join(ctx, event, waitroom.Arrival{UserID: user, At: runAt.Add(3 * time.Millisecond), Open: true}, "chain"); err != nil {
		t.Fatal(err)
	}
	b, err := q.Admit(ctx, waitroom.Run{EventID: event, Chain: "chain"}, waitroom.Policy{Open: true, AdmitPerMinute: 60,
		AdmissionTTL: time.Minute, Burst: 1, Start: 1}, runAt)
	if err != nil || b.Admitted != 1 {
		t.Fatalf("Admit = %+v, %v; want the user admitted", b, err)
	}
	figs, err := redis.NewFunnel(rdb).Figures(ctx, event, runAt.Truncate(time.Minute), runAt.Add(time.Minute), runAt)
	if err != nil || len(figs.Waits) != 1 || figs.Waits[0] != 0 {
		t.Fatalf("waits = %v, %v; want one of 0", figs.Waits, err)
	}
}
