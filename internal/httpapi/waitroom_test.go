package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/apptest"
	"github.com/evently/evently/internal/auth"
	"github.com/evently/evently/internal/pgtest"
	"github.com/evently/evently/internal/redistest"
)

// These tests run the waiting room in real time through HTTP, with the
// asynq admission chain of the running process: tolerances are generous.

// ticketJSON is a Ticket as a client reads it.
type ticketJSON struct {
	EventID              string     `json:"event_id"`
	Status               string     `json:"status"`
	Position             *int64     `json:"position"`
	EstimatedWaitSeconds int64      `json:"estimated_wait_seconds"`
	JoinedAt             time.Time  `json:"joined_at"`
	AdmittedAt           *time.Time `json:"admitted_at"`
	AdmittedUntil        *time.Time `json:"admitted_until"`
	Pass                 *string    `json:"pass"`
	PollAfterMS          int64      `json:"poll_after_ms"`
}

type roomStatsJSON struct {
	Enabled            bool  `json:"enabled"`
	Waiting            int64 `json:"waiting"`
	Active             int64 `json:"active"`
	AdmittedTotal      int64 `json:"admitted_total"`
	AdmittedLastMinute int64 `json:"admitted_last_minute"`
	AdmitPerMinute     int   `json:"admit_per_minute"`
	MaxActive          *int  `json:"max_active"`
	// How the rate is set.
	AdmitMode     string     `json:"admit_mode"`
	BasePerMinute int        `json:"base_admit_per_minute"`
	MinPerMinute  *int       `json:"admit_min_per_minute"`
	MaxPerMinute  *int       `json:"admit_max_per_minute"`
	TargetP95Ms   int        `json:"target_p95_ms"`
	RateChangedAt *time.Time `json:"rate_changed_at"`
}

func roomPath(eventID string) string { return "/api/v1/events/" + eventID + "/waiting-room" }

// roomRequest joins (POST) or polls (GET) an event's waiting room and
// returns the ticket and the response, failing t unless it answers 200.
func roomRequest(t *testing.T, env *apptest.Env, method, token, eventID string) (ticketJSON, *apptest.Response) {
	t.Helper()
	r := env.Do(t, apptest.Request{Method: method, Path: roomPath(eventID), Token: token})
	if r.Status != http.StatusOK {
		t.Fatalf("%s %s = %d %s, want 200", method, roomPath(eventID), r.Status, r.Body)
	}
	var tk ticketJSON
	r.Decode(t, &tk)
	return tk, r
}

func joinRoom(t *testing.T, env *apptest.Env, token, eventID string) ticketJSON {
	t.Helper()
	tk, _ := roomRequest(t, env, http.MethodPost, token, eventID)
	return tk
}

func roomTicket(t *testing.T, env *apptest.Env, token, eventID string) ticketJSON {
	t.Helper()
	tk, _ := roomRequest(t, env, http.MethodGet, token, eventID)
	return tk
}

func roomStats(t *testing.T, env *apptest.Env, admin, eventID string) roomStatsJSON {
	t.Helper()
	r := env.Get(t, "/api/v1/admin/events/"+eventID+"/waiting-room", admin)
	if r.Status != http.StatusOK {
		t.Fatalf("GET admin waiting room = %d %s, want 200", r.Status, r.Body)
	}
	var s roomStatsJSON
	r.Decode(t, &s)
	return s
}

