package booking

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestSoldOutMemo(t *testing.T) {
	t.Parallel()
	const ttl = 500 * time.Millisecond
	m := newMemo(time.Second, ttl)
	ev, r := uuid.New(), Range{1, 100}
	now := time.Now()
	if refused(m, ev, r, 1, now) {
		t.Fatal("sold out before anything was marked")
	}
	m.markSoldOut(ev, r, 3, now, 0)
	if refused(m, ev, r, 2, now) || !refused(m, ev, r, 3, now) || !refused(m, ev, r, 4, now) {
		t.Error("marking 3 must cover quantities of 3 and more only")
	}
	if refused(m, ev, Range{1, 50}, 4, now) {
		t.Error("another range of the event is not marked")
	}
	m.markSoldOut(ev, r, 2, now, 0)
	if !refused(m, ev, r, 2, now) {
		t.Error("a smaller failing quantity must lower the mark")
	}
	// Two seats come back: quantities up to 3 may be served again.
	m.released(ev, 2)
	if refused(m, ev, r, 3, now) || !refused(m, ev, r, 4, now) {
		t.Error("after 2 seats came back, 3 must be tried again and 4 still refused")
	}
	m.released(uuid.New(), 10) // another event's seats change nothing here
	if !refused(m, ev, r, 4, now) {
		t.Error("another event's release lifted the mark")
	}
	// A hold of 5 was served: the mark (4) was wrong and goes.
	m.served(ev, r, 5)
	if refused(m, ev, r, 9, now) {
		t.Error("a served hold must clear a mark at or below its quantity")
	}
	// A batch that started before 3 seats were released finds the range
	// short of 1: its reads may have missed them, so only 4 and more are
	// surely refused.
	epoch := m.epoch(ev)
	m.released(ev, 3)
	m.markSoldOut(ev, r, 1, now, epoch)
	if refused(m, ev, r, 3, now) || !refused(m, ev, r, 4, now) {
		t.Error("a mark made by a batch older than a release must allow for the seats released")
	}
}

// TestSoldOutMemoProbes: once stale, the mark lets exactly one request
// through per TTL (the probe) and keeps refusing the rest; the probe's
// batch renews the mark.
func TestSoldOutMemoProbes(t *testing.T) {
	t.Parallel()
	const ttl = 500 * time.Millisecond
	m := newMemo(time.Second, ttl)
	ev, r := uuid.New(), Range{1, 100}
	now := time.Now()
	m.markSoldOut(ev, r, 1, now, 0)
	stale := now.Add(ttl)
	if refused(m, ev, r, 1, stale) {
		t.Fatal("the first request after the TTL must go through as a probe")
	}
	for i := range 100 {
		if !refused(m, ev, r, 1, stale.Add(time.Duration(i)*time.Millisecond)) {
			t.Fatalf("request %d behind the probe went to Postgres", i)
		}
	}
	// The probe's batch found it still sold out.
	m.markSoldOut(ev, r, 1, stale.Add(5*time.Millisecond), 0)
	if !refused(m, ev, r, 1, stale.Add(10*time.Millisecond)) {
		t.Error("renewed mark not honoured")
	}
	// A probe that never answers lets another one through a TTL later.
	later := stale.Add(5*time.Millisecond + ttl)
	if refused(m, ev, r, 1, later) {
		t.Error("no probe let through after the renewed mark went stale")
	}
	if refused(m, ev, r, 1, later.Add(ttl)) {
		t.Error("a lost probe must not block probing for more than a TTL")
	}
}

func TestAllocationHints(t *testing.T) {
	t.Parallel()
	m := newMemo(time.Second, time.Second)
	ev, r := uuid.New(), Range{10, 100}
	now := time.Now()
	if got := m.from(ev, []Range{r}, now)[r]; got != 10 {
		t.Errorf("from() with no hint = %d, want the range start 10", got)
	}
	m.hint(ev, r, 42, now)
	if got := m.from(ev, []Range{r}, now.Add(500*time.Millisecond))[r]; got != 42 {
		t.Errorf("from() = %d, want the hint 42", got)
	}
	if got := m.from(ev, []Range{r}, now.Add(time.Second))[r]; got != 10 {
		t.Errorf("from() after the hint lapsed = %d, want 10", got)
	}
	m.hint(ev, r, 500, now) // outside the range: ignored
	if got := m.from(ev, []Range{r}, now)[r]; got != 10 {
		t.Errorf("from() with a hint outside the range = %d, want 10", got)
	}
}

