package waitlist_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/auth"
	"github.com/evently/evently/internal/booking"
	"github.com/evently/evently/internal/bookingtest"
	"github.com/evently/evently/internal/event"
	"github.com/evently/evently/internal/postgres"
	"github.com/evently/evently/internal/waitlist"
)

// world is the booking engine and the waitlist on a fresh database, with a
// published general-admission event, users, and one clock for both.
type world struct {
	*bookingtest.Stack
	waitlist *waitlist.Service
}

const offerTTL = 5 * time.Minute

func newWorld(t *testing.T, seats, users int) *world {
	t.Helper()
	s := bookingtest.New(t, bookingtest.Options{HoldTTL: 10 * time.Minute, MaxSeatsPerBooking: 2,
		Sections: []event.SectionInput{bookingtest.General("Floor", 1000, seats)}, Users: users})
	return &world{Stack: s, waitlist: waitlist.NewService(postgres.NewWaitlistStore(s.Pool), waitlist.Options{
		OfferTTL: offerTTL, Bookings: s.Bookings, Now: s.Clock.Now})}
}

// sellOut makes each of the first n users buy one seat.
func (w *world) sellOut(t *testing.T, n int) []booking.Booking {
	t.Helper()
	var sold []booking.Booking
	for _, u := range w.Users[:n] {
		sold = append(sold, w.Buy(t, u, 1))
	}
	return sold
}

