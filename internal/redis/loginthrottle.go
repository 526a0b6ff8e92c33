package redis

import (
	"context"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/evently/evently/internal/account"
)

// LoginThrottle keeps failed logins per account: login:{<key>}:failures
// counts them (expiring a window after the latest) and login:{<key>}:wait
// exists, with the delay as TTL, while logins must wait. The hash tag
// keeps an account's two keys in one Redis Cluster slot.
type LoginThrottle struct {
	rdb     goredis.UniversalClient
	policy  account.ThrottlePolicy
	onError func(error)
}

var _ account.LoginThrottle = (*LoginThrottle)(nil)

// NewLoginThrottle returns the throttle on rdb; onError hears of every
// Redis failure (the throttle then lets the login through).
func NewLoginThrottle(rdb goredis.UniversalClient, policy account.ThrottlePolicy, onError func(error)) *LoginThrottle {
	if onError == nil {
		onError = func(error) {}
	}
	return &LoginThrottle{rdb: rdb, policy: policy, onError: onError}
}

func throttleKeys(key string) []string {
	return []string{"login:{" + key + "}:failures", "login:{" + key + "}:wait"}
}

// failedScript counts a failure (KEYS[1], kept ARGV[1] ms after the
// latest) and, from the ARGV[2]th on, sets KEYS[2] for a delay of ARGV[3]
// ms doubled for each failure past ARGV[2], at most ARGV[4] ms. It returns
// the delay set (0 for none).
var failedScript = goredis.NewScript(`
local n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
local free = tonumber(ARGV[2])
if n < free then return 0 end
local d = tonumber(ARGV[4])
if n - free < 40 then d = math.min(tonumber(ARGV[3]) * 2 ^ (n - free), d) end
d = math.floor(d)
redis.call('SET', KEYS[2], '1', 'PX', d)
return d
`)

// Wait implements account.LoginThrottle.
func (t *LoginThrottle) Wait(ctx context.Context, key string) time.Duration {
	ms, err := t.rdb.PTTL(ctx, throttleKeys(key)[1]).Result()
	if err != nil {
		t.onError(fmt.Errorf("read login throttle: %w", err))
		return 0
	}
	return max(ms, 0) // -1, -2: no wait (go-redis keeps them as negative durations)
}

// Failed implements account.LoginThrottle.
func (t *LoginThrottle) Failed(ctx context.Context, key string) {
	p := t.policy
	err := failedScript.Run(ctx, t.rdb, throttleKeys(key),
		p.Window.Milliseconds(), p.FreeFailures, p.Base.Milliseconds(), p.Max.Milliseconds()).Err()
	if err != nil {
		t.onError(fmt.Errorf("count failed login: %w", err))
	}
}

// Succeeded implements account.LoginThrottle.
func (t *LoginThrottle) Succeeded(ctx context.Context, key string) {
	if err := t.rdb.Del(ctx, throttleKeys(key)...).Err(); err != nil {
		t.onError(fmt.Errorf("reset login throttle: %w", err))
	}
}
