package waitroom_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/auth"
	"github.com/evently/evently/internal/pgtest"
	"github.com/evently/evently/internal/postgres"
	"github.com/evently/evently/internal/waitroom"
)

// latency is a waitroom.Latency whose p95 the test sets: samples holds in
// any window or, with perSecond set, perSecond holds a second from start
// on.
type latency struct {
	mu        sync.Mutex
	p95       time.Duration
	samples   int
	perSecond float64
	start     time.Time
}

func (l *latency) set(p95 time.Duration, samples int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.p95, l.samples = p95, samples
}

func (l *latency) BookingP95(_ context.Context, _ uuid.UUID, since, now time.Time) (time.Duration, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.perSecond == 0 {
		return l.p95, l.samples
	}
	if since.Before(l.start) {
		since = l.start
	}
	return l.p95, int(l.perSecond * now.Sub(since).Seconds())
}

// rates is an in-memory waitroom.RateLog over the sim's catalogue: a
// change becomes the room's rate, as the Postgres store's does.
type rates struct {
	mu      sync.Mutex
	cat     *catalogue
	changes []waitroom.RateChange
	fail    error // when set, SetRate fails with it
}

func (r *rates) SetRate(_ context.Context, c waitroom.RateChange) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	r.changes = append(r.changes, c)
	r.cat.update(c.EventID, func(room *waitroom.Room) {
		at := c.At
		room.AdmitPerMinute, room.RateChangedAt = c.To, &at
	})
	return nil
}

func (r *rates) RateChanges(_ context.Context, eventID uuid.UUID, limit int) ([]waitroom.RateChange, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := slices.Clone(r.changes)
	slices.Reverse(out)
	return out[:min(limit, len(out))], nil
}

func (r *rates) all() []waitroom.RateChange {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.changes)
}

// newAutoSim is a sim whose room tunes its own rate from base within
// [lo, hi], aiming at target, on the injected latency.
func newAutoSim(t *testing.T, base, lo, hi int, target time.Duration) (*sim, *latency, *rates) {
	s := newSim(t, base, 0, time.Hour)
	s.cat.update(s.event, func(r *waitroom.Room) {
		r.Auto, r.MinPerMinute, r.MaxPerMinute, r.TargetP95, r.BasePerMinute = true, lo, hi, target, base
	})
	lat, log := &latency{}, &rates{cat: s.cat}
	s.svc = waitroom.NewService(s.cat, s.queue, s.sched, waitroom.Options{
		Now: s.clock.Now, RoomCacheTTL: time.Nanosecond, Latency: lat, Rates: log})
	return s, lat, log
}

// rateTrail is the rates a room went through, starting from its first.
func rateTrail(changes []waitroom.RateChange) []int {
	if len(changes) == 0 {
		return nil
	}
	out := []int{changes[0].From}
	for _, c := range changes {
		out = append(out, c.To)
	}
	return out
}

