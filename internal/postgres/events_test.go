package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/event"
	"github.com/evently/evently/internal/pgtest"
	"github.com/evently/evently/internal/postgres"
)

// newEvent lays sections out as the event Service does, for tests that
// write through the store directly.
func newEvent(name string, startsAt time.Time, sections ...event.Section) event.Event {
	e := event.Event{
		ID: uuid.Must(uuid.NewV7()), Name: name, Venue: "Venue", StartsAt: startsAt.UTC().Truncate(time.Microsecond),
		Status: event.StatusPublished, Currency: "USD", MaxSeatsPerBooking: 10, HoldTTLSeconds: 600,
		WaitingRoom: event.WaitingRoom{AdmitPerMinute: 100, AdmissionTTLSeconds: 600},
	}
	first := 0
	for i, s := range sections {
		s.ID = uuid.Must(uuid.NewV7())
		s.Position = i + 1
		s.FirstSeat = first
		if s.Numbered() {
			s.Capacity = s.Rows * s.SeatsPerRow
		}
		first += s.Capacity
		e.Sections = append(e.Sections, s)
	}
	return e
}

// TestSeatLayout checks every generated seat against the domain's labels
// and positions: SQL and Go must agree on both.
func TestSeatLayout(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.New(t)
	store := postgres.NewEventStore(pool)
	e := newEvent("Layout", time.Now().Add(time.Hour),
		event.Section{Name: "Stalls", PriceCents: 5000, Rows: 30, SeatsPerRow: 20},
		event.Section{Name: "Long", PriceCents: 100, Rows: 800, SeatsPerRow: 1}, // rows up to ADT
		event.Section{Name: "Floor", PriceCents: 2500, Capacity: 1234},
	)
	if err := store.CreateEvent(ctx, &e); err != nil {
		t.Fatalf("CreateEvent() = %v", err)
	}
	rows, err := pool.Query(ctx, `SELECT section_id, position, row_label, number, label, status, hold_seq
		FROM seats WHERE event_id = $1 ORDER BY position`, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var (
			sectionID     uuid.UUID
			pos           int
			row           *string
			number        *int
			label, status string
			holdSeq       int64
		)
		if err := rows.Scan(&sectionID, &pos, &row, &number, &label, &status, &holdSeq); err != nil {
			t.Fatal(err)
		}
		n++
		if pos != n {
			t.Fatalf("seat %d has position %d", n, pos)
		}
		var sec event.Section
		for _, s := range e.Sections {
			if pos > s.FirstSeat && pos <= s.LastSeat() {
				sec = s
			}
		}
		i := pos - sec.FirstSeat - 1
		if sectionID != sec.ID || label != sec.SeatLabel(i) || status != "available" || holdSeq != 0 {
			t.Errorf("seat %d: section %s label %q status %s, want %s %q available", pos, sectionID, label, status, sec.Name, sec.SeatLabel(i))
		}
		if sec.Numbered() {
			if row == nil || *row != event.RowLabel(i/sec.SeatsPerRow) || number == nil || *number != i%sec.SeatsPerRow+1 {
				t.Errorf("seat %s: row %v number %v", label, row, number)
			}
		} else if row != nil || number != nil {
			t.Errorf("general-admission seat %s has row %v number %v", label, row, number)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n != 600+800+1234 {
		t.Errorf("%d seats, want %d", n, 600+800+1234)
	}
}

func TestCreateEventTwice(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t)
	store := postgres.NewEventStore(pool)
	e := newEvent("Once", time.Now().Add(time.Hour), event.Section{Name: "A", Capacity: 3})
	if err := store.CreateEvent(context.Background(), &e); err != nil {
		t.Fatalf("CreateEvent() = %v", err)
	}
	if err := store.CreateEvent(context.Background(), &e); !apperr.Is(err, apperr.Conflict) {
		t.Errorf("CreateEvent() again = %v, want conflict", err)
	}
	var seats int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM seats`).Scan(&seats); err != nil || seats != 3 {
		t.Errorf("seats after a refused second create: %d (%v)", seats, err)
	}
}

// TestQueryPlans EXPLAINs the list, availability and seat queries on a
// catalogue of realistic size and checks that none reads a whole table.
func TestQueryPlans(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.New(t)
	store := postgres.NewEventStore(pool)
	start := time.Now().Add(time.Hour)
	big := newEvent("Stadium", start.Add(24*time.Hour),
		event.Section{Name: "North", PriceCents: 5000, Rows: 100, SeatsPerRow: 250},
		event.Section{Name: "South", PriceCents: 5000, Rows: 100, SeatsPerRow: 250},
		event.Section{Name: "Pitch", PriceCents: 9000, Capacity: 50_000})
	small := newEvent("Club night", start, event.Section{Name: "Floor", Capacity: 300})
	for _, e := range []*event.Event{&big, &small} {
		if err := store.CreateEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	// 50,000 more events, and a sold-out block on the stadium.
	mustExec(t, pool, `INSERT INTO events (id, name, venue, category, description, starts_at, status, hold_ttl_seconds)
		SELECT gen_random_uuid(), 'Event ' || i, 'Venue ' || (i % 50), 'cat' || (i % 7), md5(i::text) || ' live in concert',
			now() + make_interval(hours => i), (ARRAY['draft','published','cancelled'])[i % 3 + 1], 600
		FROM generate_series(1, 50000) AS i`)
	mustExec(t, pool, `UPDATE seats SET status = 'booked', hold_seq = 1 WHERE event_id = $1 AND position <= 2000`, big.ID)
	mustExec(t, pool, `UPDATE seats SET status = 'held', held_until = now() + interval '5 minutes', hold_seq = 1
		WHERE event_id = $1 AND position BETWEEN 2001 AND 2100`, big.ID)
	mustExec(t, pool, `ANALYZE events; ANALYZE sections; ANALYZE seats`)

	for _, q := range []struct {
		name, sql string
		args      []any
	}{
		{"public list, first page", `SELECT id FROM events WHERE status = 'published' AND starts_at >= now()
			ORDER BY starts_at, id LIMIT 21`, nil},
		{"public list, later page", `SELECT id FROM events WHERE status = 'published' AND starts_at >= now()
			AND (starts_at, id) > (now() + interval '100 hours', '00000000-0000-0000-0000-000000000000'::uuid)
			ORDER BY starts_at, id LIMIT 21`, nil},
		{"admin list", `SELECT id FROM events WHERE (starts_at, id) > (now(), '00000000-0000-0000-0000-000000000000'::uuid)
			ORDER BY starts_at, id LIMIT 21`, nil},
		// A prefix term gets a default selectivity estimate: the planner walks
		// (starts_at, id) and filters, which stops after one page for common
		// words and costs the future events for rare ones. A whole word is
		// estimated from the column's statistics, and a rare one goes
		// through the GIN index.
		{"text search by prefix", `SELECT id FROM events WHERE status = 'published' AND starts_at >= now()
			AND search @@ to_tsquery('simple', '''stad'':*') ORDER BY starts_at, id LIMIT 21`, nil},
		{"text search by word", `SELECT id FROM events WHERE status = 'published' AND starts_at >= now()
			AND search @@ to_tsquery('simple', '''stadium''') ORDER BY starts_at, id LIMIT 21`, nil},
		{"availability", `SELECT event_id, count(*) FILTER (WHERE status = 'held' AND held_until >= now()),
			count(*) FILTER (WHERE status = 'booked') FROM seats
			WHERE event_id = ANY($1) AND status IN ('held', 'booked') GROUP BY event_id`, []any{[]uuid.UUID{big.ID, small.ID}}},
		{"seat page", `SELECT id FROM seats WHERE event_id = $1 AND position > 60000 AND position <= 100000
			ORDER BY position LIMIT 1001`, []any{big.ID}},
		{"booked seats", `SELECT id FROM seats WHERE event_id = $1 AND position > 0 AND position <= 100000
			AND status = 'booked' ORDER BY position LIMIT 1001`, []any{big.ID}},
		{"sales history", `SELECT EXISTS (SELECT 1 FROM seats WHERE event_id = $1 AND (status <> 'available' OR hold_seq > 0))`, []any{small.ID}},
	} {
		plan := explain(t, pool, q.sql, q.args...)
		t.Logf("%s:\n%s", q.name, plan)
		if strings.Contains(plan, "Seq Scan") {
			t.Errorf("%s reads a whole table:\n%s", q.name, plan)
		}
	}
}

func explain(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) string {
	t.Helper()
	var raw []byte
	if err := pool.QueryRow(context.Background(), "EXPLAIN (FORMAT JSON) "+sql, args...).Scan(&raw); err != nil {
		t.Fatalf("explain %s: %v", sql, err)
	}
	var plans []struct{ Plan planNode }
	if err := json.Unmarshal(raw, &plans); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	plans[0].Plan.write(&b, 0)
	return b.String()
}

type planNode struct {
	NodeType  string     `json:"Node Type"`
	Relation  string     `json:"Relation Name"`
	Index     string     `json:"Index Name"`
	IndexCond string     `json:"Index Cond"`
	Plans     []planNode `json:"Plans"`
}

func (p planNode) write(b *strings.Builder, depth int) {
	fmt.Fprintf(b, "%s%s", strings.Repeat("  ", depth), p.NodeType)
	if p.Relation != "" {
		fmt.Fprintf(b, " on %s", p.Relation)
	}
	if p.Index != "" {
		fmt.Fprintf(b, " using %s", p.Index)
	}
	if p.IndexCond != "" {
		fmt.Fprintf(b, " [%s]", p.IndexCond)
	}
	b.WriteString("\n")
	for _, c := range p.Plans {
		c.write(b, depth+1)
	}
}

func mustExec(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	if _, err := pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}
