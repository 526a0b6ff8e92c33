package httpapi_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/apptest"
)

// waitlistEntryJSON is a WaitlistEntry as a client reads it.
type waitlistEntryJSON struct {
	ID             string     `json:"id"`
	EventID        string     `json:"event_id"`
	UserID         string     `json:"user_id"`
	Quantity       int        `json:"quantity"`
	Status         string     `json:"status"`
	Position       *int       `json:"position"`
	OfferBookingID *string    `json:"offer_booking_id"`
	OfferExpiresAt *time.Time `json:"offer_expires_at"`
	CreatedAt      time.Time  `json:"created_at"`
}

// notificationJSON is a Notification as a client reads it.
type notificationJSON struct {
	ID        string         `json:"id"`
	Kind      string         `json:"kind"`
	Title     string         `json:"title"`
	Body      string         `json:"body"`
	Data      map[string]any `json:"data"`
	CreatedAt time.Time      `json:"created_at"`
	ReadAt    *time.Time     `json:"read_at"`
}

func waitlistPath(eventID string) string { return "/api/v1/events/" + eventID + "/waitlist" }

// join puts a user on an event's waitlist and returns the entry.
func (f *fixture) join(t *testing.T, token, eventID string, quantity int) waitlistEntryJSON {
	t.Helper()
	var e waitlistEntryJSON
	f.env.Post(t, waitlistPath(eventID), token, map[string]any{"quantity": quantity}).
		Want(t, http.StatusCreated).Decode(t, &e)
	return e
}

// entry returns a user's waitlist entry on an event.
func (f *fixture) entry(t *testing.T, token, eventID string) waitlistEntryJSON {
	t.Helper()
	var e waitlistEntryJSON
	f.env.Get(t, waitlistPath(eventID), token).Want(t, http.StatusOK).Decode(t, &e)
	return e
}

// inbox returns every notification of a user, newest first.
func (f *fixture) inbox(t *testing.T, token string) []notificationJSON {
	t.Helper()
	all, _ := listAll[notificationJSON](t, f.env, "/api/v1/me/notifications?limit=100", token)
	return all
}

// ofKind keeps the notifications of one kind.
func ofKind(ns []notificationJSON, kind string) []notificationJSON {
	var out []notificationJSON
	for _, n := range ns {
		if n.Kind == kind {
			out = append(out, n)
		}
	}
	return out
}

// eventually polls cond until it holds or timeout passes, and returns how
// long it took.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

func (f *fixture) confirm(t *testing.T, token, bookingID string) bookingJSON {
	t.Helper()
	var b bookingJSON
	f.env.Post(t, "/api/v1/bookings/"+bookingID+"/confirm", token, nil).Want(t, http.StatusOK).Decode(t, &b)
	return b
}

// buy holds quantity seats of the event for token's user and confirms
// them.
func (f *fixture) buy(t *testing.T, token, eventID string, quantity int) bookingJSON {
	t.Helper()
	b := f.hold(t, token, map[string]any{"event_id": eventID, "quantity": quantity})
	return f.confirm(t, token, b.ID)
}

func (f *fixture) cancel(t *testing.T, token, bookingID string) {
	t.Helper()
	f.env.Post(t, "/api/v1/bookings/"+bookingID+"/cancel", token, nil).Want(t, http.StatusOK)
}

func (f *fixture) booking(t *testing.T, token, id string) bookingJSON {
	t.Helper()
	var b bookingJSON
	f.env.Get(t, "/api/v1/bookings/"+id, token).Want(t, http.StatusOK).Decode(t, &b)
	return b
}

// offeredToFirstOfTwo sells out a one-seat event, puts two users on its
// waitlist, cancels the sale and waits for the first user's offer. It
// returns the event and the two users' tokens.
func (f *fixture) offeredToFirstOfTwo(t *testing.T) (e eventJSON, first, second string) {
	t.Helper()
	e = f.publish(t, gaEvent(1))
	users := f.buyers(t, 3)
	owner, first, second := users[0], users[1], users[2]
	sold := f.buy(t, owner, e.ID, 1)
	f.join(t, first, e.ID, 1)
	f.join(t, second, e.ID, 1)
	f.cancel(t, owner, sold.ID)
	eventually(t, 10*time.Second, "first offer", func() bool { return f.entry(t, first, e.ID).Status == "offered" })
	return e, first, second
}

