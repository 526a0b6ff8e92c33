package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/apptest"
	"github.com/evently/evently/internal/pgtest"
)

// bookingJSON is a Booking as a client reads it.
type bookingJSON struct {
	ID               string     `json:"id"`
	EventID          string     `json:"event_id"`
	UserID           string     `json:"user_id"`
	Status           string     `json:"status"`
	Seats            []seatJSON `json:"seats"`
	Quantity         int        `json:"quantity"`
	TotalCents       int64      `json:"total_cents"`
	Currency         string     `json:"currency"`
	ExpiresAt        time.Time  `json:"expires_at"`
	PaymentReference *string    `json:"payment_reference"`
	CreatedAt        time.Time  `json:"created_at"`
	ConfirmedAt      *time.Time `json:"confirmed_at"`
	CancelledAt      *time.Time `json:"cancelled_at"`
}

// buyers inserts n users straight into the database and returns their
// tokens.
func (f *fixture) buyers(t testing.TB, n int) []string {
	t.Helper()
	tokens := make([]string, n)
	for i, u := range pgtest.Users(t, f.db, n) {
		tokens[i] = f.env.Token(t, u)
	}
	return tokens
}

// seatIDs lists an event's seat ids in seat order.
func (f *fixture) seatIDs(t *testing.T, eventID string) []string {
	t.Helper()
	rows, err := f.db.Query(context.Background(), `SELECT id::text FROM seats WHERE event_id = $1 ORDER BY position`, eventID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

func (f *fixture) hold(t *testing.T, token string, body map[string]any) bookingJSON {
	t.Helper()
	r := f.env.Post(t, "/api/v1/bookings", token, body)
	if r.Status != http.StatusCreated {
		t.Fatalf("POST /bookings %v = %d %s, want 201", body, r.Status, r.Body)
	}
	var b bookingJSON
	r.Decode(t, &b)
	return b
}

func TestHoldConfirmCancel(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	e := f.publish(t)
	buyer := f.buyers(t, 1)[0]
	seats := f.seatIDs(t, e.ID)

	b := f.hold(t, buyer, map[string]any{"event_id": e.ID, "seat_ids": []string{seats[0], seats[1]}})
	if b.Status != "pending" || b.Quantity != 2 || b.TotalCents != 7000 || b.Currency != "USD" || len(b.Seats) != 2 ||
		b.Seats[0].Label != "Balcony-A-1" || b.Seats[0].Status != "held" {
		t.Fatalf("hold = %+v", b)
	}
	if ttl := time.Until(b.ExpiresAt); ttl < 9*time.Minute || ttl > 10*time.Minute+time.Second {
		t.Errorf("expires in %v, want the 10m default hold time", ttl)
	}
	if got := f.getEvent(t, e.ID, "").Availability; got.Held != 2 || got.Booked != 0 {
		t.Errorf("availability after hold = %+v", got)
	}

	r := f.env.Post(t, "/api/v1/bookings/"+b.ID+"/confirm", buyer, map[string]any{"payment_reference": "pay-1"})
	var c bookingJSON
	r.Decode(t, &c)
	if r.Status != 200 || c.Status != "confirmed" || c.ConfirmedAt == nil || c.PaymentReference == nil ||
		*c.PaymentReference != "pay-1" || c.Seats[0].Status != "booked" {
		t.Fatalf("confirm = %d %s", r.Status, r.Body)
	}
	// Confirming again changes nothing.
	r = f.env.Post(t, "/api/v1/bookings/"+b.ID+"/confirm", buyer, nil)
	var again bookingJSON
	r.Decode(t, &again)
	if r.Status != 200 || again.Status != "confirmed" || !again.ConfirmedAt.Equal(*c.ConfirmedAt) {
		t.Fatalf("second confirm = %d %s", r.Status, r.Body)
	}

	r = f.env.Post(t, "/api/v1/bookings/"+b.ID+"/cancel", buyer, nil)
	var x bookingJSON
	r.Decode(t, &x)
	if r.Status != 200 || x.Status != "cancelled" || x.CancelledAt == nil {
		t.Fatalf("cancel = %d %s", r.Status, r.Body)
	}
	// The seats are on sale again at once.
	other := f.buyers(t, 1)[0]
	f.hold(t, other, map[string]any{"event_id": e.ID, "seat_ids": []string{seats[0], seats[1]}})
	wantProblem(t, "cancel twice", f.env.Post(t, "/api/v1/bookings/"+b.ID+"/cancel", buyer, nil), 409, "invalid_state")
	wantProblem(t, "confirm cancelled", f.env.Post(t, "/api/v1/bookings/"+b.ID+"/confirm", buyer, nil), 409, "invalid_state")
}

func TestBestAvailable(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	e := f.publish(t)
	buyers := f.buyers(t, 4)
	seats := f.seatIDs(t, e.ID)

	// Someone holds Balcony-A-2, splitting row A: the best block of three
	// adjacent seats is A-3..A-5, not A-1 + A-3 + A-4.
	f.hold(t, buyers[0], map[string]any{"event_id": e.ID, "seat_ids": []string{seats[1]}})
	b := f.hold(t, buyers[1], map[string]any{"event_id": e.ID, "quantity": 3})
	if got := seatLabels(b); got != "Balcony-A-3 Balcony-A-4 Balcony-A-5" {
		t.Errorf("quantity 3 = %s, want the adjacent block A-3..A-5", got)
	}
	// A single seat takes the best one left: A-1.
	b = f.hold(t, buyers[2], map[string]any{"event_id": e.ID, "quantity": 1})
	if got := seatLabels(b); got != "Balcony-A-1" {
		t.Errorf("quantity 1 = %s, want Balcony-A-1", got)
	}
	// A section of general admission.
	b = f.hold(t, buyers[3], map[string]any{"event_id": e.ID, "quantity": 2, "section": "Floor"})
	if got := seatLabels(b); got != "Floor-00001 Floor-00002" || b.TotalCents != 9000 {
		t.Errorf("Floor quantity 2 = %s (%d cents)", got, b.TotalCents)
	}
	if b.Seats[0].Row != nil || b.Seats[0].Number != nil {
		t.Errorf("general admission seat has row/number: %+v", b.Seats[0])
	}
}

// seatLabels lists a booking's seats as "A B C".
func seatLabels(b bookingJSON) string { return strings.Join(labels(b.Seats), " ") }

// TestHoldErrors produces every error code of the contract's booking
// section but waiting_room_required (see the waiting-room tests).
func TestHoldErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	e := f.publish(t, set("max_seats_per_booking", 4), set("sections", []any{
		map[string]any{"name": "Stalls", "price_cents": 1000, "rows": 1, "seats_per_row": 6},
	}))
	other := f.publish(t)
	draft := f.create(t, eventBody())
	buyers := f.buyers(t, 2)
	seats := f.seatIDs(t, e.ID)
	otherSeats := f.seatIDs(t, other.ID)
	f.hold(t, buyers[1], map[string]any{"event_id": e.ID, "seat_ids": []string{seats[0]}})

	post := func(body any) *apptest.Response { return f.env.Post(t, "/api/v1/bookings", buyers[0], body) }
	cases := []struct {
		name   string
		body   any
		status int
		code   string
		field  string
	}{
		{"both", map[string]any{"event_id": e.ID, "seat_ids": []string{seats[1]}, "quantity": 1}, 400, "validation_failed", "seat_ids"},
		{"neither", map[string]any{"event_id": e.ID}, 400, "validation_failed", "quantity"},
		{"empty seat list", map[string]any{"event_id": e.ID, "seat_ids": []string{}}, 400, "validation_failed", "quantity"},
		{"no event", map[string]any{"quantity": 1}, 400, "validation_failed", "event_id"},
		{"bad event id", map[string]any{"event_id": "nope", "quantity": 1}, 400, "validation_failed", ""},
		{"zero quantity", map[string]any{"event_id": e.ID, "quantity": 0}, 400, "validation_failed", "quantity"},
		{"duplicates", map[string]any{"event_id": e.ID, "seat_ids": []string{seats[1], seats[1]}}, 400, "validation_failed", "seat_ids"},
		{"seat of another event", map[string]any{"event_id": e.ID, "seat_ids": []string{seats[1], otherSeats[0]}}, 400, "validation_failed", "seat_ids"},
		{"unknown seat", map[string]any{"event_id": e.ID, "seat_ids": []string{uuid.NewString()}}, 400, "validation_failed", "seat_ids"},
		{"unknown section", map[string]any{"event_id": e.ID, "quantity": 1, "section": "Gods"}, 400, "validation_failed", "section"},
		{"too many by quantity", map[string]any{"event_id": e.ID, "quantity": 5}, 400, "validation_failed", "quantity"},
		{"too many seats", map[string]any{"event_id": e.ID, "seat_ids": seats[1:6]}, 400, "validation_failed", "seat_ids"},
		{"unknown field", map[string]any{"event_id": e.ID, "quantity": 1, "price": 0}, 400, "validation_failed", "price"},
		{"malformed", `{"event_id":`, 400, "malformed_json", ""},
		{"unknown event", map[string]any{"event_id": uuid.NewString(), "quantity": 1}, 404, "not_found", ""},
		{"seat taken", map[string]any{"event_id": e.ID, "seat_ids": []string{seats[1], seats[0]}}, 409, "seat_unavailable", ""},
		{"sold out", map[string]any{"event_id": e.ID, "quantity": 4, "section": "Stalls"}, 201, "", ""},
		{"draft (not disclosed)", map[string]any{"event_id": draft.ID, "quantity": 1}, 404, "not_found", ""},
	}
	for _, c := range cases {
		r := post(c.body)
		if c.status == 201 {
			if r.Status != 201 {
				t.Errorf("%s: %d %s, want 201", c.name, r.Status, r.Body)
			}
			continue
		}
		wantProblem(t, c.name, r, c.status, c.code, c.field)
	}
	// The taken seat is named.
	r := post(map[string]any{"event_id": e.ID, "seat_ids": []string{seats[0]}})
	var p struct {
		SeatIDs []string `json:"seat_ids"`
	}
	r.Decode(t, &p)
	if len(p.SeatIDs) != 1 || p.SeatIDs[0] != seats[0] {
		t.Errorf("seat_unavailable names %v, want [%s]", p.SeatIDs, seats[0])
	}
	// One Stalls seat is left (6 − 1 − 4): two is sold out.
	wantProblem(t, "sold out", post(map[string]any{"event_id": e.ID, "quantity": 2}), 409, "sold_out")

	// Sales windows, cancelled and started events.
	closed := []struct {
		name string
		sql  string
	}{
		{"sales not open", `UPDATE events SET sales_start = now() + interval '1 hour' WHERE id = $1`},
		{"sales over", `UPDATE events SET sales_start = NULL, sales_end = now() - interval '1 minute' WHERE id = $1`},
		{"started", `UPDATE events SET sales_end = NULL, starts_at = now() - interval '1 minute' WHERE id = $1`},
	}
	for _, c := range closed {
		ev := f.publish(t)
		f.exec(t, c.sql, ev.ID)
		wantProblem(t, c.name, post(map[string]any{"event_id": ev.ID, "quantity": 1}), 409, "sales_closed")
	}
	cancelled := f.publish(t)
	if r := f.env.Post(t, "/api/v1/admin/events/"+cancelled.ID+"/cancel", f.admin, nil); r.Status != 200 {
		t.Fatalf("cancel event = %d", r.Status)
	}
	wantProblem(t, "cancelled", post(map[string]any{"event_id": cancelled.ID, "quantity": 1}), 409, "sales_closed")

	// Authentication and media type.
	r = f.env.Post(t, "/api/v1/bookings", "", map[string]any{"event_id": e.ID, "quantity": 1})
	wantProblem(t, "anonymous", r, 401, "unauthorized")
	r = f.env.Do(t, apptest.Request{Method: "POST", Path: "/api/v1/bookings", Token: buyers[0],
		Body: []byte(`{"event_id":"` + e.ID + `","quantity":1}`), Header: http.Header{"Content-Type": {"text/plain"}}})
	wantProblem(t, "text/plain", r, 415, "unsupported_media_type")
}

func TestBookingVisibility(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	e := f.publish(t)
	buyers := f.buyers(t, 2)
	b := f.hold(t, buyers[0], map[string]any{"event_id": e.ID, "quantity": 2})

	if r := f.env.Get(t, "/api/v1/bookings/"+b.ID, buyers[0]); r.Status != 200 {
		t.Errorf("owner GET = %d", r.Status)
	}
	if r := f.env.Get(t, "/api/v1/bookings/"+b.ID, f.admin); r.Status != 200 {
		t.Errorf("admin GET = %d", r.Status)
	}
	wantProblem(t, "stranger GET", f.env.Get(t, "/api/v1/bookings/"+b.ID, buyers[1]), 404, "not_found")
	wantProblem(t, "stranger confirm", f.env.Post(t, "/api/v1/bookings/"+b.ID+"/confirm", buyers[1], nil), 404, "not_found")
	wantProblem(t, "stranger cancel", f.env.Post(t, "/api/v1/bookings/"+b.ID+"/cancel", buyers[1], nil), 404, "not_found")
	wantProblem(t, "admin confirm", f.env.Post(t, "/api/v1/bookings/"+b.ID+"/confirm", f.admin, nil), 404, "not_found")
	wantProblem(t, "not a uuid", f.env.Get(t, "/api/v1/bookings/nope", buyers[0]), 404, "not_found")
	wantProblem(t, "unknown", f.env.Get(t, "/api/v1/bookings/"+uuid.NewString(), buyers[0]), 404, "not_found")
	wantProblem(t, "anonymous", f.env.Get(t, "/api/v1/bookings/"+b.ID, ""), 401, "unauthorized")

	// An admin may cancel anyone's booking.
	r := f.env.Post(t, "/api/v1/bookings/"+b.ID+"/cancel", f.admin, nil)
	if r.Status != 200 {
		t.Fatalf("admin cancel = %d %s", r.Status, r.Body)
	}
}

func TestBookingLists(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	e := f.publish(t)
	buyers := f.buyers(t, 2)
	var mine []string
	for range 5 {
		mine = append(mine, f.hold(t, buyers[0], map[string]any{"event_id": e.ID, "quantity": 1}).ID)
	}
	f.hold(t, buyers[1], map[string]any{"event_id": e.ID, "quantity": 1})
	if r := f.env.Post(t, "/api/v1/bookings/"+mine[0]+"/confirm", buyers[0], nil); r.Status != 200 {
		t.Fatal(r.Status)
	}

	var got []string
	path := "/api/v1/me/bookings?limit=2"
	for pages := 0; ; pages++ {
		r := f.env.Get(t, path, buyers[0])
		var l listJSON[bookingJSON]
		r.Decode(t, &l)
		for _, b := range l.Data {
			got = append(got, b.ID)
		}
		if l.NextCursor == nil {
			break
		}
		if pages > 5 {
			t.Fatal("too many pages")
		}
		path = "/api/v1/me/bookings?limit=2&cursor=" + *l.NextCursor
	}
	// Newest first: the reverse of creation order.
	want := []string{mine[4], mine[3], mine[2], mine[1], mine[0]}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("my bookings = %v, want %v", got, want)
	}
	var confirmed listJSON[bookingJSON]
	f.env.Get(t, "/api/v1/me/bookings?status=confirmed", buyers[0]).Decode(t, &confirmed)
	if len(confirmed.Data) != 1 || confirmed.Data[0].ID != mine[0] {
		t.Errorf("status=confirmed = %+v", confirmed.Data)
	}
	wantProblem(t, "bad status", f.env.Get(t, "/api/v1/me/bookings?status=lost", buyers[0]), 400, "validation_failed", "status")
	wantProblem(t, "bad cursor", f.env.Get(t, "/api/v1/me/bookings?cursor=zzz", buyers[0]), 400, "validation_failed", "cursor")

	var all listJSON[bookingJSON]
	f.env.Get(t, "/api/v1/admin/events/"+e.ID+"/bookings?limit=100", f.admin).Decode(t, &all)
	if len(all.Data) != 6 {
		t.Errorf("admin event bookings = %d, want 6", len(all.Data))
	}
	wantProblem(t, "user on admin list", f.env.Get(t, "/api/v1/admin/events/"+e.ID+"/bookings", buyers[0]), 403, "forbidden")
}

