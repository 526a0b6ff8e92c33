package waitroom_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"

	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/clocktest"
	"github.com/evently/evently/internal/redis"
	"github.com/evently/evently/internal/redistest"
	"github.com/evently/evently/internal/waitroom"
)

// The tests of this package run the Service on the real Redis queue with
// an injected clock and a scheduler they drive by hand: simulated minutes
// take milliseconds, and every admission happens at a known instant.

// t0 is the simulated start of every test.
var t0 = time.Date(2030, 5, 1, 10, 0, 0, 0, time.UTC)

// catalogue is an in-memory waitroom.Catalogue.
type catalogue struct {
	mu    sync.Mutex
	rooms map[uuid.UUID]waitroom.Room
	fail  error
}

func (c *catalogue) Room(_ context.Context, id uuid.UUID) (waitroom.Room, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail != nil {
		return waitroom.Room{}, c.fail
	}
	r, ok := c.rooms[id]
	if !ok {
		return waitroom.Room{}, apperr.New(apperr.NotFound, "No event %s.", id)
	}
	return r, nil
}

func (c *catalogue) OpenRooms(_ context.Context, now time.Time, limit int) ([]waitroom.Room, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []waitroom.Room
	for _, r := range c.rooms {
		if r.Enabled && r.Status == "published" && now.Before(r.StartsAt) && len(out) < limit {
			out = append(out, r)
		}
	}
	return out, nil
}

func (c *catalogue) update(id uuid.UUID, fn func(r *waitroom.Room)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.rooms[id]
	fn(&r)
	c.rooms[id] = r
}

// scheduler is a waitroom.Scheduler whose runs the test executes: like
// asynq with task ids, scheduling a pending run again is a no-op.
type scheduler struct {
	mu      sync.Mutex
	clock   *clocktest.Clock
	pending []scheduled
	// jitter, when set, delays each run by a further amount (asynq's
	// forwarding interval and queueing).
	jitter func() time.Duration
}

type scheduled struct {
	run waitroom.Run
	at  time.Time
}

func (s *scheduler) Schedule(_ context.Context, run waitroom.Run, delay time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.pending {
		if p.run == run {
			return nil
		}
	}
	if s.jitter != nil {
		delay += s.jitter()
	}
	s.pending = append(s.pending, scheduled{run: run, at: s.clock.Now().Add(delay)})
	return nil
}

// next removes and returns the earliest run due at or before end.
func (s *scheduler) next(end time.Time) (scheduled, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.pending) == 0 {
		return scheduled{}, false
	}
	i := 0
	for j, p := range s.pending {
		if p.at.Before(s.pending[i].at) {
			i = j
		}
	}
	if s.pending[i].at.After(end) {
		return scheduled{}, false
	}
	p := s.pending[i]
	s.pending = slices.Delete(s.pending, i, i+1)
	return p, true
}

func (s *scheduler) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending)
}

// sim is a waiting room under test.
type sim struct {
	t     testing.TB
	ctx   context.Context
	rdb   *goredis.Client
	queue *redis.WaitingRooms
	clock *clocktest.Clock
	cat   *catalogue
	sched *scheduler
	svc   *waitroom.Service
	event uuid.UUID
}

// newSim returns a simulation of one event's room with the given rate
// (max_active 0: no cap), on sale from t0 for a day.
func newSim(t testing.TB, perMinute, maxActive int, ttl time.Duration) *sim {
	t.Helper()
	rdb, ok := redistest.New(t).(*goredis.Client)
	if !ok {
		t.Skip("the simulation's replicas copy a single server's options; it runs on single Redis only")
	}
	c := clocktest.New(t0)
	s := &sim{
		t:     t,
		ctx:   context.Background(),
		rdb:   rdb,
		queue: redis.NewWaitingRooms(rdb),
		clock: c,
		cat:   &catalogue{rooms: map[uuid.UUID]waitroom.Room{}},
		sched: &scheduler{clock: c},
		event: uuid.New(),
	}
	s.cat.rooms[s.event] = waitroom.Room{
		EventID: s.event, Status: "published", StartsAt: t0.Add(24 * time.Hour),
		Enabled: true, AdmitPerMinute: perMinute, MaxActive: maxActive, AdmissionTTL: ttl,
	}
	// The room cache is off (1ns) so that setting changes show at once.
	s.svc = waitroom.NewService(s.cat, s.queue, s.sched, waitroom.Options{Now: c.Now, RoomCacheTTL: time.Nanosecond})
	return s
}