// TestAutoRateFollowsBookingLatency: a room in admit_mode auto starts at
// 600 a minute with 10,000 waiting. While the injected booking p95 is
// 100 ms (target 500 ms) it rises by a quarter every 10 seconds; when the
// p95 rises to 900 ms it backs off by 30% every 10 seconds down to its
// floor of 120, where the room then admits at most 120 in a minute; when
// the p95 falls again it climbs back. Every change is 10 s or more after
// the last, within the bounds, and recorded with its reason and figures.
func TestAutoRateFollowsBookingLatency(t *testing.T) {
	t.Parallel()
	s, lat, log := newAutoSim(t, 600, 120, 3000, 500*time.Millisecond)
	lat.set(100*time.Millisecond, 200)
	s.join(10_000)
	var rec recorder

	s.runUntil(t0.Add(55*time.Second), rec.after)
	if got, want := rateTrail(log.all()), []int{600, 750, 938, 1173, 1467, 1834, 2293}; !slices.Equal(got, want) {
		t.Fatalf("rates under a 100 ms p95 = %v, want %v", got, want)
	}
	rising := len(log.all())

	lat.set(900*time.Millisecond, 400)
	s.runUntil(t0.Add(215*time.Second), rec.after)
	fell := log.all()[rising:]
	if got, want := rateTrail(fell), []int{2293, 1605, 1123, 786, 550, 385, 269, 188, 131, 120}; !slices.Equal(got, want) {
		t.Fatalf("rates under a 900 ms p95 = %v, want %v", got, want)
	}
	for _, c := range fell {
		if !strings.Contains(c.Reason, "booking p95 900ms is over the 500ms target (400 requests)") ||
			c.BookingP95 == nil || *c.BookingP95 != 900*time.Millisecond || c.Samples != 400 {
			t.Fatalf("back-off recorded as %+v, want the p95, its target and the sample count", c)
		}
	}
	// At the floor from 150 s: the room admits at most 120 in any minute.
	if n := rec.inRange(t0.Add(150*time.Second), t0.Add(210*time.Second)); n > 120 || n < 100 {
		t.Errorf("admitted %d in the minute at the floor of 120, want 100 to 120", n)
	}

	lat.set(50*time.Millisecond, 300)
	s.runUntil(t0.Add(240*time.Second), rec.after)
	back := log.all()[rising+len(fell):]
	if got := rateTrail(back); len(got) < 3 || got[0] != 120 || got[len(got)-1] <= got[len(got)-2] {
		t.Fatalf("rates after the p95 fell back = %v, want a climb from 120", got)
	}
	all := log.all()
	for i, c := range all {
		if c.To < 120 || c.To > 3000 {
			t.Errorf("change %d to %d, outside [120, 3000]", i, c.To)
		}
		if i > 0 && c.At.Sub(all[i-1].At) < waitroom.TuneEvery {
			t.Errorf("change %d only %v after the one before", i, c.At.Sub(all[i-1].At))
		}
	}
	if st, err := s.svc.Stats(s.ctx, s.event); err != nil || st.AdmitPerMinute != all[len(all)-1].To || !st.Auto {
		t.Errorf("Stats = %+v, %v; want the room's own rate %d", st, err, all[len(all)-1].To)
	}
}

// TestFailedRateWriteDoesNotStallAdmissions: a run whose rate change
// cannot be written reports the error (so that the task is retried) but
// has admitted its batch and scheduled its successor first; the room
// goes on admitting once the database is back.
func TestFailedRateWriteDoesNotStallAdmissions(t *testing.T) {
	t.Parallel()
	s, lat, log := newAutoSim(t, 600, 60, 6000, 500*time.Millisecond)
	lat.set(100*time.Millisecond, 200)
	log.mu.Lock()
	log.fail = errors.New("database restarting")
	log.mu.Unlock()
	s.join(1000)
	p, ok := s.sched.next(t0.Add(time.Second))
	if !ok {
		t.Fatal("no admission run scheduled after the joins")
	}
	s.clock.Set(p.at)
	if err := s.svc.RunAdmission(s.ctx, p.run); err == nil || !strings.Contains(err.Error(), "database restarting") {
		t.Fatalf("RunAdmission = %v, want the failed write reported", err)
	}
	if s.sched.count() != 1 || s.counts().AdmittedTotal == 0 {
		t.Fatalf("after the failed write: %d runs scheduled, %+v; want the successor and the batch admitted",
			s.sched.count(), s.counts())
	}
	// The database is back: the chain goes on from the successor.
	log.mu.Lock()
	log.fail = nil
	log.mu.Unlock()
	var rec recorder
	rec.total = s.counts().AdmittedTotal
	s.runUntil(t0.Add(30*time.Second), rec.after)
	if n := rec.inRange(t0.Add(time.Second), t0.Add(30*time.Second)); n < 280 {
		t.Errorf("admitted %d in the next 29 s, want at least the 290 of 600 a minute", n)
	}
}

