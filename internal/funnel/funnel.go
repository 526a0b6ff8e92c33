// Package funnel reports an event's on-sale funnel: joined the waiting
// room → admitted → held → confirmed, with what fell out (cancelled,
// expired, abandoned), the time each step took, per-minute series and a
// sell-out forecast.
//
// Each figure is counted where it happens and nowhere else: joins and
// admissions by the waiting room's own Lua scripts in Redis (a per-minute
// counter and, per admission, the time its user waited), holds,
// confirmations, cancellations and expiries from the bookings table, which
// the booking path writes anyway. So the funnel adds no write to the
// booking path. The time from admission to hold joins the two at read
// time: each admission recorded in Redis names its user and when it ran,
// and the bookings table says when that user first held the event.
//
// Definitions:
//   - joined: tickets taken in the waiting room (a user who queues again
//     after a lapsed admission counts again); admitted: admissions given.
//   - held: distinct buyers with a booking of the event created in the
//     range; confirmed: those of them with a booking that was confirmed
//     (even if cancelled later).
//   - cancelled, expired: bookings created in the range that ended so (a
//     pending hold whose time has passed is expired); hold expiry rate:
//     expired ÷ bookings created.
//   - abandoned: admissions that ended without a hold: admitted − held −
//     admissions still running (never below 0).
//   - admission to hold (p50, p90): over the admissions given in the range
//     whose buyer made a booking of the event while the admission ran
//     (from its admission until it lapsed, or until the same buyer's next
//     admission), the time from the admission to the first such booking.
//     It covers every hold made while admitted, with an admission pass or
//     checked against Redis alike; admissions without a hold are not in
//     it (they are abandoned, or still running). Both ends are server
//     times: the admission run's clock, in milliseconds, and the hold
//     batch's, in microseconds.
//   - conversion: admitted ÷ joined, held ÷ admitted, confirmed ÷ held
//     (0 when the step before is 0).
//   - forecast: the seats not yet sold (available or held) at the rate
//     seats were confirmed over the last ten minutes.
package funnel

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/apperr"
)

// MaxRange bounds a query: a day of minutes.
const MaxRange = 24 * time.Hour

// DefaultRange is the range when from is not given: the hour up to to.
const DefaultRange = time.Hour

// ForecastWindow is how far back the sell-out rate looks.
const ForecastWindow = 10 * time.Minute

// Query selects an event's funnel over [From, To), in whole minutes.
type Query struct {
	EventID  uuid.UUID
	From, To *time.Time
}

// RoomFigures are the waiting room's side of the funnel (Redis).
type RoomFigures struct {
	// Joined and Admitted per minute (the minute's start, UTC).
	Joined, Admitted map[time.Time]int64
	// Waits are the times in queue of the admissions given in the range.
	Waits []time.Duration
	// Admissions are the admissions given in the range, in the order they
	// were given (those recorded without their user are left out).
	Admissions []Admission
	// Active is how many admissions run now.
	Active int64
}

// Admission is one admission the waiting room gave: to whom, when, and
// until when it ran.
type Admission struct {
	UserID    uuid.UUID
	At, Until time.Time
}

// BookingFigures are the bookings' side of the funnel (Postgres).
type BookingFigures struct {
	HeldBuyers, ConfirmedBuyers int64
	Holds, Cancelled, Expired   int64
	// HoldToConfirm are the median and 90th percentile of the time from
	// hold to confirmation; nil without confirmations.
	HoldToConfirmP50, HoldToConfirmP90 *time.Duration
	// Per minute (the minute's start, UTC): bookings made, confirmed,
	// cancelled and expired then.
	Held, Confirmed, CancelledAt, ExpiredAt map[time.Time]int64
	// SeatsLeft are the seats not sold (available or held) now;
	// SeatsRecent the seats confirmed in the ForecastWindow up to now.
	SeatsLeft, SeatsRecent int64
}

// Rooms reads the waiting room's counters.
type Rooms interface {
	Figures(ctx context.Context, eventID uuid.UUID, from, to, now time.Time) (RoomFigures, error)
}

// Bookings reads the booking facts.
type Bookings interface {
	// Figures returns the event's booking figures; NotFound for an
	// unknown event.
	Figures(ctx context.Context, eventID uuid.UUID, from, to, now time.Time) (BookingFigures, error)
	// AdmissionToHold returns the median and 90th percentile (nearest
	// rank) of the time from each admission to its user's first booking
	// of the event made in [At, Until); admissions without one are left
	// out, and nil, nil means none had one.
	AdmissionToHold(ctx context.Context, eventID uuid.UUID, admissions []Admission) (p50, p90 *time.Duration, err error)
}

// Minute is one minute of the series.
type Minute struct {
	At                                                    time.Time
	Joined, Admitted, Held, Confirmed, Cancelled, Expired int64
}

// Report is an event's funnel over a range.
type Report struct {
	EventID                            uuid.UUID
	From, To                           time.Time
	Joined, Admitted, Held, Confirmed  int64
	Cancelled, Expired, Abandoned      int64
	AdmitRate, HoldRate, ConfirmRate   float64
	QueueWaitP50, QueueWaitP90         *time.Duration
	AdmissionToHoldP50                 *time.Duration
	AdmissionToHoldP90                 *time.Duration
	HoldToConfirmP50, HoldToConfirmP90 *time.Duration
	HoldExpiryRate                     float64
	SeatsLeft                          int64
	SeatsPerMinute                     float64
	SoldOutAt                          *time.Time
	Series                             []Minute
	AsOf                               time.Time
}

