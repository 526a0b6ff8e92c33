package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/apptest"
	"github.com/evently/evently/internal/ticket"
)

// stadiumTickets is the size of the event the check-in benchmark scans.
const stadiumTickets = 50_000

// sellStadium sells every seat of a published 50,000-seat event in one
// statement (one booking per seat, with its ticket, as a confirmation
// batch would leave them) and returns the tickets' codes, signed with the
// server's key.
func sellStadium(b *testing.B, f *fixture) (string, []string) {
	b.Helper()
	ctx := context.Background()
	e := f.publish(b, gaEvent(stadiumTickets), set("max_seats_per_user", stadiumTickets))
	buyer := uuid.Must(uuid.NewV7())
	f.exec(b, `INSERT INTO users (id, email, name, password_hash, role) VALUES ($1, 'fans@example.com', 'Fan', 'x', 'user')`, buyer)
	rows, err := f.db.Query(ctx, `
		WITH m AS MATERIALIZED (
		    SELECT id AS seat_id, position, label, gen_uuid_v7() AS booking_id FROM seats WHERE event_id = $1
		), bk AS (
		    INSERT INTO bookings (id, event_id, user_id, status, quantity, total_cents, currency, expires_at,
		                          created_at, confirmed_at, updated_at)
		    SELECT booking_id, $1, $2, 'confirmed', 1, 2500, 'USD', now(), now(), now(), now() FROM m
		), bs AS (
		    INSERT INTO booking_seats (booking_id, seat_id, hold_seq, price_cents)
		    SELECT booking_id, seat_id, 1, 2500 FROM m
		), booked AS (
		    UPDATE seats s SET status = 'booked', booking_id = m.booking_id, hold_seq = 1
		    FROM m WHERE s.id = m.seat_id
		), issued AS (
		    INSERT INTO tickets (id, event_id, booking_id, seat_id, section, seat_label, position, issued_at)
		    SELECT gen_uuid_v7(), $1, booking_id, seat_id, 'Floor', label, position, now() FROM m
		    RETURNING id, seat_label
		)
		SELECT id, seat_label FROM issued`, e.ID, buyer)
	if err != nil {
		b.Fatal(err)
	}
	signer, err := ticket.NewSigner(f.env.Config.TicketSigningKey)
	if err != nil {
		b.Fatal(err)
	}
	eventID := uuid.MustParse(e.ID)
	var codes []string
	for rows.Next() {
		var (
			id    uuid.UUID
			label string
		)
		if err := rows.Scan(&id, &label); err != nil {
			b.Fatal(err)
		}
		code, err := signer.Sign(ticket.Payload{EventID: eventID, TicketID: id, SeatLabel: label})
		if err != nil {
			b.Fatal(err)
		}
		codes = append(codes, code)
	}
	if err := rows.Err(); err != nil || len(codes) != stadiumTickets {
		b.Fatalf("sold %d tickets (%v), want %d", len(codes), err, stadiumTickets)
	}
	f.exec(b, `VACUUM ANALYZE tickets`)
	return e.ID, codes
}

// BenchmarkCheckIn scans the tickets of a sold-out 50,000-seat event at
// the door through the whole HTTP path (JWT, JSON, signature check, the
// conditional write), at one gate and at 20 gates scanning at once, each
// scan a different ticket's first. It reports check-ins per second and
// latency percentiles.
//
//	go test -run '^$' -bench CheckIn -benchtime 20000x ./internal/httpapi/
func BenchmarkCheckIn(b *testing.B) {
	f := newFixture(b, apptest.WithEnv("EVENTLY_LOG_LEVEL", "error"))
	eventID, codes := sellStadium(b, f)
	staff := make([]string, 20)
	for i := range staff {
		_, staff[i] = f.staff(b, fmt.Sprintf("Gate %d", i+1))
	}
	used := 0 // tickets already scanned in this event
	for _, gates := range []int{1, 20} {
		b.Run(fmt.Sprintf("gates=%d", gates), func(b *testing.B) {
			if used+b.N > len(codes) {
				// Every ticket scanned: open the doors again.
				f.exec(b, `UPDATE tickets SET checked_in_at = NULL, checked_in_by = NULL WHERE event_id = $1`, eventID)
				used = 0
			}
			if b.N > len(codes) {
				b.Fatalf("b.N = %d: at most %d scans per run (-benchtime %dx)", b.N, len(codes), len(codes))
			}
			benchCheckIn(b, f, eventID, codes[used:used+b.N], staff[:gates])
			used += b.N
		})
	}
}

func benchCheckIn(b *testing.B, f *fixture, eventID string, codes, gates []string) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: len(gates), MaxConnsPerHost: len(gates)}}
	bodies := make([][]byte, len(codes))
	for i, c := range codes {
		bodies[i], _ = json.Marshal(map[string]string{"code": c})
	}
	url := f.env.URL + "/api/v1/admin/events/" + eventID + "/check-ins"
	var failed atomic.Int64
	latencies, elapsed := runRounds(b, len(gates), func(w int, i int64) time.Duration {
		t0 := time.Now()
		if postStatus(client, url, gates[w], bodies[i]) != http.StatusOK {
			failed.Add(1)
		}
		return time.Since(t0)
	})
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d of %d first scans were not 200 checked_in", n, b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "checkins/s")
	reportLatencies(b, latencies, "")
}
