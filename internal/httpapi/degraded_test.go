package httpapi_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/evently/evently/internal/apptest"
	"github.com/evently/evently/internal/redistest"
)

// TestStartsWithoutRedis starts evently while Redis does not answer. It
// starts (degraded: /readyz 200 "degraded"), sells the seats of an event
// without a waiting room (hold and confirm on Postgres alone), and answers
// 503 for what needs Redis. Once Redis comes up, nothing is restarted: the
// waiting room admits within seconds — the asynq server, started without
// Redis, picks the admission tasks up — and the admitted buyer books.
func TestStartsWithoutRedis(t *testing.T) {
	t.Parallel()
	proxied, proxy := apptest.Proxied(t, redistest.NewURL(t))
	proxy.Stop()
	f := newFixture(t, apptest.WithEnv("REDIS_URL", proxied))

	var ready struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	r := f.env.Get(t, "/readyz", "")
	r.Decode(t, &ready)
	if r.Status != http.StatusOK || ready.Status != "degraded" || ready.Checks["redis"] != "down" || ready.Checks["postgres"] != "up" {
		t.Fatalf("/readyz without Redis = %d %s, want 200 degraded with redis down", r.Status, r.Body)
	}

	plain := f.publish(t, gaEvent(10))
	room := f.publish(t, gaEvent(10), withRoom(map[string]any{"enabled": true, "admit_per_minute": 600}))
	buyers := f.buyers(t, 2)
	b := f.hold(t, buyers[0], map[string]any{"event_id": plain.ID, "quantity": 2})
	if c := f.confirm(t, buyers[0], b.ID); c.Status != "confirmed" {
		t.Fatalf("confirm without Redis = %+v", c)
	}
	wantProblem(t, "join a waiting room without Redis", f.env.Post(t, roomPath(room.ID), buyers[1], nil),
		http.StatusServiceUnavailable, "unavailable")

	proxy.Start()
	back := time.Now()
	joined := poll(15*time.Second, func() bool {
		return f.env.Post(t, roomPath(room.ID), buyers[1], nil).Status == http.StatusOK
	})
	if !joined {
		t.Fatal("joining the waiting room still fails 15s after Redis came up")
	}
	var tk ticketJSON
	if !poll(15*time.Second, func() bool { tk = pollPaced(t, f.env, buyers[1], room.ID); return tk.Status == "admitted" }) {
		t.Fatalf("not admitted 15s after joining: %+v", tk)
	}
	t.Logf("admitted %v after Redis came up", time.Since(back).Round(time.Millisecond))
	r = f.env.Do(t, apptest.Request{Method: http.MethodPost, Path: "/api/v1/bookings", Token: buyers[1],
		Body: map[string]any{"event_id": room.ID, "quantity": 1}, Header: http.Header{"Evently-Admission": {*tk.Pass}}})
	if r.Status != http.StatusCreated {
		t.Fatalf("hold after admission = %d %s, want 201", r.Status, r.Body)
	}
	r = f.env.Get(t, "/readyz", "")
	r.Decode(t, &ready)
	if r.Status != http.StatusOK || ready.Status != "ok" {
		t.Errorf("/readyz with Redis back = %d %s, want 200 ok", r.Status, r.Body)
	}
}
