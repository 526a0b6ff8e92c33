package app_test

import (
	"encoding/json"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/evently/evently/internal/apptest"
	"github.com/evently/evently/internal/pgtest"
	"github.com/evently/evently/internal/redistest"
)

func TestReadyz(t *testing.T) {
	t.Parallel()
	env := apptest.Start(t)
	r := env.Get(t, "/readyz", "")
	if r.Status != http.StatusOK {
		t.Fatalf("GET /readyz = %d %s, want 200", r.Status, r.Body)
	}
	if r := env.Get(t, "/healthz", ""); r.Status != http.StatusOK {
		t.Fatalf("GET /healthz = %d, want 200", r.Status)
	}
}

// TestReadyzFollowsDependencies cuts Redis, then Postgres, and checks
// /readyz with evently running throughout: without Redis the instance
// still serves bookings, so it is ready, "degraded"; without Postgres it
// cannot, so it is not (503). Each state names the dependency that is down,
// and readiness recovers once it is back.
func TestReadyzFollowsDependencies(t *testing.T) {
	t.Parallel()
	redisURL, redisProxy := apptest.Proxied(t, redistest.NewURL(t))
	dbURL, dbProxy := apptest.Proxied(t, pgtest.NewURL(t))
	env := apptest.Start(t, apptest.WithEnv("REDIS_URL", redisURL), apptest.WithEnv("DATABASE_URL", dbURL))

	type readiness struct {
		code   int
		status string // "ok" or "degraded" in a 200
		checks map[string]string
	}
	ready := func() readiness {
		r := env.Get(t, "/readyz", "")
		var body struct {
			Status any               `json:"status"` // a number in a 503's problem
			Checks map[string]string `json:"checks"`
		}
		r.Decode(t, &body)
		s, _ := body.Status.(string)
		return readiness{r.Status, s, body.Checks}
	}
	waitFor := func(code int, status, dep, state string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			got := ready()
			if got.code == code && got.status == status && got.checks[dep] == state {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("/readyz = %d %q %v, want %d %q with %s %s", got.code, got.status, got.checks, code, status, dep, state)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	waitFor(200, "ok", "redis", "up")
	redisProxy.Stop()
	waitFor(200, "degraded", "redis", "down")
	if got := ready(); got.checks["postgres"] != "up" {
		t.Errorf("postgres = %q while only Redis is down", got.checks["postgres"])
	}
	redisProxy.Start()
	waitFor(200, "ok", "redis", "up")

	dbProxy.Stop()
	waitFor(503, "", "postgres", "down")
	if got := ready(); got.checks["redis"] != "up" {
		t.Errorf("redis = %q while only Postgres is down", got.checks["redis"])
	}
	dbProxy.Start()
	waitFor(200, "ok", "postgres", "up")
}

// TestShutdownFinishesInFlightRequests cancels the run context (what
// SIGTERM does) while a slow request is being served: the request
// completes and Run returns nil.
func TestShutdownFinishesInFlightRequests(t *testing.T) {
	t.Parallel()
	var started atomic.Bool
	inFlight := make(chan struct{})
	slow := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/slow" {
				started.Store(true)
				close(inFlight)
				time.Sleep(2 * time.Second)
				w.Header().Set("Content-Type", "application/json")
				_ = json.NewEncoder(w).Encode(map[string]string{"status": "done"})
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	env := apptest.Start(t, apptest.WithHandlerWrapper(slow))

	type result struct {
		status int
		err    error
	}
	reqDone := make(chan result, 1)
	go func() {
		resp, err := http.Get(env.URL + "/slow")
		if err != nil {
			reqDone <- result{err: err}
			return
		}
		resp.Body.Close()
		reqDone <- result{status: resp.StatusCode}
	}()
	<-inFlight
	stopAt := time.Now()
	env.Shutdown()

	res := <-reqDone
	if res.err != nil || res.status != http.StatusOK {
		t.Fatalf("in-flight request = %d, %v; want 200", res.status, res.err)
	}
	if err := env.Wait(t, 10*time.Second); err != nil {
		t.Fatalf("Run() = %v, want nil", err)
	}
	if elapsed := time.Since(stopAt); elapsed > 10*time.Second {
		t.Errorf("shutdown took %v", elapsed)
	}
	if _, err := http.Get(env.URL + "/healthz"); err == nil {
		t.Error("server still accepts requests after shutdown")
	}
}