// TestExpiry runs with a one-second hold time: a lapsed hold frees its
// seats at once (before any cleanup) and cannot be confirmed.
func TestExpiry(t *testing.T) {
	t.Parallel()
	f := newFixture(t, apptest.WithEnv("EVENTLY_HOLD_TTL", "1s"))
	e := f.publish(t, set("sections", []any{map[string]any{"name": "Floor", "price_cents": 500, "capacity": 2}}))
	buyers := f.buyers(t, 2)
	b := f.hold(t, buyers[0], map[string]any{"event_id": e.ID, "quantity": 2})
	wantProblem(t, "sold out while held", f.env.Post(t, "/api/v1/bookings", buyers[1], map[string]any{"event_id": e.ID, "quantity": 1}), 409, "sold_out")

	time.Sleep(time.Until(b.ExpiresAt) + 50*time.Millisecond)
	var seats listJSON[seatJSON]
	f.env.Get(t, "/api/v1/events/"+e.ID+"/seats", "").Decode(t, &seats)
	for _, s := range seats.Data {
		if s.Status != "available" {
			t.Errorf("seat %s is %s after its hold lapsed", s.Label, s.Status)
		}
	}
	// Another buyer takes the seats at once, by quantity and by id.
	taken := f.hold(t, buyers[1], map[string]any{"event_id": e.ID, "quantity": 1})
	f.hold(t, buyers[1], map[string]any{"event_id": e.ID, "seat_ids": []string{b.Seats[1].ID}})
	if taken.Seats[0].ID != b.Seats[0].ID {
		t.Errorf("quantity hold took %s, want the lapsed %s", taken.Seats[0].Label, b.Seats[0].Label)
	}
	wantProblem(t, "confirm lapsed", f.env.Post(t, "/api/v1/bookings/"+b.ID+"/confirm", buyers[0], nil), 409, "hold_expired")
	var got bookingJSON
	f.env.Get(t, "/api/v1/bookings/"+b.ID, buyers[0]).Decode(t, &got)
	if got.Status != "expired" {
		t.Errorf("lapsed booking status = %s, want expired", got.Status)
	}
	// Cancelling after the event started is refused.
	c := f.hold(t, buyers[0], map[string]any{"event_id": f.publish(t).ID, "quantity": 1})
	f.exec(t, `UPDATE events SET starts_at = now() - interval '1 minute' WHERE id = $1`, c.EventID)
	wantProblem(t, "cancel after start", f.env.Post(t, "/api/v1/bookings/"+c.ID+"/cancel", buyers[0], nil), 409, "invalid_state")
}

