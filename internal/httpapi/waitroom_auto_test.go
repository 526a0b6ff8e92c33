package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/apptest"
)

type rateChangeJSON struct {
	At            time.Time `json:"at"`
	FromPerMinute int       `json:"from_per_minute"`
	ToPerMinute   int       `json:"to_per_minute"`
	Reason        string    `json:"reason"`
	BookingP95Ms  *int64    `json:"booking_p95_ms"`
	Samples       int       `json:"samples"`
	Idle          int64     `json:"idle"`
	Overdue       int64     `json:"overdue"`
}

func rateChangesPath(eventID string) string {
	return "/api/v1/admin/events/" + eventID + "/waiting-room/rate-changes"
}

// TestAutoRoomSettings: admit_mode auto needs both bounds, with the
// starting rate between them; every refusal names its field and changes
// nothing. A valid room shows its settings on the event and in its
// figures.
func TestAutoRoomSettings(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for name, tc := range map[string]struct {
		room  map[string]any
		field string
	}{
		"no bounds":        {map[string]any{"admit_mode": "auto"}, "waiting_room.admit_min_per_minute"},
		"no upper bound":   {map[string]any{"admit_mode": "auto", "admit_min_per_minute": 10}, "waiting_room.admit_max_per_minute"},
		"bounds crossed":   {map[string]any{"admit_mode": "auto", "admit_min_per_minute": 500, "admit_max_per_minute": 100}, "waiting_room.admit_max_per_minute"},
		"start outside":    {map[string]any{"admit_mode": "auto", "admit_per_minute": 5000, "admit_min_per_minute": 10, "admit_max_per_minute": 1000}, "waiting_room.admit_per_minute"},
		"unknown mode":     {map[string]any{"admit_mode": "turbo"}, "waiting_room.admit_mode"},
		"bound of zero":    {map[string]any{"admit_min_per_minute": 0}, "waiting_room.admit_min_per_minute"},
		"target too tight": {map[string]any{"target_p95_ms": 5}, "waiting_room.target_p95_ms"},
	} {
		r := f.env.Post(t, "/api/v1/admin/events", f.admin, eventBody(withRoom(tc.room)))
		wantProblem(t, name, r, http.StatusBadRequest, "validation_failed", tc.field)
	}
	var n int
	if err := f.db.QueryRow(t.Context(), `SELECT count(*) FROM events`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("events after refusals = %d, %v; want 0", n, err)
	}

	e := f.publish(t, withRoom(map[string]any{"enabled": true, "admit_per_minute": 300, "admit_mode": "auto",
		"admit_min_per_minute": 60, "admit_max_per_minute": 3000, "target_p95_ms": 250}))
	w := e.WaitingRoom
	if w.AdmitMode != "auto" || w.AdmitPerMinute != 300 || *w.AdmitMinPerMinute != 60 || *w.AdmitMaxPerMinute != 3000 || w.TargetP95Ms != 250 {
		t.Fatalf("waiting_room = %+v, want auto from 300 in [60, 3000] aiming at 250 ms", w)
	}
	st := roomStats(t, f.env, f.admin, e.ID)
	if st.AdmitMode != "auto" || st.AdmitPerMinute != 300 || st.BasePerMinute != 300 || st.TargetP95Ms != 250 || st.RateChangedAt != nil {
		t.Fatalf("figures = %+v, want auto at 300 unchanged", st)
	}
	// Narrowing the bounds below the starting rate is refused too.
	r := f.patch(t, e.ID, map[string]any{"waiting_room": map[string]any{"admit_max_per_minute": 200}})
	wantProblem(t, "PATCH bounds below the starting rate", r, http.StatusBadRequest, "validation_failed", "waiting_room.admit_per_minute")
	fixed := roomStats(t, f.env, f.admin, f.publish(t, withRoom(map[string]any{"enabled": true})).ID)
	if fixed.AdmitMode != "fixed" || fixed.MinPerMinute != nil || fixed.TargetP95Ms != 500 ||
		fixed.BasePerMinute != 100 {
		t.Errorf("a fixed room's figures = %+v, want fixed without bounds, the default target", fixed)
	}
}

