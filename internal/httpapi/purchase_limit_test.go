package httpapi_test

import (
	"net/http"
	"sync"
	"testing"

	"github.com/evently/evently/internal/apptest"
)

// TestOneBuyer20ConcurrentHolds: one buyer fires 20 holds at once, half to
// each of two evently processes on one database, asking by quantity and by
// seat id: together they never hold more than the event's
// max_seats_per_user, and every other hold is refused
// purchase_limit_reached. Seats given back (a cancellation) return to the
// buyer's allowance; confirmed bookings count against it.
func TestOneBuyer20ConcurrentHolds(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	replica := apptest.Start(t, apptest.WithEnv("DATABASE_URL", f.env.DatabaseURL), apptest.WithEnv("REDIS_URL", f.env.RedisURL))
	e := f.publish(t, gaEvent(100), set("max_seats_per_booking", 2), set("max_seats_per_user", 5))
	if e.MaxSeatsPerUser != 5 {
		t.Fatalf("max_seats_per_user = %d, want 5", e.MaxSeatsPerUser)
	}
	seats := f.seatIDs(t, e.ID)
	buyer := f.buyers(t, 1)[0]

	// race fires n holds at once; those by seat id ask for seats counted
	// from the back of the list, skipping the first skip of them.
	race := func(n, skip int) []*apptest.Response {
		out := make([]*apptest.Response, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			env := f.env
			if i%2 == 1 {
				env = replica
			}
			body := map[string]any{"event_id": e.ID, "quantity": 1 + i%2}
			if i%4 == 3 { // every fourth asks for two seats by id
				k := len(seats) - 1 - skip - 2*i
				body = map[string]any{"event_id": e.ID, "seat_ids": []string{seats[k], seats[k-1]}}
			}
			wg.Go(func() {
				<-start
				out[i] = env.Post(t, "/api/v1/bookings", buyer, body)
			})
		}
		close(start)
		wg.Wait()
		return out
	}
	held, codes := tally(t, race(20, 0))
	seatsHeld := 0
	for _, b := range held {
		seatsHeld += len(b.Seats)
	}
	if seatsHeld > 5 || seatsHeld < 4 || len(codes) != 1 || codes["purchase_limit_reached"] != 20-len(held) {
		t.Fatalf("one buyer's 20 holds: %d holds of %d seats and %v, want 4–5 seats (at most 5) and the rest purchase_limit_reached",
			len(held), seatsHeld, codes)
	}
	f.noSeatTwice(t, e.ID, held)

	// The refusal says how far the buyer is.
	r := f.env.Post(t, "/api/v1/bookings", buyer, map[string]any{"event_id": e.ID, "quantity": 2})
	wantProblem(t, "a hold past the limit", r, http.StatusConflict, "purchase_limit_reached", "")
	var p struct {
		Limit int `json:"max_seats_per_user"`
		Held  int `json:"seats_held"`
	}
	r.Decode(t, &p)
	if p.Limit != 5 || p.Held != seatsHeld {
		t.Errorf("refusal = %+v, want max_seats_per_user 5 and seats_held %d", p, seatsHeld)
	}

	// Confirm one, cancel another: the cancelled seats come back to the
	// allowance, the confirmed ones still count.
	if r := f.env.Post(t, "/api/v1/bookings/"+held[0].ID+"/confirm", buyer, map[string]any{}); r.Status != http.StatusOK {
		t.Fatalf("confirm = %d %s", r.Status, r.Body)
	}
	if r := f.env.Post(t, "/api/v1/bookings/"+held[1].ID+"/cancel", buyer, nil); r.Status != http.StatusOK {
		t.Fatalf("cancel = %d %s", r.Status, r.Body)
	}
	free := 5 - seatsHeld + len(held[1].Seats)
	held2, codes2 := tally(t, race(10, 40))
	again := 0
	for _, b := range held2 {
		again += len(b.Seats)
	}
	if again > free || again < free-1 || codes2["purchase_limit_reached"] != 10-len(held2) {
		t.Errorf("after a cancellation: %d seats held again and %v, want %d (or one fewer) and the rest purchase_limit_reached",
			again, codes2, free)
	}

	// Other buyers are not limited by this one.
	if r := f.env.Post(t, "/api/v1/bookings", f.buyers(t, 1)[0], map[string]any{"event_id": e.ID, "quantity": 2}); r.Status != http.StatusCreated {
		t.Errorf("another buyer's hold = %d %s, want 201", r.Status, r.Body)
	}
	// held[1] was cancelled: its seats may be in the later holds.
	live := append(append([]bookingJSON{held[0]}, held[2:]...), held2...)
	f.noSeatTwice(t, e.ID, live)
}

