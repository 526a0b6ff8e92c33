package waitroom_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	goredis "github.com/redis/go-redis/v9"

	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/auth"
	"github.com/evently/evently/internal/booking"
	"github.com/evently/evently/internal/clocktest"
	"github.com/evently/evently/internal/event"
	"github.com/evently/evently/internal/pgtest"
	"github.com/evently/evently/internal/postgres"
	"github.com/evently/evently/internal/redis"
	"github.com/evently/evently/internal/redistest"
	"github.com/evently/evently/internal/waitlist"
	"github.com/evently/evently/internal/waitroom"
)

// stockSim is a waiting room on the real Postgres and Redis, with its
// inventory read from the event's seats and bookings.
type stockSim struct {
	*sim
	pool     *pgxpool.Pool
	bookings *postgres.BookingStore
	seats    []uuid.UUID
}

// newStockSim creates a published event of `seats` seats, on sale from t0
// with a waiting room at perMinute and the given admission time, and the
// Service over it with inventory-aware admission.
func newStockSim(t *testing.T, seats, perMinute int, admissionTTL time.Duration) *stockSim {
	t.Helper()
	rdb, ok := redistest.New(t).(*goredis.Client)
	if !ok {
		t.Skip("the simulation runs on single Redis only")
	}
	ctx := context.Background()
	pool := pgtest.New(t)
	e := event.Event{
		ID: uuid.Must(uuid.NewV7()), Name: "Final", Venue: "Venue", StartsAt: t0.Add(30 * 24 * time.Hour),
		Status: event.StatusPublished, Currency: "USD", MaxSeatsPerBooking: 10, HoldTTLSeconds: 300,
		WaitingRoom: event.WaitingRoom{Enabled: true, AdmitPerMinute: perMinute, AdmissionTTLSeconds: int(admissionTTL / time.Second)},
		Sections:    []event.Section{{ID: uuid.Must(uuid.NewV7()), Name: "Floor", Capacity: seats, Position: 1}},
	}
	if err := postgres.NewEventStore(pool).CreateEvent(ctx, &e); err != nil {
		t.Fatal(err)
	}
	ids := pgtest.SeatIDs(t, pool, e.ID)
	if len(ids) != seats {
		t.Fatalf("seats = %d, want %d", len(ids), seats)
	}
	c := clocktest.New(t0)
	s := &sim{t: t, ctx: ctx, rdb: rdb, queue: redis.NewWaitingRooms(rdb), clock: c, sched: &scheduler{clock: c}, event: e.ID}
	stock := postgres.NewRoomStock(pool)
	s.svc = waitroom.NewService(postgres.NewWaitingRoomStore(pool), s.queue, s.sched, waitroom.Options{
		Now: c.Now, RoomCacheTTL: time.Nanosecond, Stock: stock, Notices: stock})
	return &stockSim{sim: s, pool: pool, bookings: postgres.NewBookingStore(pool), seats: ids}
}

// joinAll joins the users one after another, in order.
func (s *stockSim) joinAll(users []auth.Principal) {
	s.t.Helper()
	for i, u := range users {
		if _, err := s.svc.Join(s.ctx, s.event, u.UserID); err != nil {
			s.t.Fatalf("Join(user %d) = %v", i, err)
		}
	}
}

// hold holds one seat each for the users, in one batch, for ttl, and
// returns the bookings.
func (s *stockSim) hold(users []uuid.UUID, seats []uuid.UUID, ttl time.Duration) []booking.Booking {
	s.t.Helper()
	b := booking.HoldBatch{EventID: s.event, Now: s.clock.Now()}
	for i, u := range users {
		b.Holds = append(b.Holds, booking.PendingHold{BookingID: uuid.Must(uuid.NewV7()), UserID: u, SeatIDs: seats[i : i+1], TTL: ttl})
	}
	res, err := s.bookings.Hold(s.ctx, b)
	if err != nil {
		s.t.Fatal(err)
	}
	for i, err := range res.Refusals {
		if err != nil {
			s.t.Fatalf("hold %d refused: %v", i, err)
		}
	}
	return res.Bookings
}

