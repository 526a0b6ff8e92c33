package waitroom_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/waitroom"
)

// TestTenMinutesAtSixHundred: 10,000 users wait; over ten simulated
// minutes at 600 per minute, with a run every second, exactly 6,000 are
// admitted, 600 in each minute and never more in any 60 seconds.
func TestTenMinutesAtSixHundred(t *testing.T) {
	t.Parallel()
	s := newSim(t, 600, 0, time.Hour)
	s.join(10_000)
	var rec recorder
	runs := s.runUntil(t0.Add(10*time.Minute-time.Millisecond), rec.after)

	if runs != 600 {
		t.Errorf("%d admission runs in 10 minutes, want 600 (one a second)", runs)
	}
	if rec.total != 6000 {
		t.Errorf("admitted %d in 10 minutes at 600/min, want exactly 6000", rec.total)
	}
	for m := range 10 {
		from := t0.Add(time.Duration(m) * time.Minute)
		if n := rec.inRange(from, from.Add(time.Minute)); n != 600 {
			t.Errorf("minute %d admitted %d, want 600", m, n)
		}
	}
	if most, at := rec.maxInWindow(time.Minute); most > 600 {
		t.Errorf("%d admitted in the 60 s up to %v, want at most 600", most, at.Sub(t0))
	}
	if c := s.counts(); c.Waiting != 4000 || c.Active != 6000 || c.AdmittedLastMinute != 600 {
		t.Errorf("counts = %+v, want 4000 waiting, 6000 active, 600 in the last minute", c)
	}
}

// TestRateHoldsWithJitter: runs 1 to 2 seconds apart (ProcessIn 1s plus
// asynq's forwarding interval) never admit more than 600 in any 60
// seconds, and the bucket, filled by elapsed time, keeps the rate: each
// window replays the last minute's admissions a little late, which costs
// at most a few percent.
func TestRateHoldsWithJitter(t *testing.T) {
	t.Parallel()
	s := newSim(t, 600, 0, time.Hour)
	rng := rand.New(rand.NewPCG(3, 4))
	s.sched.jitter = func() time.Duration { return time.Duration(rng.Int64N(int64(time.Second))) }
	s.join(8_000)
	var rec recorder
	s.runUntil(t0.Add(10*time.Minute-time.Millisecond), rec.after)

	if most, at := rec.maxInWindow(time.Minute); most > 600 {
		t.Errorf("%d admitted in the 60 s up to %v, want at most 600", most, at.Sub(t0))
	}
	for m := range 10 {
		from := t0.Add(time.Duration(m) * time.Minute)
		if n := rec.inRange(from, from.Add(time.Minute)); n > 600 {
			t.Errorf("minute %d admitted %d, want at most 600", m, n)
		}
	}
	if rec.total < 5820 || rec.total > 6000 {
		t.Errorf("admitted %d in 10 minutes with jittery runs, want 5820..6000 (97%%+ of the rate)", rec.total)
	}
	t.Logf("admitted %d in 10 minutes at 600/min with runs 1-2 s apart", rec.total)
}

