package waitroom_test

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/waitroom"
)

// TestPollAfter: every ticket says when to ask again. Waiting, about half
// the expected wait (position ÷ rate), within 1 to 30 seconds: slower deep
// in the line, every second near its head. In the pre-queue, the time
// until the opening; close to it, spread at random over the time the room
// needs to admit the whole pre-queue. Never more than half the admission's
// lifetime; the cap for admitted and expired tickets.
func TestPollAfter(t *testing.T) {
	t.Parallel()
	s := newSim(t, 600, 0, time.Hour) // 10 a second
	open := t0.Add(10 * time.Minute)
	s.cat.update(s.event, func(r *waitroom.Room) { r.SalesStart = &open })
	pre := s.join(100)
	if tk := s.status(pre[0]); tk.Status != waitroom.StatusPreQueue || tk.PollAfter != 30*time.Second {
		t.Errorf("pre-queue, ten minutes before the opening: %+v, want 30s", tk)
	}
	// Five seconds before: the opening plus a random share of the 10 s the
	// room needs for 100 at 10 a second.
	s.clock.Set(open.Add(-5 * time.Second))
	seen := map[time.Duration]bool{}
	for _, u := range pre {
		d := s.status(u).PollAfter
		if d < 5*time.Second || d >= 15*time.Second {
			t.Fatalf("pre-queue, 5s before the opening: poll after %v, want 5s to 15s", d)
		}
		seen[d.Truncate(time.Second)] = true
	}
	if len(seen) < 5 {
		t.Errorf("100 pre-queue polls 5s before the opening were told only %v: not spread", seen)
	}

	s.clock.Set(open)
	post := s.join(700) // numbers 101..800
	var last time.Duration
	for _, c := range []struct {
		pos  int64
		want time.Duration
	}{
		{1, time.Second},  // half of 0.1 s, raised to the floor
		{20, time.Second}, // half of 2 s
		{100, 5 * time.Second},
		{300, 15 * time.Second},
		{599, 29950 * time.Millisecond},
		{800, 30 * time.Second}, // half of 80 s, capped
	} {
		// Before any admission, a position is a number.
		var u uuid.UUID
		if c.pos <= 100 {
			u = placeHolder(t, s, pre, c.pos)
		} else {
			u = post[c.pos-101]
		}
		tk := s.status(u)
		if tk.Status != waitroom.StatusWaiting || *tk.Position != c.pos || tk.PollAfter != c.want {
			t.Errorf("position %d: %+v, want poll after %v", c.pos, tk, c.want)
		}
		if tk.PollAfter < last {
			t.Errorf("position %d polls after %v, sooner than a place ahead (%v)", c.pos, tk.PollAfter, last)
		}
		last = tk.PollAfter
	}

	// Admitted: the cap.
	s.runUntil(open.Add(500*time.Millisecond), nil)
	if tk := s.status(placeHolder(t, s, pre, 1)); tk.Status != waitroom.StatusAdmitted || tk.PollAfter != 30*time.Second {
		t.Errorf("admitted: %+v, want poll after 30s", tk)
	}
	// A short admission caps every wait at half its lifetime.
	s.cat.update(s.event, func(r *waitroom.Room) { r.AdmissionTTL = 10 * time.Second })
	s.clock.Set(s.clock.Now().Add(time.Millisecond))
	if tk := s.status(post[len(post)-1]); tk.PollAfter != 5*time.Second {
		t.Errorf("deep in the line with 10 s admissions: %+v, want poll after 5s", tk)
	}
}

// placeHolder returns the pre-queue member placed at pos (before any
// admission).
func placeHolder(t *testing.T, s *sim, pre []uuid.UUID, pos int64) uuid.UUID {
	t.Helper()
	for _, u := range pre {
		p, ok, err := s.queue.Place(s.ctx, s.event, u, true)
		if err == nil && ok && p.Number == pos {
			return u
		}
	}
	t.Fatalf("nobody of the pre-queue holds number %d", pos)
	return uuid.UUID{}
}
