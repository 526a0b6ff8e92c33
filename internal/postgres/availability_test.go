package postgres_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/evently/evently/internal/event"
	"github.com/evently/evently/internal/pgtest"
	"github.com/evently/evently/internal/postgres"
)

// TestSectionAvailability counts each section's held and booked seats: a
// hold whose time ran out counts as available, and each section counts
// only its own position range. The statement reads the seats index alone
// (no table scan, no heap visit for the counts).
func TestSectionAvailability(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.New(t)
	store := postgres.NewEventStore(pool)
	e := newEvent("Counts", time.Now().Add(time.Hour),
		event.Section{Name: "Stalls", PriceCents: 5000, Rows: 10, SeatsPerRow: 10},
		event.Section{Name: "Floor", PriceCents: 2500, Capacity: 50})
	other := newEvent("Other", time.Now().Add(time.Hour), event.Section{Name: "Floor", Capacity: 50})
	for _, ev := range []*event.Event{&e, &other} {
		if err := store.CreateEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	// Stalls (positions 1-100): 3 booked, 2 held, 4 held but lapsed.
	// Floor (101-150): 1 held at its first position, 1 booked at its last.
	mustExec(t, pool, `UPDATE seats SET status = 'booked', hold_seq = 1 WHERE event_id = $1 AND position IN (1, 2, 100, 150)`, e.ID)
	mustExec(t, pool, `UPDATE seats SET status = 'held', held_until = now() + interval '5 minutes', hold_seq = 1
		WHERE event_id = $1 AND position IN (3, 4, 101)`, e.ID)
	mustExec(t, pool, `UPDATE seats SET status = 'held', held_until = now() - interval '1 second', hold_seq = 1
		WHERE event_id = $1 AND position IN (5, 6, 7, 8)`, e.ID)
	mustExec(t, pool, `UPDATE seats SET status = 'booked', hold_seq = 1 WHERE event_id = $1`, other.ID)

	got, err := store.SectionAvailability(ctx, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := []event.SectionAvailability{
		{Section: "Stalls", Capacity: 100, Availability: event.Availability{Held: 2, Booked: 3}},
		{Section: "Floor", Capacity: 50, Availability: event.Availability{Held: 1, Booked: 1}},
	}
	if !slices.Equal(got, want) {
		t.Errorf("SectionAvailability() = %+v, want %+v", got, want)
	}
	if none, err := store.SectionAvailability(ctx, other.Sections[0].ID); err != nil || len(none) != 0 {
		t.Errorf("SectionAvailability(unknown event) = %v, %v; want nothing", none, err)
	}

}

// TestSectionAvailabilityPlan: on a stadium with a block sold, the counts
// come from seats_event_status_idx — what was sold, not every seat — and
// never from a scan of the seats table.
func TestSectionAvailabilityPlan(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.New(t)
	store := postgres.NewEventStore(pool)
	big := newEvent("Stadium", time.Now().Add(time.Hour),
		event.Section{Name: "North", PriceCents: 5000, Rows: 100, SeatsPerRow: 250},
		event.Section{Name: "Pitch", PriceCents: 9000, Capacity: 25_000})
	if err := store.CreateEvent(ctx, &big); err != nil {
		t.Fatal(err)
	}
	mustExec(t, pool, `UPDATE seats SET status = 'booked', hold_seq = 1 WHERE event_id = $1 AND position <= 2000`, big.ID)
	mustExec(t, pool, `UPDATE seats SET status = 'held', held_until = now() + interval '5 minutes', hold_seq = 1
		WHERE event_id = $1 AND position BETWEEN 30001 AND 30100`, big.ID)
	mustExec(t, pool, `ANALYZE seats; ANALYZE sections`)
	got, err := store.SectionAvailability(ctx, big.ID)
	if err != nil || len(got) != 2 || got[0].Booked != 2000 || got[1].Held != 100 {
		t.Fatalf("SectionAvailability() = %+v, %v", got, err)
	}
	plan := explain(t, pool, postgres.SectionAvailabilitySQL, big.ID)
	t.Logf("plan:\n%s", plan)
	if strings.Contains(plan, "Seq Scan on seats") || !strings.Contains(plan, "seats_event_status_idx") {
		t.Errorf("the counts do not come from seats_event_status_idx:\n%s", plan)
	}
}
