package booking

import (
	"fmt"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/apperr"
)

// The engine's refusals, each said once.

// SoldOut refuses a best-available hold of quantity seats.
func SoldOut(quantity int) error {
	return apperr.New(apperr.SoldOut, "Fewer than %d seats are free.", quantity)
}

// PurchaseLimitReached refuses a hold that would take a buyer's live
// bookings of the event (holds and confirmed bookings, live seats already
// counted) past the event's limit of seats per buyer.
func PurchaseLimitReached(limit, live int) error {
	return apperr.New(apperr.PurchaseLimitReached,
		"A buyer may hold at most %d seats of this event; your bookings hold %d.", limit, live).
		With("max_seats_per_user", limit).With("seats_held", live)
}

// SeatsTaken refuses a hold of specific seats some of which (ids) are held
// or sold.
func SeatsTaken(ids []uuid.UUID) error {
	return apperr.New(apperr.SeatUnavailable, "%d of the seats asked for are taken.", len(ids)).With("seat_ids", ids)
}

// ForeignSeats refuses a hold of seats (ids) that are not the event's.
func ForeignSeats(ids []uuid.UUID) error {
	return apperr.Invalid(apperr.FieldError{Field: "seat_ids",
		Message: fmt.Sprintf("%d seat(s) are not seats of this event", len(ids))}).With("seat_ids", ids)
}

// NoSuchBooking refuses to show or change a booking that is not the
// caller's (or does not exist).
func NoSuchBooking() error { return apperr.New(apperr.NotFound, "No such booking.") }

// HoldLapsed refuses to confirm a hold that expired.
func HoldLapsed() error {
	return apperr.New(apperr.HoldExpired, "The hold expired before it was confirmed.")
}
