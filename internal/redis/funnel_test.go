package redis_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"

	"github.com/evently/evently/internal/funnel"
	"github.com/evently/evently/internal/redis"
	"github.com/evently/evently/internal/redistest"
	"github.com/evently/evently/internal/waitroom"
)

// TestWaitersAndFunnelCounters: four users join the pre-queue with keys
// that order them d, b, a, c, and two join after the opening. One run
// admits two (d and b); one pre-queue member who was not admitted yet
// leaves. Waiters lists the rest in line order (a, then the two late
// joiners); the funnel counts six tickets in their minutes, two
// admissions in the run's minute with their exact waits, and the
// admissions still running. A sold-out run marks the room once, and
// clears the mark when told seats are back.
func TestWaitersAndFunnelCounters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := redistest.New(t)
	q := redis.NewWaitingRooms(rdb)
	fn := redis.NewFunnel(rdb)
	event := uuid.New()
	t0 := time.Date(2030, 5, 1, 10, 0, 0, 0, time.UTC)
	a, b, c, d, e, f := uuid.New(), uuid.New(), uuid.New(), uuid.New(), uuid.New(), uuid.New()
	for _, j := range []struct {
		user uuid.UUID
		key  uint64
	}{{a, 30}, {b, 20}, {c, 40}, {d, 10}} {
		if _, _, err := q.Join(ctx, event, waitroom.Arrival{UserID: j.user, At: t0, Key: j.key}, "chain"); err != nil {
			t.Fatal(err)
		}
	}
	opens := t0.Add(90 * time.Second)
	for _, u := range []uuid.UUID{e, f} {
		if _, _, err := q.Join(ctx, event, waitroom.Arrival{UserID: u, At: opens, Open: true, Key: 1}, "chain"); err != nil {
			t.Fatal(err)
		}
	}
	at := opens.Add(5 * time.Second)
	bt, err := q.Admit(ctx, waitroom.Run{EventID: event, Chain: "chain"}, waitroom.Policy{Open: true, AdmitPerMinute: 60,
		AdmissionTTL: time.Minute, Burst: 5, Start: 5, Capped: true, Capacity: 2}, at)
	if err != nil || bt.Admitted != 2 || bt.SoldOutAt != nil {
		t.Fatalf("Admit with capacity 2 = %+v, %v; want 2 admitted", bt, err)
	}
	if _, _, err := q.Leave(ctx, event, c, at); err != nil {
		t.Fatal(err)
	}
	got, err := q.Waiters(ctx, event)
	if err != nil || !slices.Equal(got, []uuid.UUID{a, e, f}) {
		t.Fatalf("Waiters = %v, %v; want a, e, f (%v)", got, err, []uuid.UUID{a, e, f})
	}
	for _, withStart := range []bool{false, true} {
		admissions, err := q.ActiveAdmissions(ctx, event, at, withStart)
		active := waitroom.UsersOf(admissions)
		if slices.SortFunc(active, func(x, y uuid.UUID) int { return slices.Compare(x[:], y[:]) }); err != nil || len(active) != 2 ||
			!slices.Contains(active, b) || !slices.Contains(active, d) {
			t.Fatalf("ActiveAdmissions(withStart %v) = %v, %v; want b and d", withStart, active, err)
		}
		for _, ad := range admissions {
			wantAt := time.Time{}
			if withStart {
				wantAt = at
			}
			if !ad.Until.Equal(at.Add(time.Minute)) || !ad.At.Equal(wantAt) {
				t.Errorf("ActiveAdmissions(withStart %v): %+v, want given at %v, lapsing a minute after %v", withStart, ad, wantAt, at)
			}
		}
	}

	figs, err := fn.Figures(ctx, event, t0, t0.Add(3*time.Minute), at)
	if err != nil {
		t.Fatal(err)
	}
	if figs.Joined[t0] != 4 || figs.Joined[t0.Add(time.Minute)] != 2 || figs.Admitted[t0.Add(time.Minute)] != 2 ||
		len(figs.Admitted) != 1 || figs.Active != 2 {
		t.Errorf("Figures = %+v; want 4 and 2 joined in minutes 0 and 1, 2 admitted in minute 1, 2 active", figs)
	}
	wait := at.Sub(t0)
	if !slices.Equal(figs.Waits, []time.Duration{wait, wait}) {
		t.Errorf("waits = %v, want two of %v (joined at t0, admitted at %v)", figs.Waits, wait, at.Sub(t0))
	}
	byUser := map[uuid.UUID]funnel.Admission{}
	for _, a := range figs.Admissions {
		byUser[a.UserID] = a
	}
	for _, u := range []uuid.UUID{b, d} {
		if a := byUser[u]; len(figs.Admissions) != 2 || !a.At.Equal(at) || !a.Until.Equal(at.Add(time.Minute)) {
			t.Errorf("admissions = %+v; want b and d admitted at %v until a minute later", figs.Admissions, at)
		}
	}
	if later, err := fn.Figures(ctx, event, t0.Add(2*time.Minute), t0.Add(3*time.Minute), at); err != nil ||
		len(later.Joined)+len(later.Admitted)+len(later.Waits) != 0 {
		t.Errorf("Figures of a later minute = %+v, %v; want nothing", later, err)
	}

	// Sold out: marked at the first such run, kept by the next.
	soldOut := waitroom.Policy{Open: true, AdmitPerMinute: 60, AdmissionTTL: time.Minute, Burst: 5, Start: 5, Capped: true, SoldOut: true}
	run := waitroom.Run{EventID: event, Chain: "chain", Step: 1}
	bt, err = q.Admit(ctx, run, soldOut, at.Add(time.Second))
	if err != nil || bt.Admitted != 0 || bt.SoldOutAt == nil || !bt.SoldOutAt.Equal(at.Add(time.Second)) || bt.Told {
		t.Fatalf("sold-out Admit = %+v, %v", bt, err)
	}
	if err := q.ToldSoldOut(ctx, event); err != nil {
		t.Fatal(err)
	}
	bt, err = q.Admit(ctx, waitroom.Run{EventID: event, Chain: "chain", Step: 2}, soldOut, at.Add(2*time.Second))
	if err != nil || bt.SoldOutAt == nil || !bt.SoldOutAt.Equal(at.Add(time.Second)) || !bt.Told {
		t.Fatalf("second sold-out Admit = %+v, %v; want the first mark, told", bt, err)
	}
	if p, ok, err := q.Place(ctx, event, e, true); err != nil || !ok || p.SoldOutAt == nil {
		t.Fatalf("Place while sold out = %+v, %v, %v", p, ok, err)
	}
	open := soldOut
	open.SoldOut, open.Capacity = false, 1
	bt, err = q.Admit(ctx, waitroom.Run{EventID: event, Chain: "chain", Step: 3}, open, at.Add(3*time.Second))
	if err != nil || bt.SoldOutAt != nil || bt.Told || bt.Admitted != 1 {
		t.Fatalf("Admit with a seat back = %+v, %v; want the mark cleared and one admitted", bt, err)
	}
}

