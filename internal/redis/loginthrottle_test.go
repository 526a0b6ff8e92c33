package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/evently/evently/internal/account"
	"github.com/evently/evently/internal/redis"
	"github.com/evently/evently/internal/redistest"
)

func TestLoginThrottle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := redistest.New(t)
	policy := account.ThrottlePolicy{FreeFailures: 3, Window: time.Minute, Base: time.Second, Max: 4 * time.Second}
	th := redis.NewLoginThrottle(rdb, policy, func(err error) { t.Errorf("throttle error: %v", err) })

	if w := th.Wait(ctx, "a"); w != 0 {
		t.Fatalf("Wait(no failures) = %v, want 0", w)
	}
	for n := 1; n <= 6; n++ {
		th.Failed(ctx, "a")
		w := th.Wait(ctx, "a")
		want := policy.Delay(n)
		if w > want || (want > 0 && w < want-200*time.Millisecond) || (want == 0 && w != 0) {
			t.Errorf("Wait after %d failures = %v, want about %v", n, w, want)
		}
	}
	if w := th.Wait(ctx, "b"); w != 0 {
		t.Errorf("Wait(another account) = %v, want 0", w)
	}
	th.Succeeded(ctx, "a")
	if w := th.Wait(ctx, "a"); w != 0 {
		t.Errorf("Wait after a success = %v, want 0", w)
	}
	th.Failed(ctx, "a")
	if w := th.Wait(ctx, "a"); w != 0 {
		t.Errorf("Wait after one failure following a success = %v, want 0 (the count restarted)", w)
	}
	if ttl := rdb.PTTL(ctx, "login:{a}:failures").Val(); ttl <= 0 || ttl > time.Minute {
		t.Errorf("failure count TTL = %v, want the window", ttl)
	}
}

func TestLoginThrottleFailsOpen(t *testing.T) {
	t.Parallel()
	rdb := redistest.New(t)
	rdb.Close()
	var errs []error
	th := redis.NewLoginThrottle(rdb, account.DefaultThrottlePolicy, func(err error) { errs = append(errs, err) })
	th.Failed(context.Background(), "a")
	if w := th.Wait(context.Background(), "a"); w != 0 {
		t.Errorf("Wait with Redis gone = %v, want 0 (fail open)", w)
	}
	if len(errs) != 2 {
		t.Errorf("errors reported = %v, want 2", errs)
	}
}
