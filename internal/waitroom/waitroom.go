// Package waitroom is the virtual waiting room that stands between a hot
// on-sale and the booking engine. It follows the bakery-ticket model:
// joining takes the next number of the event's ticket counter (kept per
// user, so joining twice keeps one's place); an admission chain raises the
// event's serving counter at the configured rate, never letting more than
// max_active users in at once; a user is admitted while their number is at
// or below serving and their admission has not lapsed. A poll reads a
// couple of counters, whatever the length of the queue.
//
// The on-sale is fair to those who come early without rewarding the
// fastest click: whoever joins before sales open enters a pre-queue with a
// random key drawn from crypto/rand, and at the opening the pre-queue, in
// key order (a uniformly random order), becomes the head of the line, in
// one atomic step; whoever joins after the opening queues behind it in
// arrival order. Admitted users get a signed pass (Passes) that the booking
// path checks without Redis, and every answer tells the client when to ask
// again (PollAfter).
//
// The package holds the policy (what the room does and when) and the
// Service; the Queue it is given (Redis) makes every step atomic, and the
// Scheduler (asynq) runs the admission chain.
package waitroom

import (
	"math"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/event"
)

// Status is where a ticket stands.
type Status string

// Ticket states: in the pre-queue (joined before sales opened; their place
// is drawn at the opening), waiting in line, admitted (may book until
// AdmittedUntil), expired (the admission lapsed; joining again queues at
// the back), or sold out (still in line when the event sold out with no
// hold left to lapse: the line has become the way onto the waitlist).
const (
	StatusPreQueue Status = "pre_queue"
	StatusWaiting  Status = "waiting"
	StatusAdmitted Status = "admitted"
	StatusExpired  Status = "expired"
	StatusSoldOut  Status = "sold_out"
)

// Ticket is a user's place in an event's waiting room.
type Ticket struct {
	EventID uuid.UUID
	Status  Status
	// Position is 1 for the next user to be admitted; nil in the pre-queue
	// and once admitted. Users ahead who leave are still counted until the
	// serving counter passes them, so it is an upper bound.
	Position      *int64
	EstimatedWait time.Duration
	JoinedAt      time.Time
	AdmittedAt    *time.Time
	AdmittedUntil *time.Time
	// Pass is the signed admission pass while admitted, else empty.
	Pass string
	// PollAfter is when the client should ask again.
	PollAfter time.Duration
}

// Place is a user's ticket as the Queue keeps it: their number (0 while
// in the pre-queue of a room that has not opened), the serving counter
// when it was read, and their admission if they have had one.
type Place struct {
	Number        int64
	Serving       int64
	JoinedAt      time.Time
	AdmittedAt    *time.Time
	AdmittedUntil *time.Time
	// PreQueued is how many users are in the pre-queue, for a user who is
	// in it (Number 0); otherwise 0.
	PreQueued int64
	// SoldOutAt is when the room found its event sold out; nil while it
	// is not.
	SoldOutAt *time.Time
}

// Arrival is a join as the Queue records it.
type Arrival struct {
	UserID uuid.UUID
	At     time.Time
	// Open says that sales have opened at At, by the caller's clock: the
	// room opens now if it has not (see Queue.Join).
	Open bool
	// Key is the user's random draw, which orders the pre-queue if they
	// enter it.
	Key uint64
}

// Room is what the waiting room needs to know about an event.
type Room struct {
	EventID    uuid.UUID
	Status     string // draft, published or cancelled
	StartsAt   time.Time
	SalesStart *time.Time
	SalesEnd   *time.Time
	Enabled    bool
	// AdmitPerMinute is the admission rate (1 to 100,000).
	AdmitPerMinute int
	// MaxActive caps the users admitted at once; 0 for no cap.
	MaxActive    int
	AdmissionTTL time.Duration
	// Auto: the room tunes its own rate (admit_mode auto, see tune) within
	// [MinPerMinute, MaxPerMinute], aiming at a booking p95 of at most
	// TargetP95; AdmitPerMinute is then the rate it runs at now.
	Auto                       bool
	MinPerMinute, MaxPerMinute int
	TargetP95                  time.Duration
	// BasePerMinute is the organiser's rate, which an auto room starts
	// from; RateChangedAt is when the room last changed its own rate
	// since, nil if it has not; SettingsChangedAt when the organiser last
	// changed the event (nil if unknown).
	BasePerMinute     int
	RateChangedAt     *time.Time
	SettingsChangedAt *time.Time
}

// phase is what a room does at a moment.
type phase int

const (
	// closed: nothing to queue for (a draft, a cancelled or started event,
	// or sales over). Joining is refused and the admission chain stops.
	closed phase = iota
	// paused: the room is switched off, or sales have not opened yet. The
	// queue holds still; the admission chain idles while anyone waits.
	paused
	// admitting: the admission chain lets users in at the room's rate.
	admitting
)

