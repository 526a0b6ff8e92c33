package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/evently/evently/internal/event"
	"github.com/evently/evently/internal/pgtest"
)

// TestSaleStateMatchesGo: the database's sale_state() and
// event.SaleWindow.At give the same state for every status, at every
// moment around each of an event's dates (before, at, after each one),
// with and without a sales window.
func TestSaleStateMatchesGo(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.New(t)
	base := time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)
	starts := base.Add(10 * 24 * time.Hour)
	salesStart, salesEnd := base, base.Add(5*24*time.Hour)
	var moments []time.Time
	for _, d := range []time.Time{salesStart, salesEnd, starts} {
		moments = append(moments, d.Add(-time.Microsecond), d, d.Add(time.Microsecond))
	}
	moments = append(moments, base.Add(-365*24*time.Hour), starts.Add(365*24*time.Hour))
	windows := [][2]*time.Time{{nil, nil}, {&salesStart, nil}, {nil, &salesEnd}, {&salesStart, &salesEnd}}
	seen := map[event.SaleState]bool{}
	for _, status := range []event.Status{event.StatusDraft, event.StatusPublished, event.StatusCancelled} {
		for _, win := range windows {
			for _, at := range moments {
				w := event.SaleWindow{Status: status, StartsAt: starts, SalesStart: win[0], SalesEnd: win[1]}
				want := w.At(at)
				seen[want] = true
				var got string
				if err := pool.QueryRow(ctx, `SELECT sale_state($1, $2, $3, $4, $5)`,
					string(status), starts, win[0], win[1], at).Scan(&got); err != nil {
					t.Fatal(err)
				}
				if got != want.String() {
					t.Errorf("sale_state(%s, window %v–%v, at %v) = %s, want %s (event.SaleWindow.At)",
						status, win[0], win[1], at, got, want)
				}
			}
		}
	}
	if len(seen) != 6 {
		t.Errorf("the cases reached %d of the 6 sale states", len(seen))
	}
}
