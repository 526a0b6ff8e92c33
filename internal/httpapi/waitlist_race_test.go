package httpapi_test

import (
	"context"
	"sync"
	"testing"
	"time"
)

// TestConcurrentReleasesNeverOfferASeatTwice sells out an event, puts 40
// users on its waitlist (wanting 1 or 2 seats), then cancels all 30
// bookings at once while 10 ordinary buyers try to grab the seats. Every
// offer run that follows competes with the others and with the buyers;
// when the dust settles no seat is in two offers (or two live bookings),
// every offer is a pending hold of its entry's user for its quantity, and
// no waiting entry fits the seats left.
func TestConcurrentReleasesNeverOfferASeatTwice(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	const capacity = 30
	e := f.publish(t, gaEvent(capacity), set("max_seats_per_booking", 2))
	owners := f.buyers(t, capacity)
	sold := make([]bookingJSON, capacity)
	for i, o := range owners {
		sold[i] = f.buy(t, o, e.ID, 1)
	}
	for i, w := range f.buyers(t, 40) {
		f.join(t, w, e.ID, 1+i%2)
	}
	grabbers := f.buyers(t, 10)

	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, o := range owners {
		wg.Go(func() {
			<-start
			if r := f.env.Post(t, "/api/v1/bookings/"+sold[i].ID+"/cancel", o, nil); r.Status != 200 {
				t.Errorf("cancel = %d %s", r.Status, r.Body)
			}
		})
	}
	var grabbed []bookingJSON
	var mu sync.Mutex
	for _, g := range grabbers {
		wg.Go(func() {
			<-start
			r := f.env.Post(t, "/api/v1/bookings", g, map[string]any{"event_id": e.ID, "quantity": 1})
			if r.Status == 201 {
				var b bookingJSON
				r.Decode(t, &b)
				mu.Lock()
				grabbed = append(grabbed, b)
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()

	// Settle: offers stop changing.
	ctx := context.Background()
	count := func() int {
		var n int
		if err := f.db.QueryRow(ctx, `SELECT count(*) FROM waitlist_entries WHERE event_id = $1 AND status = 'offered'`, e.ID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	last, stableSince := -1, time.Now()
	eventually(t, 30*time.Second, "offers to settle", func() bool {
		if n := count(); n != last {
			last, stableSince = n, time.Now()
		}
		return time.Since(stableSince) > 1500*time.Millisecond
	})

	f.noSeatTwice(t, e.ID, grabbed)
	var twice int
	if err := f.db.QueryRow(ctx, `
		SELECT count(*) FROM (
		    SELECT bs.seat_id FROM waitlist_entries w JOIN booking_seats bs ON bs.booking_id = w.offer_booking_id
		    WHERE w.event_id = $1 AND w.offer_booking_id IS NOT NULL
		    GROUP BY bs.seat_id HAVING count(*) > 1) x`, e.ID).Scan(&twice); err != nil || twice != 0 {
		t.Errorf("%d seats are in two offers (%v)", twice, err)
	}
	var bad int
	if err := f.db.QueryRow(ctx, `
		SELECT count(*) FROM waitlist_entries w LEFT JOIN bookings b ON b.id = w.offer_booking_id
		WHERE w.event_id = $1 AND w.status = 'offered'
		  AND (b.id IS NULL OR b.status <> 'pending' OR b.user_id <> w.user_id OR b.quantity <> w.quantity
		       OR b.expires_at <> w.offer_expires_at)`, e.ID).Scan(&bad); err != nil || bad != 0 {
		t.Errorf("%d offers are not a pending hold of their entry's user and quantity (%v)", bad, err)
	}
	var offeredSeats, free, smallest int
	if err := f.db.QueryRow(ctx, `
		SELECT (SELECT coalesce(sum(quantity), 0) FROM waitlist_entries WHERE event_id = $1 AND status = 'offered'),
		       (SELECT count(*) FROM seats WHERE event_id = $1 AND status = 'available'),
		       (SELECT coalesce(min(quantity), 99) FROM waitlist_entries WHERE event_id = $1 AND status = 'waiting')`,
		e.ID).Scan(&offeredSeats, &free, &smallest); err != nil {
		t.Fatal(err)
	}
	if offeredSeats+len(grabbed)+free != capacity {
		t.Errorf("%d seats offered + %d grabbed + %d free ≠ %d", offeredSeats, len(grabbed), free, capacity)
	}
	if smallest <= free {
		t.Errorf("a waiting entry for %d seats fits the %d free seats: an offer was missed", smallest, free)
	}
	t.Logf("%d offers (%d seats), %d seats grabbed by buyers during the release, %d free", last, offeredSeats, len(grabbed), free)
}