// TestAdmittedInJoinOrder: 1,000 users join at once; they are admitted
// strictly in the order of their numbers, users who left are skipped
// without using up the rate, and positions count down.
func TestAdmittedInJoinOrder(t *testing.T) {
	t.Parallel()
	s := newSim(t, 600, 0, time.Hour)
	users := make([]uuid.UUID, 1000)
	var wg sync.WaitGroup
	for w := range 20 {
		wg.Go(func() {
			for i := w; i < len(users); i += 20 {
				u := uuid.New()
				if _, err := s.svc.Join(s.ctx, s.event, u); err != nil {
					t.Error(err)
				}
				users[i] = u
			}
		})
	}
	wg.Wait()
	// Join order is number order: sort users by their number.
	number := map[uuid.UUID]int64{}
	for _, u := range users {
		p, ok, err := s.queue.Place(s.ctx, s.event, u, true)
		if err != nil || !ok {
			t.Fatalf("Place(%s) = %v, %v", u, ok, err)
		}
		number[u] = p.Number
	}
	slices.SortFunc(users, func(a, b uuid.UUID) int { return int(number[a] - number[b]) })
	for i, u := range users {
		if number[u] != int64(i+1) {
			t.Fatalf("numbers are not 1..1000 without gaps: user %d has %d", i, number[u])
		}
	}
	// Joining again keeps one's place.
	if tk, err := s.svc.Join(s.ctx, s.event, users[500]); err != nil || *tk.Position != 501 {
		t.Fatalf("second Join = %+v, %v; want position 501", tk, err)
	}
	// Every 10th user leaves before their turn.
	left := map[uuid.UUID]bool{}
	for i := 9; i < len(users); i += 10 {
		if err := s.svc.Leave(s.ctx, s.event, users[i]); err != nil {
			t.Fatal(err)
		}
		left[users[i]] = true
	}
	if c := s.counts(); c.Waiting != 900 {
		t.Fatalf("waiting after 100 left = %d, want 900", c.Waiting)
	}

	// Run 30 seconds: 10 a second, the first 300 who stayed.
	var rec recorder
	s.runUntil(t0.Add(29*time.Second+500*time.Millisecond), rec.after)
	if rec.total != 300 {
		t.Fatalf("admitted %d in 30 runs at 10/s, want 300 (leavers cost nothing)", rec.total)
	}
	for _, a := range rec.log {
		if a.n != 10 {
			t.Fatalf("a run admitted %d, want 10 each second", a.n)
		}
	}
	var stayed []uuid.UUID
	for _, u := range users {
		if !left[u] {
			stayed = append(stayed, u)
		}
	}
	for i, u := range stayed {
		tk := s.status(u)
		if i < 300 {
			if tk.Status != waitroom.StatusAdmitted || tk.AdmittedAt == nil || tk.Position != nil {
				t.Fatalf("user %d (number %d): %+v, want admitted", i, number[u], tk)
			}
			if want := t0.Add(time.Duration(i/10) * time.Second); !tk.AdmittedAt.Equal(want) {
				t.Fatalf("user %d admitted at %v, want %v: out of order", i, tk.AdmittedAt.Sub(t0), want.Sub(t0))
			}
			if !s.admitted(u) {
				t.Fatalf("user %d: Admitted = false", i)
			}
			continue
		}
		if tk.Status != waitroom.StatusWaiting {
			t.Fatalf("user %d: %+v, want waiting", i, tk)
		}
		// Serving passed number 333 (the 300th who stayed); positions
		// still count the leavers ahead, so they are upper bounds.
		if want := number[u] - 333; *tk.Position != want {
			t.Fatalf("user %d (number %d): position %d, want %d", i, number[u], *tk.Position, want)
		}
		if want := time.Duration((*tk.Position+9)/10) * time.Second; tk.EstimatedWait != want {
			t.Fatalf("position %d: estimate %v, want %v", *tk.Position, tk.EstimatedWait, want)
		}
		if s.admitted(u) {
			t.Fatalf("waiting user %d: Admitted = true", i)
		}
	}
	for u := range left {
		if _, err := s.svc.Status(s.ctx, s.event, u); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("Status of a leaver = %v, want NotFound", err)
		}
	}

	// Run on until everyone is in: 900 in 90 runs, then the chain ends.
	s.runUntil(t0.Add(5*time.Minute), rec.after)
	if rec.total != 900 {
		t.Errorf("admitted %d in all, want 900", rec.total)
	}
	if n := s.sched.count(); n != 0 {
		t.Errorf("%d runs still scheduled with nobody waiting, want the chain ended", n)
	}
	if got := rec.log[len(rec.log)-1].at; !got.Equal(t0.Add(89 * time.Second)) {
		t.Errorf("last admission at %v, want 89s", got.Sub(t0))
	}
}