func TestEventCancelCancelsBookings(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	e := f.publish(t)
	buyers := f.buyers(t, 2)
	held := f.hold(t, buyers[0], map[string]any{"event_id": e.ID, "quantity": 2})
	sold := f.hold(t, buyers[1], map[string]any{"event_id": e.ID, "quantity": 3})
	if r := f.env.Post(t, "/api/v1/bookings/"+sold.ID+"/confirm", buyers[1], nil); r.Status != 200 {
		t.Fatal(r.Status)
	}
	if r := f.env.Post(t, "/api/v1/admin/events/"+e.ID+"/cancel", f.admin, nil); r.Status != 200 {
		t.Fatalf("cancel event = %d %s", r.Status, r.Body)
	}
	for _, id := range []string{held.ID, sold.ID} {
		var b bookingJSON
		f.env.Get(t, "/api/v1/bookings/"+id, f.admin).Decode(t, &b)
		if b.Status != "cancelled" {
			t.Errorf("booking %s is %s after its event was cancelled", id, b.Status)
		}
	}
	if got := f.getEvent(t, e.ID, f.admin).Availability; got.Held != 0 || got.Booked != 0 {
		t.Errorf("availability after event cancel = %+v", got)
	}
}

func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	e := f.publish(t)
	buyer := f.buyers(t, 1)[0]
	send := func(key string, body any) *apptest.Response {
		return f.env.Do(t, apptest.Request{Method: "POST", Path: "/api/v1/bookings", Token: buyer, Body: body,
			Header: http.Header{"Idempotency-Key": {key}}})
	}
	body := map[string]any{"event_id": e.ID, "quantity": 2}
	first := send("order-1", body)
	second := send("order-1", body)
	if first.Status != 201 || second.Status != 201 || string(first.Body) != string(second.Body) {
		t.Fatalf("retry = %d %s, want the first answer %d %s", second.Status, second.Body, first.Status, first.Body)
	}
	if second.Header.Get("Idempotent-Replayed") != "true" {
		t.Error("replay not marked")
	}
	var held int
	if err := f.db.QueryRow(context.Background(), `SELECT count(*) FROM bookings WHERE event_id = $1`, e.ID).Scan(&held); err != nil || held != 1 {
		t.Errorf("%d bookings after a retry, want 1 (%v)", held, err)
	}
	wantProblem(t, "other body", send("order-1", map[string]any{"event_id": e.ID, "quantity": 3}), 422, "idempotency_key_reused")
	// Errors are answers too: a refused request replays its refusal.
	bad := map[string]any{"event_id": e.ID, "quantity": 99}
	a, b := send("order-2", bad), send("order-2", bad)
	if a.Status != 400 || b.Status != 400 || b.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("refusal replay = %d then %d", a.Status, b.Status)
	}
	// Keys are per user.
	other := f.buyers(t, 1)[0]
	r := f.env.Do(t, apptest.Request{Method: "POST", Path: "/api/v1/bookings", Token: other, Body: body,
		Header: http.Header{"Idempotency-Key": {"order-1"}}})
	if r.Status != 201 || string(r.Body) == string(first.Body) {
		t.Errorf("another user's same key = %d (replayed: %v)", r.Status, string(r.Body) == string(first.Body))
	}
	// Twenty retries racing with one key: one hold, and every answer is
	// its answer.
	answers := make([]*apptest.Response, 20)
	var wg sync.WaitGroup
	for i := range answers {
		wg.Go(func() { answers[i] = send("order-3", map[string]any{"event_id": e.ID, "quantity": 1}) })
	}
	wg.Wait()
	for i, a := range answers {
		if a.Status != 201 || string(a.Body) != string(answers[0].Body) {
			t.Errorf("racing retry %d = %d %s, want the one answer %s", i, a.Status, a.Body, answers[0].Body)
		}
	}
	var racing int
	if err := f.db.QueryRow(context.Background(), `SELECT count(*) FROM idempotency_keys k JOIN bookings b
		ON b.user_id = k.user_id AND b.quantity = 1 WHERE k.key = 'order-3'`).Scan(&racing); err != nil || racing != 1 {
		t.Errorf("%d one-seat bookings after 20 racing retries of one key, want 1 (%v)", racing, err)
	}
	wantProblem(t, "bad key", send(strings.Repeat("k", 256), body), 400, "validation_failed", "Idempotency-Key")
}