// refused is soldOut's first answer.
func refused(m *memo, ev uuid.UUID, r Range, q int, now time.Time) bool {
	refuse, _ := m.soldOut(ev, r, q, now)
	return refuse
}

// TestQueueAwareSoldOut: once a batch has counted the seats it left, a
// request is refused at once when the requests ahead of it ask for all of
// them; releases, answers and time make room again.
func TestQueueAwareSoldOut(t *testing.T) {
	t.Parallel()
	const ttl = 500 * time.Millisecond
	m := newMemo(time.Second, ttl)
	ev, r := uuid.New(), Range{1, 100}
	now := time.Now()
	for range 10 {
		if !m.enqueue(ev, r, 1, now) {
			t.Fatal("refused before any count")
		}
	}
	m.setFree(ev, r, 12, now, m.epoch(ev))
	if !m.enqueue(ev, r, 2, now) {
		t.Fatal("12 free, 10 asked for ahead: 2 more must queue")
	}
	if m.enqueue(ev, r, 1, now) {
		t.Fatal("12 free, 12 asked for ahead: must be refused at once")
	}
	m.dequeue(ev, r, 2) // answered
	if !m.enqueue(ev, r, 1, now) {
		t.Error("a request ahead was answered: room again")
	}
	m.released(ev, 3)
	if !m.enqueue(ev, r, 3, now) {
		t.Error("3 seats came back: room for 3 more")
	}
	if !m.enqueue(ev, r, 1, now) || m.enqueue(ev, r, 1, now) {
		t.Error("15 free: the 15th seat asked for must queue, the 16th be refused")
	}
	if !m.enqueue(ev, r, 1, now.Add(ttl)) {
		t.Error("the count went stale: requests must queue again")
	}
	// A batch that started before 2 seats were released and counted 0
	// left: those 2 are free.
	epoch := m.epoch(ev)
	m.released(ev, 2)
	for range 16 {
		m.dequeue(ev, r, 1)
	}
	m.setFree(ev, r, 0, now, epoch)
	if !m.enqueue(ev, r, 2, now) || m.enqueue(ev, r, 1, now) {
		t.Error("a count older than a release must allow for the seats released")
	}
	m.setFree(ev, r, -1, now, m.epoch(ev)) // many free
	if !m.enqueue(ev, r, 50, now) {
		t.Error("a range with many seats free refused a request")
	}
}

// servedStore holds every hold of a batch and says the batch left free
// seats in r.
type servedStore struct {
	Store
	r    Range
	free int
}

func (s servedStore) Hold(_ context.Context, b HoldBatch) (HoldResults, error) {
	res := HoldResults{Bookings: make([]Booking, len(b.Holds)), Refusals: make([]error, len(b.Holds)),
		Free: map[Range]int{s.r: s.free}}
	for i, h := range b.Holds {
		res.Bookings[i] = Booking{ID: h.BookingID, EventID: b.EventID, UserID: h.UserID, Quantity: h.Quantity, Status: StatusPending}
	}
	return res, nil
}

// TestBatchTakesItsRequestsOutOfTheDemand: a batch takes the requests it
// decided out of their range's demand before it records the seats it left,
// so that a request arriving before the served ones have woken up is not
// refused for seats they no longer wait for (11 seats free, 4 served with
// 2 each, 3 left: a new request for 2 must queue).
func TestBatchTakesItsRequestsOutOfTheDemand(t *testing.T) {
	t.Parallel()
	ev, r := uuid.New(), Range{1, 11}
	s := NewService(servedStore{r: r, free: 3}, nil, Options{})
	now := time.Now()
	var holds []PendingHold
	for range 4 {
		h := PendingHold{BookingID: uuid.New(), UserID: uuid.New(), Quantity: 2, Range: r, queued: new(atomic.Bool)}
		h.queued.Store(true)
		if !s.memo.enqueue(ev, r, 2, now) {
			t.Fatal("refused before any count")
		}
		holds = append(holds, h)
	}
	for _, res := range s.runHolds(context.Background(), ev, holds) {
		if res.Err != nil {
			t.Fatalf("hold refused: %v", res.Err)
		}
	}
	// The served requests' goroutines have not run their own clean-up yet.
	if !s.memo.enqueue(ev, r, 2, time.Now()) {
		t.Fatal("3 seats left and nobody waiting: a request for 2 was refused as sold out")
	}
	for _, h := range holds {
		s.answered(ev, h) // the requests' own clean-up takes nothing more out
	}
	if got := s.memo.demand[rangeKey{ev, r}]; got != 2 {
		t.Errorf("demand = %d, want 2 (the one request still waiting)", got)
	}
}