// TestMaxActiveAndLapse: at most max_active users are admitted at once,
// however fast the rate; lapsed admissions free their slots, and so does
// leaving.
func TestMaxActiveAndLapse(t *testing.T) {
	t.Parallel()
	s := newSim(t, 6000, 50, 30*time.Second)
	users := s.join(1000)
	var rec recorder
	most := int64(0)
	track := func(now time.Time, c waitroom.Counts) {
		rec.after(now, c)
		most = max(most, c.Active)
	}
	s.runUntil(t0.Add(160*time.Second), track)
	// Every 30 s the 50 admissions lapse together and 50 more come in.
	if rec.total != 300 {
		t.Errorf("admitted %d in 160 s with 50 slots lapsing every 30 s, want 300", rec.total)
	}
	for i, a := range rec.log {
		if want := t0.Add(time.Duration(i) * 30 * time.Second); !a.at.Equal(want) || a.n != 50 {
			t.Errorf("batch %d: %d at %v, want 50 at %v", i, a.n, a.at.Sub(t0), want.Sub(t0))
		}
	}
	// The first batch has expired.
	if tk := s.status(users[0]); tk.Status != waitroom.StatusExpired || tk.AdmittedUntil == nil ||
		!tk.AdmittedUntil.Equal(t0.Add(30*time.Second)) {
		t.Errorf("first user after lapse: %+v, want expired at 30s", tk)
	}
	if s.admitted(users[0]) {
		t.Error("a lapsed admission still admits")
	}

	// Leaving frees a slot at once: the next run admits the next user.
	leaver := users[250] // admitted at 150 s, until 180 s
	if !s.admitted(leaver) {
		t.Fatal("user 250 should be admitted now")
	}
	if err := s.svc.Leave(s.ctx, s.event, leaver); err != nil {
		t.Fatal(err)
	}
	if s.admitted(leaver) {
		t.Error("a user who left is still admitted")
	}
	s.runUntil(t0.Add(161500*time.Millisecond), track)
	if rec.total != 301 || !s.admitted(users[300]) {
		t.Errorf("after a leave: admitted %d in all (user 300 admitted: %v), want 301 and user 300 in", rec.total, s.admitted(users[300]))
	}
	// At 180 s the 49 left of the sixth batch lapse and 49 come in.
	s.runUntil(t0.Add(180500*time.Millisecond), track)
	if c := s.counts(); rec.total != 350 || c.Active != 50 {
		t.Errorf("at 180 s: admitted %d in all, %d active; want 350 and 50", rec.total, c.Active)
	}
	if most != 50 {
		t.Errorf("most active at once = %d, want 50 (max_active)", most)
	}
}

// TestWindowGuard: a new chain starting right after another drained the
// queue starts with a second's worth of admissions, but the last minute
// already holds the room's 600, so the newcomer waits until the first
// batch leaves the window.
func TestWindowGuard(t *testing.T) {
	t.Parallel()
	s := newSim(t, 600, 0, time.Hour)
	s.join(600)
	var rec recorder
	s.runUntil(t0.Add(59*time.Second+100*time.Millisecond), rec.after)
	if rec.total != 600 || s.sched.count() != 0 {
		t.Fatalf("admitted %d with %d runs pending, want 600 and the chain ended", rec.total, s.sched.count())
	}
	late := s.join(1)[0] // at 59.1 s: a new chain, which runs at once
	s.runUntil(t0.Add(59*time.Second+200*time.Millisecond), rec.after)
	if tk := s.status(late); tk.Status != waitroom.StatusWaiting {
		t.Fatalf("newcomer at 59.1s: %+v, want waiting (600 admitted in the last minute)", tk)
	}
	s.runUntil(t0.Add(61*time.Second), rec.after)
	tk := s.status(late)
	if tk.Status != waitroom.StatusAdmitted || !tk.AdmittedAt.Equal(t0.Add(60100*time.Millisecond)) {
		t.Fatalf("newcomer: %+v, want admitted at 60.1s, once the first batch left the window", tk)
	}
	if most, at := rec.maxInWindow(time.Minute); most > 600 {
		t.Errorf("%d admitted in the 60 s up to %v, want at most 600", most, at.Sub(t0))
	}
}

