package waitroom

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/apperr"
)

// Stock reads an event's inventory for the admission chain (Postgres), so
// that the room never lets in more buyers than the seats left can serve.
type Stock interface {
	// Inventory returns the event's seats at now and, among users (the
	// buyers admitted and still active), how many already hold or bought
	// seats of the event; and, among overdue (some of their admissions),
	// how many have made no booking of it since they were admitted.
	Inventory(ctx context.Context, eventID uuid.UUID, users []uuid.UUID, overdue []Admission, now time.Time) (Inventory, error)
}

// SoldOutNotices tell the users still waiting in a room that its event has
// sold out (one in-app notification each).
type SoldOutNotices interface {
	SoldOut(ctx context.Context, eventID uuid.UUID, users []uuid.UUID, at time.Time) error
}

// Inventory is an event's stock as admission sees it.
type Inventory struct {
	// Free seats can be held now: available, or held by a hold that has
	// lapsed. Live holds are not free.
	Free int64
	// Held seats are under a live hold: they may come back.
	Held int64
	// Served is how many of the active buyers asked about hold or bought
	// seats of the event already: their seats are out of Free.
	Served int64
	// SeatsPerBooking is the mean size of the event's live and confirmed
	// bookings (0 when there are none yet).
	SeatsPerBooking float64
	// Idle is how many of the overdue admissions asked about have no
	// booking of the event made since they were given.
	Idle int64
}

// Admission is an admitted user, when their admission was given (zero if
// unknown) and when it lapses.
type Admission struct {
	UserID uuid.UUID
	At     time.Time
	Until  time.Time
}

// UsersOf returns the users of admissions, in order.
func UsersOf(admissions []Admission) []uuid.UUID {
	out := make([]uuid.UUID, len(admissions))
	for i, a := range admissions {
		out[i] = a.UserID
	}
	return out
}

// SoldOut reports whether nothing is left to sell or to come back: no free
// seat and no live hold.
func (inv Inventory) SoldOut() bool { return inv.Free <= 0 && inv.Held <= 0 }

// capacity is how many more buyers the inventory can serve while active
// buyers (admitted, admission not lapsed) are in the room: the free seats
// less what the active buyers who have not held yet are expected to take,
// in buyers of the expected size.
//
// A buyer is expected to take the mean booking size of the event so far,
// and at least one seat: the mean is what this crowd actually does (it
// moves with the event's own per-booking limit and its buyers' habits),
// and before the first booking one seat per buyer admits the most without
// ever admitting a buyer for whom no seat is left.
func (inv Inventory) capacity(active int64) int64 {
	per := max(1, inv.SeatsPerBooking)
	waiting := max(0, active-inv.Served)
	left := float64(inv.Free) - float64(waiting)*per
	if left <= 0 {
		return 0
	}
	return int64(math.Floor(left / per))
}

// inventoryPolicy limits p by the event's inventory: admissions stop once
// the free seats are spoken for by the active buyers, and the room is
// marked sold out when nothing is left to sell or to come back. For a room
// that tunes its own rate it also returns what the active buyers are
// doing (see signals).
func (s *Service) inventoryPolicy(ctx context.Context, room Room, p Policy, now time.Time) (Policy, signals, error) {
	var sig signals
	if s.stock == nil || p.Paused {
		return p, sig, nil
	}
	// The idle buyers are counted only when the rate may change.
	idleDue := s.tunes(room) && room.tuneDue(now)
	active, err := s.queue.ActiveAdmissions(ctx, room.EventID, now, idleDue)
	if err != nil {
		return p, sig, err
	}
	var overdue []Admission
	if idleDue {
		overdue = overdueOf(active, now)
	}
	inv, err := s.stock.Inventory(ctx, room.EventID, UsersOf(active), overdue, now)
	if err != nil {
		return p, sig, err
	}
	p.Capped, p.Capacity = true, inv.capacity(int64(len(active)))
	p.SoldOut = inv.SoldOut()
	sig.overdue, sig.idle = int64(len(overdue)), inv.Idle
	return p, sig, nil
}

// tellSoldOut notifies the users waiting in a room that has just sold out,
// once: the room remembers that they were told. If the notices cannot be
// written, the next run tries again.
func (s *Service) tellSoldOut(ctx context.Context, eventID uuid.UUID, at time.Time) error {
	if s.notices == nil {
		return nil
	}
	users, err := s.queue.Waiters(ctx, eventID)
	if err != nil {
		return err
	}
	if len(users) > 0 {
		if err := s.notices.SoldOut(ctx, eventID, users, at); err != nil {
			return fmt.Errorf("sold-out notices event=%s: %w", eventID, err)
		}
	}
	return s.queue.ToldSoldOut(ctx, eventID)
}

// QueuedAt is where the user's place in a sold-out room puts them on the
// event's waitlist: the moment the room sold out plus one microsecond per
// place in line, so that whoever goes from the line to the waitlist is
// served in line order, whenever they make the call. It is InvalidState
// unless the user's ticket is sold_out, NotFound without a ticket.
func (s *Service) QueuedAt(ctx context.Context, eventID, userID uuid.UUID) (time.Time, error) {
	t, p, err := s.status(ctx, eventID, userID)
	if err != nil {
		return time.Time{}, err
	}
	if t.Status != StatusSoldOut {
		return time.Time{}, apperr.New(apperr.InvalidState, "The event has not sold out while you waited: your ticket is %s.", t.Status)
	}
	return p.SoldOutAt.Add(time.Duration(max(0, p.Number-p.Serving)) * time.Microsecond), nil
}
