package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/evently/evently/internal/apptest"
)

func TestCreateEvent(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	starts := time.Now().Add(72 * time.Hour).UTC().Truncate(time.Second)
	body := eventBody(
		set("starts_at", rfc3339(starts)),
		set("ends_at", rfc3339(starts.Add(3*time.Hour))),
		set("sales_start", rfc3339(time.Now().Add(time.Hour))),
		set("sales_end", rfc3339(starts)),
		set("currency", "GBP"),
		set("max_seats_per_booking", 6),
		set("hold_ttl_seconds", 300),
		set("waiting_room", map[string]any{"enabled": true, "admit_per_minute": 500, "max_active": 2000}),
	)
	r := f.env.Post(t, "/api/v1/admin/events", f.admin, body)
	if r.Status != http.StatusCreated {
		t.Fatalf("POST /admin/events = %d %s, want 201", r.Status, r.Body)
	}
	var e eventJSON
	r.Decode(t, &e)
	if loc := r.Header.Get("Location"); loc != "/api/v1/events/"+e.ID {
		t.Errorf("Location = %q, want /api/v1/events/%s", loc, e.ID)
	}
	if e.Name != "Hamlet" || e.Venue != "Barbican Theatre" || e.Category != "theatre" || e.Status != "draft" ||
		e.Currency != "GBP" || e.MaxSeatsPerBooking != 6 || e.HoldTTLSeconds != 300 ||
		!e.StartsAt.Equal(starts) || e.EndsAt == nil || !e.EndsAt.Equal(starts.Add(3*time.Hour)) ||
		e.SalesStart == nil || e.SalesEnd == nil || !e.SalesEnd.Equal(starts) {
		t.Errorf("created event = %+v, not what was sent", e)
	}
	if e.Capacity != 700 || e.Availability != (availabilityJSON{Available: 700}) {
		t.Errorf("capacity %d availability %+v, want 700 all available", e.Capacity, e.Availability)
	}
	if len(e.Sections) != 2 || e.Sections[0].Name != "Balcony" || e.Sections[0].Capacity != 600 ||
		e.Sections[0].Rows == nil || *e.Sections[0].Rows != 30 || *e.Sections[0].SeatsPerRow != 20 ||
		e.Sections[1].Name != "Floor" || e.Sections[1].Capacity != 100 || e.Sections[1].Rows != nil {
		t.Errorf("sections = %+v", e.Sections)
	}
	wr := e.WaitingRoom
	if !wr.Enabled || wr.AdmitPerMinute != 500 || wr.MaxActive == nil || *wr.MaxActive != 2000 || wr.AdmissionTTLSeconds != 600 {
		t.Errorf("waiting room = %+v", wr)
	}
	if got := f.getEvent(t, e.ID, f.admin); got.ID != e.ID || got.Capacity != 700 {
		t.Errorf("GET after create = %+v", got)
	}
}

func TestCreateEventDefaults(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	e := f.create(t, map[string]any{
		"name": "Gig", "venue": "Roundhouse", "starts_at": rfc3339(time.Now().Add(time.Hour)),
		"sections": []any{map[string]any{"name": "Floor", "price_cents": 0, "capacity": 1}},
	})
	if e.Status != "draft" || e.Currency != "USD" || e.MaxSeatsPerBooking != 10 || e.HoldTTLSeconds != 600 ||
		e.Description != "" || e.Category != "" || e.EndsAt != nil || e.SalesStart != nil || e.SalesEnd != nil {
		t.Errorf("defaults: %+v", e)
	}
	if wr := e.WaitingRoom; wr.Enabled || wr.AdmitPerMinute != 100 || wr.MaxActive != nil || wr.AdmissionTTLSeconds != 600 {
		t.Errorf("waiting room defaults: %+v", wr)
	}
}