// TestOneChainPerRoom: however many joins, one chain runs a room; stale
// and duplicate steps do nothing, a retried step only reschedules its
// successor, and a lost chain is replaced once its lease lapses.
func TestOneChainPerRoom(t *testing.T) {
	t.Parallel()
	s := newSim(t, 60, 0, time.Hour)
	s.join(50)
	if n := s.sched.count(); n != 1 {
		t.Fatalf("50 joins scheduled %d runs, want 1 (one chain)", n)
	}
	first, _ := s.sched.next(t0)
	if first.run.Step != 0 {
		t.Fatalf("first run %+v, want step 0", first.run)
	}
	ctx := s.ctx
	if err := s.svc.RunAdmission(ctx, first.run); err != nil {
		t.Fatal(err)
	}
	if c := s.counts(); c.AdmittedTotal != 1 || s.sched.count() != 1 {
		t.Fatalf("after step 0: %+v with %d runs pending, want 1 admitted and step 1 scheduled", c, s.sched.count())
	}
	// A retry of step 0 (its successor already scheduled) admits nobody and
	// schedules nothing new.
	if err := s.svc.RunAdmission(ctx, first.run); err != nil {
		t.Fatal(err)
	}
	// Another chain, or an older step, is stale.
	for _, run := range []waitroom.Run{
		{EventID: s.event, Chain: uuid.NewString(), Step: 0},
		{EventID: s.event, Chain: first.run.Chain, Step: 7},
	} {
		if err := s.svc.RunAdmission(ctx, run); err != nil {
			t.Fatal(err)
		}
	}
	if c := s.counts(); c.AdmittedTotal != 1 || s.sched.count() != 1 {
		t.Fatalf("after a retry and stale runs: %+v with %d runs pending, want 1 admitted and 1 run", c, s.sched.count())
	}

	// A crash loses the chain: its next run never comes.
	s.sched.mu.Lock()
	s.sched.pending = nil
	s.sched.mu.Unlock()
	// Until its lease lapses, nothing takes over.
	if n, err := s.svc.Rearm(ctx); err != nil || n != 0 {
		t.Fatalf("Rearm with a live lease = %d, %v; want 0", n, err)
	}
	s.join(1)
	if n := s.sched.count(); n != 0 {
		t.Fatalf("a join under a live lease scheduled %d runs", n)
	}
	// The lease lapses (30 s of real time, here cut short).
	if err := s.rdb.Del(ctx, "waitroom:{"+s.event.String()+"}:chain").Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := s.svc.Rearm(ctx); err != nil || n != 1 {
		t.Fatalf("Rearm after the lease lapsed = %d, %v; want 1 chain started", n, err)
	}
	if n, err := s.svc.Rearm(ctx); err != nil || n != 0 {
		t.Fatalf("second Rearm = %d, %v; want 0", n, err)
	}
	s.join(1)
	if n := s.sched.count(); n != 1 {
		t.Fatalf("%d runs pending after re-arm and a join, want 1", n)
	}
	// The old chain's step 1, delivered late after all, is stale.
	if err := s.svc.RunAdmission(ctx, waitroom.Run{EventID: s.event, Chain: first.run.Chain, Step: 1}); err != nil {
		t.Fatal(err)
	}
	if c := s.counts(); c.AdmittedTotal != 1 {
		t.Fatalf("the old chain admitted after losing the room: %+v", c)
	}
	var rec recorder
	rec.total = 1
	s.runUntil(t0.Add(10*time.Second), rec.after)
	if rec.total != 12 {
		t.Errorf("admitted %d in all after the new chain's 11 runs at 1/s, want 12", rec.total)
	}
}

