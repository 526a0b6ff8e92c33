package redis

import (
	"context"
	"fmt"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"

	"github.com/evently/evently/internal/booking"
)

// HoldRate rations holds per buyer and event with a token bucket kept in
// Redis (GCRA, go-redis/redis_rate), so every replica draws on the same
// budget: perMinute holds a minute, in a burst of as many. The key
// rate:hold:{<event>}:<user> carries the event as its hash tag.
type HoldRate struct {
	limiter *redis_rate.Limiter
	limit   redis_rate.Limit
}

var _ booking.HoldLimiter = (*HoldRate)(nil)

// NewHoldRate returns the limiter of perMinute holds a minute per buyer and
// event.
func NewHoldRate(rdb goredis.UniversalClient, perMinute int) *HoldRate {
	return &HoldRate{limiter: redis_rate.NewLimiter(rdb), limit: redis_rate.PerMinute(perMinute)}
}

// AllowHold implements booking.HoldLimiter.
func (h *HoldRate) AllowHold(ctx context.Context, eventID, userID uuid.UUID) (bool, time.Duration, error) {
	res, err := h.limiter.Allow(ctx, "hold:{"+eventID.String()+"}:"+userID.String(), h.limit)
	if err != nil {
		return false, 0, fmt.Errorf("hold rate event=%s: %w", eventID, err)
	}
	return res.Allowed > 0, res.RetryAfter, nil
}
