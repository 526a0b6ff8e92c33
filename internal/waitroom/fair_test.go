package waitroom_test

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/waitroom"
)

// spearman is the rank correlation of two permutations of 0..n-1.
func spearman(a, b []int) float64 {
	n := float64(len(a))
	var d2 float64
	for i := range a {
		d := float64(a[i] - b[i])
		d2 += d * d
	}
	return 1 - 6*d2/(n*(n*n-1))
}

// decileChiSquare is Pearson's statistic of the 10×10 table counting
// members by (join decile, admission decile) against independence; both
// are permutations of 0..n-1, so every row and column holds n/10.
func decileChiSquare(join, admitted []int) float64 {
	n := len(join)
	var table [10][10]float64
	for i := range join {
		table[join[i]*10/n][admitted[i]*10/n]++
	}
	want := float64(n) / 100
	var chi float64
	for _, row := range table {
		for _, o := range row {
			chi += (o - want) * (o - want) / want
		}
	}
	return chi
}

// The thresholds below fail a fair shuffle with a chance of about one in
// 10^9 each: under independence, Spearman's rho of 10,000 pairs is
// normal with standard deviation 1/sqrt(9,999) ≈ 0.01 (6σ = 0.06), and the
// statistic of the 10×10 table is chi-square with 81 degrees of freedom
// (P(χ² > 180) ≈ 1.7·10⁻⁹, P(χ² < 25) ≈ 2.7·10⁻¹⁰). The lower bound
// catches orders too regular to be random: a stride through the join
// order (every 10th joiner first) would give χ² = 0 and rho ≈ 0.
const (
	maxRho    = 0.06
	minChiSq  = 25
	maxChiSq  = 180
	shuffled  = 10_000
	perSecond = 1000
)

// TestPreQueueShuffle: 10,000 users join one after another before sales
// open. Nobody is admitted before the opening; at the opening the room
// admits them in an order independent of the join order (rank correlation
// near 0, every join decile spread evenly over the admission deciles),
// with no one lost or admitted twice, and in exactly the order of the
// places drawn.
func TestPreQueueShuffle(t *testing.T) {
	t.Parallel()
	s := newSim(t, perSecond*60, 0, time.Hour)
	open := t0.Add(time.Hour)
	s.cat.update(s.event, func(r *waitroom.Room) { r.SalesStart = &open })
	users := make([]uuid.UUID, shuffled)
	for i := range users {
		users[i] = uuid.New()
		s.clock.Set(t0.Add(time.Duration(i) * time.Millisecond))
		tk, err := s.svc.Join(s.ctx, s.event, users[i])
		if err != nil || tk.Status != waitroom.StatusPreQueue || tk.Position != nil {
			t.Fatalf("Join %d before sales open = %+v, %v; want the pre-queue without a position", i, tk, err)
		}
	}
	if c := s.counts(); c.Waiting != shuffled {
		t.Fatalf("%d waiting, want %d", c.Waiting, shuffled)
	}
	s.runUntil(open.Add(-time.Millisecond), nil)
	if c := s.counts(); c.AdmittedTotal != 0 {
		t.Fatalf("%d admitted before sales opened", c.AdmittedTotal)
	}
	// Nobody polls: the admission chain opens the room on its own.
	var rec recorder
	s.runUntil(open.Add(shuffled/perSecond*time.Second), rec.after)
	if rec.total != shuffled || !rec.log[0].at.Equal(open) {
		t.Fatalf("admitted %d, first at %v; want all %d, from the opening at %v", rec.total, rec.log[0].at, shuffled, open)
	}

	join := make([]int, shuffled)
	admitted := make([]int, shuffled)
	seen := make([]bool, shuffled)
	for i, u := range users {
		p, ok, err := s.queue.Place(s.ctx, s.event, u, true)
		if err != nil || !ok || p.AdmittedAt == nil {
			t.Fatalf("Place(user %d) = %+v, %v, %v; want admitted", i, p, ok, err)
		}
		n := int(p.Number) - 1
		if n < 0 || n >= shuffled || seen[n] {
			t.Fatalf("user %d has number %d: outside 1..%d or given twice", i, p.Number, shuffled)
		}
		seen[n] = true
		// Numbers are the admission order: batch k (one a second) holds
		// numbers 1000k+1 to 1000(k+1).
		if want := open.Add(time.Duration(n/perSecond) * time.Second); !p.AdmittedAt.Equal(want) {
			t.Fatalf("number %d admitted at %v, want %v: not admitted in number order", p.Number, p.AdmittedAt, want)
		}
		join[i], admitted[i] = i, n
	}
	rho := spearman(join, admitted)
	chi := decileChiSquare(join, admitted)
	t.Logf("10,000 pre-queue joiners: rank correlation of join and admission order %.4f, decile chi-square %.1f (81 df)", rho, chi)
	if math.Abs(rho) > maxRho {
		t.Errorf("rank correlation of join and admission order = %.4f, want |rho| <= %v: not shuffled", rho, maxRho)
	}
	if chi < minChiSq || chi > maxChiSq {
		t.Errorf("decile chi-square = %.1f, want %v..%v: not uniform", chi, minChiSq, maxChiSq)
	}
	if slices.Equal(join, admitted) {
		t.Error("admitted in join order")
	}
}