// TestAutoRoomSpeedsUpWhileHoldsAreFast runs the self-tuning room in real
// time through HTTP: 80 buyers queue at 300 a minute; each holds a seat
// with its pass as soon as it is admitted. The holds take milliseconds,
// far under the 500 ms target, so within seconds the room raises its rate
// by a quarter (300 → 375; not before 10 s after the organiser set the
// room up), records why, and admits at the new rate. The
// change log is for admins only; setting admit_per_minute starts the room
// again from the organiser's rate.
func TestAutoRoomSpeedsUpWhileHoldsAreFast(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	e := f.publish(t, withRoom(map[string]any{"enabled": true, "admit_per_minute": 300, "admit_mode": "auto",
		"admit_min_per_minute": 60, "admit_max_per_minute": 3000, "target_p95_ms": 500}))
	if r := f.env.Get(t, rateChangesPath(e.ID), f.admin); r.Status != 200 || strings.TrimSpace(string(r.Body)) != `{"data":[]}` {
		t.Fatalf("rate changes before any = %d %s, want an empty list", r.Status, r.Body)
	}

	buyers := f.buyers(t, 80)
	for _, b := range buyers {
		joinRoom(t, f.env, b, e.ID)
	}
	var changes []rateChangeJSON
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, b := range buyers {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				r := f.env.Get(t, roomPath(e.ID), b)
				var tk ticketJSON
				if r.Status == 200 && json.Unmarshal(r.Body, &tk) == nil && tk.Status == "admitted" {
					r := f.env.Do(t, apptest.Request{Method: http.MethodPost, Path: "/api/v1/bookings", Token: b,
						Body: map[string]any{"event_id": e.ID, "quantity": 1}, Header: http.Header{"Evently-Admission": {*tk.Pass}}})
					if r.Status != 201 {
						t.Errorf("hold with a pass = %d %s", r.Status, r.Body)
					}
					return
				}
				time.Sleep(200 * time.Millisecond)
			}
		})
	}
	ok := poll(30*time.Second, func() bool {
		r := f.env.Get(t, rateChangesPath(e.ID), f.admin)
		var body struct{ Data []rateChangeJSON }
		r.Decode(t, &body)
		changes = body.Data
		return len(changes) > 0
	})
	close(stop)
	wg.Wait()
	if !ok {
		t.Fatalf("no rate change within 30 s: %+v", roomStats(t, f.env, f.admin, e.ID))
	}
	c := changes[len(changes)-1]
	if c.FromPerMinute != 300 || c.ToPerMinute != 375 || !strings.Contains(c.Reason, "admitting faster") ||
		c.Samples < 20 || c.BookingP95Ms == nil || *c.BookingP95Ms > 400 {
		t.Fatalf("first change = %+v, want 300 → 375 on at least 20 fast holds", c)
	}
	st := roomStats(t, f.env, f.admin, e.ID)
	if st.AdmitPerMinute < 375 || st.BasePerMinute != 300 || st.RateChangedAt == nil {
		t.Errorf("figures after the change = %+v, want the room's own rate", st)
	}

	wantProblem(t, "rate changes as a buyer", f.env.Get(t, rateChangesPath(e.ID), buyers[0]), 403, "forbidden")
	wantProblem(t, "rate changes of no event", f.env.Get(t, rateChangesPath(uuid.NewString()), f.admin), 404, "not_found")
	wantProblem(t, "rate changes, limit 0", f.env.Get(t, rateChangesPath(e.ID)+"?limit=0", f.admin), 400, "validation_failed", "limit")

	r := f.patch(t, e.ID, map[string]any{"waiting_room": map[string]any{"admit_per_minute": 1000}})
	if r.Status != 200 {
		t.Fatalf("PATCH admit_per_minute = %d %s", r.Status, r.Body)
	}
	if st := roomStats(t, f.env, f.admin, e.ID); st.AdmitPerMinute != 1000 || st.BasePerMinute != 1000 || st.RateChangedAt != nil {
		t.Errorf("figures after the organiser set 1000 = %+v, want 1000 afresh", st)
	}
}

// patch sends PATCH /admin/events/{id} as admin.
func (f *fixture) patch(t *testing.T, id string, body map[string]any) *apptest.Response {
	t.Helper()
	return f.env.Do(t, apptest.Request{Method: http.MethodPatch, Path: "/api/v1/admin/events/" + id, Token: f.admin, Body: body})
}