func TestCreateEventHoldTTLDefaultFromConfig(t *testing.T) {
	t.Parallel()
	// The configured hold time is used as it is, even below the 60 s an
	// admin may choose, so that tests can run with short holds.
	f := newFixture(t, apptest.WithEnv("EVENTLY_HOLD_TTL", "5s"))
	if e := f.create(t, eventBody()); e.HoldTTLSeconds != 5 {
		t.Errorf("hold_ttl_seconds = %d, want 5 from EVENTLY_HOLD_TTL", e.HoldTTLSeconds)
	}
	if e := f.create(t, eventBody(set("hold_ttl_seconds", 60))); e.HoldTTLSeconds != 60 {
		t.Errorf("hold_ttl_seconds = %d, want the 60 given", e.HoldTTLSeconds)
	}
}

func TestCreateEventValidation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	past := rfc3339(time.Now().Add(-time.Minute))
	future := time.Now().Add(48 * time.Hour)
	section := func(kv ...any) map[string]any {
		m := map[string]any{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	many := func(n int) []any {
		out := make([]any, n)
		for i := range out {
			out[i] = section("name", fmt.Sprintf("S%d", i), "price_cents", 100, "capacity", 1)
		}
		return out
	}
	tests := []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"name missing", eventBody(unset("name")), "name"},
		{"name empty", eventBody(set("name", "")), "name"},
		{"name blank", eventBody(set("name", "   ")), "name"},
		{"name too long", eventBody(set("name", strings.Repeat("é", 201))), "name"},
		{"venue missing", eventBody(unset("venue")), "venue"},
		{"venue too long", eventBody(set("venue", strings.Repeat("v", 201))), "venue"},
		{"description too long", eventBody(set("description", strings.Repeat("d", 10_001))), "description"},
		{"category too long", eventBody(set("category", strings.Repeat("c", 101))), "category"},
		{"starts_at missing", eventBody(unset("starts_at")), "starts_at"},
		{"starts_at in the past", eventBody(set("starts_at", past)), "starts_at"},
		{"starts_at not a time", eventBody(set("starts_at", "tomorrow")), "starts_at"},
		{"starts_at not a string", eventBody(set("starts_at", 12)), "starts_at"},
		{"ends_at before starts_at", eventBody(set("ends_at", rfc3339(time.Now().Add(time.Hour)))), "ends_at"},
		{"ends_at equal to starts_at", eventBody(set("starts_at", rfc3339(future)), set("ends_at", rfc3339(future))), "ends_at"},
		{"ends_at not a time", eventBody(set("ends_at", "later")), "ends_at"},
		{"currency lower case", eventBody(set("currency", "usd")), "currency"},
		{"currency unknown", eventBody(set("currency", "ABC")), "currency"},
		{"currency too short", eventBody(set("currency", "US")), "currency"},
		{"currency empty", eventBody(set("currency", "")), "currency"},
		{"max_seats_per_booking 0", eventBody(set("max_seats_per_booking", 0)), "max_seats_per_booking"},
		{"max_seats_per_booking 101", eventBody(set("max_seats_per_booking", 101)), "max_seats_per_booking"},
		{"max_seats_per_booking not an integer", eventBody(set("max_seats_per_booking", 2.5)), "max_seats_per_booking"},
		{"hold_ttl_seconds 59", eventBody(set("hold_ttl_seconds", 59)), "hold_ttl_seconds"},
		{"hold_ttl_seconds 3601", eventBody(set("hold_ttl_seconds", 3601)), "hold_ttl_seconds"},
		{"sales_end before sales_start", eventBody(
			set("sales_start", rfc3339(time.Now().Add(2*time.Hour))), set("sales_end", rfc3339(time.Now().Add(time.Hour)))), "sales_end"},
		{"sales_start not a time", eventBody(set("sales_start", "soon")), "sales_start"},
		{"status cancelled", eventBody(set("status", "cancelled")), "status"},
		{"status unknown", eventBody(set("status", "live")), "status"},
		{"admit_per_minute 0", eventBody(set("waiting_room", map[string]any{"enabled": true, "admit_per_minute": 0})), "waiting_room.admit_per_minute"},
		{"admit_per_minute 100001", eventBody(set("waiting_room", map[string]any{"enabled": true, "admit_per_minute": 100_001})), "waiting_room.admit_per_minute"},
		{"max_active 0", eventBody(set("waiting_room", map[string]any{"enabled": true, "admit_per_minute": 10, "max_active": 0})), "waiting_room.max_active"},
		{"admission_ttl_seconds 0", eventBody(set("waiting_room", map[string]any{"admission_ttl_seconds": 0})), "waiting_room.admission_ttl_seconds"},
		{"waiting_room unknown field", eventBody(set("waiting_room", map[string]any{"rate": 5})), "rate"},
		{"sections missing", eventBody(unset("sections")), "sections"},
		{"sections empty", eventBody(set("sections", []any{})), "sections"},
		{"101 sections", eventBody(set("sections", many(101))), "sections"},
		{"section with rows and capacity", eventBody(set("sections", []any{
			section("name", "A", "price_cents", 1, "rows", 2, "seats_per_row", 2, "capacity", 4)})), "sections[0].capacity"},
		{"section with neither rows nor capacity", eventBody(set("sections", []any{
			section("name", "A", "price_cents", 1)})), "sections[0].capacity"},
		{"section rows without seats_per_row", eventBody(set("sections", []any{
			section("name", "A", "price_cents", 1, "rows", 2)})), "sections[0].seats_per_row"},
		{"section capacity 0", eventBody(set("sections", []any{
			section("name", "A", "price_cents", 1, "capacity", 0)})), "sections[0].capacity"},
		{"section rows 0", eventBody(set("sections", []any{
			section("name", "A", "price_cents", 1, "rows", 0, "seats_per_row", 3)})), "sections[0].rows"},
		{"section negative price", eventBody(set("sections", []any{
			section("name", "A", "price_cents", -1, "capacity", 5)})), "sections[0].price_cents"},
		{"section price missing", eventBody(set("sections", []any{
			section("name", "A", "capacity", 5)})), "sections[0].price_cents"},
		{"section name missing", eventBody(set("sections", []any{
			section("price_cents", 1, "capacity", 5)})), "sections[0].name"},
		{"section name too long", eventBody(set("sections", []any{
			section("name", strings.Repeat("n", 101), "price_cents", 1, "capacity", 5)})), "sections[0].name"},
		{"duplicate section names", eventBody(set("sections", []any{
			section("name", "A", "price_cents", 1, "capacity", 5),
			section("name", "A", "price_cents", 2, "capacity", 5)})), "sections[1].name"},
		{"more than 100000 seats", eventBody(set("sections", []any{
			section("name", "A", "price_cents", 1, "rows", 400, "seats_per_row", 300)})), "sections[0].rows"},
		{"more than 100000 seats in total", eventBody(set("sections", []any{
			section("name", "A", "price_cents", 1, "capacity", 60_000),
			section("name", "B", "price_cents", 1, "capacity", 40_001)})), "sections"},
		{"section unknown field", eventBody(set("sections", []any{
			section("name", "A", "price_cents", 1, "capacity", 5, "colour", "red")})), "colour"},
		{"unknown field", eventBody(set("organiser", "me")), "organiser"},
		{"wrong type", eventBody(set("name", 42)), "name"},
	}
	for _, tt := range tests {
		r := f.env.Post(t, "/api/v1/admin/events", f.admin, tt.body)
		wantProblem(t, tt.name, r, http.StatusBadRequest, "validation_failed", tt.field)
	}

	// Several failures are reported together.
	r := f.env.Post(t, "/api/v1/admin/events", f.admin, eventBody(unset("name"), set("currency", "eur"), set("starts_at", past)))
	wantProblem(t, "three failures", r, http.StatusBadRequest, "validation_failed", "name", "currency", "starts_at")

	// Limits are inclusive, and names count characters, not bytes.
	ok := eventBody(
		set("name", strings.Repeat("é", 200)),
		set("max_seats_per_booking", 100),
		set("hold_ttl_seconds", 3600),
		set("waiting_room", map[string]any{"enabled": true, "admit_per_minute": 100_000, "max_active": 1}),
		set("sections", append(many(99), section("name", "Big", "price_cents", 0, "capacity", 100_000-99))),
	)
	if e := f.create(t, ok); e.Capacity != 100_000 || len(e.Sections) != 100 {
		t.Errorf("at the limits: capacity %d with %d sections, want 100000 with 100", e.Capacity, len(e.Sections))
	}
}

