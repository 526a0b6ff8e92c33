package httpapi_test

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/apptest"
	"github.com/evently/evently/internal/auth"
	"github.com/evently/evently/internal/redistest"
)

// checkPacing fails unless the answer says when to poll again, the same in
// the body and in Retry-After (whole seconds, rounded up), within 1–30 s.
func checkPacing(t *testing.T, what string, r *apptest.Response, tk ticketJSON) {
	t.Helper()
	want := strconv.FormatInt((tk.PollAfterMS+999)/1000, 10)
	if got := r.Header.Get("Retry-After"); got != want || tk.PollAfterMS < 1000 || tk.PollAfterMS > 30000 {
		t.Errorf("%s: poll_after_ms %d with Retry-After %q, want 1000..30000 and Retry-After %s", what, tk.PollAfterMS, got, want)
	}
}

func joinPaced(t *testing.T, env *apptest.Env, token, eventID string) ticketJSON {
	t.Helper()
	tk, r := roomRequest(t, env, http.MethodPost, token, eventID)
	checkPacing(t, "join", r, tk)
	return tk
}

func pollPaced(t *testing.T, env *apptest.Env, token, eventID string) ticketJSON {
	t.Helper()
	tk, r := roomRequest(t, env, http.MethodGet, token, eventID)
	checkPacing(t, "poll", r, tk)
	return tk
}

func users(t *testing.T, env *apptest.Env, n int) []string {
	t.Helper()
	out := make([]string, n)
	for i := range out {
		out[i] = env.Token(t, auth.Principal{UserID: uuid.New(), Role: auth.RoleUser})
	}
	return out
}

// TestWaitingRoomPreQueue: users who join before sales open are in the
// pre-queue, with no position, told to come back at the opening; the room
// opens on its own (nobody polls) and admits the whole pre-queue before
// anyone who joined after the opening, who are admitted in arrival order.
func TestWaitingRoomPreQueue(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	opens := time.Now().Add(4 * time.Second).Truncate(time.Second)
	e := f.publish(t, set("sales_start", opens.UTC().Format(time.RFC3339)),
		withRoom(map[string]any{"enabled": true, "admit_per_minute": 600}))
	early, late := users(t, f.env, 20), users(t, f.env, 8)
	for i, u := range early {
		tk := joinPaced(t, f.env, u, e.ID)
		left := time.Until(opens)
		if tk.Status != "pre_queue" || tk.Position != nil || tk.Pass != nil {
			t.Fatalf("join %d before sales open = %+v, want the pre-queue, no position", i, tk)
		}
		// Until the opening, plus at most the 2 s the room needs for 20
		// at 10 a second.
		if ms := time.Duration(tk.PollAfterMS) * time.Millisecond; ms < left-time.Second || ms > left+3*time.Second {
			t.Errorf("pre-queue join %s before the opening: poll after %v", left.Round(time.Millisecond), ms)
		}
	}
	// Nobody polls across the opening: the admission chain opens the room.
	time.Sleep(time.Until(opens) + 2500*time.Millisecond)
	if st := roomStats(t, f.env, f.admin, e.ID); st.AdmittedTotal == 0 {
		t.Fatalf("2.5 s after the opening with nobody polling: %+v, want admissions under way", st)
	}
	for _, u := range late {
		if tk := joinPaced(t, f.env, u, e.ID); tk.Status != "waiting" || tk.Position == nil {
			t.Fatalf("join after the opening = %+v, want waiting with a position", tk)
		}
	}
	admitted := func(tokens []string) []time.Time {
		out := make([]time.Time, len(tokens))
		if !poll(20*time.Second, func() bool {
			for i, u := range tokens {
				if out[i].IsZero() {
					if tk := pollPaced(t, f.env, u, e.ID); tk.Status == "admitted" {
						out[i] = *tk.AdmittedAt
					}
				}
			}
			for _, at := range out {
				if at.IsZero() {
					return false
				}
			}
			return true
		}) {
			t.Fatal("not everyone admitted within 20s")
		}
		return out
	}
	pre, post := admitted(early), admitted(late)
	var lastPre time.Time
	for _, at := range pre {
		if at.Before(opens) {
			t.Errorf("pre-queue member admitted at %v, before the opening %v", at, opens)
		}
		if at.After(lastPre) {
			lastPre = at
		}
	}
	for i, at := range post {
		if at.Before(lastPre) {
			t.Errorf("late joiner %d admitted at %v, before the last of the pre-queue (%v)", i, at, lastPre)
		}
		if i > 0 && at.Before(post[i-1]) {
			t.Errorf("late joiner %d admitted at %v, before joiner %d (%v): not in arrival order", i, at, i-1, post[i-1])
		}
	}
}

