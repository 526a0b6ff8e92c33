package httpapi_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image/png"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/apptest"
	"github.com/evently/evently/internal/auth"
	"github.com/evently/evently/internal/ticket"
)

// issuedTicketJSON is an IssuedTicket as a client reads it.
type issuedTicketJSON struct {
	ID          string     `json:"id"`
	EventID     string     `json:"event_id"`
	BookingID   string     `json:"booking_id"`
	SeatID      string     `json:"seat_id"`
	Section     string     `json:"section"`
	Seat        string     `json:"seat"`
	HolderName  string     `json:"holder_name"`
	Status      string     `json:"status"`
	Code        string     `json:"code"`
	VoidedAt    *time.Time `json:"voided_at"`
	CheckedInAt *time.Time `json:"checked_in_at"`
}

type checkedInByJSON struct {
	ID   *string `json:"id"`
	Name *string `json:"name"`
}

type checkInJSON struct {
	Status      string          `json:"status"`
	TicketID    string          `json:"ticket_id"`
	EventID     string          `json:"event_id"`
	Seat        string          `json:"seat"`
	Section     string          `json:"section"`
	HolderName  string          `json:"holder_name"`
	CheckedInAt time.Time       `json:"checked_in_at"`
	CheckedInBy checkedInByJSON `json:"checked_in_by"`
}

type checkInStatsJSON struct {
	Issued    int64 `json:"issued"`
	CheckedIn int64 `json:"checked_in"`
	Sections  []struct {
		Section   string `json:"section"`
		Issued    int64  `json:"issued"`
		CheckedIn int64  `json:"checked_in"`
	} `json:"sections"`
}

// staff inserts a staff member called name and returns their id and token.
func (f *fixture) staff(t testing.TB, name string) (string, string) {
	t.Helper()
	id := uuid.Must(uuid.NewV7())
	f.exec(t, `INSERT INTO users (id, email, name, password_hash, role) VALUES ($1, $2, $3, 'x', 'staff')`,
		id, fmt.Sprintf("staff-%s@example.com", id), name)
	return id.String(), f.env.Token(t, auth.Principal{UserID: id, Role: auth.RoleStaff})
}

// tickets lists a booking's tickets.
func (f *fixture) tickets(t testing.TB, token, bookingID string) []issuedTicketJSON {
	t.Helper()
	r := f.env.Get(t, "/api/v1/bookings/"+bookingID+"/tickets", token)
	if r.Status != http.StatusOK {
		t.Fatalf("GET /bookings/%s/tickets = %d %s", bookingID, r.Status, r.Body)
	}
	var out struct {
		BookingID string             `json:"booking_id"`
		Tickets   []issuedTicketJSON `json:"tickets"`
	}
	r.Decode(t, &out)
	return out.Tickets
}

// sold holds n seats of the event for a new buyer and confirms them; it
// returns the buyer's token, the booking and its tickets.
func (f *fixture) sold(t *testing.T, eventID string, n int) (string, bookingJSON, []issuedTicketJSON) {
	t.Helper()
	buyer := f.buyers(t, 1)[0]
	b := f.buy(t, buyer, eventID, n)
	return buyer, b, f.tickets(t, buyer, b.ID)
}

func (f *fixture) scan(t testing.TB, token, eventID, code string) *apptest.Response {
	t.Helper()
	return f.env.Post(t, "/api/v1/admin/events/"+eventID+"/check-ins", token, map[string]any{"code": code})
}

