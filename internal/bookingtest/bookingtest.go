// Package bookingtest builds the booking engine as the process wires it,
// on a database and Redis database of its own, with a published event,
// buyers, and one clock the test moves for every service.
package bookingtest

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/evently/evently/internal/auth"
	"github.com/evently/evently/internal/booking"
	"github.com/evently/evently/internal/clocktest"
	"github.com/evently/evently/internal/event"
	"github.com/evently/evently/internal/pgtest"
	"github.com/evently/evently/internal/postgres"
	"github.com/evently/evently/internal/redis"
	"github.com/evently/evently/internal/redistest"
)

// Options shape the stack.
type Options struct {
	// HoldTTL is the event's hold time.
	HoldTTL time.Duration
	// MaxSeatsPerBooking is the event's limit per booking.
	MaxSeatsPerBooking int
	// Sections are the event's sections (see Numbered and General).
	Sections []event.SectionInput
	// Users is how many buyers to create.
	Users int
}

// Stack is the booking engine on a fresh database and Redis.
type Stack struct {
	Pool *pgxpool.Pool
	// Clock runs with the wall clock until the test moves it; the event
	// and booking services read it.
	Clock    *clocktest.Clock
	Bookings *booking.Service
	// Event is published, on sale now, and starts in 60 days.
	Event event.Event
	Users []auth.Principal
}

// New builds the stack; it is torn down when t ends.
func New(t testing.TB, o Options) *Stack {
	t.Helper()
	pool := pgtest.New(t)
	clock := clocktest.Running()
	events := event.NewService(postgres.NewEventStore(pool), clock.Now, event.Options{HoldTTL: o.HoldTTL})
	published := event.StatusPublished
	e, err := events.Create(context.Background(), event.Input{
		Name: "Race night", Venue: "Arena", StartsAt: clock.Now().Add(60 * 24 * time.Hour),
		MaxSeatsPerBooking: &o.MaxSeatsPerBooking, Status: &published, Sections: o.Sections,
	})
	if err != nil {
		t.Fatalf("bookingtest: create event: %v", err)
	}
	return &Stack{
		Pool:  pool,
		Clock: clock,
		Bookings: booking.NewService(postgres.NewBookingStore(pool), redis.NewSeatLocks(redistest.New(t)),
			booking.Options{Now: clock.Now, SaleCacheTTL: time.Millisecond}),
		Event: e,
		Users: pgtest.Users(t, pool, o.Users),
	}
}

// CheckInvariants fails t for every invariant of the event's seats and
// bookings that the database breaks.
func (s *Stack) CheckInvariants(t testing.TB) {
	t.Helper()
	v, err := postgres.CheckInvariants(context.Background(), s.Pool, s.Event.ID)
	if err != nil {
		t.Fatalf("bookingtest: check invariants: %v", err)
	}
	for _, x := range v {
		t.Errorf("invariant broken: %s (%d rows)", x.Rule, x.Rows)
	}
}

// Hold holds quantity seats of the event for who, failing t on error.
func (s *Stack) Hold(t testing.TB, who auth.Principal, quantity int) booking.Booking {
	t.Helper()
	b, err := s.Bookings.Hold(context.Background(), booking.HoldRequest{EventID: s.Event.ID, UserID: who.UserID, Quantity: quantity})
	if err != nil {
		t.Fatalf("bookingtest: hold %d seats: %v", quantity, err)
	}
	return b
}

// Buy holds and confirms quantity seats of the event for who, failing t on
// error.
func (s *Stack) Buy(t testing.TB, who auth.Principal, quantity int) booking.Booking {
	t.Helper()
	b, err := s.Bookings.Confirm(context.Background(), s.Hold(t, who, quantity).ID, who, nil)
	if err != nil {
		t.Fatalf("bookingtest: confirm: %v", err)
	}
	return b
}

// Numbered is a section of rows of numbered seats.
func Numbered(name string, price int64, rows, perRow int) event.SectionInput {
	return event.SectionInput{Name: name, PriceCents: &price, Rows: &rows, SeatsPerRow: &perRow}
}

// General is a general-admission section.
func General(name string, price int64, capacity int) event.SectionInput {
	return event.SectionInput{Name: name, PriceCents: &price, Capacity: &capacity}
}
