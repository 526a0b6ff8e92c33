package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/event"
	"github.com/evently/evently/internal/pgtest"
	"github.com/evently/evently/internal/postgres"
)

// BenchmarkRoomStockInventory reads, as each admission run does (once a
// second per open room), the inventory of a 50,000-seat event with 20,000
// seats sold, 5,000 held and 5,000 admitted buyers, half of whom hold:
//
//	go test -run '^$' -bench RoomStockInventory -benchtime 200x ./internal/postgres/
func BenchmarkRoomStockInventory(b *testing.B) {
	ctx := context.Background()
	pool := pgtest.New(b)
	now := time.Now().UTC()
	e := newEvent("Stadium", now.Add(48*time.Hour), event.Section{Name: "Pitch", Capacity: 50_000})
	if err := postgres.NewEventStore(pool).CreateEvent(ctx, &e); err != nil {
		b.Fatal(err)
	}
	users := pgtest.Users(b, pool, 5000)
	ids := make([]uuid.UUID, len(users))
	for i, u := range users {
		ids[i] = u.UserID
	}
	for _, sql := range []string{
		`UPDATE seats SET status = 'booked' WHERE event_id = $1 AND position <= 20000`,
		`UPDATE seats SET status = 'held', held_until = $2 WHERE event_id = $1 AND position > 20000 AND position <= 25000`,
		`INSERT INTO bookings (id, event_id, user_id, status, quantity, total_cents, currency, expires_at, created_at, updated_at)
		 SELECT gen_random_uuid(), $1, u, 'pending', 2, 0, 'USD', $2, $3, $3 FROM unnest($4::uuid[]) AS u`,
		`VACUUM ANALYZE seats`, `VACUUM ANALYZE bookings`,
	} {
		var err error
		switch {
		case sql[0] == 'I':
			_, err = pool.Exec(ctx, sql, e.ID, now.Add(time.Hour), now, ids[:2500])
		case sql[0] == 'V':
			_, err = pool.Exec(ctx, sql)
		case sql[len(sql)-5:] == "20000":
			_, err = pool.Exec(ctx, sql, e.ID)
		default:
			_, err = pool.Exec(ctx, sql, e.ID, now.Add(time.Hour))
		}
		if err != nil {
			b.Fatalf("%s: %v", sql, err)
		}
	}
	stock := postgres.NewRoomStock(pool)
	inv, err := stock.Inventory(ctx, e.ID, ids, nil, now)
	if err != nil || inv.Free != 25_000 || inv.Held != 5000 || inv.Served != 2500 || inv.SeatsPerBooking != 2 {
		b.Fatalf("Inventory = %+v, %v; want 25,000 free, 5,000 held, 2,500 served, 2 a booking", inv, err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := stock.Inventory(ctx, e.ID, ids, nil, now); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/read")
}