// TestTicketsIssuedOnConfirm: a pending hold has no tickets; confirming
// issues one per seat with a code that verifies offline with nothing but
// the public key from GET /events/{id}/ticket-key; the owner and admins
// see them, nobody else; the QR image is a PNG of the code; cancelling
// voids them.
func TestTicketsIssuedOnConfirm(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	e := f.publish(t)
	buyer := f.buyers(t, 1)[0]
	seats := f.seatIDs(t, e.ID)
	b := f.hold(t, buyer, map[string]any{"event_id": e.ID, "seat_ids": []string{seats[0], seats[1]}})
	if got := f.tickets(t, buyer, b.ID); len(got) != 0 {
		t.Fatalf("tickets of a pending hold = %d, want none", len(got))
	}
	f.confirm(t, buyer, b.ID)
	list := f.tickets(t, buyer, b.ID)
	if len(list) != 2 || list[0].Seat != "Balcony-A-1" || list[1].Seat != "Balcony-A-2" || list[0].Section != "Balcony" ||
		list[0].Status != "valid" || list[0].HolderName != "User" || list[0].BookingID != b.ID || list[0].SeatID != seats[0] {
		t.Fatalf("tickets = %+v", list)
	}
	if again := f.tickets(t, f.admin, b.ID); len(again) != 2 || again[0].Code != list[0].Code {
		t.Errorf("the admin's list = %+v, want the same codes", again)
	}
	wantProblem(t, "another user's tickets", f.env.Get(t, "/api/v1/bookings/"+b.ID+"/tickets", f.buyers(t, 1)[0]), 404, "not_found")
	wantProblem(t, "tickets of no booking", f.env.Get(t, "/api/v1/bookings/"+uuid.NewString()+"/tickets", buyer), 404, "not_found")
	wantProblem(t, "tickets without a token", f.env.Get(t, "/api/v1/bookings/"+b.ID+"/tickets", ""), 401, "unauthorized")

	// Offline verification: the key's bytes, and nothing else.
	r := f.env.Get(t, "/api/v1/events/"+e.ID+"/ticket-key", "")
	var key struct {
		Algorithm string `json:"algorithm"`
		KeyID     string `json:"key_id"`
		PublicKey string `json:"public_key"`
	}
	r.Decode(t, &key)
	pub, err := base64.RawURLEncoding.DecodeString(key.PublicKey)
	if r.Status != 200 || err != nil || key.Algorithm != "Ed25519" || len(pub) != ed25519.PublicKeySize ||
		key.KeyID != ticket.KeyID(pub) {
		t.Fatalf("ticket-key = %d %s (%v)", r.Status, r.Body, err)
	}
	for i, tk := range list {
		p, err := ticket.Verify(ed25519.PublicKey(pub), tk.Code)
		if err != nil || p.EventID.String() != e.ID || p.TicketID.String() != tk.ID || p.SeatLabel != tk.Seat {
			t.Errorf("ticket %d: Verify(code) = %+v, %v", i, p, err)
		}
	}
	wantProblem(t, "ticket-key of no event", f.env.Get(t, "/api/v1/events/"+uuid.NewString()+"/ticket-key", ""), 404, "not_found")

	// The QR image.
	r = f.env.Get(t, "/api/v1/tickets/"+list[0].ID+"/qr.png", buyer)
	if r.Status != 200 || r.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("qr.png = %d %s", r.Status, r.Header.Get("Content-Type"))
	}
	img, err := png.Decode(bytes.NewReader(r.Body))
	if err != nil {
		t.Fatalf("qr.png does not decode: %v", err)
	}
	if b := img.Bounds(); b.Dx() != ticket.QRSize || b.Dy() != ticket.QRSize {
		t.Errorf("qr.png is %v, want %dx%d", b, ticket.QRSize, ticket.QRSize)
	}
	wantProblem(t, "another user's QR", f.env.Get(t, "/api/v1/tickets/"+list[0].ID+"/qr.png", f.buyers(t, 1)[0]), 404, "not_found")

	// Cancelling voids them.
	f.cancel(t, buyer, b.ID)
	for _, tk := range f.tickets(t, buyer, b.ID) {
		if tk.Status != "void" || tk.VoidedAt == nil {
			t.Errorf("after cancel: ticket %s is %s", tk.Seat, tk.Status)
		}
	}
	wantProblem(t, "QR of a void ticket", f.env.Get(t, "/api/v1/tickets/"+list[0].ID+"/qr.png", buyer), 409, "invalid_state")
}

