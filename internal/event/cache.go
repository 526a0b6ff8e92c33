package event

import (
	"sync"
	"time"

	"github.com/google/uuid"
)

// availabilityCache keeps each event's seat counts for a short while, so
// that a crowd polling one event page during an on-sale costs one count
// per second per process instead of one per request.
type availabilityCache struct {
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	entries map[uuid.UUID]cachedAvailability
}

type cachedAvailability struct {
	a       Availability
	expires time.Time
}

// maxCachedEvents bounds the cache; past it, expired entries are dropped.
const maxCachedEvents = 10_000

func newAvailabilityCache(ttl time.Duration, now func() time.Time) *availabilityCache {
	return &availabilityCache{ttl: ttl, now: now, entries: map[uuid.UUID]cachedAvailability{}}
}

func (c *availabilityCache) get(id uuid.UUID) (Availability, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[id]
	if !ok || !c.now().Before(e.expires) {
		return Availability{}, false
	}
	return e.a, true
}

func (c *availabilityCache) put(id uuid.UUID, a Availability) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if len(c.entries) >= maxCachedEvents {
		for k, e := range c.entries {
			if !now.Before(e.expires) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= maxCachedEvents {
			clear(c.entries)
		}
	}
	c.entries[id] = cachedAvailability{a: a, expires: now.Add(c.ttl)}
}

func (c *availabilityCache) forget(id uuid.UUID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, id)
}
