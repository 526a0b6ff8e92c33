package booking_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/auth"
	"github.com/evently/evently/internal/booking"
	"github.com/evently/evently/internal/event"
	"github.com/evently/evently/internal/pgtest"
	"github.com/evently/evently/internal/postgres"
	"github.com/evently/evently/internal/redis"
	"github.com/evently/evently/internal/redistest"
)

// clock is an injectable clock that tests move forward.
type clock struct{ offset atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }
func ptr[T any](v T) *T                  { return &v }
func (c *clock) set(d time.Duration)     { c.offset.Store(int64(d)) }
func (c *clock) elapsed() time.Duration  { return time.Duration(c.offset.Load()) }
func numbered(name string, price int64, rows, perRow int) event.SectionInput {
	return event.SectionInput{Name: name, PriceCents: &price, Rows: &rows, SeatsPerRow: &perRow}
}
func general(name string, price int64, capacity int) event.SectionInput {
	return event.SectionInput{Name: name, PriceCents: &price, Capacity: &capacity}
}

type engine struct {
	pool  *pgxpool.Pool
	svc   *booking.Service
	clock *clock
	event event.Event
	users []auth.Principal
}

// newEngine builds the booking engine on a fresh database and Redis, with
// a published event of the given sections, a hold time of ttl and n users.
func newEngine(t *testing.T, ttl time.Duration, users int, sections ...event.SectionInput) *engine {
	t.Helper()
	ctx := context.Background()
	pool := pgtest.New(t)
	clk := &clock{}
	events := event.NewService(postgres.NewEventStore(pool), clk.Now, event.Defaults{HoldTTL: ttl})
	e, err := events.Create(ctx, event.Input{
		Name: "Race night", Venue: "Arena", StartsAt: time.Now().Add(60 * 24 * time.Hour),
		MaxSeatsPerBooking: ptr(6), Status: ptr(event.StatusPublished), Sections: sections,
	})
	if err != nil {
		t.Fatalf("create event: %v", err)
	}
	en := &engine{
		pool:  pool,
		clock: clk,
		event: e,
		svc: booking.NewService(postgres.NewBookingStore(pool), redis.NewSeatLocks(redistest.New(t)),
			booking.Options{Now: clk.Now, SaleCacheTTL: time.Millisecond}),
	}
	for range users {
		id := uuid.Must(uuid.NewV7())
		if _, err := pool.Exec(ctx, `INSERT INTO users (id, email, name, password_hash, role) VALUES ($1, $2, 'U', 'x', 'user')`,
			id, id.String()+"@example.com"); err != nil {
			t.Fatal(err)
		}
		en.users = append(en.users, auth.Principal{UserID: id, Role: auth.RoleUser})
	}
	return en
}