// TestCheckIn covers every answer of a scan: the first scan of a valid
// ticket, a second one (when and by whom), a void ticket, another event's
// ticket, a forged code, a malformed body; and that staff (granted by an
// admin) may scan and read the figures but nothing else an admin may.
func TestCheckIn(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	e := f.publish(t, gaEvent(20))
	other := f.publish(t, gaEvent(5))

	// An admin makes a user staff.
	gateID := uuid.Must(uuid.NewV7())
	f.exec(t, `INSERT INTO users (id, email, name, password_hash, role) VALUES ($1, 'gate3@example.com', 'Gate 3', 'x', 'user')`, gateID)
	r := f.env.Do(t, apptest.Request{Method: http.MethodPatch, Path: "/api/v1/admin/users/" + gateID.String(), Token: f.admin,
		Body: map[string]any{"role": "staff"}})
	if r.Status != 200 {
		t.Fatalf("grant staff = %d %s", r.Status, r.Body)
	}
	var version int
	if err := f.db.QueryRow(context.Background(), `SELECT token_version FROM users WHERE id = $1`, gateID).Scan(&version); err != nil {
		t.Fatal(err)
	}
	gate := f.env.Token(t, auth.Principal{UserID: gateID, Role: auth.RoleStaff, Version: version})

	_, b, list := f.sold(t, e.ID, 3)
	buyer2, b2, voided := f.sold(t, e.ID, 1)
	_, _, elsewhere := f.sold(t, other.ID, 1)
	f.cancel(t, buyer2, b2.ID)

	r = f.scan(t, gate, e.ID, list[0].Code)
	var c checkInJSON
	r.Decode(t, &c)
	if r.Status != 200 || c.Status != "checked_in" || c.TicketID != list[0].ID || c.Seat != list[0].Seat ||
		c.Section != "Floor" || c.HolderName != "User" || c.CheckedInBy.Name == nil || *c.CheckedInBy.Name != "Gate 3" {
		t.Fatalf("first scan = %d %s", r.Status, r.Body)
	}

	r = f.scan(t, f.admin, e.ID, list[0].Code)
	wantProblem(t, "second scan", r, 409, "already_checked_in")
	var again struct {
		CheckedInAt time.Time       `json:"checked_in_at"`
		CheckedInBy checkedInByJSON `json:"checked_in_by"`
		Seat        string          `json:"seat"`
	}
	r.Decode(t, &again)
	if !again.CheckedInAt.Equal(c.CheckedInAt) || again.CheckedInBy.ID == nil || *again.CheckedInBy.ID != gateID.String() ||
		*again.CheckedInBy.Name != "Gate 3" || again.Seat != list[0].Seat {
		t.Errorf("second scan says %+v, want when (%v) and by whom (Gate 3)", again, c.CheckedInAt)
	}
	wantProblem(t, "void ticket", f.scan(t, gate, e.ID, voided[0].Code), 409, "ticket_void")
	wantProblem(t, "another event's ticket", f.scan(t, gate, e.ID, elsewhere[0].Code), 400, "invalid_ticket")
	forger, err := ticket.NewSigner(bytes.Repeat([]byte{9}, ed25519.SeedSize))
	if err != nil {
		t.Fatal(err)
	}
	id, _ := uuid.Parse(list[1].ID)
	eid, _ := uuid.Parse(e.ID)
	forged, _ := forger.Sign(ticket.Payload{EventID: eid, TicketID: id, SeatLabel: list[1].Seat})
	wantProblem(t, "forged code", f.scan(t, gate, e.ID, forged), 400, "invalid_ticket")
	wantProblem(t, "garbage", f.scan(t, gate, e.ID, "hello"), 400, "invalid_ticket")
	wantProblem(t, "empty code", f.scan(t, gate, e.ID, ""), 400, "validation_failed", "code")
	wantProblem(t, "malformed body", f.env.Post(t, "/api/v1/admin/events/"+e.ID+"/check-ins", gate, "{"), 400, "malformed_json")
	wantProblem(t, "unknown member", f.env.Post(t, "/api/v1/admin/events/"+e.ID+"/check-ins", gate,
		map[string]any{"code": list[1].Code, "gate": 3}), 400, "validation_failed")
	wantProblem(t, "a buyer scanning", f.scan(t, f.user, e.ID, list[1].Code), 403, "forbidden")

	// Staff may do nothing else an admin may.
	wantProblem(t, "staff lists events", f.env.Get(t, "/api/v1/admin/events", gate), 403, "forbidden")
	wantProblem(t, "staff creates an event", f.env.Post(t, "/api/v1/admin/events", gate, eventBody()), 403, "forbidden")
	wantProblem(t, "staff reads analytics", f.env.Get(t, "/api/v1/admin/analytics/summary", gate), 403, "forbidden")
	wantProblem(t, "staff cancels an event", f.env.Post(t, "/api/v1/admin/events/"+e.ID+"/cancel", gate, nil), 403, "forbidden")
	wantProblem(t, "staff reads another's tickets", f.env.Get(t, "/api/v1/bookings/"+b.ID+"/tickets", gate), 404, "not_found")

	// The figures, live.
	f.scan(t, gate, e.ID, list[1].Code)
	r = f.env.Get(t, "/api/v1/admin/events/"+e.ID+"/check-ins/stats", gate)
	var st checkInStatsJSON
	r.Decode(t, &st)
	if r.Status != 200 || st.Issued != 3 || st.CheckedIn != 2 || len(st.Sections) != 1 || st.Sections[0].Section != "Floor" ||
		st.Sections[0].Issued != 3 || st.Sections[0].CheckedIn != 2 {
		t.Errorf("stats = %d %s, want 2 of 3 checked in (the void ticket not counted)", r.Status, r.Body)
	}
	wantProblem(t, "stats of no event", f.env.Get(t, "/api/v1/admin/events/"+uuid.NewString()+"/check-ins/stats", gate), 404, "not_found")
	wantProblem(t, "stats for a buyer", f.env.Get(t, "/api/v1/admin/events/"+e.ID+"/check-ins/stats", f.user), 403, "forbidden")
}

