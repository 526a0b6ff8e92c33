package httpapi_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"testing"

	"github.com/evently/evently/internal/apptest"
)

// TestBadInputIsRefusedWithoutChange sends the inputs that once reached
// Postgres and came back as 500s: each must be a 400 validation_failed
// naming its field, and must change nothing in the database.
func TestBadInputIsRefusedWithoutChange(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	e := f.publish(t)
	buyer := f.buyers(t, 1)[0]
	b := f.hold(t, buyer, map[string]any{"event_id": e.ID, "quantity": 1})
	cursor := func(json string) string { return base64.RawURLEncoding.EncodeToString([]byte(json)) }

	before := f.snapshot(t)
	cases := []struct {
		name  string
		req   apptest.Request
		field string
	}{
		{"NUL in ?category", apptest.Request{Method: "GET", Path: "/api/v1/events?category=%00"}, "category"},
		{"invalid UTF-8 in ?venue", apptest.Request{Method: "GET", Path: "/api/v1/events?venue=%c3"}, "venue"},
		{"NUL in ?q", apptest.Request{Method: "GET", Path: "/api/v1/events?q=a%00b"}, "q"},
		{"NUL in ?section", apptest.Request{Method: "GET", Path: "/api/v1/events/" + e.ID + "/seats?section=%00"}, "section"},
		{"NUL in admin ?status", apptest.Request{Method: "GET", Path: "/api/v1/admin/events?status=%00", Token: f.admin}, "status"},
		{"seat cursor past int4", apptest.Request{Method: "GET",
			Path: "/api/v1/events/" + e.ID + "/seats?cursor=" + cursor(`{"p":2147483648}`)}, "cursor"},
		{"seat cursor far past int4", apptest.Request{Method: "GET",
			Path: "/api/v1/events/" + e.ID + "/seats?cursor=" + cursor(`{"p":9223372036854775807}`)}, "cursor"},
		{"NUL in payment_reference", apptest.Request{Method: "POST", Path: "/api/v1/bookings/" + b.ID + "/confirm",
			Token: buyer, Body: `{"payment_reference":"pay\u0000ment"}`}, "payment_reference"},
		{"invalid UTF-8 in payment_reference", apptest.Request{Method: "POST", Path: "/api/v1/bookings/" + b.ID + "/confirm",
			Token: buyer, Body: []byte("{\"payment_reference\":\"pay\xc3\"}")}, "payment_reference"},
		{"NUL in event name", apptest.Request{Method: "POST", Path: "/api/v1/admin/events", Token: f.admin,
			Body: eventBody(set("name", "Ham\x00let"))}, "name"},
		{"NUL in section name", apptest.Request{Method: "POST", Path: "/api/v1/admin/events", Token: f.admin,
			Body: eventBody(set("sections", []any{map[string]any{"name": "Stalls\x00", "price_cents": 100, "capacity": 5}}))},
			"sections[0].name"},
		{"NUL in patched venue", apptest.Request{Method: "PATCH", Path: "/api/v1/admin/events/" + e.ID, Token: f.admin,
			Body: map[string]any{"venue": "\x00"}}, "venue"},
		{"NUL in added section", apptest.Request{Method: "POST", Path: "/api/v1/admin/events/" + e.ID + "/sections", Token: f.admin,
			Body: map[string]any{"name": "Box\x00", "price_cents": 100, "capacity": 5}}, "name"},
		{"max_active past int4", apptest.Request{Method: "POST", Path: "/api/v1/admin/events", Token: f.admin,
			Body: eventBody(set("waiting_room", map[string]any{"enabled": true, "admit_per_minute": 10, "max_active": 2147483648}))},
			"waiting_room.max_active"},
		{"patched max_active past int4", apptest.Request{Method: "PATCH", Path: "/api/v1/admin/events/" + e.ID, Token: f.admin,
			Body: map[string]any{"waiting_room": map[string]any{"max_active": int64(1) << 40}}}, "waiting_room.max_active"},
		{"capacity past int4", apptest.Request{Method: "POST", Path: "/api/v1/admin/events/" + e.ID + "/sections", Token: f.admin,
			Body: map[string]any{"name": "Box", "price_cents": 100, "capacity": 4294967297}}, "capacity"},
		{"quantity past int4", apptest.Request{Method: "POST", Path: "/api/v1/bookings", Token: buyer,
			Body: map[string]any{"event_id": e.ID, "quantity": 4294967297}}, "quantity"},
		{"waitlist quantity past int4", apptest.Request{Method: "POST", Path: "/api/v1/events/" + e.ID + "/waitlist", Token: buyer,
			Body: map[string]any{"quantity": 4294967297}}, "quantity"},
		{"NUL in registration name", apptest.Request{Method: "POST", Path: "/api/v1/auth/register",
			Body: map[string]any{"email": "nul@example.com", "password": "password-1", "name": "N\x00"}}, "name"},
		{"NUL in login e-mail", apptest.Request{Method: "POST", Path: "/api/v1/auth/login",
			Body: map[string]any{"email": "a\x00@example.com", "password": "password-1"}}, "email"},
	}
	for _, c := range cases {
		r := f.env.Do(t, c.req)
		wantProblem(t, c.name, r, http.StatusBadRequest, "validation_failed", c.field)
	}
	if after := f.snapshot(t); after != before {
		t.Errorf("database changed by refused requests:\n before %s\n after  %s", before, after)
	}
}

// snapshot summarises the rows that a refused request must not touch.
func (f *fixture) snapshot(t *testing.T) string {
	t.Helper()
	var s string
	err := f.db.QueryRow(context.Background(), `
		SELECT format('events=%s sections=%s seats=%s bookings=%s users=%s waitlist=%s',
			(SELECT md5(string_agg(e::text, ',' ORDER BY id)) FROM events e),
			(SELECT count(*) FROM sections),
			(SELECT md5(string_agg(s.status || coalesce(s.booking_id::text, ''), ',' ORDER BY id)) FROM seats s),
			(SELECT md5(string_agg(b::text, ',' ORDER BY id)) FROM bookings b),
			(SELECT count(*) FROM users),
			(SELECT count(*) FROM waitlist_entries))`).Scan(&s)
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	return s
}
