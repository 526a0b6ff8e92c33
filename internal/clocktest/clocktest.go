// Package clocktest gives tests a clock they move by hand, to inject
// wherever the code under test takes a func() time.Time.
package clocktest

import (
	"sync"
	"time"
)

// Clock is a time source safe for concurrent use. A clock made by New
// stands still between moves; one made by Running follows the wall clock,
// moved by what the test has added.
type Clock struct {
	mu     sync.Mutex
	at     time.Time
	offset time.Duration
	wall   func() time.Time // nil for a clock that stands still
}

// New returns a clock that reads start until it is moved.
func New(start time.Time) *Clock { return &Clock{at: start} }

// Running returns a clock that reads the wall clock until it is moved,
// and the wall clock moved by as much from then on.
func Running() *Clock { return &Clock{wall: time.Now} }

// Now reads the clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.wall != nil {
		return c.wall().Add(c.offset)
	}
	return c.at
}

// Advance moves the clock by d (back when d is negative).
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.wall != nil {
		c.offset += d
		return
	}
	c.at = c.at.Add(d)
}

// Set moves the clock to t; a running clock runs on from there.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.wall != nil {
		c.offset = t.Sub(c.wall())
		return
	}
	c.at = t
}