// TestAutoRateHoldsWithoutEvidence: too few holds to judge the p95 (19 of
// the 20 it takes), or nobody waiting: the rate stays where it is.
func TestAutoRateHoldsWithoutEvidence(t *testing.T) {
	t.Parallel()
	s, lat, log := newAutoSim(t, 600, 60, 6000, 500*time.Millisecond)
	lat.set(5*time.Second, 19)
	s.join(1000)
	s.runUntil(t0.Add(time.Minute), nil)
	if got := log.all(); len(got) != 0 {
		t.Fatalf("changes on 19 holds = %+v, want none", got)
	}

	s2, lat2, log2 := newAutoSim(t, 600, 60, 6000, 500*time.Millisecond)
	lat2.set(10*time.Millisecond, 500)
	s2.join(5) // all in at once; nobody left waiting
	s2.runUntil(t0.Add(time.Minute), nil)
	if got := log2.all(); len(got) != 0 {
		t.Fatalf("changes with nobody waiting = %+v, want none", got)
	}
}

// TestAutoRateJudgesSlowRoomsOverALongerWindow: a room at 60 a minute
// whose buyers make one fast hold a second has only 10 holds in any 10 s,
// too few to judge; it reads back up to a minute, never from before its
// last change, so it still rises, every 20 s (when 20 holds at the new
// rate are in).
func TestAutoRateJudgesSlowRoomsOverALongerWindow(t *testing.T) {
	t.Parallel()
	s, lat, log := newAutoSim(t, 60, 30, 600, 500*time.Millisecond)
	lat.mu.Lock()
	lat.p95, lat.perSecond, lat.start = 100*time.Millisecond, 1, t0
	lat.mu.Unlock()
	s.join(500)
	s.runUntil(t0.Add(65*time.Second), nil)
	changes := log.all()
	if got, want := rateTrail(changes), []int{60, 75, 94, 118}; !slices.Equal(got, want) {
		t.Fatalf("rates of a slow room = %v, want %v", got, want)
	}
	for i, c := range changes {
		if c.Samples < 20 || (i > 0 && c.At.Sub(changes[i-1].At) < 20*time.Second) {
			t.Errorf("change %d = %+v, want at least 20 holds since the change before", i, c)
		}
	}
}

// newAutoStockSim is a stockSim whose room tunes its own rate from
// perMinute within [30, 6000], on a booking p95 of 50 ms over 100 holds,
// with its rate and changes kept in Postgres.
func newAutoStockSim(t *testing.T, seats, perMinute int, admissionTTL time.Duration) *stockSim {
	t.Helper()
	s := newStockSim(t, seats, perMinute, admissionTTL)
	if _, err := s.pool.Exec(s.ctx, `UPDATE events SET wr_admit_mode = 'auto',
		wr_admit_min_per_minute = 30, wr_admit_max_per_minute = 6000 WHERE id = $1`, s.event); err != nil {
		t.Fatal(err)
	}
	lat := &latency{}
	lat.set(50*time.Millisecond, 100)
	store := postgres.NewWaitingRoomStore(s.pool)
	s.svc = waitroom.NewService(store, s.queue, s.sched, waitroom.Options{Now: s.clock.Now, RoomCacheTTL: time.Nanosecond,
		Stock: postgres.NewRoomStock(s.pool), Latency: lat, Rates: store})
	return s
}

