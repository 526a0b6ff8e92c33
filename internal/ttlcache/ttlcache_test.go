package ttlcache

import (
	"sync"
	"testing"
	"time"
)

func TestCache(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	c := New[string, int](time.Second, 3)
	c.Put("a", 1, now)
	if v, ok := c.Get("a", now.Add(999*time.Millisecond)); !ok || v != 1 {
		t.Errorf("Get before the TTL = %d, %v; want 1, true", v, ok)
	}
	if _, ok := c.Get("a", now.Add(time.Second)); ok {
		t.Error("Get at the TTL found the value")
	}
	c.Put("a", 2, now)
	c.Forget("a")
	if _, ok := c.Get("a", now); ok {
		t.Error("Get after Forget found the value")
	}

	// Bounded: past the limit, expired entries go first, then all.
	c.Put("b", 1, now)
	c.Put("c", 1, now.Add(2*time.Second))
	c.Put("d", 1, now.Add(2*time.Second))
	c.Put("e", 1, now.Add(2*time.Second)) // "b" expired: dropped to make room
	if _, ok := c.Get("b", now); ok || c.Len() != 3 {
		t.Errorf("after the limit with one expired: %d kept, b kept %v; want 3 and b dropped", c.Len(), ok)
	}
	c.Put("f", 1, now.Add(2*time.Second)) // none expired: all go
	if c.Len() != 1 {
		t.Errorf("after the limit with none expired: %d kept, want 1", c.Len())
	}
	c.Put("f", 2, now.Add(2*time.Second)) // replacing a key is never eviction
	if v, _ := c.Get("f", now.Add(2*time.Second)); v != 2 || c.Len() != 1 {
		t.Errorf("replaced value = %d with %d kept, want 2 and 1", v, c.Len())
	}
}

// TestPutUntil: a value put with its own expiry is kept until then, not
// for the cache's TTL.
func TestPutUntil(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	c := New[string, int](time.Second, 3)
	c.PutUntil("token", 7, now, now.Add(time.Minute))
	if v, ok := c.Get("token", now.Add(59*time.Second)); !ok || v != 7 {
		t.Errorf("Get before its expiry = %d, %v; want 7, true", v, ok)
	}
	if _, ok := c.Get("token", now.Add(time.Minute)); ok {
		t.Error("Get at its expiry found the value")
	}
}

func TestCacheConcurrent(t *testing.T) {
	t.Parallel()
	c := New[int, int](time.Minute, 100)
	now := time.Now()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				c.Put(i%150, g, now)
				c.Get(i%150, now)
				if i%7 == 0 {
					c.Forget(i % 150)
				}
			}
		})
	}
	wg.Wait()
	if c.Len() > 100 {
		t.Errorf("%d kept, want at most 100", c.Len())
	}
}
