package redis

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"

	"github.com/evently/evently/internal/booking"
)

// SeatLocks are the per-seat locks of the booking hot path: the key
// seat:{<event>}:<seat> holds the id of the booking that has the seat,
// with the hold time as TTL. The {<event>} hash tag keeps one event's keys
// in one Redis Cluster slot, so each script below touches a single slot.
type SeatLocks struct {
	rdb goredis.UniversalClient
}

var _ booking.Locks = (*SeatLocks)(nil)

// NewSeatLocks returns seat locks on rdb.
func NewSeatLocks(rdb goredis.UniversalClient) *SeatLocks { return &SeatLocks{rdb: rdb} }

// acquireScript sets every key to ARGV[1] with TTL ARGV[2] ms, or none of
// them: it returns the 1-based indexes of the keys already held.
var acquireScript = goredis.NewScript(`
local taken = {}
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then taken[#taken + 1] = i end
end
if #taken > 0 then return taken end
for _, key in ipairs(KEYS) do
  redis.call('SET', key, ARGV[1], 'PX', ARGV[2])
end
return taken
`)

// setScript sets each key i to ARGV[i+1] with TTL ARGV[1] ms.
var setScript = goredis.NewScript(`
for i, key in ipairs(KEYS) do
  redis.call('SET', key, ARGV[i + 1], 'PX', ARGV[1])
end
return #KEYS
`)

// releaseScript deletes the keys that still hold ARGV[1] (compare and
// delete: a lock that now belongs to another booking is left alone).
var releaseScript = goredis.NewScript(`
local n = 0
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then n = n + redis.call('DEL', key) end
end
return n
`)

func seatKeys(eventID uuid.UUID, seats []uuid.UUID) []string {
	keys := make([]string, len(seats))
	prefix := "seat:{" + eventID.String() + "}:"
	for i, s := range seats {
		keys[i] = prefix + s.String()
	}
	return keys
}

// Acquire implements booking.Locks.
func (l *SeatLocks) Acquire(ctx context.Context, eventID uuid.UUID, seats []uuid.UUID, bookingID uuid.UUID, ttl time.Duration) ([]uuid.UUID, error) {
	idx, err := acquireScript.Run(ctx, l.rdb, seatKeys(eventID, seats), bookingID.String(), ttl.Milliseconds()).Int64Slice()
	if err != nil {
		return nil, fmt.Errorf("acquire seat locks event=%s: %w", eventID, err)
	}
	taken := make([]uuid.UUID, 0, len(idx))
	for _, i := range idx {
		taken = append(taken, seats[i-1])
	}
	return taken, nil
}

// Set implements booking.Locks: one script call for every seat of a batch.
func (l *SeatLocks) Set(ctx context.Context, eventID uuid.UUID, locks []booking.SeatLock, ttl time.Duration) error {
	if len(locks) == 0 || ttl < time.Millisecond {
		return nil // nothing to lock, or the holds have lapsed already
	}
	seats := make([]uuid.UUID, len(locks))
	args := make([]any, len(locks)+1)
	args[0] = ttl.Milliseconds()
	for i, lk := range locks {
		seats[i], args[i+1] = lk.Seat, lk.Booking.String()
	}
	if err := setScript.Run(ctx, l.rdb, seatKeys(eventID, seats), args...).Err(); err != nil {
		return fmt.Errorf("set seat locks event=%s: %w", eventID, err)
	}
	return nil
}

// Release implements booking.Locks.
func (l *SeatLocks) Release(ctx context.Context, eventID uuid.UUID, seats []uuid.UUID, bookingID uuid.UUID) error {
	if len(seats) == 0 {
		return nil
	}
	if err := releaseScript.Run(ctx, l.rdb, seatKeys(eventID, seats), bookingID.String()).Err(); err != nil {
		return fmt.Errorf("release seat locks event=%s: %w", eventID, err)
	}
	return nil
}
