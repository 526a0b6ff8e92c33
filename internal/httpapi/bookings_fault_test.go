package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/evently/evently/internal/apptest"
	"github.com/evently/evently/internal/pgtest"
	"github.com/evently/evently/internal/postgres"
)

// TestPostgresCutDuringHoldsAndConfirms cuts Postgres for two seconds
// while 16 buyers hold (each with an Idempotency-Key, repeated after
// every 503 as a client would) and confirm (repeated the same way). While
// it is down every failure is a 503 with Retry-After, never a 500; within
// two seconds of its return bookings succeed again; every confirmation
// acknowledged is confirmed in the database; every booking is the answer
// recorded for exactly one key, and no key is left without an answer; the
// invariants hold.
func TestPostgresCutDuringHoldsAndConfirms(t *testing.T) {
	t.Parallel()
	direct := pgtest.NewURL(t)
	proxied, proxy := apptest.Proxied(t, direct)
	f := newFixture(t, apptest.WithEnv("DATABASE_URL", proxied))
	db, err := pgxpool.New(context.Background(), direct)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// 16 buyers book again and again: no limit per buyer in the way.
	e := f.publish(t, gaEvent(2000), set("max_seats_per_user", 2000))
	buyers := f.buyers(t, 16)

	var (
		mu        sync.Mutex
		statuses  = map[string]int{}
		confirmed []string // acknowledged with 200
		bad       []string
		cutAt     time.Time
		backAt    time.Time
		firstOK   time.Time // first booking made after Postgres came back
	)
	note := func(what string, r *apptest.Response) {
		mu.Lock()
		defer mu.Unlock()
		statuses[fmt.Sprintf("%s %d", what, r.Status)]++
		switch {
		case r.Status == http.StatusServiceUnavailable && r.Header.Get("Retry-After") == "":
			bad = append(bad, what+": 503 without Retry-After")
		case r.Status >= 500 && r.Status != http.StatusServiceUnavailable:
			bad = append(bad, fmt.Sprintf("%s: %d %s", what, r.Status, r.Body))
		}
	}
	// send repeats a request until it is answered with something else than
	// 503, as a client honouring Retry-After (shortened) would.
	send := func(ctx context.Context, what string, req apptest.Request) *apptest.Response {
		for {
			r := f.env.Do(t, req)
			note(what, r)
			if r.Status != http.StatusServiceUnavailable || ctx.Err() != nil {
				return r
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 7*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for b, token := range buyers {
		wg.Go(func() {
			for n := 0; ctx.Err() == nil; n++ {
				key := fmt.Sprintf("buyer-%d-order-%d", b, n)
				r := send(ctx, "hold", apptest.Request{Method: "POST", Path: "/api/v1/bookings", Token: token,
					Body: map[string]any{"event_id": e.ID, "quantity": 1}, Header: http.Header{"Idempotency-Key": {key}}})
				if r.Status != http.StatusCreated {
					continue
				}
				var bk bookingJSON
				r.Decode(t, &bk)
				mu.Lock()
				if !backAt.IsZero() && firstOK.IsZero() {
					firstOK = time.Now()
				}
				mu.Unlock()
				c := send(ctx, "confirm", apptest.Request{Method: "POST", Path: "/api/v1/bookings/" + bk.ID + "/confirm", Token: token})
				if c.Status == http.StatusOK {
					mu.Lock()
					confirmed = append(confirmed, bk.ID)
					mu.Unlock()
				}
			}
		})
	}
	time.Sleep(1500 * time.Millisecond)
	mu.Lock()
	cutAt = time.Now()
	mu.Unlock()
	proxy.Stop()
	time.Sleep(2 * time.Second)
	proxy.Start()
	mu.Lock()
	backAt = time.Now()
	mu.Unlock()
	wg.Wait()

	t.Logf("answers: %v; cut at %s, back after 2s", statuses, cutAt.Format(time.StampMilli))
	for _, b := range bad {
		t.Error(b)
	}
	if statuses["hold 503"]+statuses["confirm 503"] == 0 {
		t.Error("no 503 while Postgres was cut: the cut did not happen")
	}
	if firstOK.IsZero() || firstOK.Sub(backAt) > 2*time.Second {
		t.Errorf("first booking %v after Postgres came back, want within 2s", firstOK.Sub(backAt))
	}
	bctx := context.Background()
	var lost int
	if err := db.QueryRow(bctx, `SELECT count(*) FROM unnest($1::uuid[]) c(id)
		LEFT JOIN bookings b ON b.id = c.id WHERE b.status IS DISTINCT FROM 'confirmed'`, confirmed).Scan(&lost); err != nil || lost != 0 {
		t.Errorf("%d of %d acknowledged confirmations are not confirmed (%v)", lost, len(confirmed), err)
	}
	// Every booking is the recorded answer of exactly one key.
	rows, err := db.Query(bctx, `SELECT status_code, response_body FROM idempotency_keys`)
	if err != nil {
		t.Fatal(err)
	}
	answered := map[uuid.UUID]int{}
	for rows.Next() {
		var (
			status int
			body   []byte
		)
		if err := rows.Scan(&status, &body); err != nil {
			t.Fatal(err)
		}
		if status == http.StatusCreated {
			var b struct{ ID uuid.UUID }
			if err := json.Unmarshal(body, &b); err != nil {
				t.Fatal(err)
			}
			answered[b.ID]++
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	var bookings []uuid.UUID
	rows, err = db.Query(bctx, `SELECT id FROM bookings WHERE event_id = $1`, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id uuid.UUID
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		bookings = append(bookings, id)
	}
	for _, id := range bookings {
		if answered[id] != 1 {
			t.Errorf("booking %s is the recorded answer of %d keys, want 1", id, answered[id])
		}
	}
	if len(answered) != len(bookings) {
		t.Errorf("%d keys answered with a booking, %d bookings", len(answered), len(bookings))
	}
	violations, err := postgres.CheckInvariants(bctx, db, uuid.MustParse(e.ID))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range violations {
		t.Errorf("invariant broken: %s (%d rows)", v.Rule, v.Rows)
	}
	if len(confirmed) == 0 {
		t.Error("nothing was confirmed")
	}
}