// TestWaitingRoomPacing: joins and polls say when to ask again, in the
// body and in Retry-After, later deep in the line than near its head.
func TestWaitingRoomPacing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	e := f.publish(t, withRoom(map[string]any{"enabled": true, "admit_per_minute": 60}))
	tokens := users(t, f.env, 40)
	for _, u := range tokens {
		joinPaced(t, f.env, u, e.ID)
	}
	last := int64(0)
	deep, near := int64(0), int64(0)
	for _, u := range tokens[5:] {
		tk := pollPaced(t, f.env, u, e.ID)
		if tk.Status != "waiting" {
			continue
		}
		// One a second: position p waits p seconds; poll after half.
		want := min(30000, max(1000, *tk.Position*500))
		if d := tk.PollAfterMS - want; d < -600 || d > 600 {
			t.Errorf("position %d: poll after %d ms, want about %d", *tk.Position, tk.PollAfterMS, want)
		}
		if tk.PollAfterMS+600 < last {
			t.Errorf("position %d polls after %d ms, sooner than a place ahead (%d)", *tk.Position, tk.PollAfterMS, last)
		}
		last = tk.PollAfterMS
		if near == 0 {
			near = tk.PollAfterMS
		}
		deep = tk.PollAfterMS
	}
	if deep < 10000 || near > 5000 {
		t.Errorf("poll after %d ms near the head and %d ms deep in the line, want far apart", near, deep)
	}
}

// TestBookingWithAdmissionPass: the admitted ticket carries a pass that books its
// holder into its event; forged, expired, other-event and other-user
// passes are refused with the reason, without falling back to Redis; and
// leaving revokes the pass.
func TestBookingWithAdmissionPass(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	room := withRoom(map[string]any{"enabled": true, "admit_per_minute": 600})
	e, other := f.publish(t, room), f.publish(t, room)
	short := f.publish(t, withRoom(map[string]any{"enabled": true, "admit_per_minute": 600, "admission_ttl_seconds": 1}))
	buyers := f.buyers(t, 3)
	alice, bob, carol := buyers[0], buyers[1], buyers[2]
	admit := func(token, eventID string) ticketJSON {
		t.Helper()
		joinPaced(t, f.env, token, eventID)
		var tk ticketJSON
		if !poll(10*time.Second, func() bool { tk = pollPaced(t, f.env, token, eventID); return tk.Status == "admitted" }) {
			t.Fatalf("not admitted within 10s: %+v", tk)
		}
		if tk.Pass == nil || *tk.Pass == "" {
			t.Fatalf("admitted ticket without a pass: %+v", tk)
		}
		return tk
	}
	hold := func(token, eventID, pass string) *apptest.Response {
		req := apptest.Request{Method: http.MethodPost, Path: "/api/v1/bookings", Token: token,
			Body: map[string]any{"event_id": eventID, "quantity": 1}}
		if pass != "" {
			req.Header = http.Header{"Evently-Admission": {pass}}
		}
		return f.env.Do(t, req)
	}
	refused := func(what string, r *apptest.Response, reason string) {
		t.Helper()
		wantProblem(t, what, r, 403, "waiting_room_required")
		var p struct {
			AdmissionPass string `json:"admission_pass"`
		}
		r.Decode(t, &p)
		if p.AdmissionPass != reason {
			t.Errorf("%s: admission_pass %q, want %q (%s)", what, p.AdmissionPass, reason, r.Body)
		}
	}

	tk := admit(alice, e.ID)
	pass := *tk.Pass
	if r := hold(alice, e.ID, pass); r.Status != 201 {
		t.Fatalf("hold with a valid pass = %d %s", r.Status, r.Body)
	}
	admit(bob, e.ID)
	body, sig, _ := strings.Cut(pass, ".")
	flip := func(s string) string {
		if s[0] == 'A' {
			return "B" + s[1:]
		}
		return "A" + s[1:]
	}
	for name, forged := range map[string]string{
		"garbage":          "forged",
		"altered payload":  flip(body) + "." + sig,
		"altered sig":      body + "." + flip(sig),
		"pass and garbage": pass + "x",
	} {
		refused("hold with a forged pass ("+name+")", hold(alice, e.ID, forged), "invalid")
	}
	refused("hold with another user's pass", hold(bob, e.ID, pass), "other_user")
	refused("hold with another event's pass", hold(alice, other.ID, pass), "other_event")
	// Without the header the waiting room is asked, as before.
	if r := hold(bob, e.ID, ""); r.Status != 201 {
		t.Errorf("admitted hold without a pass = %d %s", r.Status, r.Body)
	}

	// A pass lapses with its admission.
	st := admit(carol, short.ID)
	time.Sleep(time.Until(*st.AdmittedUntil) + 100*time.Millisecond)
	refused("hold with an expired pass", hold(carol, short.ID, *st.Pass), "expired")

	// Leaving revokes it.
	if r := f.env.Do(t, apptest.Request{Method: http.MethodDelete, Path: roomPath(e.ID), Token: alice}); r.Status != 204 {
		t.Fatalf("leave = %d %s", r.Status, r.Body)
	}
	refused("hold with the pass of an admission given up", hold(alice, e.ID, pass), "revoked")
	wantProblem(t, "hold without a pass after leaving", hold(alice, e.ID, ""), 403, "waiting_room_required")
}