// TestPausedRoom: a room switched off, or whose sales have not opened,
// admits nobody but keeps its queue; switched on, it resumes in order.
func TestPausedRoom(t *testing.T) {
	t.Parallel()
	s := newSim(t, 60, 0, time.Hour)
	salesStart := t0.Add(2 * time.Minute)
	s.cat.update(s.event, func(r *waitroom.Room) { r.SalesStart = &salesStart })
	users := s.join(3)
	tk := s.status(users[2])
	if tk.Status != waitroom.StatusPreQueue || tk.Position != nil || tk.EstimatedWait != 2*time.Minute {
		t.Fatalf("before sales open: %+v, want the pre-queue, no position, wait 2m", tk)
	}
	runs := s.runUntil(salesStart.Add(-time.Millisecond), nil)
	if c := s.counts(); c.AdmittedTotal != 0 || c.Waiting != 3 {
		t.Fatalf("before sales opened: %+v, want none admitted, 3 waiting", c)
	}
	if runs < 20 || runs > 25 {
		t.Errorf("%d idle runs in 2 minutes, want one every 5 s", runs)
	}
	var rec recorder
	s.runUntil(salesStart.Add(500*time.Millisecond), rec.after)
	if rec.total != 1 || !rec.log[0].at.Equal(salesStart) {
		t.Fatalf("admissions as sales opened: %+v, want 1 (a second's worth) at the opening itself", rec.log)
	}
	// The pre-queue was placed at random: the admitted user has no place
	// to check against, but everyone now has one, 1 to 3.
	order := make([]uuid.UUID, 3)
	for _, u := range users {
		if s.admitted(u) {
			order[0] = u
			continue
		}
		tk := s.status(u)
		if tk.Status != waitroom.StatusWaiting || *tk.Position < 1 || *tk.Position > 2 || order[*tk.Position] != uuid.Nil {
			t.Fatalf("after the opening: %+v, want waiting at a place of its own", tk)
		}
		order[*tk.Position] = u
	}
	if order[0] == uuid.Nil {
		t.Fatal("nobody admitted at the opening")
	}

	// Switched off: everyone may book (the booking engine stops asking),
	// the queue holds still, and nobody may join.
	s.cat.update(s.event, func(r *waitroom.Room) { r.Enabled = false })
	s.clock.Set(s.clock.Now().Add(time.Millisecond)) // past the settings cache
	if _, err := s.svc.Join(s.ctx, s.event, uuid.New()); !apperr.Is(err, apperr.InvalidState) {
		t.Errorf("Join with the room off = %v, want InvalidState", err)
	}
	before := rec.total
	s.runUntil(salesStart.Add(time.Minute), rec.after)
	if rec.total != before || s.sched.count() != 1 {
		t.Fatalf("room off: admitted %d more with %d runs pending, want none and the chain idling", rec.total-before, s.sched.count())
	}
	if tk := s.status(order[2]); tk.Status != waitroom.StatusWaiting || *tk.Position != 2 {
		t.Fatalf("room off: %+v, want still waiting at 2", tk)
	}
	s.cat.update(s.event, func(r *waitroom.Room) { r.Enabled = true })
	s.runUntil(salesStart.Add(70*time.Second), rec.after)
	if !s.admitted(order[1]) || !s.admitted(order[2]) || s.sched.count() != 0 {
		t.Errorf("switched on again: the other two not admitted, or the chain still runs (%d)", s.sched.count())
	}
}