func TestCreateEventMalformed(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	do := func(body any, header http.Header) *apptest.Response {
		return f.env.Do(t, apptest.Request{Method: http.MethodPost, Path: "/api/v1/admin/events", Token: f.admin, Body: body, Header: header})
	}
	wantProblem(t, "bad JSON", do(`{"name": `, nil), http.StatusBadRequest, "malformed_json")
	wantProblem(t, "not an object", do(`[1, 2]`, nil), http.StatusBadRequest, "malformed_json")
	wantProblem(t, "two values", do(`{} {}`, nil), http.StatusBadRequest, "malformed_json")
	wantProblem(t, "empty body", do(nil, http.Header{"Content-Type": {"application/json"}}), http.StatusBadRequest, "malformed_json")
	wantProblem(t, "text/plain", do(`{}`, http.Header{"Content-Type": {"text/plain"}}), http.StatusUnsupportedMediaType, "unsupported_media_type")
	huge := eventBody(set("description", strings.Repeat("x", 1<<20)))
	wantProblem(t, "over 1 MiB", do(huge, nil), http.StatusRequestEntityTooLarge, "payload_too_large")
}

// adminRoutes lists every admin operation on events, for an event id.
func adminRoutes(id string) []apptest.Request {
	return []apptest.Request{
		{Method: http.MethodGet, Path: "/api/v1/admin/events"},
		{Method: http.MethodPost, Path: "/api/v1/admin/events", Body: eventBody()},
		{Method: http.MethodPatch, Path: "/api/v1/admin/events/" + id, Body: map[string]any{"name": "x"}},
		{Method: http.MethodDelete, Path: "/api/v1/admin/events/" + id},
		{Method: http.MethodPost, Path: "/api/v1/admin/events/" + id + "/sections", Body: map[string]any{"name": "Gallery", "price_cents": 1, "capacity": 1}},
		{Method: http.MethodPost, Path: "/api/v1/admin/events/" + id + "/publish"},
		{Method: http.MethodPost, Path: "/api/v1/admin/events/" + id + "/cancel"},
	}
}

