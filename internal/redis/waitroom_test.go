package redis_test

import (
	"context"
	"slices"
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
	p, armed, err := q.Join(ctx, event, waitroom.Arrival{UserID: user, At: now, Open: true}, "chain-1")
	if err != nil || !armed || p.Number != 1 || p.Serving != 0 || !p.JoinedAt.Equal(now.Truncate(time.Millisecond).UTC()) {
		t.Fatalf("Join = %+v, %v, %v", p, armed, err)
	}
	b, err := q.Admit(ctx, waitroom.Run{EventID: event, Chain: "chain-1"},
		waitroom.Policy{Open: true, AdmitPerMinute: 60, AdmissionTTL: time.Minute, Burst: 5, Start: 1}, now)
	if err != nil || b.Outcome != waitroom.Ran || b.Admitted != 1 || !b.Released {
		t.Fatalf("Admit = %+v, %v", b, err)
	}
	keys := redistest.Keys(t, rdb, "*")
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
	if _, armed, _ := q.Join(ctx, event, waitroom.Arrival{UserID: uuid.New(), At: now, Open: true}, "chain-2"); !armed {
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

// TestPreQueueOpening: joins before the opening enter the pre-queue
// without a number; the first call told that sales have opened (here a
// poll) gives the pre-queue the numbers 1..n in key order, once however
// many calls try; a join that arrives after that takes the next number
// even from a process whose clock still says "not open"; leavers' numbers
// are skipped; leaving an admission records it as revoked. Every key is
// tagged with the event and kept for a week.
func TestPreQueueOpening(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := redistest.New(t)
	q := redis.NewWaitingRooms(rdb)
	event := uuid.New()
	now := time.Now()
	users := []uuid.UUID{uuid.New(), uuid.New(), uuid.New()}
	for i, key := range []uint64{30, 10, 20} {
		p, _, err := q.Join(ctx, event, waitroom.Arrival{UserID: users[i], At: now, Key: key}, "chain")
		if err != nil || p.Number != 0 || p.PreQueued != int64(i+1) {
			t.Fatalf("pre-queue Join %d = %+v, %v; want no number, %d in the pre-queue", i, p, err, i+1)
		}
	}
	if p, ok, err := q.Place(ctx, event, users[0], false); err != nil || !ok || p.Number != 0 || p.PreQueued != 3 {
		t.Fatalf("Place before the opening = %+v, %v, %v", p, ok, err)
	}
	for range 3 {
		p, ok, err := q.Place(ctx, event, users[1], true)
		if err != nil || !ok || p.Number != 1 || p.PreQueued != 0 {
			t.Fatalf("Place after the opening = %+v, %v, %v; want number 1 (the smallest key)", p, ok, err)
		}
	}
	room := rdb.HGetAll(ctx, "waitroom:{"+event.String()+"}").Val()
	if room["opened"] != "1" || room["prebase"] != "0" || room["pre"] != "3" || room["next"] != "3" {
		t.Fatalf("room after the opening = %v", room)
	}
	late, _, err := q.Join(ctx, event, waitroom.Arrival{UserID: uuid.New(), At: now, Key: 1}, "chain")
	if err != nil || late.Number != 4 {
		t.Fatalf("Join after the opening (caller's clock behind) = %+v, %v; want number 4", late, err)
	}
	if _, ok, err := q.Leave(ctx, event, users[2], now); err != nil || !ok { // number 2
		t.Fatal(err)
	}
	b, err := q.Admit(ctx, waitroom.Run{EventID: event, Chain: "chain"},
		waitroom.Policy{Open: true, AdmitPerMinute: 600, AdmissionTTL: time.Minute, Burst: 50, Start: 10}, now)
	if err != nil || b.Admitted != 3 || b.Counts.Waiting != 0 {
		t.Fatalf("Admit = %+v, %v; want the 3 who stayed", b, err)
	}
	for i, want := range map[int]int64{0: 3, 1: 1} {
		if p, _, _ := q.Place(ctx, event, users[i], true); p.Number != want || p.AdmittedUntil == nil {
			t.Errorf("user %d: %+v, want admitted with number %d", i, p, want)
		}
	}
	if _, _, err := q.Leave(ctx, event, users[0], now); err != nil {
		t.Fatal(err)
	}
	revoked, err := q.Revoked(ctx, event, now)
	if err != nil || len(revoked) != 1 || revoked[3].IsZero() {
		t.Errorf("Revoked = %v, %v; want number 3", revoked, err)
	}
	if r, _ := q.Revoked(ctx, event, now.Add(time.Minute)); len(r) != 0 {
		t.Errorf("Revoked after the admission would have lapsed = %v, want none", r)
	}
	keys := redistest.Keys(t, rdb, "*")
	for _, k := range []string{"pre", "revoked"} {
		if !slices.Contains(keys, "waitroom:{"+event.String()+"}:"+k) {
			t.Errorf("no %s key among %v", k, keys)
		}
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, "waitroom:{"+event.String()+"}") {
			t.Errorf("key %q is not tagged with the event", k)
		}
		if ttl := rdb.PTTL(ctx, k).Val(); !strings.HasSuffix(k, ":chain") && ttl < 6*24*time.Hour {
			t.Errorf("key %q expires in %v, want about a week", k, ttl)
		}
	}
}
