package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/evently/evently/internal/apptest"
	"github.com/evently/evently/internal/auth"
)

// eventJSON is an Event as a client reads it.
type eventJSON struct {
	ID                 string     `json:"id"`
	Name               string     `json:"name"`
	Description        string     `json:"description"`
	Venue              string     `json:"venue"`
	Category           string     `json:"category"`
	StartsAt           time.Time  `json:"starts_at"`
	EndsAt             *time.Time `json:"ends_at"`
	Status             string     `json:"status"`
	Currency           string     `json:"currency"`
	Capacity           int        `json:"capacity"`
	MaxSeatsPerBooking int        `json:"max_seats_per_booking"`
	MaxSeatsPerUser    int        `json:"max_seats_per_user"`
	HoldTTLSeconds     int        `json:"hold_ttl_seconds"`
	SalesStart         *time.Time `json:"sales_start"`
	SalesEnd           *time.Time `json:"sales_end"`
	Sections           []struct {
		Name        string `json:"name"`
		PriceCents  int64  `json:"price_cents"`
		Capacity    int    `json:"capacity"`
		Rows        *int   `json:"rows"`
		SeatsPerRow *int   `json:"seats_per_row"`
	} `json:"sections"`
	Availability availabilityJSON `json:"availability"`
	WaitingRoom  struct {
		Enabled             bool   `json:"enabled"`
		AdmitPerMinute      int    `json:"admit_per_minute"`
		MaxActive           *int   `json:"max_active"`
		AdmissionTTLSeconds int    `json:"admission_ttl_seconds"`
		AdmitMode           string `json:"admit_mode"`
		AdmitMinPerMinute   *int   `json:"admit_min_per_minute"`
		AdmitMaxPerMinute   *int   `json:"admit_max_per_minute"`
		TargetP95Ms         int    `json:"target_p95_ms"`
	} `json:"waiting_room"`
	RefundPolicy []struct {
		Hours   int `json:"until_hours_before_start"`
		Percent int `json:"percent"`
	} `json:"refund_policy"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

type availabilityJSON struct {
	Available int `json:"available"`
	Held      int `json:"held"`
	Booked    int `json:"booked"`
}

type seatJSON struct {
	ID         string  `json:"id"`
	Section    string  `json:"section"`
	Row        *string `json:"row"`
	Number     *int    `json:"number"`
	Label      string  `json:"label"`
	PriceCents int64   `json:"price_cents"`
	Status     string  `json:"status"`
}

type listJSON[T any] struct {
	Data       []T     `json:"data"`
	NextCursor *string `json:"next_cursor"`
}

// fixture is a running Evently with an admin, a user and a database
// handle for arranging what the API cannot (yet) do, such as holding seats.
type fixture struct {
	env   *apptest.Env
	admin string
	user  string
	db    *pgxpool.Pool
}

func newFixture(t testing.TB, opts ...apptest.Option) *fixture {
	t.Helper()
	env := apptest.Start(t, opts...)
	db, err := pgxpool.New(context.Background(), env.DatabaseURL)
	if err != nil {
		t.Fatalf("open database: %v", err)
	}
	t.Cleanup(db.Close)
	return &fixture{
		env:   env,
		admin: env.Token(t, auth.Principal{UserID: uuid.New(), Role: auth.RoleAdmin}),
		user:  env.Token(t, auth.Principal{UserID: uuid.New(), Role: auth.RoleUser}),
		db:    db,
	}
}

// exec runs SQL against the app's database.
func (f *fixture) exec(t testing.TB, sql string, args ...any) {
	t.Helper()
	if _, err := f.db.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("exec %q: %v", sql, err)
	}
}

// eventBody is a valid EventInput (a draft starting in two days with a
// numbered and a general-admission section), changed by mods.
func eventBody(mods ...func(b map[string]any)) map[string]any {
	b := map[string]any{
		"name":        "Hamlet",
		"description": "A new production of the Danish play.",
		"venue":       "Barbican Theatre",
		"category":    "theatre",
		"starts_at":   time.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339),
		"sections": []any{
			map[string]any{"name": "Balcony", "price_cents": 3500, "rows": 30, "seats_per_row": 20},
			map[string]any{"name": "Floor", "price_cents": 4500, "capacity": 100},
		},
	}
	for _, m := range mods {
		m(b)
	}
	return b
}

func set(key string, value any) func(map[string]any) {
	return func(b map[string]any) { b[key] = value }
}

func unset(key string) func(map[string]any) {
	return func(b map[string]any) { delete(b, key) }
}

// create posts an EventInput as admin and returns the created event.
func (f *fixture) create(t testing.TB, body map[string]any) eventJSON {
	t.Helper()
	var e eventJSON
	f.env.Post(t, "/api/v1/admin/events", f.admin, body).Want(t, http.StatusCreated).Decode(t, &e)
	return e
}

// publish creates a published event.
func (f *fixture) publish(t testing.TB, mods ...func(map[string]any)) eventJSON {
	t.Helper()
	return f.create(t, eventBody(append([]func(map[string]any){set("status", "published")}, mods...)...))
}

func (f *fixture) getEvent(t *testing.T, id, token string) eventJSON {
	t.Helper()
	var e eventJSON
	f.env.Get(t, "/api/v1/events/"+id, token).Want(t, http.StatusOK).Decode(t, &e)
	return e
}

// wantProblem checks a problem response's status and code and, when fields
// are given, that its errors name each of them.
func wantProblem(t *testing.T, what string, r *apptest.Response, status int, code string, fields ...string) {
	t.Helper()
	if r.Status != status {
		t.Errorf("%s = %d %s, want %d %s", what, r.Status, r.Body, status, code)
		return
	}
	p := r.Problem(t)
	if p.Code != code {
		t.Errorf("%s: code = %q, want %q (%s)", what, p.Code, code, r.Body)
	}
	var got []string
	for _, e := range p.Errors {
		got = append(got, e.Field)
	}
	for _, f := range fields {
		if f != "" && !slices.Contains(got, f) {
			t.Errorf("%s: errors name %v, want %q among them (%s)", what, got, f, r.Body)
		}
	}
}

// holdSeats marks seats of an event (by position) held until the given
// offset from now, as the booking engine will.
func (f *fixture) holdSeats(t *testing.T, eventID string, until time.Duration, positions ...int) {
	t.Helper()
	f.exec(t, `UPDATE seats SET status = 'held', booking_id = gen_random_uuid(),
		held_until = now() + make_interval(secs => $3), hold_seq = hold_seq + 1
		WHERE event_id = $1 AND position = ANY($2)`, eventID, positions, until.Seconds())
}

// bookSeats marks seats of an event (by position) booked.
func (f *fixture) bookSeats(t *testing.T, eventID string, positions ...int) {
	t.Helper()
	f.exec(t, `UPDATE seats SET status = 'booked', booking_id = gen_random_uuid(), held_until = NULL,
		hold_seq = hold_seq + 1 WHERE event_id = $1 AND position = ANY($2)`, eventID, positions)
}

// listAll follows next_cursor from path until the last page and returns
// every item and the number of pages.
func listAll[T any](t *testing.T, env *apptest.Env, path, token string) ([]T, int) {
	t.Helper()
	var (
		all    []T
		cursor string
		pages  int
	)
	for {
		p := path
		if cursor != "" {
			p += sep(p) + "cursor=" + cursor
		}
		var page listJSON[T]
		env.Get(t, p, token).Want(t, http.StatusOK).Decode(t, &page)
		all = append(all, page.Data...)
		pages++
		if page.NextCursor == nil {
			return all, pages
		}
		if pages > 10_000 {
			t.Fatalf("GET %s: no end to the pages", path)
		}
		cursor = *page.NextCursor
	}
}

func sep(path string) string {
	for _, c := range path {
		if c == '?' {
			return "&"
		}
	}
	return "?"
}

func ids(events []eventJSON) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.ID
	}
	return out
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func must[T any](v T, err error) T {
	if err != nil {
		panic(fmt.Sprint(err))
	}
	return v
}