func TestAdminRoutesNeedAnAdmin(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	e := f.create(t, eventBody())
	for _, req := range adminRoutes(e.ID) {
		what := req.Method + " " + req.Path
		req.Token = ""
		r := f.env.Do(t, req)
		wantProblem(t, what+" without a token", r, http.StatusUnauthorized, "unauthorized")
		req.Token = "not-a-jwt"
		wantProblem(t, what+" with a bad token", f.env.Do(t, req), http.StatusUnauthorized, "unauthorized")
		req.Token = f.admin[:len(f.admin)-4] + "AAAA"
		wantProblem(t, what+" with a forged signature", f.env.Do(t, req), http.StatusUnauthorized, "unauthorized")
		req.Token = f.user
		wantProblem(t, what+" as a user", f.env.Do(t, req), http.StatusForbidden, "forbidden")
	}
	// Nothing of that changed the event.
	if got := f.getEvent(t, e.ID, f.admin); got.Status != "draft" || got.Name != "Hamlet" || got.Capacity != 700 {
		t.Errorf("event after refused admin calls = %+v", got)
	}
	// A bad token is refused on public routes too, rather than ignored.
	wantProblem(t, "GET /events with a bad token", f.env.Get(t, "/api/v1/events", "not-a-jwt"), http.StatusUnauthorized, "unauthorized")
}

func TestDraftsAreHidden(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	draft := f.create(t, eventBody())
	for _, tok := range []struct{ who, token string }{{"anonymous", ""}, {"user", f.user}} {
		wantProblem(t, tok.who+" GET draft", f.env.Get(t, "/api/v1/events/"+draft.ID, tok.token), http.StatusNotFound, "not_found")
		wantProblem(t, tok.who+" GET draft seats", f.env.Get(t, "/api/v1/events/"+draft.ID+"/seats", tok.token), http.StatusNotFound, "not_found")
		list, _ := listAll[eventJSON](t, f.env, "/api/v1/events", tok.token)
		if len(list) != 0 {
			t.Errorf("%s: public list shows %d events, want the draft hidden", tok.who, len(list))
		}
	}
	if got := f.getEvent(t, draft.ID, f.admin); got.Status != "draft" {
		t.Errorf("admin GET draft: status %q", got.Status)
	}
	if r := f.env.Get(t, "/api/v1/events/"+draft.ID+"/seats", f.admin); r.Status != http.StatusOK {
		t.Errorf("admin GET draft seats = %d", r.Status)
	}
}