// Service builds funnel reports.
type Service struct {
	rooms    Rooms
	bookings Bookings
	now      func() time.Time
}

// NewService returns the funnel over rooms and bookings; now is the clock.
func NewService(rooms Rooms, bookings Bookings, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{rooms: rooms, bookings: bookings, now: now}
}

// Report returns the event's funnel. The range defaults to the hour up
// to now, is widened to whole minutes, and may span at most MaxRange.
func (s *Service) Report(ctx context.Context, q Query) (Report, error) {
	now := s.now().UTC()
	to := now.Truncate(time.Minute).Add(time.Minute)
	if q.To != nil {
		to = ceilMinute(q.To.UTC())
	}
	from := to.Add(-DefaultRange)
	if q.From != nil {
		from = q.From.UTC().Truncate(time.Minute)
	}
	var v apperr.Validator
	v.Check(to.After(from), "to", "must be after from")
	v.Check(to.Sub(from) <= MaxRange, "to", "must be at most 24 hours after from")
	if err := v.Err(); err != nil {
		return Report{}, err
	}
	b, err := s.bookings.Figures(ctx, q.EventID, from, to, now)
	if err != nil {
		return Report{}, err
	}
	r, err := s.rooms.Figures(ctx, q.EventID, from, to, now)
	if err != nil {
		return Report{}, apperr.Wrap(fmt.Errorf("funnel event=%s: %w", q.EventID, err), apperr.Unavailable,
			"The waiting room's figures cannot be read right now; try again.")
	}
	rep := Report{
		EventID: q.EventID, From: from, To: to, AsOf: now,
		Held: b.HeldBuyers, Confirmed: b.ConfirmedBuyers, Cancelled: b.Cancelled, Expired: b.Expired,
		HoldToConfirmP50: b.HoldToConfirmP50, HoldToConfirmP90: b.HoldToConfirmP90,
		SeatsLeft: b.SeatsLeft,
	}
	for m := from; m.Before(to); m = m.Add(time.Minute) {
		row := Minute{At: m, Joined: r.Joined[m], Admitted: r.Admitted[m], Held: b.Held[m],
			Confirmed: b.Confirmed[m], Cancelled: b.CancelledAt[m], Expired: b.ExpiredAt[m]}
		rep.Joined += row.Joined
		rep.Admitted += row.Admitted
		rep.Series = append(rep.Series, row)
	}
	if len(r.Admissions) > 0 {
		rep.AdmissionToHoldP50, rep.AdmissionToHoldP90, err = s.bookings.AdmissionToHold(ctx, q.EventID, windows(r.Admissions))
		if err != nil {
			return Report{}, err
		}
	}
	running := int64(0)
	if !now.Before(from) && now.Before(to) {
		running = r.Active
	}
	rep.Abandoned = max(0, rep.Admitted-rep.Held-running)
	rep.AdmitRate = ratio(rep.Admitted, rep.Joined)
	rep.HoldRate = ratio(rep.Held, rep.Admitted)
	rep.ConfirmRate = ratio(rep.Confirmed, rep.Held)
	rep.HoldExpiryRate = ratio(b.Expired, b.Holds)
	rep.QueueWaitP50, rep.QueueWaitP90 = percentile(r.Waits, 0.5), percentile(r.Waits, 0.9)
	rep.SeatsPerMinute = float64(b.SeatsRecent) / ForecastWindow.Minutes()
	if rep.SeatsLeft == 0 {
		rep.SoldOutAt = &now
	} else if rep.SeatsPerMinute > 0 {
		at := now.Add(time.Duration(float64(rep.SeatsLeft) / rep.SeatsPerMinute * float64(time.Minute))).Truncate(time.Second)
		rep.SoldOutAt = &at
	}
	return rep, nil
}

// windows returns the admissions each ending at the earlier of its lapse
// and its user's next admission (a user who left and queued again): a
// hold belongs to the admission it was made under.
func windows(as []Admission) []Admission {
	out := slices.Clone(as)
	slices.SortStableFunc(out, func(a, b Admission) int { return a.At.Compare(b.At) })
	next := make(map[uuid.UUID]time.Time, len(out))
	for i := len(out) - 1; i >= 0; i-- {
		if at, ok := next[out[i].UserID]; ok && at.Before(out[i].Until) {
			out[i].Until = at
		}
		next[out[i].UserID] = out[i].At
	}
	return out
}

func ceilMinute(t time.Time) time.Time {
	if f := t.Truncate(time.Minute); f.Equal(t) {
		return t
	}
	return t.Truncate(time.Minute).Add(time.Minute)
}

func ratio(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return math.Round(float64(a)/float64(b)*10000) / 10000
}

// percentile is the nearest-rank percentile p of ds (exact: one of the
// values), nil when ds is empty.
func percentile(ds []time.Duration, p float64) *time.Duration {
	if len(ds) == 0 {
		return nil
	}
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	d := sorted[max(0, min(i, len(sorted)-1))]
	return &d
}