func (en *engine) seatIDs(t *testing.T) []uuid.UUID {
	t.Helper()
	rows, err := en.pool.Query(context.Background(), `SELECT id FROM seats WHERE event_id = $1 ORDER BY position`, en.event.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []uuid.UUID
	for rows.Next() {
		var id uuid.UUID
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

func (en *engine) checkInvariants(t *testing.T) {
	t.Helper()
	v, err := postgres.CheckInvariants(context.Background(), en.pool, en.event.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range v {
		t.Errorf("invariant broken: %s (%d rows)", x.Rule, x.Rows)
	}
}

// TestCleanupExpiresLapsedHolds moves the clock past a hold's expiry and
// runs the cleanup job: the booking is expired, its seats available, and
// the job is idempotent.
func TestCleanupExpiresLapsedHolds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	en := newEngine(t, 2*time.Minute, 2, general("Floor", 1000, 10))
	held, err := en.svc.Hold(ctx, booking.HoldRequest{EventID: en.event.ID, UserID: en.users[0].UserID, Quantity: 3})
	if err != nil {
		t.Fatal(err)
	}
	kept, err := en.svc.Hold(ctx, booking.HoldRequest{EventID: en.event.ID, UserID: en.users[1].UserID, Quantity: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := en.svc.Confirm(ctx, kept.ID, en.users[1], nil); err != nil {
		t.Fatal(err)
	}
	if n, err := en.svc.ExpireHolds(ctx); err != nil || n != 0 {
		t.Fatalf("ExpireHolds before expiry = %d, %v; want 0", n, err)
	}

	en.clock.Advance(2*time.Minute + time.Second)
	if n, err := en.svc.ExpireHolds(ctx); err != nil || n != 1 {
		t.Fatalf("ExpireHolds = %d, %v; want 1", n, err)
	}
	if n, err := en.svc.ExpireHolds(ctx); err != nil || n != 0 {
		t.Fatalf("second ExpireHolds = %d, %v; want 0", n, err)
	}
	b, err := en.svc.Get(ctx, held.ID, en.users[0])
	if err != nil || b.Status != booking.StatusExpired {
		t.Fatalf("lapsed booking = %v, %v; want expired", b.Status, err)
	}
	var available, booked int
	if err := en.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE status = 'available'), count(*) FILTER (WHERE status = 'booked')
		FROM seats WHERE event_id = $1`, en.event.ID).Scan(&available, &booked); err != nil {
		t.Fatal(err)
	}
	if available != 8 || booked != 2 {
		t.Errorf("after cleanup %d available, %d booked; want 8 and 2", available, booked)
	}
	// The lapsed hold's seat locks are gone: its seats can be taken by id.
	if _, err := en.svc.Hold(ctx, booking.HoldRequest{EventID: en.event.ID, UserID: en.users[1].UserID,
		SeatIDs: []uuid.UUID{held.Seats[0].ID}}); err != nil {
		t.Errorf("hold a seat of the expired booking: %v", err)
	}
	en.checkInvariants(t)
}

// TestConfirmIsFenced: a lapsed hold whose seat was taken by another
// booking cannot be confirmed, even with the clock turned back inside its
// hold time.
func TestConfirmIsFenced(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	en := newEngine(t, time.Minute, 2, general("Floor", 1000, 2))
	first, err := en.svc.Hold(ctx, booking.HoldRequest{EventID: en.event.ID, UserID: en.users[0].UserID, Quantity: 2})
	if err != nil {
		t.Fatal(err)
	}
	en.clock.Advance(61 * time.Second)
	second, err := en.svc.Hold(ctx, booking.HoldRequest{EventID: en.event.ID, UserID: en.users[1].UserID, Quantity: 1})
	if err != nil {
		t.Fatalf("take over a lapsed seat: %v", err)
	}
	if second.Seats[0].ID != first.Seats[0].ID {
		t.Fatalf("took %s, want the lapsed %s", second.Seats[0].Label, first.Seats[0].Label)
	}
	en.clock.set(0) // even back inside its hold time, the first hold lost its seat
	_, err = en.svc.Confirm(ctx, first.ID, en.users[0], nil)
	if !apperr.Is(err, apperr.HoldExpired) {
		t.Fatalf("confirm of a hold whose seat was taken = %v, want hold_expired", err)
	}
	if _, err := en.svc.Confirm(ctx, second.ID, en.users[1], nil); err != nil {
		t.Fatalf("confirm the new hold: %v", err)
	}
	en.checkInvariants(t)
}

// TestRandomizedInvariants interleaves holds (by quantity and by id),
// confirmations, cancellations, clock jumps past hold times and cleanup
// runs from many goroutines, then checks every invariant in the database.
func TestRandomizedInvariants(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	en := newEngine(t, 2*time.Minute, 24, numbered("Stalls", 3000, 8, 10), general("Floor", 1500, 60))
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
	var wg sync.WaitGroup
	for w := range 12 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			for range 120 {
				user := en.users[rng.IntN(len(en.users))]
				switch op := rng.IntN(100); {
				case op < 35:
					req := booking.HoldRequest{EventID: en.event.ID, UserID: user.UserID, Quantity: 1 + rng.IntN(4)}
					if rng.IntN(3) == 0 {
						req.Section = []string{"Stalls", "Floor"}[rng.IntN(2)]
					}
					b, err := en.svc.Hold(ctx, req)
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
					b, err := en.svc.Hold(ctx, booking.HoldRequest{EventID: en.event.ID, UserID: user.UserID, SeatIDs: ids})
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
						_, err = en.svc.Confirm(ctx, id, user, ptr(fmt.Sprintf("pay-%d", op)))
					} else {
						_, err = en.svc.Cancel(ctx, id, user)
					}
					note(err)
				case op < 95:
					en.clock.Advance(time.Duration(rng.IntN(50)) * time.Second)
				default:
					_, err := en.svc.ExpireHolds(ctx)
					note(err)
				}
			}
		})
	}
	wg.Wait()
	t.Logf("outcomes: %v; simulated time %v", outcomes, en.clock.elapsed())
	if outcomes["ok"] < 100 || outcomes["hold_expired"] == 0 {
		t.Errorf("the mix exercised too little: %v", outcomes)
	}

	en.checkInvariants(t)
	en.clock.Advance(time.Hour)
	if _, err := en.svc.ExpireHolds(ctx); err != nil {
		t.Fatal(err)
	}
	en.checkInvariants(t)
	var available, held, booked int
	if err := en.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE status = 'available'),
		count(*) FILTER (WHERE status = 'held'), count(*) FILTER (WHERE status = 'booked')
		FROM seats WHERE event_id = $1`, en.event.ID).Scan(&available, &held, &booked); err != nil {
		t.Fatal(err)
	}
	if held != 0 || available+booked != capacity {
		t.Errorf("after every hold lapsed and cleanup ran: %d available, %d held, %d booked of %d", available, held, booked, capacity)
	}
}