// TestAutoRateBacksOffWhenAdmittedBuyersDoNotHold runs on the real
// Postgres and Redis: 600 users queue for 1,000 seats in a room that
// starts at 120 a minute with admissions of 2 minutes, and the booking
// p95 is fine (50 ms). Nobody holds: once the first buyers have less than
// half their admission left, the room backs off by a fifth every 10 s,
// saying so. When those buyers hold, the room speeds up again. The rate
// and its changes are kept in Postgres (the room reads them back).
func TestAutoRateBacksOffWhenAdmittedBuyersDoNotHold(t *testing.T) {
	t.Parallel()
	s := newAutoStockSim(t, 1000, 120, 2*time.Minute)
	users := pgtest.Users(t, s.pool, 600)
	s.joinAll(users)

	// Rising while the first admissions are young: 120 → 150 → 188 → 235 ...
	s.runUntil(t0.Add(55*time.Second), nil)
	changes := s.rateChanges()
	if len(changes) == 0 || changes[0].To <= 120 {
		t.Fatalf("changes in the first minute = %+v, want rises", changes)
	}

	// From t0+60s the first buyers are past half their two minutes; from
	// t0+70s there are more than ten of them.
	s.runUntil(t0.Add(95*time.Second), nil)
	var idle []waitroom.RateChange
	for _, c := range s.rateChanges()[len(changes):] {
		if c.At.Before(t0.Add(70 * time.Second)) {
			changes = append(changes, c) // still rising on too few overdue buyers to judge
			continue
		}
		idle = append(idle, c)
	}
	if len(idle) == 0 {
		t.Fatal("no back-off while admitted buyers did not hold")
	}
	for _, c := range idle {
		if c.To >= c.From || !strings.Contains(c.Reason, "have not held") || c.Idle*2 <= c.Overdue || c.Overdue < 10 {
			t.Fatalf("change %+v, want a back-off because most overdue buyers have not held", c)
		}
	}
	low, peak := idle[len(idle)-1].To, changes[len(changes)-1].To
	if low >= peak {
		t.Fatalf("rate after backing off %d, want below the peak %d", low, peak)
	}

	// The admitted buyers hold a seat each: the room speeds up again.
	admitted := s.admittedUsers(users)
	s.hold(admitted, s.seats, 10*time.Minute)
	s.runUntil(t0.Add(125*time.Second), nil)
	after := s.rateChanges()[len(changes)+len(idle):]
	if len(after) == 0 || after[len(after)-1].To <= low || !strings.Contains(after[0].Reason, "admitting faster") {
		t.Fatalf("changes once buyers held = %+v, want a rise from %d", after, low)
	}
	st, err := s.svc.Stats(s.ctx, s.event)
	if err != nil || !st.Auto || st.AdmitPerMinute != after[len(after)-1].To || st.BasePerMinute != 120 || st.RateChangedAt == nil {
		t.Fatalf("Stats = %+v, %v; want the room's own rate %d from base 120", st, err, after[len(after)-1].To)
	}

	// The organiser sets a new rate: the room starts again from it.
	if _, err := s.pool.Exec(s.ctx, `UPDATE events SET wr_admit_per_minute = 500 WHERE id = $1`, s.event); err != nil {
		t.Fatal(err)
	}
	if st, err := s.svc.Stats(s.ctx, s.event); err != nil || st.AdmitPerMinute != 500 || st.RateChangedAt != nil {
		t.Fatalf("Stats after the organiser set 500 = %+v, %v; want 500 and no change of its own", st, err)
	}
}

// TestIdleBuyersWhoCannotHoldAreNoReason runs on the real Postgres and
// Redis: 20 buyers are admitted to a room of 20 seats, then other buyers
// hold every seat. The admitted buyers cannot hold, so however long they
// stay without a booking the room does not back off on them (nor rise:
// no seat is free).
func TestIdleBuyersWhoCannotHoldAreNoReason(t *testing.T) {
	t.Parallel()
	s := newAutoStockSim(t, 20, 600, 2*time.Minute)
	users := pgtest.Users(t, s.pool, 60)
	s.joinAll(users[:40])
	s.runUntil(t0.Add(5*time.Second), nil)
	if n := len(s.admittedUsers(users[:40])); n != 20 {
		t.Fatalf("admitted %d, want 20 (one per seat)", n)
	}
	s.hold(pgUserIDs(users[40:]), s.seats, time.Hour)
	before := len(s.rateChanges())
	s.runUntil(t0.Add(3*time.Minute), nil)
	if after := s.rateChanges()[before:]; len(after) != 0 {
		t.Fatalf("changes while no seat was free = %+v, want none", after)
	}
}

func pgUserIDs(users []auth.Principal) []uuid.UUID {
	out := make([]uuid.UUID, len(users))
	for i, u := range users {
		out[i] = u.UserID
	}
	return out
}

// rateChanges returns the room's rate changes as Postgres keeps them,
// oldest first.
func (s *stockSim) rateChanges() []waitroom.RateChange {
	s.t.Helper()
	changes, err := s.svc.RateChanges(s.ctx, s.event, 500)
	if err != nil {
		s.t.Fatal(err)
	}
	slices.Reverse(changes)
	return changes
}
