package booking

import (
	"sync"
	"time"

	"github.com/google/uuid"
)

// memo is what this process remembers between hold batches, per event and
// position range:
//
//   - the allocation hint: where the last batch found its first free
//     seat, so that the next one starts its scan there instead of wading
//     through the index entries of every seat sold before it. A hint is
//     only a starting point (a scan that finds too few looks again from
//     the start) and lapses after hintTTL, so that seats released
//     elsewhere are found.
//   - the sold-out mark: the smallest quantity the range could not serve.
//     While fresh (soldTTL), larger or equal requests are refused from
//     memory, so the storm of buyers pressing the button after an on-sale
//     never queues for Postgres. When it goes stale, one request goes to
//     Postgres as a probe while the others are still refused; the probe's
//     batch renews or clears the mark. Seats released in this process
//     weaken the mark at once; seats released by another process are
//     found within soldTTL.
type memo struct {
	mu      sync.Mutex
	hintTTL time.Duration
	soldTTL time.Duration
	hints   map[rangeKey]hintMark
	sold    map[rangeKey]soldMark
	// free is, per range, how many seats the last batch left free (as
	// read), and demand how many seats the best-available requests of the
	// range waiting or in a batch ask for: a request whose range is
	// entirely spoken for by the requests ahead of it is refused at once.
	free   map[rangeKey]freeMark
	demand map[rangeKey]int
	// freed counts, per event, the seats released in this process: a batch
	// notes it before it reads Postgres, so that a sold-out mark it makes
	// afterwards allows for seats released while it ran (which its reads
	// may not have seen).
	freed map[uuid.UUID]int
}

type rangeKey struct {
	event uuid.UUID
	r     Range
}

type hintMark struct {
	pos int
	at  time.Time
}

type freeMark struct {
	n  int
	at time.Time
}

type soldMark struct {
	quantity int
	at       time.Time
	// probing is when a probe was let through (zero: none in flight).
	probing time.Time
}

// memoLimit bounds each map; past it the memo starts afresh (it is only a
// cache).
const memoLimit = 10000

func newMemo(hintTTL, soldTTL time.Duration) *memo {
	return &memo{hintTTL: hintTTL, soldTTL: soldTTL, hints: map[rangeKey]hintMark{}, sold: map[rangeKey]soldMark{},
		free: map[rangeKey]freeMark{}, demand: map[rangeKey]int{}, freed: map[uuid.UUID]int{}}
}

// fresh reports whether something marked at at is younger than ttl at now
// (a clock that went backwards makes it stale).
func fresh(at, now time.Time, ttl time.Duration) bool {
	return !now.Before(at) && now.Sub(at) < ttl
}

// soldOut reports whether a request for quantity seats of r is surely
// refused. When the mark is stale, it lets one request through per
// soldTTL as a probe (probe true), whose batch renews or clears the mark.
func (m *memo) soldOut(event uuid.UUID, r Range, quantity int, now time.Time) (refuse, probe bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := rangeKey{event, r}
	e, ok := m.sold[k]
	switch {
	case !ok || quantity < e.quantity:
		return false, false
	case fresh(e.at, now, m.soldTTL), !e.probing.IsZero() && fresh(e.probing, now, m.soldTTL):
		return true, false
	}
	e.probing = now
	m.sold[k] = e
	return false, true
}

// enqueue counts a best-available request of quantity seats into its
// range's demand, unless the range's free seats (counted by the last
// batch, at most soldTTL ago) are all spoken for by the requests already
// waiting: then it refuses (false), and the request is answered sold out
// without queueing for Postgres. Seats released in this process count at
// once; a request ahead that gives up or fails leaves its seats to the
// next batch, which counts afresh. A request that was enqueued is
// dequeued when answered.
func (m *memo) enqueue(event uuid.UUID, r Range, quantity int, now time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := rangeKey{event, r}
	if f, ok := m.free[k]; ok && f.n >= 0 && fresh(f.at, now, m.soldTTL) && m.demand[k]+quantity > f.n {
		return false
	}
	m.demand[k] += quantity
	return true
}

// dequeue takes an answered request out of its range's demand.
func (m *memo) dequeue(event uuid.UUID, r Range, quantity int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := rangeKey{event, r}
	if m.demand[k] -= quantity; m.demand[k] <= 0 {
		delete(m.demand, k)
	}
}

// setFree records that a batch that started at epoch left n seats of r
// free (n < 0: many), allowing for seats released since epoch.
func (m *memo) setFree(event uuid.UUID, r Range, n int, now time.Time, epoch int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := rangeKey{event, r}
	d := m.freed[event] - epoch
	if n < 0 || d < 0 {
		delete(m.free, k)
		return
	}
	if len(m.free) > memoLimit {
		clear(m.free)
	}
	m.free[k] = freeMark{n: n + d, at: now}
}

// epoch is the event's count of seats released in this process, to be
// given back to markSoldOut.
func (m *memo) epoch(event uuid.UUID) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.freed[event]
}

// markSoldOut records that r could not serve quantity seats at now, as
// read by a batch that started at epoch: seats released since then may
// not have been seen, so the mark covers that many more.
func (m *memo) markSoldOut(event uuid.UUID, r Range, quantity int, now time.Time, epoch int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.sold) > memoLimit {
		clear(m.sold)
	}
	switch d := m.freed[event] - epoch; {
	case d < 0:
		return // the count started afresh meanwhile: no telling what was missed
	case d > 0:
		quantity += d
	}
	k := rangeKey{event, r}
	if e, ok := m.sold[k]; ok && fresh(e.at, now, m.soldTTL) && e.quantity < quantity {
		quantity = e.quantity
	}
	m.sold[k] = soldMark{quantity: quantity, at: now}
}

// served records that r just served quantity seats: a mark saying that
// many (or fewer) are not to be had is wrong, and goes.
func (m *memo) served(event uuid.UUID, r Range, quantity int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := rangeKey{event, r}
	if e, ok := m.sold[k]; ok && e.quantity <= quantity {
		delete(m.sold, k)
	}
}

// released records that n seats of the event came back. A range found
// sold out for quantities of q and more can now serve at most n more
// seats, so only quantities of q+n and more are still surely sold out:
// smaller requests go to Postgres again, while the storm of larger ones is
// still answered from memory. The hints stay: seats released below a hint
// are found when a scan from the hint comes up short, or when the hint
// lapses; resetting them on every cancellation would send each next scan
// wading through every seat sold.
func (m *memo) released(event uuid.UUID, n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.freed) > memoLimit {
		clear(m.freed) // marks made by batches running now may be too strong for one TTL
	}
	m.freed[event] += n
	for k, e := range m.sold {
		if k.event == event {
			e.quantity += n
			m.sold[k] = e
		}
	}
	for k, f := range m.free {
		if k.event == event {
			f.n += n
			m.free[k] = f
		}
	}
}

// from returns the scan starts of the ranges: each range's fresh hint, or
// its start.
func (m *memo) from(event uuid.UUID, ranges []Range, now time.Time) map[Range]int {
	if len(ranges) == 0 {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[Range]int, len(ranges))
	for _, r := range ranges {
		out[r] = r.Lo
		if e, ok := m.hints[rangeKey{event, r}]; ok && fresh(e.at, now, m.hintTTL) && r.holds(e.pos) {
			out[r] = e.pos
		}
	}
	return out
}

// hint records where a batch found the first free seat of r.
func (m *memo) hint(event uuid.UUID, r Range, pos int, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.hints) > memoLimit {
		clear(m.hints)
	}
	m.hints[rangeKey{event, r}] = hintMark{pos: pos, at: now}
}
