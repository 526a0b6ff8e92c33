// Package ttlcache is the one small in-memory cache of the codebase: values
// kept for a fixed time, in a map bounded in size, safe for concurrent use.
// It keeps per-process copies of facts that Postgres or Redis hold, for
// the short while a stale answer is acceptable.
package ttlcache

import (
	"sync"
	"time"
)

// Cache keeps values by key for ttl after they are put, at most limit at
// once: past it, expired entries are dropped, and if none were, all.
type Cache[K comparable, V any] struct {
	ttl   time.Duration
	limit int

	mu      sync.Mutex
	entries map[K]entry[V]
}

type entry[V any] struct {
	value   V
	expires time.Time
}

// New returns a cache keeping values for ttl, at most limit of them.
func New[K comparable, V any](ttl time.Duration, limit int) *Cache[K, V] {
	return &Cache[K, V]{ttl: ttl, limit: max(limit, 1), entries: map[K]entry[V]{}}
}

// Get returns the value kept under k, unless there is none or it expired
// at now.
func (c *Cache[K, V]) Get(k K, now time.Time) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[k]
	if !ok || !now.Before(e.expires) {
		var zero V
		return zero, false
	}
	return e.value, true
}

// Put keeps v under k until ttl after now.
func (c *Cache[K, V]) Put(k K, v V, now time.Time) { c.PutUntil(k, v, now, now.Add(c.ttl)) }

// PutUntil keeps v under k until expires (a value with a lifetime of its
// own, such as a token's); now is the time the limit's sweep reads.
func (c *Cache[K, V]) PutUntil(k K, v V, now, expires time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[k]; !ok && len(c.entries) >= c.limit {
		for key, e := range c.entries {
			if !now.Before(e.expires) {
				delete(c.entries, key)
			}
		}
		if len(c.entries) >= c.limit {
			clear(c.entries)
		}
	}
	c.entries[k] = entry[V]{value: v, expires: expires}
}

// Forget drops the value kept under k.
func (c *Cache[K, V]) Forget(k K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, k)
}

// Len is how many values are kept, expired ones included.
func (c *Cache[K, V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
