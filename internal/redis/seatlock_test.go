package redis_test

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/redis"
	"github.com/evently/evently/internal/redistest"
)

func TestSeatLocksAllOrNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := redistest.New(t)
	locks := redis.NewSeatLocks(rdb)
	event := uuid.New()
	a, b, c := uuid.New(), uuid.New(), uuid.New()
	first, second := uuid.New(), uuid.New()

	taken, err := locks.Acquire(ctx, event, []uuid.UUID{a, b}, first, time.Minute)
	if err != nil || len(taken) != 0 {
		t.Fatalf("Acquire(a, b) = %v, %v; want all locked", taken, err)
	}
	taken, err = locks.Acquire(ctx, event, []uuid.UUID{c, b}, second, time.Minute)
	if err != nil || !slices.Equal(taken, []uuid.UUID{b}) {
		t.Fatalf("Acquire(c, b) = %v, %v; want b taken", taken, err)
	}
	// All or nothing: c was not locked by the refused attempt.
	if n, _ := rdb.Exists(ctx, "seat:{"+event.String()+"}:"+c.String()).Result(); n != 0 {
		t.Error("refused acquire left c locked")
	}
	// Compare-and-delete: the second booking cannot release the first's lock.
	if err := locks.Release(ctx, event, []uuid.UUID{a, b}, second); err != nil {
		t.Fatal(err)
	}
	if taken, _ := locks.Acquire(ctx, event, []uuid.UUID{a}, second, time.Minute); len(taken) != 1 {
		t.Error("a foreign release freed the lock")
	}
	if err := locks.Release(ctx, event, []uuid.UUID{a, b}, first); err != nil {
		t.Fatal(err)
	}
	if taken, _ := locks.Acquire(ctx, event, []uuid.UUID{a, b, c}, second, time.Minute); len(taken) != 0 {
		t.Errorf("after the owner released, Acquire = %v taken", taken)
	}
	// Keys carry the hold time as TTL and the event's hash tag.
	ttl, _ := rdb.PTTL(ctx, "seat:{"+event.String()+"}:"+a.String()).Result()
	if ttl <= 0 || ttl > time.Minute {
		t.Errorf("lock TTL = %v, want (0, 1m]", ttl)
	}
}

func TestSeatLocksExpire(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	locks := redis.NewSeatLocks(redistest.New(t))
	event, seat := uuid.New(), uuid.New()
	if taken, err := locks.Acquire(ctx, event, []uuid.UUID{seat}, uuid.New(), 50*time.Millisecond); err != nil || len(taken) != 0 {
		t.Fatal(taken, err)
	}
	time.Sleep(120 * time.Millisecond)
	if taken, err := locks.Acquire(ctx, event, []uuid.UUID{seat}, uuid.New(), time.Minute); err != nil || len(taken) != 0 {
		t.Fatalf("lapsed lock still refuses: %v %v", taken, err)
	}
}

// TestSeatLocksRace: 100 buyers race for the same 5 seats; exactly one
// gets them.
func TestSeatLocksRace(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	locks := redis.NewSeatLocks(redistest.New(t))
	event := uuid.New()
	seats := []uuid.UUID{uuid.New(), uuid.New(), uuid.New(), uuid.New(), uuid.New()}
	var winners atomic.Int32
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			order := slices.Clone(seats)
			slices.Reverse(order)
			taken, err := locks.Acquire(ctx, event, order, uuid.New(), time.Minute)
			if err != nil {
				t.Error(err)
				return
			}
			if len(taken) == 0 {
				winners.Add(1)
			}
		})
	}
	wg.Wait()
	if n := winners.Load(); n != 1 {
		t.Fatalf("%d buyers got the seats, want 1", n)
	}
}
