// Package waitlist queues users for seats of sold-out events and offers
// them seats that come back: an offer is a pending booking made for the
// user, with the waitlist's own hold time, which they confirm like any
// hold. The Store makes each offer atomic with the seats it takes; the
// booking engine's row locks and unique index make two offers of one seat
// impossible.
//
// Offers run on the notify queue right after the release that frees the
// seats commits (a cancellation, the cleanup or an offer's own lapse task
// expiring a hold, a new section). Between that commit and the offer
// (typically 0.1–0.5 s: the worker polls its queues every 200ms when
// idle) released seats are available like any others and an ordinary
// buyer may take them; the offer then gets what is left. Likewise the
// seats of a lapsed offer are free to anyone (a lapsed hold never blocks a
// seat) until its lapse task runs, about a second after it lapsed. Closing
// these windows would take a seat state of its own (reserved for the
// waitlist) in every hold path; the seats are never sold twice either way.
//
// The waitlist is independent of what a user holds or owns: a user may be
// on it while holding or owning other seats of the event (there is no cap
// per user, only per booking), and an offer is made whatever else they
// have; an unwanted offer is declined by cancelling it or leaving, or
// lapses, and passes on.
package waitlist

import (
	"time"

	"github.com/google/uuid"
)

// Status is a waitlist entry's state.
type Status string

// Entry states. An entry waits, may be offered seats, and ends fulfilled
// (the offer was confirmed), expired (the offer lapsed, or the event was
// cancelled) or left (the user left, or declined the offer).
const (
	StatusWaiting   Status = "waiting"
	StatusOffered   Status = "offered"
	StatusFulfilled Status = "fulfilled"
	StatusExpired   Status = "expired"
	StatusLeft      Status = "left"
)

// Valid reports whether s is a known status.
func (s Status) Valid() bool {
	switch s {
	case StatusWaiting, StatusOffered, StatusFulfilled, StatusExpired, StatusLeft:
		return true
	}
	return false
}

// Active reports whether an entry in state s is still on the list.
func (s Status) Active() bool { return s == StatusWaiting || s == StatusOffered }

// Entry is one user's place on an event's waitlist.
type Entry struct {
	ID       uuid.UUID
	EventID  uuid.UUID
	UserID   uuid.UUID
	Quantity int
	Status   Status
	// Position is 1 for the next entry to be offered seats; nil unless
	// waiting.
	Position       *int
	OfferBookingID *uuid.UUID
	OfferExpiresAt *time.Time
	CreatedAt      time.Time
}

// Facts are what joining needs to know of an event.
type Facts struct {
	EventID            uuid.UUID
	Status             string // draft, published, cancelled
	StartsAt           time.Time
	SalesStart         *time.Time
	SalesEnd           *time.Time
	MaxSeatsPerBooking int
	// Free counts the seats that can be booked now (available, or held by
	// a lapsed hold), up to the number asked about.
	Free int
}

// Offer is seats held for a waiting entry.
type Offer struct {
	Entry     Entry
	BookingID uuid.UUID
	ExpiresAt time.Time
}

// OfferRequest asks the Store for one offer on an event.
type OfferRequest struct {
	EventID   uuid.UUID
	BookingID uuid.UUID
	Now       time.Time
	ExpiresAt time.Time
}

// Cursor is the position of an entry in a queue-ordered list.
type Cursor struct {
	CreatedAt time.Time
	ID        uuid.UUID
}

// ListFilter selects the entries of an event, oldest first.
type ListFilter struct {
	EventID uuid.UUID
	Status  *Status
	After   *Cursor
	Limit   int
}
