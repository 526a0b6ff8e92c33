package redis

import (
	"context"
	"fmt"
	"time"

	"github.com/go-redis/redis_rate/v10"
	goredis "github.com/redis/go-redis/v9"
)

// AuthRate limits requests to the /auth/* endpoints per client address and
// endpoint with a token bucket kept in Redis (GCRA, go-redis/redis_rate), so
// that every replica draws on the same budget: perMinute requests a minute,
// in a burst of as many. The key is rate:auth:<endpoint>:<address>.
type AuthRate struct {
	limiter *redis_rate.Limiter
	limit   redis_rate.Limit
}

// NewAuthRate returns the limiter of perMinute requests a minute per key.
func NewAuthRate(rdb goredis.UniversalClient, perMinute int) *AuthRate {
	return &AuthRate{limiter: redis_rate.NewLimiter(rdb), limit: redis_rate.PerMinute(perMinute)}
}

// Allow takes one request from key's budget; when there is none left, it
// reports how long until there is. It implements httpapi.RateLimiter.
func (a *AuthRate) Allow(ctx context.Context, key string) (bool, time.Duration, error) {
	res, err := a.limiter.Allow(ctx, "auth:"+key, a.limit)
	if err != nil {
		return false, 0, fmt.Errorf("auth rate %s: %w", key, err)
	}
	return res.Allowed > 0, res.RetryAfter, nil
}