// TestAdmissionPassWithoutRedis: with Redis cut, a valid pass still books
// (and the booking confirms), a forged one is still refused, and a hold
// without a pass answers 503 since admission cannot be checked.
func TestAdmissionPassWithoutRedis(t *testing.T) {
	t.Parallel()
	proxied, proxy := apptest.Proxied(t, redistest.NewURL(t))
	f := newFixture(t, apptest.WithEnv("REDIS_URL", proxied))
	e := f.publish(t, gaEvent(20), withRoom(map[string]any{"enabled": true, "admit_per_minute": 600}))
	buyers := f.buyers(t, 8)
	passes := make([]string, len(buyers))
	for _, b := range buyers {
		joinPaced(t, f.env, b, e.ID)
	}
	for i, b := range buyers {
		var tk ticketJSON
		if !poll(10*time.Second, func() bool { tk = pollPaced(t, f.env, b, e.ID); return tk.Status == "admitted" }) {
			t.Fatalf("buyer %d not admitted within 10s", i)
		}
		passes[i] = *tk.Pass
	}

	proxy.Stop()
	defer proxy.Start() // for a clean shutdown
	if r := f.env.Get(t, "/readyz", ""); r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"degraded"`) {
		t.Fatalf("/readyz with Redis cut = %d %s, want 200 degraded: the cut did not happen", r.Status, r.Body)
	}
	// Concurrent holds with passes, as an on-sale's first admitted make.
	var wg sync.WaitGroup
	held := make([]bookingJSON, 6)
	for i, b := range buyers[:6] {
		wg.Go(func() {
			r := f.env.Do(t, apptest.Request{Method: http.MethodPost, Path: "/api/v1/bookings", Token: b,
				Body: map[string]any{"event_id": e.ID, "quantity": 2}, Header: http.Header{"Evently-Admission": {passes[i]}}})
			if r.Status == http.StatusCreated {
				r.Decode(t, &held[i])
			} else {
				t.Errorf("buyer %d: hold with a pass, Redis cut = %d %s, want 201", i, r.Status, r.Body)
			}
		})
	}
	wg.Wait()
	if held[0].ID != "" {
		if r := f.env.Post(t, "/api/v1/bookings/"+held[0].ID+"/confirm", buyers[0], nil); r.Status != 200 {
			t.Errorf("confirm, Redis cut = %d %s", r.Status, r.Body)
		}
	}
	forged := apptest.Request{Method: http.MethodPost, Path: "/api/v1/bookings", Token: buyers[6],
		Body: map[string]any{"event_id": e.ID, "quantity": 1}, Header: http.Header{"Evently-Admission": {passes[7]}}}
	wantProblem(t, "someone else's pass, Redis cut", f.env.Do(t, forged), 403, "waiting_room_required")
	wantProblem(t, "no pass, Redis cut", f.env.Post(t, "/api/v1/bookings", buyers[7], map[string]any{"event_id": e.ID, "quantity": 1}),
		503, "unavailable")
	f.noSeatTwice(t, e.ID, held)
}
