package booking

import (
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
	if m.soldOut(ev, r, 1, now) {
		t.Fatal("sold out before anything was marked")
	}
	m.markSoldOut(ev, r, 3, now, 0)
	if m.soldOut(ev, r, 2, now) || !m.soldOut(ev, r, 3, now) || !m.soldOut(ev, r, 4, now) {
		t.Error("marking 3 must cover quantities of 3 and more only")
	}
	if m.soldOut(ev, Range{1, 50}, 4, now) {
		t.Error("another range of the event is not marked")
	}
	m.markSoldOut(ev, r, 2, now, 0)
	if !m.soldOut(ev, r, 2, now) {
		t.Error("a smaller failing quantity must lower the mark")
	}
	// Two seats come back: quantities up to 3 may be served again.
	m.released(ev, 2)
	if m.soldOut(ev, r, 3, now) || !m.soldOut(ev, r, 4, now) {
		t.Error("after 2 seats came back, 3 must be tried again and 4 still refused")
	}
	m.released(uuid.New(), 10) // another event's seats change nothing here
	if !m.soldOut(ev, r, 4, now) {
		t.Error("another event's release lifted the mark")
	}
	// A hold of 5 was served: the mark (4) was wrong and goes.
	m.served(ev, r, 5)
	if m.soldOut(ev, r, 9, now) {
		t.Error("a served hold must clear a mark at or below its quantity")
	}
	// A batch that started before 3 seats were released finds the range
	// short of 1: its reads may have missed them, so only 4 and more are
	// surely refused.
	epoch := m.epoch(ev)
	m.released(ev, 3)
	m.markSoldOut(ev, r, 1, now, epoch)
	if m.soldOut(ev, r, 3, now) || !m.soldOut(ev, r, 4, now) {
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
	if m.soldOut(ev, r, 1, stale) {
		t.Fatal("the first request after the TTL must go through as a probe")
	}
	for i := range 100 {
		if !m.soldOut(ev, r, 1, stale.Add(time.Duration(i)*time.Millisecond)) {
			t.Fatalf("request %d behind the probe went to Postgres", i)
		}
	}
	// The probe's batch found it still sold out.
	m.markSoldOut(ev, r, 1, stale.Add(5*time.Millisecond), 0)
	if !m.soldOut(ev, r, 1, stale.Add(10*time.Millisecond)) {
		t.Error("renewed mark not honoured")
	}
	// A probe that never answers lets another one through a TTL later.
	later := stale.Add(5*time.Millisecond + ttl)
	if m.soldOut(ev, r, 1, later) {
		t.Error("no probe let through after the renewed mark went stale")
	}
	if m.soldOut(ev, r, 1, later.Add(ttl)) {
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