func (w *world) entry(t *testing.T, u auth.Principal) waitlist.Entry {
	t.Helper()
	e, err := w.waitlist.Mine(context.Background(), w.Event.ID, u)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// checkInvariants checks the engine's invariants and that no seat is in
// two live offers.
func (w *world) checkInvariants(t *testing.T) {
	t.Helper()
	w.CheckInvariants(t)
	var twice int
	if err := w.Pool.QueryRow(context.Background(), `
		SELECT count(*) FROM (
		    SELECT bs.seat_id FROM waitlist_entries e JOIN booking_seats bs ON bs.booking_id = e.offer_booking_id
		    WHERE e.event_id = $1 AND e.status = 'offered'
		    GROUP BY bs.seat_id HAVING count(*) > 1) x`, w.Event.ID).Scan(&twice); err != nil || twice != 0 {
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
	for i, u := range w.Users[seats:] {
		if _, err := w.waitlist.Join(ctx, w.Event.ID, u, 1+i%2); err != nil {
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
			if _, err := w.Bookings.Cancel(ctx, b.ID, w.Users[i]); err != nil {
				t.Errorf("cancel: %v", err)
			}
			n, err := w.waitlist.Offer(ctx, w.Event.ID)
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
				n, err := w.waitlist.Offer(ctx, w.Event.ID)
				if err != nil {
					t.Errorf("offer: %v", err)
				}
				offers.Add(int64(n))
			}
		})
	}
	close(start)
	wg.Wait()
	if n, err := w.waitlist.Offer(ctx, w.Event.ID); err != nil || n != 0 {
		t.Errorf("a last run made %d offers (%v): the runs missed some", n, err)
	}

	w.checkInvariants(t)
	var offered, offeredSeats int
	if err := w.Pool.QueryRow(ctx, `SELECT count(*), coalesce(sum(quantity), 0) FROM waitlist_entries
		WHERE event_id = $1 AND status = 'offered'`, w.Event.ID).Scan(&offered, &offeredSeats); err != nil {
		t.Fatal(err)
	}
	if int64(offered) != offers.Load() || offeredSeats < seats-1 || offeredSeats > seats {
		t.Errorf("%d entries offered %d seats; the runs reported %d offers", offered, offeredSeats, offers.Load())
	}
	// Queue order: among entries of one quantity, offers went oldest first.
	var outOfOrder int
	if err := w.Pool.QueryRow(ctx, `
		SELECT count(*) FROM waitlist_entries o JOIN waitlist_entries x
		  ON x.event_id = o.event_id AND x.quantity = o.quantity AND (x.created_at, x.id) < (o.created_at, o.id)
		WHERE o.event_id = $1 AND o.status = 'offered' AND x.status = 'waiting'`, w.Event.ID).Scan(&outOfOrder); err != nil || outOfOrder != 0 {
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
	first, second := w.Users[1], w.Users[2]
	for _, u := range []auth.Principal{first, second} {
		if _, err := w.waitlist.Join(ctx, w.Event.ID, u, 1); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := w.waitlist.Offer(ctx, w.Event.ID); err != nil || n != 0 {
		t.Fatalf("offer while sold out = %d, %v", n, err)
	}
	if _, err := w.Bookings.Cancel(ctx, sold[0].ID, w.Users[0]); err != nil {
		t.Fatal(err)
	}
	if n, err := w.waitlist.Offer(ctx, w.Event.ID); err != nil || n != 1 {
		t.Fatalf("offer after a cancellation = %d, %v", n, err)
	}
	e := w.entry(t, first)
	if e.Status != waitlist.StatusOffered || e.OfferExpiresAt.Sub(w.Clock.Now()) > offerTTL {
		t.Fatalf("first entry = %+v", e)
	}
	lapsed := *e.OfferBookingID

	w.Clock.Advance(offerTTL + time.Second)
	if n, err := w.Bookings.ExpireHolds(ctx); err != nil || n != 1 {
		t.Fatalf("cleanup expired %d, %v", n, err)
	}
	if got := w.entry(t, first).Status; got != waitlist.StatusExpired {
		t.Errorf("lapsed entry = %s", got)
	}
	if _, err := w.Bookings.Confirm(ctx, lapsed, first, nil); !apperr.Is(err, apperr.HoldExpired) {
		t.Errorf("confirm of a lapsed offer = %v, want hold_expired", err)
	}
	if n, err := w.waitlist.Offer(ctx, w.Event.ID); err != nil || n != 1 {
		t.Fatalf("offer after the lapse = %d, %v", n, err)
	}
	e = w.entry(t, second)
	b, err := w.Bookings.Confirm(ctx, *e.OfferBookingID, second, nil)
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
	full, seller, behind := w.Users[0], w.Users[1], w.Users[2]
	var theirs []booking.Booking
	for _, u := range []auth.Principal{full, seller} {
		theirs = append(theirs, w.Buy(t, u, 2))
	}
	for _, u := range []auth.Principal{full, behind} {
		if _, err := w.waitlist.Join(ctx, w.Event.ID, u, 1); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Bookings.Cancel(ctx, theirs[1].ID, seller); err != nil {
		t.Fatal(err)
	}
	if n, err := w.waitlist.Offer(ctx, w.Event.ID); err != nil || n != 1 {
		t.Fatalf("first offer run = %d, %v; want 1", n, err)
	}
	if got := w.entry(t, behind).Status; got != waitlist.StatusOffered {
		t.Errorf("the entry behind the buyer at the limit = %s, want offered", got)
	}
	if n, err := w.waitlist.Offer(ctx, w.Event.ID); err != nil || n != 0 {
		t.Fatalf("offer run with only the buyer at the limit waiting = %d, %v; want 0", n, err)
	}
	if got := w.entry(t, full).Status; got != waitlist.StatusWaiting {
		t.Errorf("the buyer at the limit = %s, want still waiting", got)
	}
	if _, err := w.Bookings.Cancel(ctx, theirs[0].ID, full); err != nil {
		t.Fatal(err)
	}
	if n, err := w.waitlist.Offer(ctx, w.Event.ID); err != nil || n != 1 {
		t.Fatalf("offer run once under the limit = %d, %v; want 1", n, err)
	}
	if got := w.entry(t, full).Status; got != waitlist.StatusOffered {
		t.Errorf("the buyer under the limit again = %s, want offered", got)
	}
	w.checkInvariants(t)
}