// TestWithoutFunnel: with the funnel counting off, the room joins and
// admits as before, and the funnel counters stay empty.
func TestWithoutFunnel(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := redistest.New(t)
	q := redis.NewWaitingRooms(rdb, redis.WithoutFunnel())
	event := uuid.New()
	t0 := time.Date(2030, 5, 1, 10, 0, 0, 0, time.UTC)
	users := []uuid.UUID{uuid.New(), uuid.New(), uuid.New()}
	for _, u := range users {
		if _, _, err := q.Join(ctx, event, waitroom.Arrival{UserID: u, At: t0, Open: true, Key: 1}, "chain"); err != nil {
			t.Fatal(err)
		}
	}
	bt, err := q.Admit(ctx, waitroom.Run{EventID: event, Chain: "chain"}, waitroom.Policy{Open: true, AdmitPerMinute: 60,
		AdmissionTTL: time.Minute, Burst: 5, Start: 5}, t0.Add(time.Second))
	if err != nil || bt.Admitted != 3 {
		t.Fatalf("Admit = %+v, %v; want 3 admitted", bt, err)
	}
	if ok, err := q.Admitted(ctx, event, users[2], t0.Add(2*time.Second)); err != nil || !ok {
		t.Fatalf("Admitted = %v, %v; want true", ok, err)
	}
	figs, err := redis.NewFunnel(rdb).Figures(ctx, event, t0, t0.Add(time.Minute), t0.Add(2*time.Second))
	if err != nil || len(figs.Joined)+len(figs.Admitted)+len(figs.Waits)+len(figs.Admissions) != 0 || figs.Active != 3 {
		t.Errorf("Figures = %+v, %v; want no joins, admissions or waits counted, 3 active", figs, err)
	}
	if n, err := rdb.Exists(ctx, "waitroom:{"+event.String()+"}:funnel", "waitroom:{"+event.String()+"}:waits").Result(); err != nil || n != 0 {
		t.Errorf("funnel keys exist: %d, %v", n, err)
	}
}

// TestFunnelReadsOlderWaits: a wait recorded before admissions kept their
// user ("number:wait_ms") still counts in the time in queue, without an
// admission; a malformed member is an error.
func TestFunnelReadsOlderWaits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := redistest.New(t)
	event := uuid.New()
	key := "waitroom:{" + event.String() + "}:waits"
	t0 := time.Date(2030, 5, 1, 10, 0, 0, 0, time.UTC)
	if err := rdb.ZAdd(ctx, key, goredis.Z{Score: float64(t0.UnixMilli()), Member: "7:2500"}).Err(); err != nil {
		t.Fatal(err)
	}
	figs, err := redis.NewFunnel(rdb).Figures(ctx, event, t0, t0.Add(time.Minute), t0)
	if err != nil || !slices.Equal(figs.Waits, []time.Duration{2500 * time.Millisecond}) || len(figs.Admissions) != 0 {
		t.Errorf("Figures = %+v, %v; want one wait of 2.5s and no admission", figs, err)
	}
	if err := rdb.ZAdd(ctx, key, goredis.Z{Score: float64(t0.UnixMilli()), Member: "8:10:20:not-a-user"}).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := redis.NewFunnel(rdb).Figures(ctx, event, t0, t0.Add(time.Minute), t0); err == nil {
		t.Error("Figures over a malformed member: no error")
	}
}
