package analytics

import (
	"context"
	"sync"
	"time"
)

// cache keeps each report for a short while, and computes a report that
// many admins ask for at once only once: the first caller computes it, the
// others wait for that result instead of each running the same queries.
type cache struct {
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	entries map[string]*entry
}

type entry struct {
	done    chan struct{} // closed when value and err are set
	value   any
	err     error
	expires time.Time
}

// maxCachedReports bounds the cache; past it, expired entries are dropped.
const maxCachedReports = 1000

func newCache(ttl time.Duration, now func() time.Time) *cache {
	return &cache{ttl: ttl, now: now, entries: map[string]*entry{}}
}

// get returns the report cached under key, computing it with fn when there
// is none fresh. Errors are not kept: a caller that waited for a
// computation that failed runs fn itself.
func get[T any](ctx context.Context, c *cache, key string, fn func() (T, error)) (T, error) {
	if c.ttl <= 0 {
		return fn()
	}
	c.mu.Lock()
	e, ok := c.entries[key]
	if ok {
		select {
		case <-e.done:
			if c.now().Before(e.expires) {
				c.mu.Unlock()
				return e.value.(T), nil
			}
			ok = false // stale: compute again
		default:
		}
	}
	if !ok {
		c.evict()
		e = &entry{done: make(chan struct{})}
		c.entries[key] = e
		c.mu.Unlock()
		v, err := fn()
		c.mu.Lock()
		e.value, e.err, e.expires = v, err, c.now().Add(c.ttl)
		if err != nil && c.entries[key] == e {
			delete(c.entries, key)
		}
		close(e.done)
		c.mu.Unlock()
		return v, err
	}
	c.mu.Unlock()
	select {
	case <-e.done:
		if e.err != nil {
			// The first caller failed, perhaps only because it went
			// away: try once more for this one.
			return fn()
		}
		return e.value.(T), nil
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// evict makes room for one more entry. The caller holds c.mu.
func (c *cache) evict() {
	if len(c.entries) < maxCachedReports {
		return
	}
	now := c.now()
	for k, e := range c.entries {
		select {
		case <-e.done:
			if !now.Before(e.expires) {
				delete(c.entries, k)
			}
		default:
		}
	}
	if len(c.entries) >= maxCachedReports {
		for k, e := range c.entries {
			select {
			case <-e.done:
				delete(c.entries, k)
			default:
			}
		}
	}
}