func TestUnknownAndNonUUIDIDs(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, id := range []string{"not-a-uuid", "123", "01936d1e8f5a7c3e9a512f0b6c1d4e7a", "01936d1e-8f5a-7c3e-9a51-2f0b6c1d4e7a"} {
		wantProblem(t, "GET /events/"+id, f.env.Get(t, "/api/v1/events/"+id, ""), http.StatusNotFound, "not_found")
		wantProblem(t, "GET /events/"+id+"/seats", f.env.Get(t, "/api/v1/events/"+id+"/seats", ""), http.StatusNotFound, "not_found")
		for _, req := range adminRoutes(id)[2:] {
			req.Token = f.admin
			wantProblem(t, req.Method+" "+req.Path, f.env.Do(t, req), http.StatusNotFound, "not_found")
		}
	}
}

func TestPublish(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	e := f.create(t, eventBody())
	var got eventJSON
	f.env.Post(t, "/api/v1/admin/events/"+e.ID+"/publish", f.admin, nil).
		Want(t, http.StatusOK).Decode(t, &got)
	if got.Status != "published" || !got.UpdatedAt.After(e.UpdatedAt) {
		t.Errorf("published event: status %q updated_at %v (was %v)", got.Status, got.UpdatedAt, e.UpdatedAt)
	}
	if pub := f.getEvent(t, e.ID, ""); pub.Status != "published" {
		t.Errorf("anonymous GET after publish: %q", pub.Status)
	}
	wantProblem(t, "publish twice", f.env.Post(t, "/api/v1/admin/events/"+e.ID+"/publish", f.admin, nil), http.StatusConflict, "invalid_state")

	cancelled := f.create(t, eventBody())
	f.env.Post(t, "/api/v1/admin/events/"+cancelled.ID+"/cancel", f.admin, nil)
	wantProblem(t, "publish cancelled", f.env.Post(t, "/api/v1/admin/events/"+cancelled.ID+"/publish", f.admin, nil), http.StatusConflict, "invalid_state")

	started := f.create(t, eventBody())
	f.exec(t, `UPDATE events SET starts_at = now() - interval '1 minute' WHERE id = $1`, started.ID)
	wantProblem(t, "publish started draft", f.env.Post(t, "/api/v1/admin/events/"+started.ID+"/publish", f.admin, nil), http.StatusConflict, "invalid_state")
}

func TestCancel(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, status := range []string{"draft", "published"} {
		e := f.create(t, eventBody(set("status", status)))
		r := f.env.Post(t, "/api/v1/admin/events/"+e.ID+"/cancel", f.admin, nil)
		var got eventJSON
		if r.Status != http.StatusOK {
			t.Fatalf("cancel %s = %d %s", status, r.Status, r.Body)
		}
		r.Decode(t, &got)
		if got.Status != "cancelled" {
			t.Errorf("cancel %s: status %q", status, got.Status)
		}
		// Cancelling again changes nothing.
		r = f.env.Post(t, "/api/v1/admin/events/"+e.ID+"/cancel", f.admin, nil)
		var again eventJSON
		r.Decode(t, &again)
		if r.Status != http.StatusOK || again.Status != "cancelled" || !again.UpdatedAt.Equal(got.UpdatedAt) {
			t.Errorf("cancel again = %d %s", r.Status, r.Body)
		}
		// A cancelled event is frozen but stays visible by id.
		wantProblem(t, "patch cancelled", f.env.Do(t, apptest.Request{Method: http.MethodPatch,
			Path: "/api/v1/admin/events/" + e.ID, Token: f.admin, Body: map[string]any{"name": "Back"}}), http.StatusConflict, "invalid_state")
		wantProblem(t, "add section to cancelled", f.env.Post(t, "/api/v1/admin/events/"+e.ID+"/sections", f.admin,
			map[string]any{"name": "Gallery", "price_cents": 1, "capacity": 1}), http.StatusConflict, "invalid_state")
		if status == "published" {
			if pub := f.getEvent(t, e.ID, ""); pub.Status != "cancelled" {
				t.Errorf("public GET of cancelled event: %q", pub.Status)
			}
		}
	}
	if list, _ := listAll[eventJSON](t, f.env, "/api/v1/events", ""); len(list) != 0 {
		t.Errorf("public list shows %d cancelled events", len(list))
	}
}

