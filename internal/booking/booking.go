// Package booking is the booking engine: holds, confirmations,
// cancellations and expiry. It decides what may happen; the Store it is
// given makes each decision atomic in Postgres, and the Locks filter
// contention in Redis before Postgres is touched.
package booking

import (
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/event"
)

// Status is a booking's state.
type Status string

// Booking states. A booking starts pending (a hold); it is confirmed by its
// owner, cancelled by its owner or an admin, or expires unconfirmed.
const (
	StatusPending   Status = "pending"
	StatusConfirmed Status = "confirmed"
	StatusCancelled Status = "cancelled"
	StatusExpired   Status = "expired"
)

// Valid reports whether s is a known status.
func (s Status) Valid() bool {
	switch s {
	case StatusPending, StatusConfirmed, StatusCancelled, StatusExpired:
		return true
	}
	return false
}

// Booking is a hold or a sale of one or more seats of one event.
type Booking struct {
	ID               uuid.UUID
	EventID          uuid.UUID
	UserID           uuid.UUID
	Status           Status
	Seats            []Seat
	Quantity         int
	TotalCents       int64
	Currency         string
	ExpiresAt        time.Time
	PaymentReference *string
	CreatedAt        time.Time
	ConfirmedAt      *time.Time
	CancelledAt      *time.Time
	// RefundCents is what cancelling the booking refunded (set when a
	// confirmed booking is cancelled).
	RefundCents *int64
}

// Seat is a seat as part of a booking.
type Seat struct {
	ID         uuid.UUID
	Section    string
	Row        *string
	Number     *int
	Label      string
	PriceCents int64
	// Status is the seat's public state: available, held or booked.
	Status string
}

// Sale is what the engine needs to know about an event to sell its seats.
type Sale struct {
	EventID            uuid.UUID
	Status             string // draft, published, cancelled
	StartsAt           time.Time
	SalesStart         *time.Time
	SalesEnd           *time.Time
	MaxSeatsPerBooking int
	HoldTTL            time.Duration
	Currency           string
	// Sections in seat order; each covers the seat positions First..Last.
	Sections           []Section
	WaitingRoomEnabled bool
	// RefundPolicy is the event's refund schedule (nil: the default).
	RefundPolicy event.RefundPolicy
}

// Section is a position range of an event's seats.
type Section struct {
	ID          uuid.UUID
	Name        string
	First, Last int
	// Numbered sections have rows; adjacency matters only there.
	Numbered bool
}

// section returns the section called name.
func (s Sale) section(name string) (Section, bool) {
	for _, sec := range s.Sections {
		if sec.Name == name {
			return sec, true
		}
	}
	return Section{}, false
}

// OpenAt returns nil when seats can be sold at now, else the refusal: a
// draft does not exist for buyers; otherwise the sale is closed, and why
// (event.SaleWindow says it for every service).
func (s Sale) OpenAt(now time.Time) error {
	switch st := (event.SaleWindow{Status: event.Status(s.Status), StartsAt: s.StartsAt,
		SalesStart: s.SalesStart, SalesEnd: s.SalesEnd}).At(now); {
	case st == event.SaleOpen:
		return nil
	case s.Status == "draft":
		return event.NotFound(s.EventID)
	default:
		return apperr.New(apperr.SalesClosed, "%s", st.Reason())
	}
}

// Cursor is the position of a booking in a newest-first list.
type Cursor struct {
	CreatedAt time.Time
	ID        uuid.UUID
}

// ListFilter selects bookings for a list.
type ListFilter struct {
	UserID  *uuid.UUID
	EventID *uuid.UUID
	Status  *Status
	After   *Cursor
	Limit   int
}