// TestWaitlistJoinRules produces every answer of the waitlist endpoints.
func TestWaitlistJoinRules(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	e := f.publish(t, gaEvent(2), set("max_seats_per_booking", 2))
	users := f.buyers(t, 5)
	holder, w1, w2, w3, stranger := users[0], users[1], users[2], users[3], users[4]

	wantProblem(t, "seats free", f.env.Post(t, waitlistPath(e.ID), w1, map[string]any{"quantity": 1}), 409, "seats_available")
	f.hold(t, holder, map[string]any{"event_id": e.ID, "quantity": 2})

	cases := []struct {
		name   string
		path   string
		body   any
		status int
		code   string
		field  string
	}{
		{"zero", waitlistPath(e.ID), map[string]any{"quantity": 0}, 400, "validation_failed", "quantity"},
		{"over the max", waitlistPath(e.ID), map[string]any{"quantity": 3}, 400, "validation_failed", "quantity"},
		{"missing", waitlistPath(e.ID), map[string]any{}, 400, "validation_failed", "quantity"},
		{"unknown field", waitlistPath(e.ID), map[string]any{"quantity": 1, "vip": true}, 400, "validation_failed", "vip"},
		{"malformed", waitlistPath(e.ID), `{"quantity":`, 400, "malformed_json", ""},
		{"unknown event", waitlistPath(uuid.NewString()), map[string]any{"quantity": 1}, 404, "not_found", ""},
		{"draft", waitlistPath(f.create(t, eventBody()).ID), map[string]any{"quantity": 1}, 404, "not_found", ""},
		{"not a uuid", waitlistPath("nope"), map[string]any{"quantity": 1}, 404, "not_found", ""},
	}
	for _, c := range cases {
		wantProblem(t, c.name, f.env.Post(t, c.path, w1, c.body), c.status, c.code, c.field)
	}
	wantProblem(t, "anonymous", f.env.Post(t, waitlistPath(e.ID), "", map[string]any{"quantity": 1}), 401, "unauthorized")

	r := f.env.Post(t, waitlistPath(e.ID), w1, map[string]any{"quantity": 1})
	var first waitlistEntryJSON
	r.Decode(t, &first)
	if r.Status != 201 || first.Status != "waiting" || first.Position == nil || *first.Position != 1 ||
		first.Quantity != 1 || first.OfferBookingID != nil || r.Header.Get("Location") != waitlistPath(e.ID) {
		t.Fatalf("join = %d %s (Location %q)", r.Status, r.Body, r.Header.Get("Location"))
	}
	wantProblem(t, "twice", f.env.Post(t, waitlistPath(e.ID), w1, map[string]any{"quantity": 2}), 409, "conflict")
	f.join(t, w2, e.ID, 2)
	f.join(t, w3, e.ID, 1)
	if got := f.entry(t, w3, e.ID); *got.Position != 3 {
		t.Errorf("third entry position = %v, want 3", *got.Position)
	}
	wantProblem(t, "never joined", f.env.Get(t, waitlistPath(e.ID), stranger), 404, "not_found")

	// Leaving: the entry is left, the queue moves up, leaving again is 404.
	if r := f.env.Do(t, apptest.Request{Method: "DELETE", Path: waitlistPath(e.ID), Token: w1}); r.Status != 204 {
		t.Fatalf("leave = %d %s", r.Status, r.Body)
	}
	if got := f.entry(t, w1, e.ID); got.Status != "left" || got.Position != nil {
		t.Errorf("after leaving: %+v", got)
	}
	if got := f.entry(t, w3, e.ID); *got.Position != 2 {
		t.Errorf("position after one left = %d, want 2", *got.Position)
	}
	wantProblem(t, "leave twice", f.env.Do(t, apptest.Request{Method: "DELETE", Path: waitlistPath(e.ID), Token: w1}), 404, "not_found")
	// Rejoining makes a new entry at the back.
	if again := f.join(t, w1, e.ID, 1); again.ID == first.ID || *again.Position != 3 {
		t.Errorf("rejoin = %+v, want a new entry at position 3", again)
	}

	// The admin list: queue order, positions across pages, status filter.
	all, pages := listAll[waitlistEntryJSON](t, f.env, "/api/v1/admin/events/"+e.ID+"/waitlist?limit=1", f.admin)
	var got []string
	for _, x := range all {
		pos := "-"
		if x.Position != nil {
			pos = fmt.Sprint(*x.Position)
		}
		got = append(got, x.Status+":"+pos)
	}
	if fmt.Sprint(got) != "[left:- waiting:1 waiting:2 waiting:3]" || pages != 4 {
		t.Errorf("admin list = %v in %d pages", got, pages)
	}
	waiting, _ := listAll[waitlistEntryJSON](t, f.env, "/api/v1/admin/events/"+e.ID+"/waitlist?status=waiting&limit=2", f.admin)
	if len(waiting) != 3 || *waiting[2].Position != 3 {
		t.Errorf("waiting entries = %+v", waiting)
	}
	wantProblem(t, "bad status", f.env.Get(t, "/api/v1/admin/events/"+e.ID+"/waitlist?status=gone", f.admin), 400, "validation_failed", "status")
	wantProblem(t, "bad cursor", f.env.Get(t, "/api/v1/admin/events/"+e.ID+"/waitlist?cursor=zz", f.admin), 400, "validation_failed", "cursor")
	wantProblem(t, "user on admin list", f.env.Get(t, "/api/v1/admin/events/"+e.ID+"/waitlist", w2), 403, "forbidden")
	wantProblem(t, "admin list unknown event", f.env.Get(t, "/api/v1/admin/events/"+uuid.NewString()+"/waitlist", f.admin), 404, "not_found")

	// A cancelled event takes no one.
	if r := f.env.Post(t, "/api/v1/admin/events/"+e.ID+"/cancel", f.admin, nil); r.Status != 200 {
		t.Fatalf("cancel event = %d", r.Status)
	}
	wantProblem(t, "cancelled event", f.env.Post(t, waitlistPath(e.ID), stranger, map[string]any{"quantity": 1}), 409, "sales_closed")
	if got := f.entry(t, w2, e.ID); got.Status != "expired" {
		t.Errorf("entry of a cancelled event = %s, want expired", got.Status)
	}
}