func (s *stockSim) confirm(bs []booking.Booking) {
	s.t.Helper()
	var changes []booking.Change
	for _, b := range bs {
		ref := "pay"
		changes = append(changes, booking.Change{Kind: booking.Confirm, BookingID: b.ID, Owner: &b.UserID, PaymentRef: &ref})
	}
	outs, err := s.bookings.Settle(s.ctx, s.clock.Now(), changes)
	if err != nil {
		s.t.Fatal(err)
	}
	for i, o := range outs {
		if o.Err != nil {
			s.t.Fatalf("confirm %d: %v", i, o.Err)
		}
	}
}

// admittedUsers returns the users whose admission runs now, in the order
// of users.
func (s *stockSim) admittedUsers(users []auth.Principal) []uuid.UUID {
	s.t.Helper()
	var out []uuid.UUID
	for _, u := range users {
		if s.admitted(u.UserID) {
			out = append(out, u.UserID)
		}
	}
	return out
}

// TestAdmissionFollowsInventory: 1,000 users queue for 100 seats at 600
// admissions a minute. Admissions stop at 100, once the free seats are
// spoken for by the active buyers, and stay stopped while those buyers
// hold the seats, even after their admissions lapse; when half the holds
// lapse unconfirmed, exactly 50 more are admitted. When those buy the
// last seats (no free seat, no live hold), every one of the 850 still
// waiting sees sold_out and has one sold_out notification; they go on to
// the waitlist in line order whatever order they call in; and a
// cancellation reopens the line for one buyer.
func TestAdmissionFollowsInventory(t *testing.T) {
	t.Parallel()
	s := newStockSim(t, 100, 600, 2*time.Minute)
	users := pgtest.Users(t, s.pool, 1000)
	s.joinAll(users)
	var rec recorder

	// Ten a second would let 300 in within 30 s; the seats stop it at 100.
	s.runUntil(t0.Add(30*time.Second), rec.after)
	if rec.total != 100 {
		t.Fatalf("admitted %d of 1,000 with 100 seats, want 100", rec.total)
	}
	first := s.admittedUsers(users)
	if len(first) != 100 || first[0] != users[0].UserID || first[99] != users[99].UserID {
		t.Fatalf("admitted users = %d, want the first 100 in line", len(first))
	}

	// Every admitted buyer holds a seat for 5 minutes; half confirm.
	held := s.hold(first, s.seats, 5*time.Minute)
	s.confirm(held[:50])
	// The admissions lapse at 2m10s; the holds still take every seat.
	s.runUntil(t0.Add(5*time.Minute), rec.after)
	if rec.total != 100 {
		t.Fatalf("admitted %d while every seat is held or sold, want still 100", rec.total)
	}
	if tk := s.status(users[100].UserID); tk.Status != waitroom.StatusWaiting {
		t.Fatalf("user 101 while seats are held = %s, want waiting (holds may lapse)", tk.Status)
	}

	// The 50 unconfirmed holds lapse at 5m30s: 50 more, and no more.
	s.runUntil(t0.Add(7*time.Minute), rec.after)
	if rec.total != 150 {
		t.Fatalf("admitted %d after 50 holds lapsed, want 150", rec.total)
	}
	second := s.admittedUsers(users[100:])
	if len(second) != 50 || second[0] != users[100].UserID || second[49] != users[149].UserID {
		t.Fatalf("admitted after the lapse = %d users, want users 101 to 150", len(second))
	}

	// They buy the last 50 seats: sold out, nothing held.
	lapsed := make([]uuid.UUID, 0, 50)
	for _, b := range held[50:] {
		lapsed = append(lapsed, b.Seats[0].ID)
	}
	s.confirm(s.hold(second, lapsed, 5*time.Minute))
	s.runUntil(s.clock.Now().Add(10*time.Second), rec.after)
	if rec.total != 150 {
		t.Fatalf("admitted %d after selling out, want 150", rec.total)
	}
	waiting := users[150:]
	for i, u := range waiting {
		if tk := s.status(u.UserID); tk.Status != waitroom.StatusSoldOut {
			t.Fatalf("waiting user %d = %s, want sold_out", 151+i, tk.Status)
		}
	}
	if tk := s.status(users[0].UserID); tk.Status != waitroom.StatusExpired {
		t.Errorf("a buyer whose admission lapsed = %s, want expired (not sold_out: they were served)", tk.Status)
	}
	var told []uuid.UUID
	rows, err := s.pool.Query(s.ctx, `SELECT user_id FROM notifications WHERE kind = 'sold_out' AND data->>'event_id' = $1`, s.event.String())
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var u uuid.UUID
		if err := rows.Scan(&u); err != nil {
			t.Fatal(err)
		}
		told = append(told, u)
	}
	want := make([]uuid.UUID, len(waiting))
	for i, u := range waiting {
		want[i] = u.UserID
	}
	slices.SortFunc(told, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })
	sorted := slices.Clone(want)
	slices.SortFunc(sorted, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })
	if !slices.Equal(told, sorted) {
		t.Fatalf("sold_out notices went to %d users, want each of the %d waiting once", len(told), len(want))
	}
	// Later runs do not tell them again.
	s.runUntil(s.clock.Now().Add(30*time.Second), rec.after)
	var notes int
	if err := s.pool.QueryRow(s.ctx, `SELECT count(*) FROM notifications WHERE kind = 'sold_out'`).Scan(&notes); err != nil || notes != 850 {
		t.Fatalf("sold_out notices after more runs = %d, %v; want 850", notes, err)
	}

	// Users go to the waitlist in any order, at different times, with one
	// plain call each; it keeps the line's order. A user who was served
	// has no place in line to bring.
	lists := waitlist.NewService(postgres.NewWaitlistStore(s.pool), waitlist.Options{Now: s.clock.Now, Line: s.svc})
	picks := []int{900, 151, 600, 152, 999}
	for _, i := range picks {
		s.clock.Advance(time.Second)
		if _, err := lists.Join(s.ctx, s.event, users[i-1], 1); err != nil {
			t.Fatalf("Join waitlist (user %d) = %v", i, err)
		}
	}
	if _, err := s.svc.QueuedAt(s.ctx, s.event, users[0].UserID); !apperr.Is(err, apperr.InvalidState) {
		t.Errorf("QueuedAt(a served buyer) = %v, want InvalidState", err)
	}
	entries, err := lists.List(s.ctx, waitlist.ListFilter{EventID: s.event, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var order []uuid.UUID
	for _, e := range entries {
		order = append(order, e.UserID)
	}
	wantOrder := []uuid.UUID{users[150].UserID, users[151].UserID, users[599].UserID, users[899].UserID, users[998].UserID}
	if !slices.Equal(order, wantOrder) {
		t.Fatalf("waitlist order = %v, want line order %v", order, wantOrder)
	}

	// A cancellation frees one seat: the line reopens for one buyer.
	if _, err := s.bookings.Settle(s.ctx, s.clock.Now(), []booking.Change{{Kind: booking.Cancel, BookingID: held[0].ID}}); err != nil {
		t.Fatal(err)
	}
	s.runUntil(s.clock.Now().Add(10*time.Second), rec.after)
	if rec.total != 151 {
		t.Fatalf("admitted %d after one cancellation, want 151", rec.total)
	}
	if tk := s.status(users[150].UserID); tk.Status != waitroom.StatusAdmitted {
		t.Errorf("the first in line after the cancellation = %s, want admitted", tk.Status)
	}
	if tk := s.status(users[151].UserID); tk.Status != waitroom.StatusWaiting {
		t.Errorf("the second in line after the cancellation = %s, want waiting", tk.Status)
	}
}