func TestDelete(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	del := func(id string) *apptest.Response {
		return f.env.Do(t, apptest.Request{Method: http.MethodDelete, Path: "/api/v1/admin/events/" + id, Token: f.admin})
	}

	fresh := f.publish(t)
	if r := del(fresh.ID); r.Status != http.StatusNoContent || len(r.Body) != 0 {
		t.Fatalf("delete fresh event = %d %s, want 204", r.Status, r.Body)
	}
	wantProblem(t, "GET deleted", f.env.Get(t, "/api/v1/events/"+fresh.ID, f.admin), http.StatusNotFound, "not_found")
	wantProblem(t, "delete again", del(fresh.ID), http.StatusNotFound, "not_found")
	var left int
	if err := f.db.QueryRow(t.Context(), `SELECT count(*) FROM seats WHERE event_id = $1`, fresh.ID).Scan(&left); err != nil || left != 0 {
		t.Errorf("seats left after delete: %d (%v)", left, err)
	}

	held := f.publish(t)
	f.holdSeats(t, held.ID, 10*time.Minute, 5)
	wantProblem(t, "delete with a held seat", del(held.ID), http.StatusConflict, "conflict")

	// A hold that expired and was released still counts: the event had a
	// booking (hold_seq > 0).
	released := f.publish(t)
	f.holdSeats(t, released.ID, -time.Minute, 1)
	f.exec(t, `UPDATE seats SET status = 'available', booking_id = NULL, held_until = NULL WHERE event_id = $1`, released.ID)
	wantProblem(t, "delete after a released hold", del(released.ID), http.StatusConflict, "conflict")

	booked := f.publish(t)
	f.bookSeats(t, booked.ID, 700)
	wantProblem(t, "delete with a booked seat", del(booked.ID), http.StatusConflict, "conflict")

	for _, e := range []eventJSON{held, released, booked} {
		if got := f.getEvent(t, e.ID, f.admin); got.ID != e.ID {
			t.Errorf("event %s gone after a refused delete", e.ID)
		}
	}
}