// TestWaitlistOffersEndToEnd: a sold-out event, a waitlist, a cancellation
// → within seconds the first entry holds an offer and has a waitlist_offer
// notification; confirming it fulfils the entry; an unconfirmed offer
// passes to the next entry once its offer time is up.
func TestWaitlistOffersEndToEnd(t *testing.T) {
	t.Parallel()
	f := newFixture(t,
		apptest.WithEnv("EVENTLY_WAITLIST_OFFER_TTL", "2s"),
		apptest.WithEnv("EVENTLY_CLEANUP_SCHEDULE", "@every 1s"))
	e := f.publish(t, gaEvent(2), set("max_seats_per_booking", 2))
	users := f.buyers(t, 5)
	a, b, w1, w2, w3 := users[0], users[1], users[2], users[3], users[4]
	ba := f.buy(t, a, e.ID, 1)
	bb := f.buy(t, b, e.ID, 1)
	for _, w := range []string{w1, w2, w3} {
		f.join(t, w, e.ID, 1)
	}

	// A cancels: W1 is offered A's seat.
	f.cancel(t, a, ba.ID)
	took := eventually(t, 10*time.Second, "offer to the first entry", func() bool {
		return f.entry(t, w1, e.ID).Status == "offered"
	})
	t.Logf("release → offer: %v", took)
	offer := f.entry(t, w1, e.ID)
	if offer.OfferBookingID == nil || offer.OfferExpiresAt == nil || offer.Position != nil {
		t.Fatalf("offered entry = %+v", offer)
	}
	held := f.booking(t, w1, *offer.OfferBookingID)
	if held.Status != "pending" || len(held.Seats) != 1 || held.Seats[0].ID != ba.Seats[0].ID ||
		!held.ExpiresAt.Equal(*offer.OfferExpiresAt) {
		t.Fatalf("offer booking = %+v, want a pending hold of %s until %v", held, ba.Seats[0].Label, offer.OfferExpiresAt)
	}
	if ttl := time.Until(held.ExpiresAt); ttl > 2*time.Second {
		t.Errorf("offer lasts %v, want EVENTLY_WAITLIST_OFFER_TTL (2s)", ttl)
	}
	notes := ofKind(f.inbox(t, w1), "waitlist_offer")
	if len(notes) != 1 || notes[0].Data["booking_id"] != *offer.OfferBookingID || notes[0].Data["expires_at"] == nil {
		t.Fatalf("waitlist_offer notifications = %+v", notes)
	}
	if got := f.entry(t, w2, e.ID); got.Status != "waiting" || *got.Position != 1 {
		t.Errorf("second entry = %+v, want waiting at position 1", got)
	}
	if n := ofKind(f.inbox(t, a), "booking_cancelled"); len(n) != 1 || n[0].Data["cancelled_by"] != "owner" {
		t.Errorf("canceller's booking_cancelled notifications = %+v", n)
	}

	// W1 confirms: the entry is fulfilled.
	f.confirm(t, w1, held.ID)
	if got := f.entry(t, w1, e.ID); got.Status != "fulfilled" {
		t.Errorf("entry after confirming its offer = %s, want fulfilled", got.Status)
	}
	if n := ofKind(f.inbox(t, w1), "booking_confirmed"); len(n) != 1 || n[0].Data["booking_id"] != held.ID {
		t.Errorf("booking_confirmed notifications = %+v", n)
	}

	// B cancels: W2 is offered B's seat, lets it lapse, and W3 gets it.
	f.cancel(t, b, bb.ID)
	eventually(t, 10*time.Second, "offer to the second entry", func() bool {
		return f.entry(t, w2, e.ID).Status == "offered"
	})
	lapsing := f.entry(t, w2, e.ID)
	if got := f.entry(t, w3, e.ID); got.Status != "waiting" {
		t.Fatalf("third entry = %s while the second holds an offer", got.Status)
	}
	eventually(t, 15*time.Second, "offer passed to the third entry", func() bool {
		return f.entry(t, w3, e.ID).Status == "offered"
	})
	t.Logf("offer lapse → next offer: %v", time.Since(*lapsing.OfferExpiresAt))
	if got := f.entry(t, w2, e.ID); got.Status != "expired" {
		t.Errorf("lapsed offer's entry = %s, want expired", got.Status)
	}
	if got := f.booking(t, w2, *lapsing.OfferBookingID); got.Status != "expired" {
		t.Errorf("lapsed offer's booking = %s, want expired", got.Status)
	}
	if n := ofKind(f.inbox(t, w2), "hold_expired"); len(n) != 1 || n[0].Data["booking_id"] != *lapsing.OfferBookingID ||
		n[0].Data["waitlist_entry_id"] != lapsing.ID || n[0].Title != "Waitlist offer expired" {
		t.Errorf("hold_expired notifications of the lapsed offer = %+v", n)
	}
	third := f.entry(t, w3, e.ID)
	passed := f.booking(t, w3, *third.OfferBookingID)
	if passed.Seats[0].ID != bb.Seats[0].ID {
		t.Errorf("third entry got %s, want the lapsed offer's seat %s", passed.Seats[0].Label, bb.Seats[0].Label)
	}
	f.confirm(t, w3, passed.ID)
	f.noSeatTwice(t, e.ID, nil)
}