// TestJoinRules: who may join which room, and what joining again does.
func TestJoinRules(t *testing.T) {
	t.Parallel()
	s := newSim(t, 60, 0, 10*time.Second)
	ctx := s.ctx
	if _, err := s.svc.Join(ctx, uuid.New(), uuid.New()); !apperr.Is(err, apperr.NotFound) {
		t.Errorf("Join(unknown event) = %v, want NotFound", err)
	}
	ended := t0.Add(-time.Minute)
	for name, change := range map[string]func(r *waitroom.Room){
		"draft":       func(r *waitroom.Room) { r.Status = "draft" },
		"cancelled":   func(r *waitroom.Room) { r.Status = "cancelled" },
		"started":     func(r *waitroom.Room) { r.StartsAt = t0 },
		"sales ended": func(r *waitroom.Room) { r.SalesEnd = &ended },
		"room off":    func(r *waitroom.Room) { r.Enabled = false },
	} {
		id := uuid.New()
		r := s.cat.rooms[s.event]
		r.EventID = id
		change(&r)
		s.cat.rooms[id] = r
		want := apperr.InvalidState
		if name == "draft" {
			want = apperr.NotFound
		}
		if _, err := s.svc.Join(ctx, id, uuid.New()); !apperr.Is(err, want) {
			t.Errorf("Join(%s) = %v, want %s", name, err, want)
		}
	}
	if _, err := s.svc.Status(ctx, s.event, uuid.New()); !apperr.Is(err, apperr.NotFound) {
		t.Errorf("Status(not joined) = %v, want NotFound", err)
	}
	if err := s.svc.Leave(ctx, s.event, uuid.New()); err != nil {
		t.Errorf("Leave(not joined) = %v, want nil", err)
	}

	// Admitted, joining again keeps the admission; once it lapses, joining
	// again queues at the back.
	u := s.join(1)[0]
	first := s.status(u)
	s.runUntil(t0.Add(time.Second), nil)
	tk, err := s.svc.Join(ctx, s.event, u)
	if err != nil || tk.Status != waitroom.StatusAdmitted || !tk.JoinedAt.Equal(first.JoinedAt) {
		t.Fatalf("Join while admitted = %+v, %v; want the same admitted ticket", tk, err)
	}
	others := s.join(2)
	s.clock.Set(t0.Add(11 * time.Second))
	if tk := s.status(u); tk.Status != waitroom.StatusExpired || tk.EstimatedWait != 0 || tk.Position != nil {
		t.Fatalf("after the admission lapsed: %+v, want expired", tk)
	}
	tk, err = s.svc.Join(ctx, s.event, u)
	if err != nil || tk.Status != waitroom.StatusWaiting || tk.AdmittedAt != nil || !tk.JoinedAt.Equal(t0.Add(11*time.Second)) {
		t.Fatalf("Join after lapse = %+v, %v; want waiting anew", tk, err)
	}
	// Behind the two who joined while they were admitted.
	if o := s.status(others[1]); *tk.Position <= *o.Position {
		t.Errorf("rejoined at position %d, want behind %d", *tk.Position, *o.Position)
	}
}

// TestStatsAndFailures: admin stats, and what a broken dependency gives.
func TestStatsAndFailures(t *testing.T) {
	t.Parallel()
	s := newSim(t, 120, 7, time.Hour)
	s.join(20)
	s.runUntil(t0.Add(3*time.Second), nil)
	st, err := s.svc.Stats(s.ctx, s.event)
	if err != nil {
		t.Fatal(err)
	}
	// 2 at once (a second's worth), then 2 a second, capped at 7.
	if !st.Enabled || st.AdmitPerMinute != 120 || st.MaxActive == nil || *st.MaxActive != 7 ||
		st.Waiting != 13 || st.Active != 7 || st.AdmittedTotal != 7 || st.AdmittedLastMinute != 7 {
		t.Errorf("Stats = %+v", st)
	}
	open, err := s.svc.OpenRoomStats(s.ctx)
	if err != nil || len(open) != 1 || open[0].Counts != st.Counts {
		t.Errorf("OpenRoomStats = %+v, %v", open, err)
	}
	if _, err := s.svc.Stats(s.ctx, uuid.New()); !apperr.Is(err, apperr.NotFound) {
		t.Errorf("Stats(unknown) = %v, want NotFound", err)
	}

	// Postgres down: the run fails (and is retried); nothing changes.
	s.cat.fail = errors.New("connection refused")
	if err := s.svc.RunAdmission(s.ctx, waitroom.Run{EventID: s.event, Chain: "x"}); err == nil {
		t.Error("RunAdmission with the catalogue down = nil, want an error to retry")
	}
	s.cat.fail = nil
	// Redis down: Unavailable.
	_ = s.rdb.Close()
	if _, err := s.svc.Join(context.Background(), s.event, uuid.New()); !apperr.Is(err, apperr.Unavailable) {
		t.Errorf("Join with Redis down = %v, want Unavailable", err)
	}
	if err := s.svc.CheckAdmission(context.Background(), s.event, uuid.New(), ""); !apperr.Is(err, apperr.Unavailable) {
		t.Errorf("CheckAdmission without a pass, Redis down = %v, want Unavailable", err)
	}
}