func TestPatch(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	patch := func(id string, body any) *apptest.Response {
		return f.env.Do(t, apptest.Request{Method: http.MethodPatch, Path: "/api/v1/admin/events/" + id, Token: f.admin, Body: body})
	}
	starts := time.Now().Add(96 * time.Hour).UTC().Truncate(time.Second)
	e := f.create(t, eventBody(
		set("ends_at", rfc3339(time.Now().Add(50*time.Hour))),
		set("waiting_room", map[string]any{"enabled": true, "admit_per_minute": 50, "max_active": 10}),
	))

	r := patch(e.ID, map[string]any{
		"name": "Hamlet (extra night)", "starts_at": rfc3339(starts), "ends_at": nil, "category": nil,
		"max_seats_per_booking": 4, "waiting_room": map[string]any{"max_active": nil},
	})
	if r.Status != http.StatusOK {
		t.Fatalf("patch = %d %s", r.Status, r.Body)
	}
	var got eventJSON
	r.Decode(t, &got)
	if got.Name != "Hamlet (extra night)" || !got.StartsAt.Equal(starts) || got.EndsAt != nil || got.Category != "" ||
		got.MaxSeatsPerBooking != 4 || got.Venue != e.Venue || got.Description != e.Description || got.Capacity != 700 {
		t.Errorf("patched event = %+v", got)
	}
	if wr := got.WaitingRoom; !wr.Enabled || wr.AdmitPerMinute != 50 || wr.MaxActive != nil {
		t.Errorf("waiting room merge: %+v, want enabled, 50/min, no max_active", wr)
	}
	if !got.UpdatedAt.After(e.UpdatedAt) || !got.CreatedAt.Equal(e.CreatedAt) {
		t.Errorf("timestamps: created %v→%v updated %v→%v", e.CreatedAt, got.CreatedAt, e.UpdatedAt, got.UpdatedAt)
	}
	if again := f.getEvent(t, e.ID, f.admin); again.Name != got.Name || again.MaxSeatsPerBooking != 4 {
		t.Errorf("GET after patch = %+v", again)
	}

	// The rules of creation apply to the result.
	wantProblem(t, "patch sections", patch(e.ID, map[string]any{"sections": []any{}}), http.StatusBadRequest, "validation_failed", "sections")
	wantProblem(t, "patch empty name", patch(e.ID, map[string]any{"name": ""}), http.StatusBadRequest, "validation_failed", "name")
	wantProblem(t, "patch past start", patch(e.ID, map[string]any{"starts_at": rfc3339(time.Now().Add(-time.Hour))}), http.StatusBadRequest, "validation_failed", "starts_at")
	wantProblem(t, "patch ends_at before stored starts_at", patch(e.ID, map[string]any{"ends_at": rfc3339(starts.Add(-time.Hour))}), http.StatusBadRequest, "validation_failed", "ends_at")
	wantProblem(t, "patch sales_end before sales_start", patch(e.ID, map[string]any{
		"sales_start": rfc3339(starts.Add(-2 * time.Hour)), "sales_end": rfc3339(starts.Add(-3 * time.Hour))}), http.StatusBadRequest, "validation_failed", "sales_end")
	wantProblem(t, "patch status cancelled", patch(e.ID, map[string]any{"status": "cancelled"}), http.StatusBadRequest, "validation_failed", "status")
	wantProblem(t, "patch currency", patch(e.ID, map[string]any{"currency": "eur"}), http.StatusBadRequest, "validation_failed", "currency")
	wantProblem(t, "patch hold ttl", patch(e.ID, map[string]any{"hold_ttl_seconds": 10}), http.StatusBadRequest, "validation_failed", "hold_ttl_seconds")
	wantProblem(t, "patch unknown field", patch(e.ID, map[string]any{"capacity": 5}), http.StatusBadRequest, "validation_failed", "capacity")
	wantProblem(t, "patch bad JSON", patch(e.ID, `{"name":`), http.StatusBadRequest, "malformed_json")

	// Publishing and unpublishing through PATCH, before any sale.
	r = patch(e.ID, map[string]any{"status": "published", "currency": "EUR"})
	r.Decode(t, &got)
	if r.Status != http.StatusOK || got.Status != "published" || got.Currency != "EUR" {
		t.Fatalf("patch publish = %d %s", r.Status, r.Body)
	}
	r = patch(e.ID, map[string]any{"status": "draft"})
	r.Decode(t, &got)
	if r.Status != http.StatusOK || got.Status != "draft" {
		t.Fatalf("patch unpublish before sales = %d %s", r.Status, r.Body)
	}
	patch(e.ID, map[string]any{"status": "published"})

	// Once a seat has been held: currency and status are locked, the rest
	// may still change.
	f.holdSeats(t, e.ID, 10*time.Minute, 1, 2)
	wantProblem(t, "currency after a hold", patch(e.ID, map[string]any{"currency": "GBP"}), http.StatusConflict, "conflict")
	wantProblem(t, "unpublish after a hold", patch(e.ID, map[string]any{"status": "draft"}), http.StatusConflict, "conflict")
	r = patch(e.ID, map[string]any{"venue": "Old Vic", "currency": "EUR", "hold_ttl_seconds": 120, "status": "published"})
	r.Decode(t, &got)
	if r.Status != http.StatusOK || got.Venue != "Old Vic" || got.HoldTTLSeconds != 120 || got.Availability.Held != 2 {
		t.Errorf("patch after a hold = %d %s", r.Status, r.Body)
	}
}

