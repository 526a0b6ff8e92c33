package postgres_test

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/booking"
	"github.com/evently/evently/internal/postgres"
)

// holdSeats holds the seats for user at at, for ttl, in a batch of one.
func holdSeats(ctx context.Context, s *postgres.BookingStore, eventID, user uuid.UUID, seats []uuid.UUID, at time.Time, ttl time.Duration) (booking.Booking, error) {
	res, err := s.Hold(ctx, booking.HoldBatch{EventID: eventID, Now: at, Holds: []booking.PendingHold{{
		BookingID: uuid.Must(uuid.NewV7()), UserID: user, SeatIDs: seats, TTL: ttl}}})
	if err != nil {
		return booking.Booking{}, err
	}
	return res.Bookings[0], res.Refusals[0]
}

// settle applies one change at at and returns its outcome.
func settle(ctx context.Context, s *postgres.BookingStore, c booking.Change, at time.Time) (booking.Booking, error) {
	outs, err := s.Settle(ctx, at, []booking.Change{c})
	if err != nil {
		return booking.Booking{}, err
	}
	return outs[0].Booking, outs[0].Err
}

// confirmAs confirms user's booking id at at.
func confirmAs(ctx context.Context, s *postgres.BookingStore, id, user uuid.UUID, at time.Time) error {
	_, err := settle(ctx, s, booking.Change{Kind: booking.Confirm, BookingID: id, Owner: &user}, at)
	return err
}

// cancelAsAdmin cancels booking id at at, as an admin.
func cancelAsAdmin(ctx context.Context, s *postgres.BookingStore, id uuid.UUID, at time.Time) error {
	_, err := settle(ctx, s, booking.Change{Kind: booking.Cancel, BookingID: id}, at)
	return err
}
