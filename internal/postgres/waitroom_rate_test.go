package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/event"
	"github.com/evently/evently/internal/pgtest"
	"github.com/evently/evently/internal/postgres"
	"github.com/evently/evently/internal/waitroom"
)

// TestAutoRateStandsOnItsDecision: a room's own rate is written only while
// what it was decided on still stands: a decision from a stale read (its
// own rate changed since) or from an organiser's rate since replaced is
// dropped and recorded nowhere. A new organiser rate or mode starts the
// room again from the organiser's rate, even when the organiser comes back
// to the rate it was tuned from.
func TestAutoRateStandsOnItsDecision(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHistory(t)
	rooms := postgres.NewWaitingRoomStore(h.pool)
	e := h.event("Final", "USD", "published", time.Now().Add(30*24*time.Hour), event.Section{Name: "Floor", Capacity: 10})
	h.exec(`UPDATE events SET wr_enabled = true, wr_admit_per_minute = 100, wr_admit_mode = 'auto',
		wr_admit_min_per_minute = 10, wr_admit_max_per_minute = 1000 WHERE id = $1`, e.ID)
	room := func() waitroom.Room {
		t.Helper()
		r, err := rooms.Room(ctx, e.ID)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	set := func(from, to, base int, prev *time.Time) {
		t.Helper()
		err := rooms.SetRate(ctx, waitroom.RateChange{EventID: e.ID, At: time.Now().UTC(), From: from, To: to, Base: base,
			Prev: prev, Reason: "test"})
		if err != nil {
			t.Fatal(err)
		}
	}
	changes := func() int {
		t.Helper()
		cs, err := rooms.RateChanges(ctx, e.ID, 100)
		if err != nil {
			t.Fatal(err)
		}
		return len(cs)
	}

	if r := room(); !r.Auto || r.AdmitPerMinute != 100 || r.RateChangedAt != nil || r.SettingsChangedAt == nil {
		t.Fatalf("room = %+v, want auto at the organiser's 100", r)
	}
	set(100, 125, 100, nil)
	first := room()
	if first.AdmitPerMinute != 125 || first.RateChangedAt == nil || changes() != 1 {
		t.Fatalf("after a change to 125: %+v with %d changes", first, changes())
	}
	set(100, 70, 100, nil) // decided on the room as it was before 125
	set(125, 90, 200, first.RateChangedAt)
	if r := room(); r.AdmitPerMinute != 125 || changes() != 1 {
		t.Fatalf("stale decisions changed the room: %+v, %d changes", r, changes())
	}
	set(125, 156, 100, first.RateChangedAt)
	if r := room(); r.AdmitPerMinute != 156 || changes() != 2 {
		t.Fatalf("a sound decision: %+v, %d changes; want 156 and 2", r, changes())
	}

	update := func(fn func(w *event.WaitingRoom)) {
		t.Helper()
		if _, err := h.events.UpdateEvent(ctx, e.ID, func(e *event.Event, _ func() (bool, error)) error {
			fn(&e.WaitingRoom)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	update(func(w *event.WaitingRoom) { w.AdmitPerMinute = 200 })
	update(func(w *event.WaitingRoom) { w.AdmitPerMinute = 100 })
	if r := room(); r.AdmitPerMinute != 100 || r.RateChangedAt != nil {
		t.Fatalf("back at the organiser's 100: %+v, want 100 afresh", r)
	}
	set(100, 125, 100, nil)
	update(func(w *event.WaitingRoom) { w.AdmitMode = event.AdmitFixed })
	update(func(w *event.WaitingRoom) { w.AdmitMode = event.AdmitAuto })
	if r := room(); r.AdmitPerMinute != 100 || r.RateChangedAt != nil {
		t.Fatalf("auto again after fixed: %+v, want 100 afresh", r)
	}
	update(func(w *event.WaitingRoom) { w.Enabled = false })
	set(100, 125, 100, nil)
	update(func(w *event.WaitingRoom) { w.Enabled = true })
	if r := room(); r.AdmitPerMinute != 125 {
		t.Fatalf("another setting changed: %+v, want the room's own 125 kept", r)
	}
}

// TestIdleCountsBookingsSinceAdmission: an overdue buyer is idle unless
// they booked since their admission: a booking from before it (an earlier
// admission) does not count, one of another event neither.
func TestIdleCountsBookingsSinceAdmission(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHistory(t)
	at := time.Date(2030, 5, 1, 10, 0, 0, 0, time.UTC)
	floor := event.Section{Name: "Floor", Capacity: 10}
	e := h.event("Final", "USD", "published", at.Add(30*24*time.Hour), floor)
	other := h.event("Other", "USD", "published", at.Add(30*24*time.Hour), floor)
	seats, otherSeats := pgtest.SeatIDs(t, h.pool, e.ID), pgtest.SeatIDs(t, h.pool, other.ID)
	users := pgtest.Users(t, h.pool, 4)
	hold := func(ev uuid.UUID, user uuid.UUID, seat uuid.UUID, when time.Time) {
		t.Helper()
		if _, err := holdSeats(ctx, h.bookings, ev, user, []uuid.UUID{seat}, when, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	hold(e.ID, users[0].UserID, seats[0], at.Add(-time.Hour))           // before: idle
	hold(e.ID, users[1].UserID, seats[1], at.Add(time.Minute))          // since: not idle
	hold(other.ID, users[2].UserID, otherSeats[0], at.Add(time.Minute)) // another event: idle
	var overdue []waitroom.Admission
	var ids []uuid.UUID
	for _, u := range users { // users[3] never booked: idle
		overdue = append(overdue, waitroom.Admission{UserID: u.UserID, At: at, Until: at.Add(10 * time.Minute)})
		ids = append(ids, u.UserID)
	}
	inv, err := postgres.NewRoomStock(h.pool).Inventory(ctx, e.ID, ids, overdue, at.Add(2*time.Minute))
	if err != nil || inv.Idle != 3 {
		t.Fatalf("Inventory = %+v, %v; want 3 idle", inv, err)
	}
}