// TestShuffleIsTheDraw: the pre-queue's order is the order of the keys
// drawn at join, whatever the order of arrival; later joiners queue behind
// in arrival order, and a pre-queue member who leaves after the opening is
// skipped without moving anyone else.
func TestShuffleIsTheDraw(t *testing.T) {
	t.Parallel()
	s := newSim(t, 60, 0, time.Hour)
	open := t0.Add(time.Minute)
	s.cat.update(s.event, func(r *waitroom.Room) { r.SalesStart = &open })
	// The fifth joiner draws the second-smallest key; the joiners after
	// the opening draw the smallest, which count for nothing.
	draws := []uint64{50, 10, 40, 30, 20, 1, 2}
	var next atomic.Int64
	s.svc = waitroom.NewService(s.cat, s.queue, s.sched, waitroom.Options{Now: s.clock.Now, RoomCacheTTL: time.Nanosecond,
		Draw: func() uint64 { return draws[min(int(next.Add(1)-1), len(draws)-1)] }})
	pre := s.join(5)
	s.clock.Set(open)
	post := s.join(2)
	// Places 1..5 follow the keys, 6 and 7 the arrivals.
	want := []uuid.UUID{pre[1], pre[4], pre[3], pre[2], pre[0], post[0], post[1]}
	for i, u := range want {
		if tk := s.status(u); tk.Status != waitroom.StatusWaiting || *tk.Position != int64(i+1) {
			t.Fatalf("place %d: %+v, want waiting at %d", i+1, tk, i+1)
		}
	}
	// The holder of place 3 leaves: the others keep their places (a
	// position is an upper bound), and the line skips place 3.
	if err := s.svc.Leave(s.ctx, s.event, want[2]); err != nil {
		t.Fatal(err)
	}
	if tk := s.status(want[3]); *tk.Position != 4 {
		t.Fatalf("after a leave ahead: %+v, want still at 4", tk)
	}
	if c := s.counts(); c.Waiting != 6 {
		t.Fatalf("%d waiting after a leave, want 6", c.Waiting)
	}
	var got []uuid.UUID
	s.runUntil(open.Add(10*time.Second), func(time.Time, waitroom.Counts) {
		for _, u := range want {
			if !slices.Contains(got, u) && u != want[2] && s.admitted(u) {
				got = append(got, u)
			}
		}
	})
	if w := slices.Delete(slices.Clone(want), 2, 3); !slices.Equal(got, w) {
		t.Errorf("admission order %v, want %v", got, w)
	}
	// Joining again after leaving queues at the back.
	tk, err := s.svc.Join(s.ctx, s.event, want[2])
	if err != nil || tk.Status != waitroom.StatusWaiting {
		t.Fatalf("rejoin = %+v, %v", tk, err)
	}
	if p, _, _ := s.queue.Place(s.ctx, s.event, want[2], true); p.Number != 8 {
		t.Errorf("rejoined with number %d, want 8 (the back)", p.Number)
	}
}