// TestWaitlistOfferFits: entries whose quantity does not fit are skipped
// (keeping their place), and a new section's seats are offered too.
func TestWaitlistOfferFits(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	e := f.publish(t, gaEvent(2), set("max_seats_per_booking", 4))
	users := f.buyers(t, 3)
	owner, big, small := users[0], users[1], users[2]
	sold := f.buy(t, owner, e.ID, 2)
	f.join(t, big, e.ID, 3)
	f.join(t, small, e.ID, 1)

	f.cancel(t, owner, sold.ID)
	eventually(t, 10*time.Second, "offer to the entry that fits", func() bool {
		return f.entry(t, small, e.ID).Status == "offered"
	})
	if got := f.entry(t, big, e.ID); got.Status != "waiting" || *got.Position != 1 {
		t.Fatalf("entry too big for the seats = %+v, want waiting at position 1", got)
	}
	// One seat is free, three are wanted: a section of two more makes three.
	r := f.env.Post(t, "/api/v1/admin/events/"+e.ID+"/sections", f.admin, map[string]any{"name": "Annex", "price_cents": 1000, "capacity": 2})
	if r.Status != 201 {
		t.Fatalf("add section = %d %s", r.Status, r.Body)
	}
	eventually(t, 10*time.Second, "offer of the new section's seats", func() bool {
		return f.entry(t, big, e.ID).Status == "offered"
	})
	got := f.booking(t, big, *f.entry(t, big, e.ID).OfferBookingID)
	if len(got.Seats) != 3 || got.Status != "pending" {
		t.Errorf("offer = %+v, want 3 held seats", got)
	}
	// An offer an admin cancels ends its entry as expired (the user did not
	// decline it).
	f.cancel(t, f.admin, got.ID)
	if e := f.entry(t, big, e.ID); e.Status != "expired" {
		t.Errorf("entry of an offer cancelled by an admin = %s, want expired", e.Status)
	}
	f.noSeatTwice(t, e.ID, nil)
}

