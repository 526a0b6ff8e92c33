package httpapi_test

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/evently/evently/internal/apptest"
	"github.com/evently/evently/internal/pgtest"
	"github.com/evently/evently/internal/redistest"
)

// failedLogin sends a login that fails (a new e-mail each time, so that
// only the per-address limit counts, not the throttle of one account).
func failedLogin(t *testing.T, env *apptest.Env, n *atomic.Int64) *apptest.Response {
	t.Helper()
	creds := map[string]string{"email": fmt.Sprintf("nobody%d@example.com", n.Add(1)), "password": password}
	return env.Post(t, "/api/v1/auth/login", "", creds)
}

// TestAuthRateSharedAcrossReplicas: two replicas on one Redis draw on one
// per-address budget, so a client cannot multiply its logins by the number
// of replicas behind the load balancer.
func TestAuthRateSharedAcrossReplicas(t *testing.T) {
	t.Parallel()
	db, rdb := pgtest.NewURL(t), redistest.NewURL(t)
	opts := []apptest.Option{
		apptest.WithEnv("DATABASE_URL", db), apptest.WithEnv("REDIS_URL", rdb),
		apptest.WithEnv("EVENTLY_AUTH_RATE_PER_MINUTE", "4"),
	}
	a, b := apptest.Start(t, opts...), apptest.Start(t, opts...)
	var n atomic.Int64
	for i, env := range []*apptest.Env{a, b, a, b} {
		wantProblem(t, fmt.Sprintf("login %d", i+1), failedLogin(t, env, &n), http.StatusUnauthorized, "invalid_credentials")
	}
	for name, env := range map[string]*apptest.Env{"a": a, "b": b} {
		r := failedLogin(t, env, &n)
		wantProblem(t, "5th login, on replica "+name, r, http.StatusTooManyRequests, "rate_limited")
		// The budget refills at 4 a minute: the next one in about 15 s.
		if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 15 {
			t.Errorf("replica %s: Retry-After = %q, want 1-15 seconds", name, r.Header.Get("Retry-After"))
		}
	}
}

var fallbacksMetric = regexp.MustCompile(`(?m)^evently_auth_rate_fallbacks_total (\S+)$`)

func authFallbacks(t *testing.T, env *apptest.Env) float64 {
	t.Helper()
	m := fallbacksMetric.FindStringSubmatch(env.Metrics(t))
	if m == nil {
		t.Fatal("no evently_auth_rate_fallbacks_total in /metrics")
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestAuthRateFailsOpenWithoutRedis: with Redis cut, /auth/* still answers
// (never a 5xx), limited by this process's own counts, and the fallback is
// counted; once Redis is back, the shared budget is used again.
func TestAuthRateFailsOpenWithoutRedis(t *testing.T) {
	t.Parallel()
	u, err := url.Parse(redistest.NewURL(t))
	if err != nil {
		t.Fatal(err)
	}
	proxy := apptest.NewProxy(t, u.Host)
	u.Host = proxy.Addr()
	env := apptest.Start(t, apptest.WithEnv("REDIS_URL", u.String()), apptest.WithEnv("EVENTLY_AUTH_RATE_PER_MINUTE", "2"))
	var n atomic.Int64
	for i := range 2 {
		wantProblem(t, fmt.Sprintf("login %d", i+1), failedLogin(t, env, &n), http.StatusUnauthorized, "invalid_credentials")
	}
	wantProblem(t, "3rd login", failedLogin(t, env, &n), http.StatusTooManyRequests, "rate_limited")
	if got := authFallbacks(t, env); got != 0 {
		t.Fatalf("fallbacks with Redis up = %v, want 0", got)
	}

	proxy.Stop()
	// This process's own count starts afresh: the limit holds, per process.
	for i := range 2 {
		wantProblem(t, fmt.Sprintf("login %d, Redis cut", i+1), failedLogin(t, env, &n), http.StatusUnauthorized, "invalid_credentials")
	}
	r := failedLogin(t, env, &n)
	wantProblem(t, "3rd login, Redis cut", r, http.StatusTooManyRequests, "rate_limited")
	if r.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After, Redis cut")
	}
	if got := authFallbacks(t, env); got < 3 {
		t.Errorf("fallbacks with Redis cut = %v, want at least 3", got)
	}

	proxy.Start()
	deadline := time.Now().Add(15 * time.Second)
	for {
		before := authFallbacks(t, env)
		failedLogin(t, env, &n)
		if authFallbacks(t, env) == before {
			break // decided on the shared budget
		}
		if time.Now().After(deadline) {
			t.Fatal("the shared budget was not used again within 15s of Redis' return")
		}
		time.Sleep(250 * time.Millisecond)
	}
}