// join joins n new users one after another and returns them in join order.
func (s *sim) join(n int) []uuid.UUID {
	s.t.Helper()
	users := make([]uuid.UUID, n)
	for i := range users {
		users[i] = uuid.New()
		if _, err := s.svc.Join(s.ctx, s.event, users[i]); err != nil {
			s.t.Fatalf("Join(user %d) = %v", i, err)
		}
	}
	return users
}

// runUntil executes every scheduled run due up to end, in time order,
// setting the clock to each run's time and calling after (if not nil) with
// the room's counts after each run.
func (s *sim) runUntil(end time.Time, after func(now time.Time, c waitroom.Counts)) int {
	s.t.Helper()
	runs := 0
	for {
		p, ok := s.sched.next(end)
		if !ok {
			if end.After(s.clock.Now()) {
				s.clock.Set(end)
			}
			return runs
		}
		s.clock.Set(p.at)
		if err := s.svc.RunAdmission(s.ctx, p.run); err != nil {
			s.t.Fatalf("RunAdmission(%+v) at %v = %v", p.run, p.at.Sub(t0), err)
		}
		runs++
		if after != nil {
			after(p.at, s.counts())
		}
	}
}

func (s *sim) counts() waitroom.Counts {
	s.t.Helper()
	c, err := s.queue.Counts(s.ctx, s.event, s.clock.Now())
	if err != nil {
		s.t.Fatal(err)
	}
	return c
}

func (s *sim) status(user uuid.UUID) waitroom.Ticket {
	s.t.Helper()
	tk, err := s.svc.Status(s.ctx, s.event, user)
	if err != nil {
		s.t.Fatalf("Status(%s) = %v", user, err)
	}
	return tk
}

// admitted reports whether the user may book, as the booking engine asks
// without a pass (Redis).
func (s *sim) admitted(user uuid.UUID) bool {
	s.t.Helper()
	err := s.svc.CheckAdmission(s.ctx, s.event, user, "")
	if err != nil && !apperr.Is(err, apperr.WaitingRoomRequired) {
		s.t.Fatal(err)
	}
	return err == nil
}

// admission is one run's admissions.
type admission struct {
	at time.Time
	n  int64
}

// recorder collects each run's admissions from the running total.
type recorder struct {
	log   []admission
	total int64
}

func (r *recorder) after(now time.Time, c waitroom.Counts) {
	if d := c.AdmittedTotal - r.total; d > 0 {
		r.log = append(r.log, admission{at: now, n: d})
	}
	r.total = c.AdmittedTotal
}

// maxInWindow is the largest number of admissions in any window (t-w, t].
func (r *recorder) maxInWindow(w time.Duration) (int64, time.Time) {
	var best int64
	var when time.Time
	for i, a := range r.log {
		var sum int64
		for _, b := range r.log[:i+1] {
			if b.at.After(a.at.Add(-w)) {
				sum += b.n
			}
		}
		if sum > best {
			best, when = sum, a.at
		}
	}
	return best, when
}

// inRange counts the admissions in [from, to).
func (r *recorder) inRange(from, to time.Time) int64 {
	var sum int64
	for _, a := range r.log {
		if !a.at.Before(from) && a.at.Before(to) {
			sum += a.n
		}
	}
	return sum
}