// TestLeavingDeclinesTheOffer: leaving while offered cancels the offer and
// passes the seats on; a confirmed offer is never cancelled by leaving.
func TestLeavingDeclinesTheOffer(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	e, w1, w2 := f.offeredToFirstOfTwo(t)
	declined := *f.entry(t, w1, e.ID).OfferBookingID

	if r := f.env.Do(t, apptest.Request{Method: "DELETE", Path: waitlistPath(e.ID), Token: w1}); r.Status != 204 {
		t.Fatalf("leave while offered = %d %s", r.Status, r.Body)
	}
	if got := f.booking(t, w1, declined); got.Status != "cancelled" {
		t.Errorf("declined offer = %s, want cancelled", got.Status)
	}
	if got := f.entry(t, w1, e.ID); got.Status != "left" {
		t.Errorf("entry after declining = %s, want left", got.Status)
	}
	eventually(t, 10*time.Second, "offer passed on", func() bool { return f.entry(t, w2, e.ID).Status == "offered" })
	kept := f.confirm(t, w2, *f.entry(t, w2, e.ID).OfferBookingID)
	wantProblem(t, "leave after confirming", f.env.Do(t, apptest.Request{Method: "DELETE", Path: waitlistPath(e.ID), Token: w2}), 404, "not_found")
	if got := f.booking(t, w2, kept.ID); got.Status != "confirmed" {
		t.Errorf("confirmed offer = %s after leaving, want confirmed", got.Status)
	}
	f.noSeatTwice(t, e.ID, nil)
}

