package waitroom

import (
	"context"
	"sync"
	"time"

	"github.com/google/uuid"
)

// revocations is each process's copy of the admissions revoked by users
// leaving a room, per event, so that checking a pass costs a map lookup.
// An event's list is read again from the Queue when it is older than
// refresh at the moment a pass of that event is checked: a pass revoked
// (its leave answered) at time L is refused by every process from
// L + refresh on, as long as the process reaches Redis. When the read
// fails, the process keeps the list it has and tries again after refresh,
// so a Redis outage costs a booking of the event at most one timeout per
// refresh interval, and passes keep working.
type revocations struct {
	refresh time.Duration
	timeout time.Duration
	load    func(ctx context.Context, eventID uuid.UUID, now time.Time) (map[int64]time.Time, error)

	mu     sync.Mutex
	events map[uuid.UUID]*revokedList
}

// revokedList is one event's revoked admissions.
type revokedList struct {
	// mu serialises reads of the list: while one is under way, the other
	// checks of the event wait for it (at most timeout).
	mu sync.Mutex
	// numbers maps each revoked admission number to when its pass expires
	// (after which it needs no revoking).
	numbers map[int64]time.Time
	// local are revocations made by this process, kept until they expire
	// so that a read begun before one was made cannot drop it.
	local map[int64]time.Time
	// tried is when the list was last read, or that was attempted.
	tried time.Time
}

// maxRevocationLists bounds the events whose lists a process keeps; past
// it, it starts afresh.
const maxRevocationLists = 10_000

func newRevocations(refresh, timeout time.Duration,
	load func(context.Context, uuid.UUID, time.Time) (map[int64]time.Time, error)) *revocations {
	return &revocations{refresh: refresh, timeout: timeout, load: load, events: map[uuid.UUID]*revokedList{}}
}

func (r *revocations) list(eventID uuid.UUID) *revokedList {
	r.mu.Lock()
	defer r.mu.Unlock()
	l, ok := r.events[eventID]
	if !ok {
		if len(r.events) >= maxRevocationLists {
			clear(r.events)
		}
		l = &revokedList{numbers: map[int64]time.Time{}, local: map[int64]time.Time{}}
		r.events[eventID] = l
	}
	return l
}

// revoked reports whether the admission numbered n of the event was
// revoked, reading the event's list again first when it is stale.
func (r *revocations) revoked(ctx context.Context, eventID uuid.UUID, n int64, now time.Time) bool {
	l := r.list(eventID)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.tried.IsZero() || now.Sub(l.tried) >= r.refresh {
		l.tried = now
		rctx, cancel := context.WithTimeout(ctx, r.timeout)
		numbers, err := r.load(rctx, eventID, now)
		cancel()
		if err == nil {
			for k, until := range l.local {
				if until.After(now) {
					numbers[k] = until
				} else {
					delete(l.local, k)
				}
			}
			l.numbers = numbers
		}
	}
	until, ok := l.numbers[n]
	return ok && now.Before(until)
}

// add records a revocation this process made, effective at once here.
func (r *revocations) add(eventID uuid.UUID, n int64, until time.Time) {
	l := r.list(eventID)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.numbers[n] = until
	l.local[n] = until
}
