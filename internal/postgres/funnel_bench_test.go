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

// BenchmarkFunnelAdmissionToHold reads the admission-to-hold percentiles
// of a stadium's on-sale hour, as every funnel report and every tick of
// the live view's stream does: 50,000 admissions, 10,000 of whose buyers
// held while admitted.
//
//	go test -run '^$' -bench FunnelAdmissionToHold -benchtime 20x ./internal/postgres/
func BenchmarkFunnelAdmissionToHold(b *testing.B) {
	ctx := context.Background()
	pool := pgtest.New(b)
	now := time.Now().UTC().Truncate(time.Millisecond)
	e := newEvent("Stadium", now.Add(48*time.Hour), event.Section{Name: "Pitch", Capacity: 50_000})
	if err := postgres.NewEventStore(pool).CreateEvent(ctx, &e); err != nil {
		b.Fatal(err)
	}
	users := pgtest.Users(b, pool, 50_000)
	admissions := make([]funnel.Admission, len(users))
	held := make([]uuid.UUID, 0, 10_000)
	for i, u := range users {
		at := now.Add(-time.Hour + time.Duration(i)*72*time.Millisecond)
		admissions[i] = funnel.Admission{UserID: u.UserID, At: at, Until: at.Add(10 * time.Minute)}
		if i%5 == 0 {
			held = append(held, u.UserID)
		}
	}
	if _, err := pool.Exec(ctx, `INSERT INTO bookings (id, event_id, user_id, status, quantity, total_cents, currency,
			expires_at, created_at, updated_at)
		SELECT gen_random_uuid(), $1, u, 'pending', 2, 0, 'USD', $2, $3::timestamptz - make_interval(secs => 3600 - (n - 1) * 0.36 - 30),
			$3 FROM unnest($4::uuid[]) WITH ORDINALITY AS x(u, n)`, e.ID, now.Add(time.Hour), now, held); err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `VACUUM ANALYZE bookings`); err != nil {
		b.Fatal(err)
	}
	store := postgres.NewFunnelStore(pool)
	p50, _, err := store.AdmissionToHold(ctx, e.ID, admissions)
	if err != nil || p50 == nil {
		b.Fatalf("AdmissionToHold = %v, %v; want percentiles", p50, err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, _, err := store.AdmissionToHold(ctx, e.ID, admissions); err != nil {
			b.Fatal(err)
		}
	}
}
