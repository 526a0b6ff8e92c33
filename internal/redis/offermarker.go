package redis

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"
)

// OfferMarkers keep, per event, the marker "a waitlist offer task is
// pending" (waitlist:offer-pending:{<event>}), which coalesces the seat
// releases that land while the task waits. A marker lapses after its TTL,
// so a task lost before it ran cannot block the event's offers for long.
type OfferMarkers struct {
	rdb goredis.UniversalClient
	ttl time.Duration
}

// NewOfferMarkers returns the markers on rdb, each lasting at most ttl.
func NewOfferMarkers(rdb goredis.UniversalClient, ttl time.Duration) *OfferMarkers {
	return &OfferMarkers{rdb: rdb, ttl: ttl}
}

func offerMarkerKey(eventID uuid.UUID) string {
	return "waitlist:offer-pending:{" + eventID.String() + "}"
}

// Mark sets the event's marker unless it is set; set reports whether this
// call set it.
func (m *OfferMarkers) Mark(ctx context.Context, eventID uuid.UUID) (set bool, err error) {
	set, err = m.rdb.SetNX(ctx, offerMarkerKey(eventID), 1, m.ttl).Result()
	if err != nil {
		return false, fmt.Errorf("set offer marker event=%s: %w", eventID, err)
	}
	return set, nil
}

// Clear removes the event's marker.
func (m *OfferMarkers) Clear(ctx context.Context, eventID uuid.UUID) error {
	if err := m.rdb.Del(ctx, offerMarkerKey(eventID)).Err(); err != nil {
		return fmt.Errorf("clear offer marker event=%s: %w", eventID, err)
	}
	return nil
}