// TestConcurrentDoubleScan: 50 scans of one code at once, from two gates,
// check it in exactly once; the 49 others are told it already was.
func TestConcurrentDoubleScan(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	e := f.publish(t, gaEvent(5))
	_, gateA := f.staff(t, "Gate A")
	_, gateB := f.staff(t, "Gate B")
	_, _, list := f.sold(t, e.ID, 1)

	const scans = 50
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		codes = make([]string, scans)
	)
	for i := range scans {
		wg.Add(1)
		go func() {
			defer wg.Done()
			gate := gateA
			if i%2 == 1 {
				gate = gateB
			}
			<-start
			r := f.scan(t, gate, e.ID, list[0].Code)
			switch r.Status {
			case 200:
				codes[i] = "checked_in"
			default:
				codes[i] = r.Problem(t).Code
			}
		}()
	}
	close(start)
	wg.Wait()
	tally := map[string]int{}
	for _, c := range codes {
		tally[c]++
	}
	if tally["checked_in"] != 1 || tally["already_checked_in"] != scans-1 {
		t.Fatalf("50 concurrent scans = %v, want exactly 1 checked_in and 49 already_checked_in", tally)
	}
	var n int
	if err := f.db.QueryRow(context.Background(),
		`SELECT count(*) FROM tickets WHERE event_id = $1 AND checked_in_at IS NOT NULL`, e.ID).Scan(&n); err != nil || n != 1 {
		t.Fatalf("tickets checked in = %d, %v; want 1", n, err)
	}
}

// TestCheckInWebhook: a check-in sends ticket.checked_in, whose data is
// the check-in as the scan answered it.
func TestCheckInWebhook(t *testing.T) {
	t.Parallel()
	const secret = "whsec_test_checkin_0123"
	rc := newReceiver(t, secret, func(string, int) int { return http.StatusNoContent })
	f := newFixture(t, apptest.WithEnv("EVENTLY_WEBHOOK_URL", rc.URL+"/hooks"), apptest.WithEnv("EVENTLY_WEBHOOK_SECRET", secret))
	e := f.publish(t, gaEvent(5))
	_, gate := f.staff(t, "Gate 7")
	_, _, list := f.sold(t, e.ID, 1)
	r := f.scan(t, gate, e.ID, list[0].Code)
	if r.Status != 200 {
		t.Fatalf("scan = %d %s", r.Status, r.Body)
	}
	f.scan(t, gate, e.ID, list[0].Code) // refused: no second webhook
	eventually(t, 20*time.Second, "ticket.checked_in delivered", func() bool { return len(rc.delivered()["ticket.checked_in"]) == 1 })
	time.Sleep(200 * time.Millisecond)
	hits := rc.delivered()["ticket.checked_in"]
	if len(hits) != 1 || hits[0].verified != nil {
		t.Fatalf("ticket.checked_in deliveries = %d (signature %v), want 1 signed", len(hits), hits[0].verified)
	}
	var got, want checkInJSON
	if err := json.Unmarshal(dataOf(t, hits[0].body), &got); err != nil {
		t.Fatal(err)
	}
	r.Decode(t, &want)
	flat := func(c checkInJSON) string {
		return fmt.Sprint(c.Status, c.TicketID, c.EventID, c.Seat, c.Section, c.HolderName, c.CheckedInAt.UnixMicro(),
			deref(c.CheckedInBy.ID), deref(c.CheckedInBy.Name))
	}
	if flat(got) != flat(want) || deref(got.CheckedInBy.Name) != "Gate 7" {
		t.Errorf("webhook data = %s\nwant the scan's answer %s", dataOf(t, hits[0].body), r.Body)
	}
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
