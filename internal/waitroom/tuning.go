package waitroom

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/google/uuid"
)

// A room in admit_mode auto tunes its own admission rate to what the
// booking path absorbs, within the organiser's bounds. Every admission run
// of such a room looks at two signals:
//
//   - the booking p95: how long the event's holds took in the booking
//     engines (of every replica) over the last TuneEvery, or up to a
//     minute for a slow room (Latency);
//   - idle buyers: of the admitted buyers with less than half their
//     admission left, how many have made no booking since they were
//     admitted (the buyers who are about to time out without holding).
//
// and, at most once per TuneEvery, changes the rate:
//
//   - down by 30% when the booking p95 is over the target: admitting
//     faster than the database serves only makes every buyer wait longer;
//   - down by 20% when most of the overdue buyers have not booked since
//     they were admitted: the room admits people faster than they book
//     (unless they cannot: no seat is free, or max_active is full);
//   - up by 25% (at least 1) when the p95 is within 80% of the target,
//     holds are being made, people are waiting, and neither the
//     inventory nor max_active is what holds admissions back;
//
// a multiplicative rise and fall that settles just under the target.
// Every change is recorded with its reason and the figures it was decided
// on (RateLog).

// Latency reads how fast the booking path answers an event's buyers.
type Latency interface {
	// BookingP95 returns the 95th percentile of the durations of the
	// event's booking requests completed in (since, now], and how many
	// there were.
	BookingP95(ctx context.Context, eventID uuid.UUID, since, now time.Time) (p95 time.Duration, samples int)
}

// RateLog keeps the rates of rooms that tune their own, and their changes
// (Postgres).
type RateLog interface {
	// SetRate makes c.To the room's rate and records c, in one step.
	SetRate(ctx context.Context, c RateChange) error
	// RateChanges returns the event's latest changes, newest first.
	RateChanges(ctx context.Context, eventID uuid.UUID, limit int) ([]RateChange, error)
}

// RateChange is one change of a room's rate and why it was made.
type RateChange struct {
	EventID  uuid.UUID
	At       time.Time
	From, To int
	// Base is the organiser's rate the room was tuned from, and Prev when
	// the room last changed its own rate since (nil if it has not): a
	// change is made only while both still stand. Neither is kept in the
	// record (RateChanges leaves them zero).
	Base   int
	Prev   *time.Time
	Reason string
	// The figures the change was decided on: the booking p95 (nil without
	// enough requests to tell) over Samples requests, and Idle of the
	// Overdue buyers without a booking.
	BookingP95    *time.Duration
	Samples       int
	Idle, Overdue int64
}

// The controller's constants.
const (
	// TuneEvery is the least time between two changes of a room's rate,
	// and the window the booking p95 is read over.
	TuneEvery = 10 * time.Second
	// widestWindow is how far back the p95 is read when TuneEvery holds
	// too few holds to judge (a slow room); the Latency must remember as
	// much.
	widestWindow = time.Minute
	// minSamples is how many booking requests it takes to judge the p95.
	minSamples = 20
	// minOverdue is how many overdue buyers it takes to judge idleness.
	minOverdue = 10
	// The steps: down on latency, down on idleness, up.
	latencyBackOff = 0.7
	idleBackOff    = 0.8
	raiseBy        = 1.25
	// headroom is the share of the target the p95 must stay within for
	// the rate to rise.
	headroom = 0.8
)

// signals are what a self-tuning room's rate follows.
type signals struct {
	p95           time.Duration
	samples       int
	overdue, idle int64
}

// tunes reports whether room tunes its own rate on this Service.
func (s *Service) tunes(room Room) bool {
	return room.Auto && s.latency != nil && s.rates != nil
}

// overdueOf returns the active admissions with less than half of their
// time left (each by its own length: the room's admission time may have
// changed since it was given). Admissions whose start is unknown are left
// out.
func overdueOf(active []Admission, now time.Time) []Admission {
	var out []Admission
	for _, a := range active {
		if !a.At.IsZero() && now.Sub(a.At)*2 >= a.Until.Sub(a.At) {
			out = append(out, a)
		}
	}
	return out
}

// lastChange is when the room's rate last changed, by the room or by the
// organiser's settings; zero if never.
func (r Room) lastChange() time.Time {
	var t time.Time
	if r.RateChangedAt != nil {
		t = *r.RateChangedAt
	}
	if r.SettingsChangedAt != nil && r.SettingsChangedAt.After(t) {
		t = *r.SettingsChangedAt
	}
	return t
}

