package booking_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/booking"
	"github.com/evently/evently/internal/bookingtest"
	"github.com/evently/evently/internal/event"
	"github.com/evently/evently/internal/pgtest"
)

func ptr[T any](v T) *T { return &v }

// engine is the booking engine on a fresh database and Redis, with a
// published event.
type engine struct{ *bookingtest.Stack }

// newEngine builds the booking engine with a published event of the
// given sections, a hold time of ttl and n users.
func newEngine(t *testing.T, ttl time.Duration, users int, sections ...event.SectionInput) *engine {
	t.Helper()
	return &engine{bookingtest.New(t, bookingtest.Options{HoldTTL: ttl, MaxSeatsPerBooking: 6, Sections: sections, Users: users})}
}

func (en *engine) seatIDs(t *testing.T) []uuid.UUID {
	t.Helper()
	return pgtest.SeatIDs(t, en.Pool, en.Event.ID)
}

// TestCleanupExpiresLapsedHolds moves the clock past a hold's expiry and
// runs the cleanup job: the booking is expired, its seats available, and
// the job is idempotent.
func TestCleanupExpiresLapsedHolds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	en := newEngine(t, 2*time.Minute, 2, bookingtest.General("Floor", 1000, 10))
	held := en.Hold(t, en.Users[0], 3)
	en.Buy(t, en.Users[1], 2) // confirmed: the cleanup leaves it alone
	if n, err := en.Bookings.ExpireHolds(ctx); err != nil || n != 0 {
		t.Fatalf("ExpireHolds before expiry = %d, %v; want 0", n, err)
	}

	en.Clock.Advance(2*time.Minute + time.Second)
	if n, err := en.Bookings.ExpireHolds(ctx); err != nil || n != 1 {
		t.Fatalf("ExpireHolds = %d, %v; want 1", n, err)
	}
	if n, err := en.Bookings.ExpireHolds(ctx); err != nil || n != 0 {
		t.Fatalf("second ExpireHolds = %d, %v; want 0", n, err)
	}
	b, err := en.Bookings.Get(ctx, held.ID, en.Users[0])
	if err != nil || b.Status != booking.StatusExpired {
		t.Fatalf("lapsed booking = %v, %v; want expired", b.Status, err)
	}
	var available, booked int
	if err := en.Pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE status = 'available'), count(*) FILTER (WHERE status = 'booked')
		FROM seats WHERE event_id = $1`, en.Event.ID).Scan(&available, &booked); err != nil {
		t.Fatal(err)
	}
	if available != 8 || booked != 2 {
		t.Errorf("after cleanup %d available, %d booked; want 8 and 2", available, booked)
	}
	// The lapsed hold's seat locks are gone: its seats can be taken by id.
	if _, err := en.Bookings.Hold(ctx, booking.HoldRequest{EventID: en.Event.ID, UserID: en.Users[1].UserID,
		SeatIDs: []uuid.UUID{held.Seats[0].ID}}); err != nil {
		t.Errorf("hold a seat of the expired booking: %v", err)
	}
	en.CheckInvariants(t)
}

// TestConfirmIsFenced: a lapsed hold whose seat was taken by another
// booking cannot be confirmed, even with the clock turned back inside its
// hold time.
func TestConfirmIsFenced(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	en := newEngine(t, time.Minute, 2, bookingtest.General("Floor", 1000, 2))
	first := en.Hold(t, en.Users[0], 2)
	en.Clock.Advance(61 * time.Second)
	second, err := en.Bookings.Hold(ctx, booking.HoldRequest{EventID: en.Event.ID, UserID: en.Users[1].UserID, Quantity: 1})
	if err != nil {
		t.Fatalf("take over a lapsed seat: %v", err)
	}
	if second.Seats[0].ID != first.Seats[0].ID {
		t.Fatalf("took %s, want the lapsed %s", second.Seats[0].Label, first.Seats[0].Label)
	}
	en.Clock.Advance(-61 * time.Second) // even back inside its hold time, the first hold lost its seat
	_, err = en.Bookings.Confirm(ctx, first.ID, en.Users[0], nil)
	if !apperr.Is(err, apperr.HoldExpired) {
		t.Fatalf("confirm of a hold whose seat was taken = %v, want hold_expired", err)
	}
	if _, err := en.Bookings.Confirm(ctx, second.ID, en.Users[1], nil); err != nil {
		t.Fatalf("confirm the new hold: %v", err)
	}
	en.CheckInvariants(t)
}

// TestRandomizedInvariants interleaves holds (by quantity and by id),
// confirmations, cancellations, clock jumps past hold times and cleanup
// runs from many goroutines, then checks every invariant in the database.
func TestRandomizedInvariants(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	en := newEngine(t, 2*time.Minute, 24, bookingtest.Numbered("Stalls", 3000, 8, 10), bookingtest.General("Floor", 1500, 60))
	seats := en.seatIDs(t)
	capacity := len(seats)

	var (
		mu       sync.Mutex
		pending  = map[uuid.UUID][]uuid.UUID{} // user → their bookings
		outcomes = map[string]int{}
	)
	note := func(err error) {
		code := "ok"
		if err != nil {
			code = string(apperr.CodeOf(err))
		}
		mu.Lock()
		outcomes[code]++
		mu.Unlock()
		switch apperr.CodeOf(err) {
		case apperr.Internal, apperr.ValidationFailed, apperr.SalesClosed, apperr.Unavailable:
			if err != nil {
				t.Errorf("unexpected error: %v", err)
			}
		}
	}
	start := en.Clock.Now()
	var wg sync.WaitGroup
	for w := range 12 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			for range 120 {
				user := en.Users[rng.IntN(len(en.Users))]
				switch op := rng.IntN(100); {
				case op < 35:
					req := booking.HoldRequest{EventID: en.Event.ID, UserID: user.UserID, Quantity: 1 + rng.IntN(4)}
					if rng.IntN(3) == 0 {
						req.Section = []string{"Stalls", "Floor"}[rng.IntN(2)]
					}
					b, err := en.Bookings.Hold(ctx, req)
					note(err)
					if err == nil {
						mu.Lock()
						pending[user.UserID] = append(pending[user.UserID], b.ID)
						mu.Unlock()
					}
				case op < 55:
					n := 1 + rng.IntN(3)
					ids := make([]uuid.UUID, 0, n)
					for _, i := range rng.Perm(capacity)[:n] {
						ids = append(ids, seats[i])
					}
					b, err := en.Bookings.Hold(ctx, booking.HoldRequest{EventID: en.Event.ID, UserID: user.UserID, SeatIDs: ids})
					note(err)
					if err == nil {
						mu.Lock()
						pending[user.UserID] = append(pending[user.UserID], b.ID)
						mu.Unlock()
					}
				case op < 75, op < 88:
					mu.Lock()
					mine := pending[user.UserID]
					var id uuid.UUID
					if len(mine) > 0 {
						id = mine[rng.IntN(len(mine))]
					}
					mu.Unlock()
					if id == uuid.Nil {
						continue
					}
					var err error
					if op < 75 {
						_, err = en.Bookings.Confirm(ctx, id, user, ptr(fmt.Sprintf("pay-%d", op)))
					} else {
						_, err = en.Bookings.Cancel(ctx, id, user)
					}
					note(err)
				case op < 95:
					en.Clock.Advance(time.Duration(rng.IntN(50)) * time.Second)
				default:
					_, err := en.Bookings.ExpireHolds(ctx)
					note(err)
				}
			}
		})
	}
	wg.Wait()
	t.Logf("outcomes: %v; clock moved %v", outcomes, en.Clock.Now().Sub(start).Round(time.Second))
	if outcomes["ok"] < 100 || outcomes["hold_expired"] == 0 {
		t.Errorf("the mix exercised too little: %v", outcomes)
	}

	en.CheckInvariants(t)
	en.Clock.Advance(time.Hour)
	if _, err := en.Bookings.ExpireHolds(ctx); err != nil {
		t.Fatal(err)
	}
	en.CheckInvariants(t)
	var available, held, booked int
	if err := en.Pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE status = 'available'),
		count(*) FILTER (WHERE status = 'held'), count(*) FILTER (WHERE status = 'booked')
		FROM seats WHERE event_id = $1`, en.Event.ID).Scan(&available, &held, &booked); err != nil {
		t.Fatal(err)
	}
	if held != 0 || available+booked != capacity {
		t.Errorf("after every hold lapsed and cleanup ran: %d available, %d held, %d booked of %d", available, held, booked, capacity)
	}
}