// joinRecord is one join made during the race.
type joinRecord struct {
	user    uuid.UUID
	worker  int
	seq     int
	status  waitroom.Status
	clockAt time.Time
}

// TestNoAdmissionBeforeTheShuffle races admission runs, joins and polls
// against the opening, on two replicas whose clocks differ by 40 ms (the
// slow one still thinks sales have not opened when they have): 16
// goroutines join (some before, some after the opening), 8 poll, 2 run the
// admission chain through either replica. Whatever the interleaving,
// everyone answered "pre_queue" is admitted before everyone answered
// "waiting", those take their numbers in arrival order, nobody is admitted
// before sales open, and nobody is lost.
func TestNoAdmissionBeforeTheShuffle(t *testing.T) {
	t.Parallel()
	s := newSim(t, 6000, 0, time.Hour) // 100 a second
	open := t0.Add(time.Minute)
	s.cat.update(s.event, func(r *waitroom.Room) { r.SalesStart = &open })
	replica := func(skew time.Duration) *waitroom.Service {
		return waitroom.NewService(s.cat, s.queue, s.sched, waitroom.Options{
			Now: func() time.Time { return s.clock.Now().Add(skew) }, RoomCacheTTL: time.Nanosecond,
			Tick: 10 * time.Millisecond, IdleTick: 10 * time.Millisecond})
	}
	replicas := []*waitroom.Service{replica(0), replica(-40 * time.Millisecond)}

	var (
		mu      sync.Mutex
		records []joinRecord
	)
	record := func(r joinRecord) {
		mu.Lock()
		records = append(records, r)
		mu.Unlock()
	}
	early := s.join(1000)
	for i, u := range early {
		record(joinRecord{user: u, worker: -1, seq: i, status: waitroom.StatusPreQueue, clockAt: t0})
	}

	// The clock runs in real time from 300 ms before the opening.
	start, base := time.Now(), open.Add(-300*time.Millisecond)
	s.clock.Set(base)
	ctx, cancel := context.WithCancel(s.ctx)
	var (
		wg                       sync.WaitGroup
		runsBefore, runsAfter    atomic.Int64
		pollsBefore, pollsOpened atomic.Int64
	)
	wg.Go(func() {
		for ctx.Err() == nil {
			s.clock.Set(base.Add(time.Since(start)))
			time.Sleep(200 * time.Microsecond)
		}
	})
	for a := range 2 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				now := s.clock.Now()
				p, ok := s.sched.next(now)
				if !ok {
					time.Sleep(100 * time.Microsecond)
					continue
				}
				if now.Before(open) {
					runsBefore.Add(1)
				} else {
					runsAfter.Add(1)
				}
				// Calls run to the end (s.ctx): a run cut short would stall
				// the chain until its lease lapsed.
				if err := replicas[(a+i)%2].RunAdmission(s.ctx, p.run); err != nil {
					t.Errorf("RunAdmission = %v", err)
				}
			}
		})
	}
	for w := range 16 {
		wg.Go(func() {
			svc := replicas[w%2]
			rng := rand.New(rand.NewPCG(uint64(w), 2))
			for seq := 0; seq < 150 && ctx.Err() == nil; seq++ {
				u := uuid.New()
				at := s.clock.Now()
				tk, err := svc.Join(s.ctx, s.event, u)
				if err != nil {
					t.Errorf("Join = %v", err)
					return
				}
				record(joinRecord{user: u, worker: w, seq: seq, status: tk.Status, clockAt: at})
				time.Sleep(time.Duration(rng.IntN(10_000)) * time.Microsecond)
			}
		})
	}
	for w := range 8 {
		wg.Go(func() {
			svc := replicas[w%2]
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for ctx.Err() == nil {
				tk, err := svc.Status(s.ctx, s.event, early[rng.IntN(len(early))])
				if err != nil {
					t.Errorf("Status = %v", err)
					return
				}
				if tk.Status == waitroom.StatusPreQueue {
					pollsBefore.Add(1)
				} else {
					pollsOpened.Add(1)
				}
				time.Sleep(time.Duration(rng.IntN(4000)) * time.Microsecond)
			}
		})
	}
	time.Sleep(1500 * time.Millisecond)
	cancel()
	wg.Wait()
	if t.Failed() {
		return
	}

	// Admit everyone who is left, quickly.
	s.cat.update(s.event, func(r *waitroom.Room) { r.AdmitPerMinute = 600_000 })
	s.runUntil(s.clock.Now().Add(time.Minute), nil)

	var pre, post []joinRecord
	for _, r := range records {
		switch r.status {
		case waitroom.StatusPreQueue:
			pre = append(pre, r)
		case waitroom.StatusWaiting:
			post = append(post, r)
		default:
			t.Fatalf("a first join answered %s", r.status)
		}
	}
	t.Logf("race: %d pre-queue joins (%d during the race), %d after the opening; admission runs %d before and %d after the opening; polls %d before, %d after",
		len(pre), len(pre)-len(early), len(post), runsBefore.Load(), runsAfter.Load(), pollsBefore.Load(), pollsOpened.Load())
	if len(pre) == len(early) || len(post) == 0 || runsBefore.Load() == 0 || runsAfter.Load() == 0 || pollsBefore.Load() == 0 || pollsOpened.Load() == 0 {
		t.Fatal("the race did not straddle the opening: the test proves nothing")
	}
	place := func(u uuid.UUID) waitroom.Place {
		p, ok, err := s.queue.Place(s.ctx, s.event, u, true)
		if err != nil || !ok || p.AdmittedAt == nil {
			t.Fatalf("Place(%s) = %+v, %v, %v; want admitted", u, p, ok, err)
		}
		return p
	}
	numbers := map[int64]bool{}
	var lastPre time.Time
	for _, r := range pre {
		p := place(r.user)
		if p.Number < 1 || p.Number > int64(len(pre)) || numbers[p.Number] {
			t.Fatalf("pre-queue member has number %d, want a number of its own in 1..%d", p.Number, len(pre))
		}
		numbers[p.Number] = true
		if p.AdmittedAt.Before(open) {
			t.Errorf("pre-queue member admitted at %v, before the opening", p.AdmittedAt.Sub(open))
		}
		lastPre = maxTime(lastPre, *p.AdmittedAt)
	}
	last := map[int]int64{}
	for _, r := range post {
		p := place(r.user)
		if p.Number <= int64(len(pre)) || numbers[p.Number] {
			t.Fatalf("joiner after the opening has number %d, want one of its own past %d", p.Number, len(pre))
		}
		numbers[p.Number] = true
		if p.AdmittedAt.Before(lastPre) {
			t.Errorf("joiner after the opening admitted at %v, before a pre-queue member (%v)", p.AdmittedAt, lastPre)
		}
		if p.Number <= last[r.worker] {
			t.Errorf("worker %d's join %d has number %d, not after its previous join's %d", r.worker, r.seq, p.Number, last[r.worker])
		}
		last[r.worker] = p.Number
	}
	if c := s.counts(); c.Waiting != 0 || c.AdmittedTotal != int64(len(records)) {
		t.Errorf("after the drain: %+v, want all %d admitted", c, len(records))
	}
	// The pre-queue is not in join order.
	var join, adm []int
	for i, r := range pre {
		join = append(join, i)
		adm = append(adm, int(place(r.user).Number)-1)
	}
	if rho := spearman(join, adm); math.Abs(rho) > 0.2 {
		t.Errorf("pre-queue admitted with rank correlation %.3f to join order, want near 0", rho)
	}
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