func TestAddSection(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	add := func(id string, body any) *apptest.Response {
		return f.env.Post(t, "/api/v1/admin/events/"+id+"/sections", f.admin, body)
	}
	e := f.publish(t)
	f.bookSeats(t, e.ID, 1)

	r := add(e.ID, map[string]any{"name": "Gallery", "price_cents": 2000, "rows": 2, "seats_per_row": 5})
	if r.Status != http.StatusCreated {
		t.Fatalf("add section = %d %s", r.Status, r.Body)
	}
	var got eventJSON
	r.Decode(t, &got)
	if got.Capacity != 710 || len(got.Sections) != 3 || got.Sections[2].Name != "Gallery" ||
		got.Availability != (availabilityJSON{Available: 709, Booked: 1}) {
		t.Errorf("after adding a section: capacity %d, sections %+v, availability %+v", got.Capacity, got.Sections, got.Availability)
	}
	seats, _ := listAll[seatJSON](t, f.env, "/api/v1/events/"+e.ID+"/seats?section=Gallery&limit=1000", "")
	if len(seats) != 10 || seats[0].Label != "Gallery-A-1" || seats[9].Label != "Gallery-B-5" || seats[0].PriceCents != 2000 {
		t.Errorf("Gallery seats: %d, first %+v", len(seats), seats[0])
	}
	r = add(e.ID, map[string]any{"name": "Standing", "price_cents": 1500, "capacity": 3})
	r.Decode(t, &got)
	if r.Status != http.StatusCreated || got.Capacity != 713 {
		t.Errorf("add GA section = %d %s", r.Status, r.Body)
	}
	all, _ := listAll[seatJSON](t, f.env, "/api/v1/events/"+e.ID+"/seats?limit=1000", "")
	if len(all) != 713 || all[712].Label != "Standing-00003" || all[709].Label != "Gallery-B-5" {
		t.Errorf("all seats after additions: %d, last %+v", len(all), all[len(all)-1])
	}

	wantProblem(t, "duplicate name", add(e.ID, map[string]any{"name": "Gallery", "price_cents": 1, "capacity": 1}), http.StatusBadRequest, "validation_failed", "name")
	wantProblem(t, "rows and capacity", add(e.ID, map[string]any{"name": "X", "price_cents": 1, "capacity": 1, "rows": 1, "seats_per_row": 1}), http.StatusBadRequest, "validation_failed", "capacity")
	wantProblem(t, "neither", add(e.ID, map[string]any{"name": "X", "price_cents": 1}), http.StatusBadRequest, "validation_failed", "capacity")
	wantProblem(t, "negative price", add(e.ID, map[string]any{"name": "X", "price_cents": -5, "capacity": 1}), http.StatusBadRequest, "validation_failed", "price_cents")
	wantProblem(t, "over 100000 seats", add(e.ID, map[string]any{"name": "X", "price_cents": 1, "capacity": 100_000 - 713 + 1}), http.StatusBadRequest, "validation_failed", "capacity")
	wantProblem(t, "unknown field", add(e.ID, map[string]any{"name": "X", "price_cents": 1, "capacity": 1, "colour": "red"}), http.StatusBadRequest, "validation_failed", "colour")
	wantProblem(t, "unknown event", add("01936d1e-8f5a-7c3e-9a51-2f0b6c1d4e7a", map[string]any{"name": "X", "price_cents": 1, "capacity": 1}), http.StatusNotFound, "not_found")
	if r := add(e.ID, map[string]any{"name": "X", "price_cents": 1, "capacity": 100_000 - 713}); r.Status != http.StatusCreated {
		t.Errorf("filling up to 100000 seats = %d %s", r.Status, r.Body)
	}
}

func TestAddSectionLimitOfSections(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	sections := make([]any, 100)
	for i := range sections {
		sections[i] = map[string]any{"name": fmt.Sprintf("S%d", i), "price_cents": 1, "capacity": 1}
	}
	e := f.create(t, eventBody(set("sections", sections)))
	r := f.env.Post(t, "/api/v1/admin/events/"+e.ID+"/sections", f.admin, map[string]any{"name": "One more", "price_cents": 1, "capacity": 1})
	wantProblem(t, "101st section", r, http.StatusBadRequest, "validation_failed", "name")
}
