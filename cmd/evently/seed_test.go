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
		if !strings.HasPrefix(out.String(), admin) || !strings.HasSuffix(out.String(), want) {
			t.Errorf("evently seed printed %q, want %q… and %q", out.String(), admin, want)
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
	if gaLabel != "Floor-00042" || numberedLabel != "Circle-C-12" {
		t.Errorf("labels %q and %q, want Floor-00042 and Circle-C-12", gaLabel, numberedLabel)
	}
}
