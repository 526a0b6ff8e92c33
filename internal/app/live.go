package app

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/booking"
	"github.com/evently/evently/internal/event"
	"github.com/evently/evently/internal/feed"
	"github.com/evently/evently/internal/waitlist"
	"github.com/evently/evently/internal/waitroom"
)

// The stores below announce, after the fact, the writes that change what
// the live streams show: each wraps a store, passes every call through, and
// tells the feed's notifier about the events a committed write changed —
// once per event per write, however many bookings a batch held. The
// notifier never blocks. A write that failed may have committed anyway (an
// answer lost with the connection), so it is announced too: a notice that
// changes nothing costs a read and sends nothing.

// changed is feed.Notifier.Changed.
type changed func(eventID uuid.UUID, kinds feed.Kind)

// liveBookings announces hold batches, lifecycle batches (confirmations,
// cancellations, lapsed holds) and cleanup runs.
type liveBookings struct {
	booking.Store
	changed changed
}

func (s liveBookings) Hold(ctx context.Context, b booking.HoldBatch) (booking.HoldResults, error) {
	res, err := s.Store.Hold(ctx, b)
	held := err != nil
	for _, refusal := range res.Refusals {
		held = held || refusal == nil
	}
	if held {
		s.changed(b.EventID, feed.Availability)
	}
	return res, err
}

func (s liveBookings) Settle(ctx context.Context, now time.Time, changes []booking.Change) ([]booking.ChangeOutcome, error) {
	outs, err := s.Store.Settle(ctx, now, changes)
	seen := map[uuid.UUID]bool{}
	for _, o := range outs {
		if id := o.Booking.EventID; o.Verdict != booking.Leave && id != uuid.Nil && !seen[id] {
			seen[id] = true
			s.changed(id, feed.Availability)
		}
	}
	return outs, err
}

func (s liveBookings) ExpireHolds(ctx context.Context, now time.Time, limit int) (booking.Released, error) {
	r, err := s.Store.ExpireHolds(ctx, now, limit)
	for id := range r.SeatsByEvent {
		s.changed(id, feed.Availability)
	}
	return r, err
}

// liveEvents announces new sections and event cancellations (which cancel
// the event's bookings).
type liveEvents struct {
	event.Store
	changed changed
}

func (s liveEvents) AddSection(ctx context.Context, id uuid.UUID, fn func(e event.Event) (event.Section, error)) (event.Event, error) {
	e, err := s.Store.AddSection(ctx, id, fn)
	if err == nil {
		s.changed(id, feed.Availability)
	}
	return e, err
}

func (s liveEvents) CancelEvent(ctx context.Context, id uuid.UUID) (event.Event, error) {
	e, err := s.Store.CancelEvent(ctx, id)
	s.changed(id, feed.Availability)
	return e, err
}

// liveWaitlists announces waitlist offers, which hold seats.
type liveWaitlists struct {
	waitlist.Store
	changed changed
}

func (s liveWaitlists) Offer(ctx context.Context, r waitlist.OfferRequest) (waitlist.Offer, bool, error) {
	o, ok, err := s.Store.Offer(ctx, r)
	if ok || err != nil {
		s.changed(r.EventID, feed.Availability)
	}
	return o, ok, err
}

// liveQueue announces the admission runs that moved a waiting-room line.
// Positions change for everyone at once, so this is one notice per event
// per run, and each stream reads its own ticket again.
type liveQueue struct {
	waitroom.Queue
	changed changed
}

func (q liveQueue) Admit(ctx context.Context, run waitroom.Run, p waitroom.Policy, now time.Time) (waitroom.Batch, error) {
	b, err := q.Queue.Admit(ctx, run, p, now)
	if err == nil && b.Outcome == waitroom.Ran && b.Admitted > 0 {
		q.changed(run.EventID, feed.Queue)
	}
	return b, err
}