// TestPurchaseLimitSettings: the limit defaults to max_seats_per_booking
// and follows it until the event has its own; it can never be below it.
func TestPurchaseLimitSettings(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	e := f.create(t, eventBody(set("max_seats_per_booking", 4)))
	if e.MaxSeatsPerUser != 4 {
		t.Errorf("default max_seats_per_user = %d, want max_seats_per_booking (4)", e.MaxSeatsPerUser)
	}
	patch := func(body map[string]any) *apptest.Response {
		return f.env.Do(t, apptest.Request{Method: http.MethodPatch, Path: "/api/v1/admin/events/" + e.ID, Token: f.admin, Body: body})
	}
	decode := func(r *apptest.Response) eventJSON {
		t.Helper()
		if r.Status != http.StatusOK {
			t.Fatalf("PATCH = %d %s", r.Status, r.Body)
		}
		var got eventJSON
		r.Decode(t, &got)
		return got
	}
	if got := decode(patch(map[string]any{"max_seats_per_booking": 6})); got.MaxSeatsPerUser != 6 {
		t.Errorf("after raising max_seats_per_booking: max_seats_per_user = %d, want 6", got.MaxSeatsPerUser)
	}
	if got := decode(patch(map[string]any{"max_seats_per_user": 20})); got.MaxSeatsPerUser != 20 || got.MaxSeatsPerBooking != 6 {
		t.Errorf("after raising the limit: %d per user, %d per booking, want 20 and 6", got.MaxSeatsPerUser, got.MaxSeatsPerBooking)
	}
	wantProblem(t, "a limit below max_seats_per_booking", patch(map[string]any{"max_seats_per_user": 5}),
		http.StatusBadRequest, "validation_failed", "max_seats_per_user")
	wantProblem(t, "max_seats_per_booking above the limit", patch(map[string]any{"max_seats_per_booking": 30, "max_seats_per_user": 25}),
		http.StatusBadRequest, "validation_failed", "max_seats_per_user")
	wantProblem(t, "a limit above 100,000", patch(map[string]any{"max_seats_per_user": 100_001}),
		http.StatusBadRequest, "validation_failed", "max_seats_per_user")
	if got := decode(patch(map[string]any{"max_seats_per_user": nil})); got.MaxSeatsPerUser != 6 {
		t.Errorf("after clearing the limit: max_seats_per_user = %d, want max_seats_per_booking (6)", got.MaxSeatsPerUser)
	}
	r := f.env.Post(t, "/api/v1/admin/events", f.admin, eventBody(set("max_seats_per_booking", 4), set("max_seats_per_user", 3)))
	wantProblem(t, "create with a limit below max_seats_per_booking", r, http.StatusBadRequest, "validation_failed", "max_seats_per_user")
}

// TestHoldsRationedPerBuyer: with 10 holds a minute per buyer and event,
// the 11th hold of one buyer in a minute — whichever of two replicas it
// reaches — is 429 rate_limited with Retry-After, while another buyer,
// and the same buyer on another event, still hold.
func TestHoldsRationedPerBuyer(t *testing.T) {
	t.Parallel()
	f := newFixture(t, apptest.WithEnv("EVENTLY_HOLD_RATE_PER_MINUTE", "10"))
	replica := apptest.Start(t, apptest.WithEnv("DATABASE_URL", f.env.DatabaseURL), apptest.WithEnv("REDIS_URL", f.env.RedisURL),
		apptest.WithEnv("EVENTLY_HOLD_RATE_PER_MINUTE", "10"))
	e := f.publish(t, gaEvent(100), set("max_seats_per_user", 100))
	other := f.publish(t, gaEvent(10))
	buyers := f.buyers(t, 2)
	hold := func(env *apptest.Env, token, eventID string) *apptest.Response {
		return env.Post(t, "/api/v1/bookings", token, map[string]any{"event_id": eventID, "quantity": 1})
	}
	for i := range 10 {
		env := f.env
		if i%2 == 1 {
			env = replica
		}
		if r := hold(env, buyers[0], e.ID); r.Status != http.StatusCreated {
			t.Fatalf("hold %d = %d %s, want 201", i+1, r.Status, r.Body)
		}
	}
	for _, env := range []*apptest.Env{f.env, replica} {
		r := hold(env, buyers[0], e.ID)
		wantProblem(t, "the 11th hold in a minute", r, http.StatusTooManyRequests, "rate_limited", "")
		if s := r.Header.Get("Retry-After"); s == "" || s == "0" {
			t.Errorf("the 11th hold's Retry-After = %q, want a positive number of seconds", s)
		}
	}
	if r := hold(f.env, buyers[1], e.ID); r.Status != http.StatusCreated {
		t.Errorf("another buyer's hold = %d %s, want 201", r.Status, r.Body)
	}
	if r := hold(replica, buyers[0], other.ID); r.Status != http.StatusCreated {
		t.Errorf("the same buyer on another event = %d %s, want 201", r.Status, r.Body)
	}
	var n int
	if err := f.db.QueryRow(t.Context(), `SELECT count(*) FROM bookings WHERE event_id = $1`, e.ID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 11 {
		t.Errorf("%d bookings of the event, want 11 (a refused hold changes nothing)", n)
	}
}
