package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/evently/evently/internal/pgtest"
)

func TestSeedIsIdempotent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dbURL := pgtest.NewURL(t)
	env := map[string]string{"DATABASE_URL": dbURL}
	getenv := func(k string) string { return env[k] }

	for i, want := range []string{"seeded 5 event(s); 0 already present\n", "seeded 0 event(s); 5 already present\n"} {
		var out, errOut bytes.Buffer
		if err := run(ctx, []string{"seed"}, getenv, &out, &errOut); err != nil {
			t.Fatalf("evently seed: %v\n%s", err, errOut.String())
		}
		admin := []string{"admin admin@evently.local created with password ", "admin admin@evently.local unchanged\n"}[i]
		if !strings.HasPrefix(out.String(), admin) || !strings.Contains(out.String(), want) {
			t.Errorf("evently seed printed %q, want %q… and %q", out.String(), admin, want)
		}
		sales := "seeded 3 confirmed booking(s) of Hamlet, 3 ticket(s) checked in\n"
		if (i == 0) != strings.HasSuffix(out.String(), sales) {
			t.Errorf("run %d of evently seed printed %q; want the sales (%q) on the first run only", i+1, out.String(), sales)
		}
	}

	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var events, published, seats, stadium int
	err = conn.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM events),
		(SELECT count(*) FROM events WHERE status = 'published' AND starts_at > now()),
		(SELECT count(*) FROM seats),
		(SELECT count(*) FROM seats JOIN events e ON e.id = seats.event_id WHERE e.name = 'Cup Final')`).
		Scan(&events, &published, &seats, &stadium)
	if err != nil {
		t.Fatal(err)
	}
	if events != 5 || published != 5 || stadium != 50_000 || seats != 600+280+192+1800+50_000+180+1100 {
		t.Errorf("after seeding twice: %d events (%d published, upcoming), %d seats (%d in the stadium)", events, published, seats, stadium)
	}
	var gaLabel, numberedLabel string
	if err := conn.QueryRow(ctx, `SELECT
		(SELECT label FROM seats s JOIN events e ON e.id = s.event_id WHERE e.name = 'Midnight Static: Live' AND s.position = 42),
		(SELECT label FROM seats s JOIN events e ON e.id = s.event_id WHERE e.name = 'Hamlet' AND s.position = 600 + 28*2 + 12)`).
		Scan(&gaLabel, &numberedLabel); err != nil {
		t.Fatal(err)
	}
	var bookings, valid, checkedIn, staff int
	var policy string
	if err := conn.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM bookings WHERE status = 'confirmed'),
		(SELECT count(*) FROM tickets WHERE status = 'valid'),
		(SELECT count(*) FROM tickets t JOIN users u ON u.id = t.checked_in_by WHERE u.role = 'staff'),
		(SELECT count(*) FROM users WHERE role = 'staff'),
		(SELECT refund_policy::text FROM events WHERE name = 'Hamlet')`).
		Scan(&bookings, &valid, &checkedIn, &staff, &policy); err != nil {
		t.Fatal(err)
	}
	if bookings != 3 || valid != 6 || checkedIn != 3 || staff != 1 ||
		policy != `[{"percent": 100, "until_hours_before_start": 168}, {"percent": 50, "until_hours_before_start": 24}]` {
		t.Errorf("seeded sales: %d bookings, %d valid tickets, %d checked in by %d staff, Hamlet's policy %s; want 3, 6, 3, 1 and 100%%/50%%",
			bookings, valid, checkedIn, staff, policy)
	}
	if gaLabel != "Floor-00042" || numberedLabel != "Circle-C-12" {
		t.Errorf("labels %q and %q, want Floor-00042 and Circle-C-12", gaLabel, numberedLabel)
	}
}
