package waitlist_test

import (
	"context"
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
	"github.com/evently/evently/internal/waitlist"
)

// clock is an injectable clock that tests move forward.
type clock struct{ offset atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// world is the booking engine and the waitlist on a fresh database, with a
// published general-admission event, users, and one clock for both.
type world struct {
	pool     *pgxpool.Pool
	clock    *clock
	bookings *booking.Service
	waitlist *waitlist.Service
	event    uuid.UUID
	users    []auth.Principal
}

const offerTTL = 5 * time.Minute

func newWorld(t *testing.T, seats, users int) *world {
	t.Helper()
	ctx := context.Background()
	pool := pgtest.New(t)
	clk := &clock{}
	events := event.NewService(postgres.NewEventStore(pool), clk.Now, event.Defaults{HoldTTL: 10 * time.Minute})
	capacity, price, max := seats, int64(1000), 2
	published := event.StatusPublished
	e, err := events.Create(ctx, event.Input{Name: "Sold out", Venue: "Hall", StartsAt: time.Now().Add(30 * 24 * time.Hour),
		MaxSeatsPerBooking: &max, Status: &published,
		Sections: []event.SectionInput{{Name: "Floor", PriceCents: &price, Capacity: &capacity}}})
	if err != nil {
		t.Fatal(err)
	}
	w := &world{pool: pool, clock: clk, event: e.ID}
	w.bookings = booking.NewService(postgres.NewBookingStore(pool), redis.NewSeatLocks(redistest.New(t)),
		booking.Options{Now: clk.Now, SaleCacheTTL: time.Millisecond})
	w.waitlist = waitlist.NewService(postgres.NewWaitlistStore(pool), waitlist.Options{
		OfferTTL: offerTTL, Bookings: w.bookings, Now: clk.Now})
	for range users {
		id := uuid.Must(uuid.NewV7())
		if _, err := pool.Exec(ctx, `INSERT INTO users (id, email, name, password_hash, role) VALUES ($1, $2, 'U', 'x', 'user')`,
			id, id.String()+"@example.com"); err != nil {
			t.Fatal(err)
		}
		w.users = append(w.users, auth.Principal{UserID: id, Role: auth.RoleUser})
	}
	return w
}

// sellOut makes each of the first n users buy one seat.
func (w *world) sellOut(t *testing.T, n int) []booking.Booking {
	t.Helper()
	ctx := context.Background()
	var sold []booking.Booking
	for _, u := range w.users[:n] {
		b, err := w.bookings.Hold(ctx, booking.HoldRequest{EventID: w.event, UserID: u.UserID, Quantity: 1})
		if err != nil {
			t.Fatal(err)
		}
		if b, err = w.bookings.Confirm(ctx, b.ID, u, nil); err != nil {
			t.Fatal(err)
		}
		sold = append(sold, b)
	}
	return sold
}

func (w *world) entry(t *testing.T, u auth.Principal) waitlist.Entry {
	t.Helper()
	e, err := w.waitlist.Mine(context.Background(), w.event, u)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (w *world) checkInvariants(t *testing.T) {
	t.Helper()
	v, err := postgres.CheckInvariants(context.Background(), w.pool, w.event)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range v {
		t.Errorf("invariant broken: %s (%d rows)", x.Rule, x.Rows)
	}
	var twice int
	if err := w.pool.QueryRow(context.Background(), `
		SELECT count(*) FROM (
		    SELECT bs.seat_id FROM waitlist_entries e JOIN booking_seats bs ON bs.booking_id = e.offer_booking_id
		    WHERE e.event_id = $1 AND e.status = 'offered'
		    GROUP BY bs.seat_id HAVING count(*) > 1) x`, w.event).Scan(&twice); err != nil || twice != 0 {
		t.Errorf("%d seats are in two live offers (%v)", twice, err)
	}
}

// TestParallelOfferRuns runs offer runs for one event from many goroutines
// at once (no queue de-duplicates them here) while the seats come back one
// cancellation at a time: the per-event lock and the engine's row locks
// keep every seat in at most one offer, and each entry gets at most one.
func TestParallelOfferRuns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const seats, waiters = 20, 30
	w := newWorld(t, seats, seats+waiters)
	sold := w.sellOut(t, seats)
	for i, u := range w.users[seats:] {
		if _, err := w.waitlist.Join(ctx, w.event, u, 1+i%2); err != nil {
			t.Fatal(err)
		}
	}

	var (
		wg     sync.WaitGroup
		offers atomic.Int64
	)
	start := make(chan struct{})
	for i, b := range sold {
		wg.Go(func() {
			<-start
			if _, err := w.bookings.Cancel(ctx, b.ID, w.users[i]); err != nil {
				t.Errorf("cancel: %v", err)
			}
			n, err := w.waitlist.Offer(ctx, w.event)
			if err != nil {
				t.Errorf("offer: %v", err)
			}
			offers.Add(int64(n))
		})
	}
	for range 8 {
		wg.Go(func() {
			<-start
			for range 10 {
				n, err := w.waitlist.Offer(ctx, w.event)
				if err != nil {
					t.Errorf("offer: %v", err)
				}
				offers.Add(int64(n))
			}
		})
	}
	close(start)
	wg.Wait()
	if n, err := w.waitlist.Offer(ctx, w.event); err != nil || n != 0 {
		t.Errorf("a last run made %d offers (%v): the runs missed some", n, err)
	}

	w.checkInvariants(t)
	var offered, offeredSeats int
	if err := w.pool.QueryRow(ctx, `SELECT count(*), coalesce(sum(quantity), 0) FROM waitlist_entries
		WHERE event_id = $1 AND status = 'offered'`, w.event).Scan(&offered, &offeredSeats); err != nil {
		t.Fatal(err)
	}
	if int64(offered) != offers.Load() || offeredSeats < seats-1 || offeredSeats > seats {
		t.Errorf("%d entries offered %d seats; the runs reported %d offers", offered, offeredSeats, offers.Load())
	}
	// Queue order: among entries of one quantity, offers went oldest first.
	var outOfOrder int
	if err := w.pool.QueryRow(ctx, `
		SELECT count(*) FROM waitlist_entries o JOIN waitlist_entries x
		  ON x.event_id = o.event_id AND x.quantity = o.quantity AND (x.created_at, x.id) < (o.created_at, o.id)
		WHERE o.event_id = $1 AND o.status = 'offered' AND x.status = 'waiting'`, w.event).Scan(&outOfOrder); err != nil || outOfOrder != 0 {
		t.Errorf("%d offers overtook an older waiting entry of the same quantity (%v)", outOfOrder, err)
	}
}

// TestOfferLifecycle: an offer is a pending hold for the offer time; when
// it lapses the cleanup expires it and its entry, and the next offer run
// passes the seat on; a confirmed offer fulfils its entry.
func TestOfferLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newWorld(t, 1, 3)
	sold := w.sellOut(t, 1)
	first, second := w.users[1], w.users[2]
	for _, u := range []auth.Principal{first, second} {
		if _, err := w.waitlist.Join(ctx, w.event, u, 1); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := w.waitlist.Offer(ctx, w.event); err != nil || n != 0 {
		t.Fatalf("offer while sold out = %d, %v", n, err)
	}
	if _, err := w.bookings.Cancel(ctx, sold[0].ID, w.users[0]); err != nil {
		t.Fatal(err)
	}
	if n, err := w.waitlist.Offer(ctx, w.event); err != nil || n != 1 {
		t.Fatalf("offer after a cancellation = %d, %v", n, err)
	}
	e := w.entry(t, first)
	if e.Status != waitlist.StatusOffered || e.OfferExpiresAt.Sub(w.clock.Now()) > offerTTL {
		t.Fatalf("first entry = %+v", e)
	}
	lapsed := *e.OfferBookingID

	w.clock.Advance(offerTTL + time.Second)
	if n, err := w.bookings.ExpireHolds(ctx); err != nil || n != 1 {
		t.Fatalf("cleanup expired %d, %v", n, err)
	}
	if got := w.entry(t, first).Status; got != waitlist.StatusExpired {
		t.Errorf("lapsed entry = %s", got)
	}
	if _, err := w.bookings.Confirm(ctx, lapsed, first, nil); !apperr.Is(err, apperr.HoldExpired) {
		t.Errorf("confirm of a lapsed offer = %v, want hold_expired", err)
	}
	if n, err := w.waitlist.Offer(ctx, w.event); err != nil || n != 1 {
		t.Fatalf("offer after the lapse = %d, %v", n, err)
	}
	e = w.entry(t, second)
	b, err := w.bookings.Confirm(ctx, *e.OfferBookingID, second, nil)
	if err != nil || b.Status != booking.StatusConfirmed {
		t.Fatalf("confirm the offer = %v, %v", b.Status, err)
	}
	if got := w.entry(t, second).Status; got != waitlist.StatusFulfilled {
		t.Errorf("confirmed offer's entry = %s, want fulfilled", got)
	}
	w.checkInvariants(t)
}

// TestOfferRespectsPurchaseLimit: an entry whose owner already holds the
// event's limit of seats per buyer is passed over — the entries behind it
// get their offers — and gets its own once the owner is under the limit.
func TestOfferRespectsPurchaseLimit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newWorld(t, 4, 3) // max_seats_per_booking 2, so 2 seats per buyer
	full, seller, behind := w.users[0], w.users[1], w.users[2]
	var theirs []booking.Booking
	for _, u := range []auth.Principal{full, seller} {
		b, err := w.bookings.Hold(ctx, booking.HoldRequest{EventID: w.event, UserID: u.UserID, Quantity: 2})
		if err != nil {
			t.Fatal(err)
		}
		if b, err = w.bookings.Confirm(ctx, b.ID, u, nil); err != nil {
			t.Fatal(err)
		}
		theirs = append(theirs, b)
	}
	for _, u := range []auth.Principal{full, behind} {
		if _, err := w.waitlist.Join(ctx, w.event, u, 1); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.bookings.Cancel(ctx, theirs[1].ID, seller); err != nil {
		t.Fatal(err)
	}
	if n, err := w.waitlist.Offer(ctx, w.event); err != nil || n != 1 {
		t.Fatalf("first offer run = %d, %v; want 1", n, err)
	}
	if got := w.entry(t, behind).Status; got != waitlist.StatusOffered {
		t.Errorf("the entry behind the buyer at the limit = %s, want offered", got)
	}
	if n, err := w.waitlist.Offer(ctx, w.event); err != nil || n != 0 {
		t.Fatalf("offer run with only the buyer at the limit waiting = %d, %v; want 0", n, err)
	}
	if got := w.entry(t, full).Status; got != waitlist.StatusWaiting {
		t.Errorf("the buyer at the limit = %s, want still waiting", got)
	}
	if _, err := w.bookings.Cancel(ctx, theirs[0].ID, full); err != nil {
		t.Fatal(err)
	}
	if n, err := w.waitlist.Offer(ctx, w.event); err != nil || n != 1 {
		t.Fatalf("offer run once under the limit = %d, %v; want 1", n, err)
	}
	if got := w.entry(t, full).Status; got != waitlist.StatusOffered {
		t.Errorf("the buyer under the limit again = %s, want offered", got)
	}
	w.checkInvariants(t)
}
