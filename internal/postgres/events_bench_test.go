package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/evently/evently/internal/event"
	"github.com/evently/evently/internal/pgtest"
	"github.com/evently/evently/internal/postgres"
)

// BenchmarkCreateEvent100kSeats creates a 100,000-seat event (two numbered
// sections and a general-admission floor) through the store, as POST
// /admin/events does:
//
//	go test -run '^$' -bench CreateEvent -benchtime 5x ./internal/postgres/
func BenchmarkCreateEvent100kSeats(b *testing.B) {
	ctx := context.Background()
	store := postgres.NewEventStore(pgtest.New(b))
	start := time.Now().Add(24 * time.Hour)
	b.ResetTimer()
	for b.Loop() {
		e := newEvent("Stadium", start,
			event.Section{Name: "North Stand", PriceCents: 6500, Rows: 100, SeatsPerRow: 250},
			event.Section{Name: "South Stand", PriceCents: 6500, Rows: 80, SeatsPerRow: 250},
			event.Section{Name: "Pitch", PriceCents: 9500, Capacity: 55_000})
		if e.Capacity() != 100_000 {
			b.Fatalf("capacity %d", e.Capacity())
		}
		if err := store.CreateEvent(ctx, &e); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/event")
}