// eventually polls fn every 100 ms until it returns true or the timeout
// passes, and reports whether it did.
// poll reports whether fn became true within timeout.
func poll(timeout time.Duration, fn func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if fn() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func withRoom(room map[string]any) func(map[string]any) { return set("waiting_room", room) }

// TestWaitingRoomAdmitsInOrder: five buyers join an on-sale admitting one
// a second; each is refused a hold until admitted, admitted in join order
// about a second apart, and may hold and confirm once in.
func TestWaitingRoomAdmitsInOrder(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	e := f.publish(t, withRoom(map[string]any{"enabled": true, "admit_per_minute": 60}))
	buyers := f.buyers(t, 5)
	hold := func(token string) *apptest.Response {
		return f.env.Post(t, "/api/v1/bookings", token, map[string]any{"event_id": e.ID, "quantity": 1})
	}
	wantProblem(t, "hold before joining", hold(buyers[0]), 403, "waiting_room_required")
	if r := f.env.Get(t, roomPath(e.ID), buyers[0]); r.Status != 404 {
		t.Errorf("GET ticket before joining = %d, want 404", r.Status)
	}

	joined := make([]ticketJSON, len(buyers))
	for i, b := range buyers {
		joined[i] = joinRoom(t, f.env, b, e.ID)
		tk := joined[i]
		if tk.EventID != e.ID || time.Since(tk.JoinedAt) > 10*time.Second {
			t.Fatalf("join %d = %+v", i, tk)
		}
		if tk.Status == "waiting" && (tk.Position == nil || *tk.Position < 1 || tk.EstimatedWaitSeconds < 1) {
			t.Errorf("join %d: waiting ticket without a position or estimate: %+v", i, tk)
		}
	}
	// The last of five at one a second cannot be in yet.
	if last := joined[4]; last.Status != "waiting" || *last.Position < 2 {
		t.Fatalf("last joiner = %+v, want waiting behind others", last)
	}
	wantProblem(t, "hold while waiting", hold(buyers[4]), 403, "waiting_room_required")
	// Joining again keeps one's place.
	if again := joinRoom(t, f.env, buyers[4], e.ID); !again.JoinedAt.Equal(joined[4].JoinedAt) {
		t.Errorf("second join: joined_at %v, want %v (the same place)", again.JoinedAt, joined[4].JoinedAt)
	}

	// Poll as clients do until everyone is in.
	admitted := make([]ticketJSON, len(buyers))
	ok := poll(30*time.Second, func() bool {
		for i, b := range buyers {
			if admitted[i].Status == "admitted" {
				continue
			}
			tk := roomTicket(t, f.env, b, e.ID)
			if tk.Status == "admitted" {
				for j := range i {
					if admitted[j].Status != "admitted" {
						t.Errorf("buyer %d admitted before buyer %d", i, j)
					}
				}
				admitted[i] = tk
			}
		}
		return admitted[len(buyers)-1].Status == "admitted"
	})
	if !ok {
		t.Fatalf("not everyone admitted within 30s: %+v", admitted)
	}
	for i, tk := range admitted {
		if tk.Position != nil || tk.EstimatedWaitSeconds != 0 || tk.AdmittedAt == nil || tk.AdmittedUntil == nil ||
			tk.AdmittedUntil.Sub(*tk.AdmittedAt) != 600*time.Second {
			t.Errorf("admitted ticket %d = %+v, want no position and a 600 s admission", i, tk)
		}
		if i > 0 && tk.AdmittedAt.Before(*admitted[i-1].AdmittedAt) {
			t.Errorf("buyer %d admitted at %v, before buyer %d (%v)", i, tk.AdmittedAt, i-1, admitted[i-1].AdmittedAt)
		}
	}
	// One a second: five admissions span about four seconds.
	if span := admitted[4].AdmittedAt.Sub(*admitted[0].AdmittedAt); span < 2500*time.Millisecond || span > 20*time.Second {
		t.Errorf("five admissions at 60/min spanned %v, want about 4s", span)
	}

	b := f.hold(t, buyers[4], map[string]any{"event_id": e.ID, "quantity": 2})
	st := roomStats(t, f.env, f.admin, e.ID)
	if !st.Enabled || st.Waiting != 0 || st.Active != 5 || st.AdmittedTotal != 5 || st.AdmittedLastMinute != 5 ||
		st.AdmitPerMinute != 60 || st.MaxActive != nil {
		t.Errorf("stats = %+v", st)
	}
	// Leaving gives up the admission; the hold already made stays and can
	// be confirmed (confirming needs no admission).
	if r := f.env.Do(t, apptest.Request{Method: http.MethodDelete, Path: roomPath(e.ID), Token: buyers[4]}); r.Status != 204 {
		t.Fatalf("DELETE waiting room = %d %s", r.Status, r.Body)
	}
	if r := f.env.Get(t, roomPath(e.ID), buyers[4]); r.Status != 404 {
		t.Errorf("GET ticket after leaving = %d, want 404", r.Status)
	}
	wantProblem(t, "hold after leaving", hold(buyers[4]), 403, "waiting_room_required")
	if r := f.env.Post(t, "/api/v1/bookings/"+b.ID+"/confirm", buyers[4], nil); r.Status != 200 {
		t.Errorf("confirm after leaving = %d %s, want 200", r.Status, r.Body)
	}
	if st := roomStats(t, f.env, f.admin, e.ID); st.Active != 4 || st.AdmittedTotal != 5 {
		t.Errorf("stats after a leave = %+v, want 4 active of 5 admitted", st)
	}

	// Per-event metrics.
	metrics := f.env.Metrics(t)
	for _, m := range []string{"waiting", "active", "admitted_total", "admitted_last_minute", "admit_per_minute"} {
		if !strings.Contains(metrics, "evently_waitroom_"+m+`{event_id="`+e.ID+`"}`) {
			t.Errorf("/metrics has no evently_waitroom_%s for the event", m)
		}
	}
	if !strings.Contains(metrics, `evently_waitroom_admitted_total{event_id="`+e.ID+`"} 5`) {
		t.Errorf("/metrics does not report 5 admitted")
	}
}

// TestWaitingRoomSwitch: an admin turns the room off during the sale and
// everyone may book within a second or so; turned on again, holds need
// admission again and the queue resumes where it stood.
func TestWaitingRoomSwitch(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	e := f.publish(t, withRoom(map[string]any{"enabled": true, "admit_per_minute": 1}))
	buyers := f.buyers(t, 3)
	joinRoom(t, f.env, buyers[0], e.ID)
	if !poll(10*time.Second, func() bool { return roomTicket(t, f.env, buyers[0], e.ID).Status == "admitted" }) {
		t.Fatal("first joiner not admitted within 10s")
	}
	waiting := joinRoom(t, f.env, buyers[1], e.ID)
	if waiting.Status != "waiting" || *waiting.Position != 1 || waiting.EstimatedWaitSeconds != 60 {
		t.Fatalf("second joiner at 1/min = %+v, want position 1, about 60 s to wait", waiting)
	}
	hold := func(token string) int {
		return f.env.Post(t, "/api/v1/bookings", token, map[string]any{"event_id": e.ID, "quantity": 1}).Status
	}
	if s := hold(buyers[2]); s != 403 {
		t.Fatalf("hold without joining = %d, want 403", s)
	}
	patch := func(enabled bool) {
		r := f.env.Do(t, apptest.Request{Method: http.MethodPatch, Path: "/api/v1/admin/events/" + e.ID,
			Token: f.admin, Body: map[string]any{"waiting_room": map[string]any{"enabled": enabled}}})
		if r.Status != 200 {
			t.Fatalf("PATCH waiting_room.enabled=%v = %d %s", enabled, r.Status, r.Body)
		}
	}

	patch(false)
	start := time.Now()
	if !poll(5*time.Second, func() bool { return hold(buyers[2]) == 201 }) {
		t.Fatal("room off: a buyer who never joined still cannot hold after 5s")
	}
	if took := time.Since(start); took > 2500*time.Millisecond {
		t.Errorf("room off took %v to reach the booking check, want about a second", took)
	}
	if r := f.env.Post(t, roomPath(e.ID), buyers[2], nil); r.Status != 409 {
		t.Errorf("join with the room off = %d %s, want 409", r.Status, r.Body)
	} else {
		wantProblem(t, "join with the room off", r, 409, "invalid_state")
	}
	// The queue holds still while off.
	if tk := roomTicket(t, f.env, buyers[1], e.ID); tk.Status != "waiting" || *tk.Position != 1 {
		t.Errorf("waiting ticket with the room off = %+v", tk)
	}
	if st := roomStats(t, f.env, f.admin, e.ID); st.Enabled || st.Waiting != 1 || st.Active != 1 {
		t.Errorf("stats with the room off = %+v", st)
	}

	patch(true)
	if !poll(5*time.Second, func() bool { return hold(buyers[2]) == 403 }) {
		t.Fatal("room on again: a buyer who never joined can still hold after 5s")
	}
	if s := hold(buyers[0]); s != 201 {
		t.Errorf("admitted buyer after the room came back = %d, want 201", s)
	}
}

// TestWaitingRoomExpiry: an admission lapses after admission_ttl_seconds;
// the ticket shows expired, holds are refused, joining again queues anew.
func TestWaitingRoomExpiry(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	e := f.publish(t, withRoom(map[string]any{"enabled": true, "admit_per_minute": 600, "admission_ttl_seconds": 2}))
	buyer := f.buyers(t, 1)[0]
	joinRoom(t, f.env, buyer, e.ID)
	var first ticketJSON
	if !poll(10*time.Second, func() bool {
		first = roomTicket(t, f.env, buyer, e.ID)
		return first.Status == "admitted"
	}) {
		t.Fatalf("not admitted within 10s: %+v", first)
	}
	f.hold(t, buyer, map[string]any{"event_id": e.ID, "quantity": 1})
	time.Sleep(time.Until(*first.AdmittedUntil) + 100*time.Millisecond)
	if tk := roomTicket(t, f.env, buyer, e.ID); tk.Status != "expired" || tk.Position != nil || !tk.AdmittedUntil.Equal(*first.AdmittedUntil) {
		t.Errorf("after the admission lapsed: %+v, want expired", tk)
	}
	wantProblem(t, "hold after the admission lapsed",
		f.env.Post(t, "/api/v1/bookings", buyer, map[string]any{"event_id": e.ID, "quantity": 1}), 403, "waiting_room_required")
	again := joinRoom(t, f.env, buyer, e.ID)
	if !again.JoinedAt.After(first.JoinedAt) || (again.AdmittedAt != nil && !again.AdmittedAt.After(*first.AdmittedAt)) {
		t.Errorf("join after lapse = %+v, want a new ticket", again)
	}
}

// TestWaitingRoomErrors: every refusal the contract lists.
func TestWaitingRoomErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	draft := f.create(t, eventBody(withRoom(map[string]any{"enabled": true, "admit_per_minute": 60})))
	plain := f.publish(t)
	room := f.publish(t, withRoom(map[string]any{"enabled": true, "admit_per_minute": 60}))
	cancelled := f.publish(t, withRoom(map[string]any{"enabled": true, "admit_per_minute": 60}))
	if r := f.env.Post(t, "/api/v1/admin/events/"+cancelled.ID+"/cancel", f.admin, nil); r.Status != 200 {
		t.Fatalf("cancel = %d", r.Status)
	}
	user := f.user
	del := func(path, token string) *apptest.Response {
		return f.env.Do(t, apptest.Request{Method: http.MethodDelete, Path: path, Token: token})
	}
	for _, tc := range []struct {
		name string
		r    *apptest.Response
		code int
		want string
	}{
		{"join anonymously", f.env.Post(t, roomPath(room.ID), "", nil), 401, "unauthorized"},
		{"status anonymously", f.env.Get(t, roomPath(room.ID), ""), 401, "unauthorized"},
		{"leave anonymously", del(roomPath(room.ID), ""), 401, "unauthorized"},
		{"join unknown event", f.env.Post(t, roomPath(uuid.NewString()), user, nil), 404, "not_found"},
		{"join non-uuid", f.env.Post(t, roomPath("nope"), user, nil), 404, "not_found"},
		{"join draft", f.env.Post(t, roomPath(draft.ID), user, nil), 404, "not_found"},
		{"status draft", f.env.Get(t, roomPath(draft.ID), user), 404, "not_found"},
		{"leave draft", del(roomPath(draft.ID), user), 404, "not_found"},
		{"status not joined", f.env.Get(t, roomPath(room.ID), user), 404, "not_found"},
		{"join without a room", f.env.Post(t, roomPath(plain.ID), user, nil), 409, "invalid_state"},
		{"join cancelled", f.env.Post(t, roomPath(cancelled.ID), user, nil), 409, "invalid_state"},
		{"stats as user", f.env.Get(t, "/api/v1/admin/events/"+room.ID+"/waiting-room", user), 403, "forbidden"},
		{"stats anonymously", f.env.Get(t, "/api/v1/admin/events/"+room.ID+"/waiting-room", ""), 401, "unauthorized"},
		{"stats unknown event", f.env.Get(t, "/api/v1/admin/events/"+uuid.NewString()+"/waiting-room", f.admin), 404, "not_found"},
	} {
		wantProblem(t, tc.name, tc.r, tc.code, tc.want)
	}
	if r := del(roomPath(room.ID), user); r.Status != 204 {
		t.Errorf("leave without a ticket = %d, want 204", r.Status)
	}
	// Admins see any event's room, drafts included.
	if st := roomStats(t, f.env, f.admin, draft.ID); !st.Enabled || st.Waiting != 0 || st.AdmitPerMinute != 60 {
		t.Errorf("draft stats = %+v", st)
	}
	if st := roomStats(t, f.env, f.admin, plain.ID); st.Enabled || st.AdmitPerMinute != 100 {
		t.Errorf("stats of an event without a room = %+v", st)
	}
}