// phaseAt says what the room does at now and, when it is closed or
// paused, why.
func (r Room) phaseAt(now time.Time) (phase, string) {
	sale := r.window().At(now)
	switch {
	case sale.Over():
		return closed, sale.Reason()
	case !r.Enabled:
		return paused, "This event has no waiting room open: book directly."
	case sale == event.SaleNotYetOpen:
		return paused, sale.Reason()
	}
	return admitting, ""
}

// window is the room's event's sale window.
func (r Room) window() event.SaleWindow {
	return event.SaleWindow{Status: event.Status(r.Status), StartsAt: r.StartsAt, SalesStart: r.SalesStart, SalesEnd: r.SalesEnd}
}

// salesOpen reports whether sales have opened at now: from then on the
// room is open (its pre-queue is placed and joiners queue behind it).
func (r Room) salesOpen(now time.Time) bool {
	return r.SalesStart == nil || !now.Before(*r.SalesStart)
}

// The admission rate's shape. A run admits the admissions accrued since
// the previous run (a token bucket filled at admit_per_minute), so the
// rate holds whatever the jitter between runs.
const (
	// burstSeconds is how many seconds of admissions the bucket banks:
	// runs up to that far apart lose nothing.
	burstSeconds = 5
)

// Policy is what one admission run may do. On top of the token bucket, no
// 60-second window may ever hold more than AdmitPerMinute admissions (the
// Queue keeps a log of the last minute's batches), so the promise holds
// exactly even right after the bucket has been banking.
type Policy struct {
	// Paused: admit nobody, only keep the chain alive while anyone waits.
	Paused bool
	// Open: sales have opened, so the run opens the room (places its
	// pre-queue) before anything else, if that has not happened yet.
	Open           bool
	AdmitPerMinute int
	// MaxActive caps the users admitted at once; 0 for no cap.
	MaxActive    int
	AdmissionTTL time.Duration
	// Burst is the token bucket's capacity, in admissions.
	Burst int
	// Start is what a new chain's bucket holds, in admissions: a second's
	// worth (at least one), so that the first joiners of a quiet room get
	// in at once without a burst.
	Start int
	// Capped: Capacity caps this run's admissions by the inventory left
	// (see Inventory).
	Capped   bool
	Capacity int64
	// SoldOut: the event has no free seat and no live hold; the room is
	// marked sold out (and unmarked by a run that finds seats again).
	SoldOut bool
}

// policy is the room's admission policy at now; paused admits nobody.
func (r Room) policy(paused bool, now time.Time) Policy {
	return Policy{
		Paused:         paused,
		Open:           r.salesOpen(now),
		AdmitPerMinute: r.AdmitPerMinute,
		MaxActive:      r.MaxActive,
		AdmissionTTL:   r.AdmissionTTL,
		Burst:          max(1, r.AdmitPerMinute*burstSeconds/60),
		Start:          max(1, r.AdmitPerMinute/60),
	}
}

// estimate is how long a user at position pos can expect to wait: the
// time until sales open, if they have not, plus pos at the room's rate.
func (r Room) estimate(pos int64, now time.Time) time.Duration {
	if r.AdmitPerMinute < 1 {
		return 0
	}
	secs := math.Ceil(float64(pos) * 60 / float64(r.AdmitPerMinute))
	wait := time.Duration(secs) * time.Second
	if r.SalesStart != nil && now.Before(*r.SalesStart) {
		wait += r.SalesStart.Sub(now).Round(time.Second)
	}
	return wait
}

// ticket turns a Place into the Ticket a user sees at now. jitter, in
// [0, 1), spreads the first polls after the opening (see pollAfter).
func (r Room) ticket(p Place, now time.Time, jitter float64) Ticket {
	t := Ticket{EventID: r.EventID, JoinedAt: p.JoinedAt, AdmittedAt: p.AdmittedAt, AdmittedUntil: p.AdmittedUntil}
	switch {
	case p.SoldOutAt != nil && (p.Number == 0 || p.Number > p.Serving):
		t.Status = StatusSoldOut
	case p.Number == 0:
		// No place yet, so nothing that depends on one: the wait is the
		// time until the opening.
		t.Status = StatusPreQueue
		t.EstimatedWait = r.estimate(0, now)
	case p.Number > p.Serving:
		pos := p.Number - p.Serving
		t.Status = StatusWaiting
		t.Position = &pos
		t.EstimatedWait = r.estimate(pos, now)
	case p.AdmittedUntil != nil && p.AdmittedUntil.After(now):
		t.Status = StatusAdmitted
	default:
		t.Status = StatusExpired
	}
	t.PollAfter = r.pollAfter(t, p.PreQueued, now, jitter)
	return t
}