// TestLapsedOfferPassesOnBeforeCleanup: with the default cleanup schedule
// (every two minutes), a lapsed offer still passes on within seconds: each
// offer schedules the expiry of its own hold.
func TestLapsedOfferPassesOnBeforeCleanup(t *testing.T) {
	t.Parallel()
	f := newFixture(t, apptest.WithEnv("EVENTLY_WAITLIST_OFFER_TTL", "1s"))
	e, w1, w2 := f.offeredToFirstOfTwo(t)
	lapsing := f.entry(t, w1, e.ID)
	eventually(t, 10*time.Second, "offer passed on", func() bool { return f.entry(t, w2, e.ID).Status == "offered" })
	t.Logf("offer lapse → next offer: %v", time.Since(*lapsing.OfferExpiresAt))
	if got := f.entry(t, w1, e.ID); got.Status != "expired" {
		t.Errorf("lapsed entry = %s, want expired", got.Status)
	}
}

// TestLostTriggersAreSwept: the cleanup finds what a lost trigger left
// behind: a waitlist that fits the available seats gets its offer, and a
// webhook left pending with no task is delivered.
func TestLostTriggersAreSwept(t *testing.T) {
	t.Parallel()
	const secret = "whsec_sweep"
	rc := newReceiver(t, secret, func(string, int) int { return http.StatusOK })
	f := newFixture(t, apptest.WithEnv("EVENTLY_CLEANUP_SCHEDULE", "@every 1s"),
		apptest.WithEnv("EVENTLY_WEBHOOK_URL", rc.URL), apptest.WithEnv("EVENTLY_WEBHOOK_SECRET", secret))
	e := f.publish(t, gaEvent(1))
	users := f.buyers(t, 2)
	owner, waiter := users[0], users[1]
	sold := f.buy(t, owner, e.ID, 1)
	f.join(t, waiter, e.ID, 1)
	// The seat comes back behind the engine's back: no trigger at all.
	f.exec(t, `UPDATE booking_seats SET active = false WHERE booking_id = $1`, sold.ID)
	f.exec(t, `UPDATE bookings SET status = 'cancelled', cancelled_at = now() WHERE id = $1`, sold.ID)
	f.exec(t, `UPDATE seats SET status = 'available', booking_id = NULL WHERE event_id = $1`, e.ID)
	eventually(t, 10*time.Second, "swept offer", func() bool { return f.entry(t, waiter, e.ID).Status == "offered" })

	// A webhook recorded but never enqueued (its enqueue was lost).
	lost := uuid.Must(uuid.NewV7())
	f.exec(t, `INSERT INTO webhooks (id, type, subject_id, body, created_at)
		VALUES ($1, 'booking.held', gen_random_uuid(), '{"id":"`+lost.String()+`","type":"booking.held"}',
		        now() - interval '2 minutes')`, lost)
	eventually(t, 10*time.Second, "swept webhook", func() bool { return len(rc.attempts(lost.String())) == 1 })

}

// TestReopenedSalesOffer: seats that came back while sales were closed are
// offered when an admin re-opens the sales window (no cleanup runs here).
func TestReopenedSalesOffer(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	users := f.buyers(t, 2)
	owner, waiter := users[0], users[1]
	e := f.publish(t, gaEvent(1), set("sales_end", rfc3339(time.Now().Add(time.Hour))))
	held := f.hold(t, owner, map[string]any{"event_id": e.ID, "quantity": 1})
	f.join(t, waiter, e.ID, 1)
	f.exec(t, `UPDATE events SET sales_end = now() WHERE id = $1`, e.ID)
	f.cancel(t, owner, held.ID)
	time.Sleep(time.Second)
	if got := f.entry(t, waiter, e.ID).Status; got != "waiting" {
		t.Fatalf("offer after sales closed: entry %s", got)
	}
	if r := f.env.Do(t, apptest.Request{Method: "PATCH", Path: "/api/v1/admin/events/" + e.ID, Token: f.admin,
		Body: map[string]any{"sales_end": rfc3339(time.Now().Add(time.Hour))}}); r.Status != 200 {
		t.Fatalf("re-open sales = %d %s", r.Status, r.Body)
	}
	eventually(t, 10*time.Second, "offer after sales re-opened", func() bool {
		return f.entry(t, waiter, e.ID).Status == "offered"
	})
}