// TestWaitingRoomReplicas: two Evently processes (two asynq servers)
// against one Postgres and one Redis admit at the configured rate, not
// twice it; when both stop, a third picks the chain up without anyone
// joining again.
func TestWaitingRoomReplicas(t *testing.T) {
	t.Parallel()
	db, rdb := pgtest.NewURL(t), redistest.NewURL(t)
	shared := []apptest.Option{apptest.WithEnv("DATABASE_URL", db), apptest.WithEnv("REDIS_URL", rdb)}
	const perMinute = 120 // two a second

	var eventID, admin string
	t.Run("two instances", func(t *testing.T) {
		a, b := apptest.Start(t, shared...), apptest.Start(t, shared...)
		admin = a.Token(t, auth.Principal{UserID: uuid.New(), Role: auth.RoleAdmin})
		r := a.Post(t, "/api/v1/admin/events", admin, eventBody(set("status", "published"),
			withRoom(map[string]any{"enabled": true, "admit_per_minute": perMinute})))
		if r.Status != 201 {
			t.Fatalf("create event = %d %s", r.Status, r.Body)
		}
		var e eventJSON
		r.Decode(t, &e)
		eventID = e.ID
		// 100 users join, alternately through each process.
		for i := range 100 {
			env := []*apptest.Env{a, b}[i%2]
			joinRoom(t, env, env.Token(t, auth.Principal{UserID: uuid.New(), Role: auth.RoleUser}), eventID)
		}
		time.Sleep(2 * time.Second)
		from := roomStats(t, a, admin, eventID)
		start := time.Now()
		time.Sleep(10 * time.Second)
		to := roomStats(t, b, admin, eventID)
		elapsed := time.Since(start)
		got := to.AdmittedTotal - from.AdmittedTotal
		want := float64(perMinute) * elapsed.Minutes()
		t.Logf("two instances admitted %d in %v at %d/min (%.1f expected)", got, elapsed.Round(time.Millisecond), perMinute, want)
		if float64(got) > want*1.25+2 || float64(got) < want*0.75 {
			t.Errorf("two instances admitted %d in %v, want about %.0f (%d/min, not twice it)", got, elapsed, want, perMinute)
		}
		if to.AdmittedLastMinute > perMinute {
			t.Errorf("admitted %d in the last minute, want at most %d", to.AdmittedLastMinute, perMinute)
		}
	})
	if t.Failed() {
		return
	}
	// Both processes are gone; a new one resumes the chain from Redis.
	c := apptest.Start(t, shared...)
	before := roomStats(t, c, admin, eventID)
	if before.Waiting == 0 {
		t.Fatal("nobody left waiting; the test proves nothing")
	}
	if !poll(15*time.Second, func() bool { return roomStats(t, c, admin, eventID).AdmittedTotal >= before.AdmittedTotal+4 }) {
		t.Errorf("after a restart, admissions did not resume: %+v then %+v", before, roomStats(t, c, admin, eventID))
	}
}