// The bounds of PollAfter.
const (
	minPoll = time.Second
	maxPoll = 30 * time.Second
)

// pollAfter is when a client holding t should ask again: about half its
// expected wait, so that polls thin out deep in the line and come every
// second near its head; at most maxPoll, and at most half the admission's
// lifetime, so that a client following it learns of its admission with at
// least half of it left.
//
// In the pre-queue, nobody has a place until the opening, so the answer
// is the time until then; from maxPoll away, the first poll after the
// opening is spread at random over the time the room takes to admit the
// whole pre-queue (capped like any other wait). Every place is equally
// likely, so that spreads the crowd's first polls the way their admissions
// will be spread, instead of all of them landing in the first second.
// Admitted and expired tickets need no polling: the cap.
func (r Room) pollAfter(t Ticket, preQueued int64, now time.Time, jitter float64) time.Duration {
	ceiling := min(maxPoll, max(minPoll, r.AdmissionTTL/2))
	clamp := func(d time.Duration) time.Duration { return min(ceiling, max(minPoll, d)) }
	perSecond := float64(r.AdmitPerMinute) / 60
	if perSecond <= 0 {
		return ceiling
	}
	switch t.Status {
	case StatusPreQueue:
		until := time.Duration(0)
		if r.SalesStart != nil {
			until = r.SalesStart.Sub(now)
		}
		if until >= ceiling {
			return ceiling
		}
		spread := min(ceiling, time.Duration(float64(preQueued)/perSecond*float64(time.Second)))
		return clamp(until + time.Duration(jitter*float64(spread)))
	case StatusWaiting:
		wait := time.Duration(float64(*t.Position) / perSecond * float64(time.Second))
		if r.SalesStart != nil && now.Before(*r.SalesStart) {
			wait += r.SalesStart.Sub(now)
		}
		return clamp(wait / 2).Round(time.Millisecond)
	}
	return ceiling
}

// Run is one step of an event's admission chain. Chain names the chain
// (one holds each room at a time); Step counts its runs, so that a
// duplicate or stale run can be told from the current one.
type Run struct {
	EventID uuid.UUID
	Chain   string
	Step    int64
}

// next is the run that follows r.
func (r Run) next() Run { return Run{EventID: r.EventID, Chain: r.Chain, Step: r.Step + 1} }

// Outcome says how an admission run went.
type Outcome int

// Outcomes of Queue.Admit.
const (
	// Ran: the run was the chain's current step and did its work.
	Ran Outcome = iota
	// AlreadyRan: this step ran before (a retry or a duplicate delivery);
	// its successor is due.
	AlreadyRan
	// Stale: another chain holds the room, or this is an old step; the run
	// must end without a successor.
	Stale
)

// Batch is the result of one admission run.
type Batch struct {
	Outcome  Outcome
	Admitted int64
	Counts   Counts
	// Released: nobody waits any more, so the chain let go of the room; the
	// next join starts a new one.
	Released bool
	// SoldOutAt is when the room was marked sold out, nil if it is not;
	// Told says that those waiting then were notified.
	SoldOutAt *time.Time
	Told      bool
}

// Counts are a room's live figures.
type Counts struct {
	Waiting int64
	// Active users are admitted and their admission has not lapsed.
	Active        int64
	AdmittedTotal int64
	// AdmittedLastMinute is the admission rate actually achieved: the
	// admissions of the last 60 seconds.
	AdmittedLastMinute int64
}

// Stats are a room's configuration and live figures, for admins and
// metrics.
type Stats struct {
	EventID uuid.UUID
	Enabled bool
	// AdmitPerMinute is the rate the room admits at now (an auto room's
	// own); Auto, the bounds, the target, BasePerMinute and RateChangedAt
	// are as on Room.
	AdmitPerMinute             int
	Auto                       bool
	MinPerMinute, MaxPerMinute int
	TargetP95                  time.Duration
	BasePerMinute              int
	RateChangedAt              *time.Time
	// MaxActive is nil when there is no cap.
	MaxActive *int
	Counts
}

func statsOf(r Room, c Counts) Stats {
	s := Stats{EventID: r.EventID, Enabled: r.Enabled, AdmitPerMinute: r.AdmitPerMinute, Auto: r.Auto,
		MinPerMinute: r.MinPerMinute, MaxPerMinute: r.MaxPerMinute, TargetP95: r.TargetP95,
		BasePerMinute: r.BasePerMinute, RateChangedAt: r.RateChangedAt, Counts: c}
	if r.MaxActive > 0 {
		m := r.MaxActive
		s.MaxActive = &m
	}
	return s
}
