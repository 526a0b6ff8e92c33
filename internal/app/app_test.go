package app_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/evently/evently/internal/app"
	"github.com/evently/evently/internal/apptest"
	"github.com/evently/evently/internal/config"
	"github.com/evently/evently/internal/logging"
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

// proxied returns raw with its host replaced by the proxy's address.
func proxied(t *testing.T, raw string) (string, *apptest.Proxy) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	p := apptest.NewProxy(t, u.Host)
	u.Host = p.Addr()
	return u.String(), p
}

// TestReadyzFollowsDependencies cuts Redis, then Postgres, and checks that
// /readyz names the one that is down and recovers once it is back, with
// evently running throughout.
func TestReadyzFollowsDependencies(t *testing.T) {
	t.Parallel()
	redisURL, redisProxy := proxied(t, redistest.NewURL(t))
	dbURL, dbProxy := proxied(t, pgtest.NewURL(t))
	env := apptest.Start(t, apptest.WithEnv("REDIS_URL", redisURL), apptest.WithEnv("DATABASE_URL", dbURL))

	ready := func() (int, map[string]string) {
		r := env.Get(t, "/readyz", "")
		var body struct {
			Checks map[string]string `json:"checks"`
		}
		r.Decode(t, &body)
		return r.Status, body.Checks
	}
	waitFor := func(wantStatus int, dep, wantState string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			status, checks := ready()
			if status == wantStatus && checks[dep] == wantState {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("/readyz = %d %v, want %d with %s %s", status, checks, wantStatus, dep, wantState)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	waitFor(200, "redis", "up")
	redisProxy.Stop()
	waitFor(503, "redis", "down")
	if _, checks := ready(); checks["postgres"] != "up" {
		t.Errorf("postgres = %q while only Redis is down", checks["postgres"])
	}
	redisProxy.Start()
	waitFor(200, "redis", "up")

	dbProxy.Stop()
	waitFor(503, "postgres", "down")
	dbProxy.Start()
	waitFor(200, "postgres", "up")
}

// TestShutdownFinishesInFlightRequests cancels the run context (what
// SIGTERM does) while a slow request is being served: the request
// completes and Run returns nil.
func TestShutdownFinishesInFlightRequests(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"DATABASE_URL":         pgtest.NewURL(t),
		"REDIS_URL":            redistest.NewURL(t),
		"EVENTLY_JWT_SECRET":   "test-secret-test-secret-test-secret-0123",
		"EVENTLY_METRICS_ADDR": "127.0.0.1:0",
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
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
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := app.New(ctx, cfg, logging.Discard(), app.Options{Listener: ln, WrapHandler: slow})
	if err != nil {
		t.Fatal(err)
	}
	runErr := make(chan error, 1)
	go func() { runErr <- a.Run(ctx) }()

	type result struct {
		status int
		err    error
	}
	reqDone := make(chan result, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/slow")
		if err != nil {
			reqDone <- result{err: err}
			return
		}
		resp.Body.Close()
		reqDone <- result{status: resp.StatusCode}
	}()
	<-inFlight
	stopAt := time.Now()
	cancel()

	res := <-reqDone
	if res.err != nil || res.status != http.StatusOK {
		t.Fatalf("in-flight request = %d, %v; want 200", res.status, res.err)
	}
	select {
	case err := <-runErr:
		if err != nil {
			t.Fatalf("Run() = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10s of shutdown")
	}
	if elapsed := time.Since(stopAt); elapsed > 10*time.Second {
		t.Errorf("shutdown took %v", elapsed)
	}
	if _, err := http.Get("http://" + ln.Addr().String() + "/healthz"); err == nil {
		t.Error("server still accepts requests after shutdown")
	}
}
