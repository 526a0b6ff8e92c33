package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/auth"
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

// buyers inserts n users straight into the database (hashing n passwords
// through the API would dominate the test) and returns their tokens.
func (f *fixture) buyers(t *testing.T, n int) []string {
	t.Helper()
	tokens := make([]string, n)
	for i := range n {
		id := uuid.Must(uuid.NewV7())
		f.exec(t, `INSERT INTO users (id, email, name, password_hash, role) VALUES ($1, $2, 'Buyer', 'x', 'user')`,
			id, fmt.Sprintf("buyer-%s@example.com", id))
		tokens[i] = f.env.Token(t, auth.Principal{UserID: id, Role: auth.RoleUser})
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
