package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/event"
	"github.com/evently/evently/internal/funnel"
	"github.com/evently/evently/internal/pgtest"
	"github.com/evently/evently/internal/postgres"
)

// TestFunnelAdmissionToHold: bookings made at chosen times (microseconds)
// against admissions given at chosen times (milliseconds, as the waiting
// room keeps them). Each admission counts the time to its user's first
// booking of the event made while it ran: a booking before the admission,
// after it lapsed, or of another event does not count, nor does a second
// booking; an admission without a hold is left out. The percentiles are
// exact, to the microsecond.
func TestFunnelAdmissionToHold(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHistory(t)
	t0 := time.Date(2030, 5, 1, 10, 0, 0, 0, time.UTC)
	floor := event.Section{Name: "Floor", PriceCents: 2000, Capacity: 10}
	e := h.event("Funnel", "USD", "published", t0.Add(30*24*time.Hour), floor)
	other := h.event("Other", "USD", "published", t0.Add(30*24*time.Hour), floor)
	free := map[uuid.UUID][]uuid.UUID{e.ID: pgtest.SeatIDs(t, h.pool, e.ID), other.ID: pgtest.SeatIDs(t, h.pool, other.ID)}
	hold := func(ev event.Event, user uuid.UUID, at time.Time) {
		t.Helper()
		seat := free[ev.ID][0]
		free[ev.ID] = free[ev.ID][1:]
		if _, err := holdSeats(ctx, h.bookings, ev.ID, user, []uuid.UUID{seat}, at, 30*time.Minute); err != nil {
			t.Fatalf("hold at %v: %v", at, err)
		}
	}
	u := make([]uuid.UUID, 5)
	for i := range u {
		u[i] = pgtest.User(t, h.pool).UserID
	}
	admit := func(user uuid.UUID, at time.Duration) funnel.Admission {
		return funnel.Admission{UserID: user, At: t0.Add(at), Until: t0.Add(at + 10*time.Second)}
	}
	us := time.Microsecond
	hold(e, u[0], t0.Add(1234567*us)) // 1.234567s after its admission
	hold(e, u[0], t0.Add(5*time.Second))
	hold(e, u[1], t0.Add(500*time.Millisecond)) // before its admission
	hold(e, u[1], t0.Add(1250*time.Millisecond))
	hold(e, u[2], t0.Add(13*time.Second)) // after its admission lapsed
	hold(other, u[4], t0.Add(4100*time.Millisecond))
	hold(e, u[4], t0.Add(7000001*us))
	admissions := []funnel.Admission{admit(u[0], 0), admit(u[1], time.Second), admit(u[2], 2*time.Second),
		admit(u[3], 3*time.Second), admit(u[4], 4*time.Second)}

	store := postgres.NewFunnelStore(h.pool)
	p50, p90, err := store.AdmissionToHold(ctx, e.ID, admissions)
	if err != nil {
		t.Fatal(err)
	}
	// 250ms, 1.234567s and 3.000001s: nearest rank 2 and 3 of 3.
	if p50 == nil || p90 == nil || *p50 != 1234567*us || *p90 != 3000001*us {
		t.Errorf("admission to hold p50 %v p90 %v, want 1.234567s and 3.000001s", p50, p90)
	}
	if p50, p90, err := store.AdmissionToHold(ctx, e.ID, admissions[2:4]); err != nil || p50 != nil || p90 != nil {
		t.Errorf("admissions without a hold: %v %v %v, want nulls", p50, p90, err)
	}
	if p50, p90, err := store.AdmissionToHold(ctx, e.ID, nil); err != nil || p50 != nil || p90 != nil {
		t.Errorf("no admissions: %v %v %v, want nulls", p50, p90, err)
	}
}
