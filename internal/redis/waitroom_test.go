package redis_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/redis"
	"github.com/evently/evently/internal/redistest"
	"github.com/evently/evently/internal/waitroom"
)

// TestWaitingRoomKeys: a room lives in keys of one hash slot, which expire
// when the room goes quiet; the chain's lease is short.
func TestWaitingRoomKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := redistest.New(t)
	q := redis.NewWaitingRooms(rdb)
	event, user := uuid.New(), uuid.New()
	now := time.Now()
	p, armed, err := q.Join(ctx, event, user, now, "chain-1")
	if err != nil || !armed || p.Number != 1 || p.Serving != 0 || !p.JoinedAt.Equal(now.Truncate(time.Millisecond).UTC()) {
		t.Fatalf("Join = %+v, %v, %v", p, armed, err)
	}
	b, err := q.Admit(ctx, waitroom.Run{EventID: event, Chain: "chain-1"},
		waitroom.Policy{AdmitPerMinute: 60, AdmissionTTL: time.Minute, Burst: 5, Start: 1}, now)
	if err != nil || b.Outcome != waitroom.Ran || b.Admitted != 1 || !b.Released {
		t.Fatalf("Admit = %+v, %v", b, err)
	}
	keys, err := rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) < 4 {
		t.Fatalf("keys = %v, want the room's", keys)
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, "waitroom:{"+event.String()+"}") {
			t.Errorf("key %q is not tagged with the event", k)
		}
		if ttl := rdb.PTTL(ctx, k).Val(); ttl < 6*24*time.Hour {
			t.Errorf("key %q expires in %v, want about a week", k, ttl)
		}
	}
	// Admitted: one ZSCORE, against the caller's clock.
	if ok, err := q.Admitted(ctx, event, user, now); err != nil || !ok {
		t.Errorf("Admitted(now) = %v, %v", ok, err)
	}
	if ok, _ := q.Admitted(ctx, event, user, now.Add(time.Minute)); ok {
		t.Error("Admitted after the admission's end = true")
	}
	if ok, _ := q.Admitted(ctx, event, uuid.New(), now); ok {
		t.Error("Admitted(stranger) = true")
	}
	// A new join takes the lease for a short while only.
	if _, armed, _ := q.Join(ctx, event, uuid.New(), now, "chain-2"); !armed {
		t.Fatal("join after the chain ended did not arm a new one")
	}
	if ttl := rdb.PTTL(ctx, "waitroom:{"+event.String()+"}:chain").Val(); ttl <= 0 || ttl > 30*time.Second {
		t.Errorf("chain lease = %v, want (0, 30s]", ttl)
	}
	if err := q.Release(ctx, event, "chain-1"); err != nil {
		t.Fatal(err)
	}
	if rdb.Exists(ctx, "waitroom:{"+event.String()+"}:chain").Val() != 1 {
		t.Error("another chain's release freed the room")
	}
	if err := q.Release(ctx, event, "chain-2"); err != nil {
		t.Fatal(err)
	}
	if rdb.Exists(ctx, "waitroom:{"+event.String()+"}:chain").Val() != 0 {
		t.Error("the holder's release kept the room")
	}
}
