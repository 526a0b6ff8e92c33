package seed

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/account"
	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/auth"
	"github.com/evently/evently/internal/booking"
	"github.com/evently/evently/internal/event"
	"github.com/evently/evently/internal/ticket"
)

// The demo sales: Hamlet (which has a refund schedule) sells a few
// bookings to a demo buyer, and the door staff member checks some of their
// tickets in.
const (
	salesEvent     = "hamlet-barbican"
	buyerEmail     = "buyer@evently.local"
	staffEmail     = "door@evently.local"
	salesBookings  = 3 // of 2 seats each: the event allows 6 per buyer
	checkedInSeats = 3
)

// SalesDeps are the services and stores the demo sales go through: the
// same paths a hold, a confirmation and a scan take.
type SalesDeps struct {
	Accounts interface {
		Register(ctx context.Context, r account.Registration) (account.Session, error)
	}
	Roles interface {
		SetRole(ctx context.Context, id uuid.UUID, role auth.Role, now time.Time) (account.User, error)
	}
	Events   *event.Service
	Bookings booking.Store
	Tickets  ticket.Store
}

// SalesResult says what a run of Sales did; Passwords holds the demo
// accounts created, by e-mail, with their one-time printed passwords.
type SalesResult struct {
	Bookings, CheckedIn int
	Passwords           map[string]string
}

// Sales sells the demo event's first seats to the demo buyer, confirms
// them (issuing tickets) and checks some in by the demo staff member. It
// does nothing when the demo buyer exists already (a second run).
func Sales(ctx context.Context, d SalesDeps, now time.Time) (SalesResult, error) {
	res := SalesResult{Passwords: map[string]string{}}
	buyer, err := demoAccount(ctx, d, buyerEmail, "Demo Buyer", &res)
	if apperr.Is(err, apperr.EmailTaken) {
		return res, nil
	}
	if err != nil {
		return res, err
	}
	staff, err := demoAccount(ctx, d, staffEmail, "Door Staff", &res)
	if err != nil {
		return res, fmt.Errorf("seed staff: %w", err)
	}
	if _, err := d.Roles.SetRole(ctx, staff.ID, auth.RoleStaff, now); err != nil {
		return res, fmt.Errorf("seed staff: %w", err)
	}

	eventID := uuid.NewSHA1(namespace, []byte(salesEvent))
	seats, _, err := d.Events.Seats(ctx, eventID, event.SeatQuery{Status: event.SeatAvailable, Limit: 2 * salesBookings}, true)
	if err != nil {
		return res, fmt.Errorf("seed sales: %w", err)
	}
	if len(seats) < 2*salesBookings {
		return res, nil
	}
	batch := booking.HoldBatch{EventID: eventID, Now: now}
	for i := range salesBookings {
		batch.Holds = append(batch.Holds, booking.PendingHold{
			BookingID: uuid.Must(uuid.NewV7()), UserID: buyer.ID, TTL: 10 * time.Minute,
			SeatIDs: []uuid.UUID{seats[2*i].ID, seats[2*i+1].ID},
		})
	}
	held, err := d.Bookings.Hold(ctx, batch)
	if err != nil {
		return res, fmt.Errorf("seed holds: %w", err)
	}
	var changes []booking.Change
	for i, b := range held.Bookings {
		if held.Refusals[i] != nil {
			return res, fmt.Errorf("seed hold: %w", held.Refusals[i])
		}
		ref := fmt.Sprintf("demo-%d", i+1)
		changes = append(changes, booking.Change{Kind: booking.Confirm, BookingID: b.ID, Owner: &buyer.ID, PaymentRef: &ref})
	}
	outs, err := d.Bookings.Settle(ctx, now, changes)
	if err != nil {
		return res, fmt.Errorf("seed confirmations: %w", err)
	}
	for _, o := range outs {
		if o.Err != nil {
			return res, fmt.Errorf("seed confirmation: %w", o.Err)
		}
		res.Bookings++
	}
	for _, o := range outs {
		list, err := d.Tickets.BookingTickets(ctx, o.Booking.ID, nil)
		if err != nil {
			return res, fmt.Errorf("seed check-ins: %w", err)
		}
		for _, t := range list {
			if res.CheckedIn == checkedInSeats {
				return res, nil
			}
			if _, _, err := d.Tickets.CheckIn(ctx, eventID, t.ID, staff.ID, now); err != nil {
				return res, fmt.Errorf("seed check-in: %w", err)
			}
			res.CheckedIn++
		}
	}
	return res, nil
}

// demoAccount registers a demo account with a random password (recorded
// in res) or returns EmailTaken when it exists.
func demoAccount(ctx context.Context, d SalesDeps, email, name string, res *SalesResult) (account.User, error) {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return account.User{}, err
	}
	password := hex.EncodeToString(b)
	s, err := d.Accounts.Register(ctx, account.Registration{Email: email, Name: name, Password: password})
	if err != nil {
		return account.User{}, err
	}
	res.Passwords[email] = password
	return s.User, nil
}