// tuneDue reports whether TuneEvery has passed at now since the room's
// rate last changed.
func (r Room) tuneDue(now time.Time) bool { return now.Sub(r.lastChange()) >= TuneEvery }

// bookingP95 reads the booking p95 over the last TuneEvery or, when that
// holds fewer than minSamples holds (a slow room), over up to
// widestWindow; never from before the rate's last change, so that a rate
// is judged on the holds made at it.
func (s *Service) bookingP95(ctx context.Context, room Room, now time.Time) (time.Duration, int) {
	p95, n := s.latency.BookingP95(ctx, room.EventID, now.Add(-TuneEvery), now)
	if n >= minSamples {
		return p95, n
	}
	since := now.Add(-widestWindow)
	if last := room.lastChange(); last.After(since) {
		since = last
	}
	return s.latency.BookingP95(ctx, room.EventID, since, now)
}

// tune changes a self-tuning room's rate after an admission run b under
// policy p, when its signals call for it and TuneEvery has passed since
// the last change.
func (s *Service) tune(ctx context.Context, room Room, p Policy, b Batch, sig signals, now time.Time) error {
	if !s.tunes(room) || !room.tuneDue(now) {
		return nil
	}
	sig.p95, sig.samples = s.bookingP95(ctx, room, now)
	// Admissions held back by something other than the rate: this run
	// used up the inventory's room, the event sold out, or max_active is
	// full. A faster rate would admit nobody more, and buyers who cannot
	// hold are not idle by choice.
	held := (p.Capped && b.Admitted >= p.Capacity) || p.SoldOut ||
		(room.MaxActive > 0 && b.Counts.Active >= int64(room.MaxActive))
	to, reason := room.decide(sig, b.Counts.Waiting, held)
	if to == room.AdmitPerMinute {
		return nil
	}
	c := RateChange{EventID: room.EventID, At: now, From: room.AdmitPerMinute, To: to, Base: room.BasePerMinute,
		Prev: room.RateChangedAt, Reason: reason, Samples: sig.samples, Idle: sig.idle, Overdue: sig.overdue}
	if sig.samples >= minSamples {
		c.BookingP95 = &sig.p95
	}
	if err := s.rates.SetRate(ctx, c); err != nil {
		return fmt.Errorf("tune admission rate event=%s: %w", room.EventID, err)
	}
	return nil
}

// decide is the rate the room should run at given its signals, the users
// waiting, and whether something other than the rate (the inventory,
// max_active) holds admissions back; with the reason when it differs
// from the current rate.
func (r Room) decide(sig signals, waiting int64, heldBack bool) (int, string) {
	rate := r.AdmitPerMinute
	clamp := func(n int) int { return min(r.MaxPerMinute, max(r.MinPerMinute, n)) }
	var to int
	var reason string
	switch {
	case sig.samples >= minSamples && sig.p95 > r.TargetP95:
		to = clamp(int(float64(rate) * latencyBackOff))
		reason = fmt.Sprintf("booking p95 %s is over the %s target (%d requests): backing off",
			sig.p95.Round(time.Millisecond), r.TargetP95, sig.samples)
	case !heldBack && sig.overdue >= minOverdue && sig.idle*2 > sig.overdue:
		to = clamp(int(float64(rate) * idleBackOff))
		reason = fmt.Sprintf("%d of %d buyers with less than half their admission left have not held: backing off",
			sig.idle, sig.overdue)
	case waiting > 0 && !heldBack && sig.samples >= minSamples && float64(sig.p95) <= headroom*float64(r.TargetP95):
		to = clamp(max(rate+1, int(math.Ceil(float64(rate)*raiseBy))))
		reason = fmt.Sprintf("booking p95 %s is within the %s target (%d requests) and %d wait: admitting faster",
			sig.p95.Round(time.Millisecond), r.TargetP95, sig.samples, waiting)
	default:
		return rate, ""
	}
	if to == rate {
		return rate, ""
	}
	return to, reason
}

// RateChanges returns the latest changes of the event's admission rate,
// newest first: NotFound for an unknown event, none for a room that
// never tuned its rate.
func (s *Service) RateChanges(ctx context.Context, eventID uuid.UUID, limit int) ([]RateChange, error) {
	if _, err := s.catalogue.Room(ctx, eventID); err != nil {
		return nil, err
	}
	if s.rates == nil {
		return nil, nil
	}
	return s.rates.RateChanges(ctx, eventID, limit)
}
