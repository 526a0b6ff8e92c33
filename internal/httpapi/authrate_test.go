package httpapi_test

import (
	"fmt"
	"net/http"
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
	proxied, proxy := apptest.Proxied(t, redistest.NewURL(t))
	env := apptest.Start(t, apptest.WithEnv("REDIS_URL", proxied), apptest.WithEnv("EVENTLY_AUTH_RATE_PER_MINUTE", "2"))
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

func TestAuthRateLimit(t *testing.T) {
	t.Parallel()
	env := apptest.Start(t, apptest.WithEnv("EVENTLY_AUTH_RATE_PER_MINUTE", "3"))
	creds := map[string]string{"email": "nobody@example.com", "password": password}
	for i := range 3 {
		// A client-sent X-Forwarded-For is not trusted: it changes nothing.
		r := env.Do(t, apptest.Request{Method: http.MethodPost, Path: "/api/v1/auth/login", Body: creds,
			Header: http.Header{"X-Forwarded-For": {fmt.Sprintf("198.51.100.%d", i)}}})
		wantProblem(t, "login", r, http.StatusUnauthorized, "invalid_credentials", "")
	}
	r := env.Do(t, apptest.Request{Method: http.MethodPost, Path: "/api/v1/auth/login", Body: creds,
		Header: http.Header{"X-Forwarded-For": {"198.51.100.99"}}})
	wantProblem(t, "4th login in a minute", r, http.StatusTooManyRequests, "rate_limited", "")
	if ra := r.Header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("Retry-After = %q, want a number of seconds", ra)
	}

	// Each endpoint counts on its own.
	for i := range 3 {
		register(t, env, fmt.Sprintf("rl%d@example.com", i), password, "R")
	}
	r = env.Post(t, "/api/v1/auth/register", "", map[string]string{"email": "rl9@example.com", "password": password, "name": "R"})
	wantProblem(t, "4th register in a minute", r, http.StatusTooManyRequests, "rate_limited", "")
	if r.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	// Other endpoints are not limited by /auth's limits.
	if r := env.Get(t, "/healthz", ""); r.Status != http.StatusOK {
		t.Errorf("GET /healthz = %d, want 200", r.Status)
	}
}

func TestAuthRateLimitTrustedHeader(t *testing.T) {
	t.Parallel()
	env := apptest.Start(t,
		apptest.WithEnv("EVENTLY_AUTH_RATE_PER_MINUTE", "2"),
		apptest.WithEnv("EVENTLY_TRUSTED_IP_HEADER", "X-Forwarded-For"))
	// A new e-mail each time, so that only the per-address limit counts
	// (failures for one account are throttled on their own).
	n := 0
	loginFrom := func(xff ...string) *apptest.Response {
		n++
		creds := map[string]string{"email": fmt.Sprintf("nobody%d@example.com", n), "password": password}
		return env.Do(t, apptest.Request{Method: http.MethodPost, Path: "/api/v1/auth/login", Body: creds,
			Header: http.Header{"X-Forwarded-For": xff}})
	}
	for range 2 {
		wantProblem(t, "login from .1", loginFrom("203.0.113.1"), http.StatusUnauthorized, "invalid_credentials", "")
	}
	wantProblem(t, "3rd login from .1", loginFrom("203.0.113.1"), http.StatusTooManyRequests, "rate_limited", "")
	// The proxy appends the address it saw: entries to its left are the
	// client's to invent and change nothing.
	wantProblem(t, "spoofed login from .1", loginFrom("192.0.2.7, 203.0.113.1"), http.StatusTooManyRequests, "rate_limited", "")
	wantProblem(t, "split header from .1", loginFrom("192.0.2.8", "203.0.113.1"), http.StatusTooManyRequests, "rate_limited", "")
	// Another client behind the proxy has a budget of its own.
	wantProblem(t, "login from .2", loginFrom("203.0.113.1, 203.0.113.2"), http.StatusUnauthorized, "invalid_credentials", "")
	// IPv6 clients count by /64.
	wantProblem(t, "login from v6 ::1", loginFrom("2001:db8:1:2::1"), http.StatusUnauthorized, "invalid_credentials", "")
	wantProblem(t, "login from v6 ::2", loginFrom("2001:db8:1:2::2"), http.StatusUnauthorized, "invalid_credentials", "")
	wantProblem(t, "login from v6 ::3", loginFrom("2001:db8:1:2::3"), http.StatusTooManyRequests, "rate_limited", "")
	// Without the header, the peer address counts.
	for range 2 {
		wantProblem(t, "login from the peer", loginFrom(), http.StatusUnauthorized, "invalid_credentials", "")
	}
	wantProblem(t, "3rd login from the peer", loginFrom(), http.StatusTooManyRequests, "rate_limited", "")
}

// TestLoginThrottledPerAccount: after five failed logins for one e-mail
// (from any address), logins to it wait — 429 with Retry-After, even with
// the right password — while other accounts are untouched.
func TestLoginThrottledPerAccount(t *testing.T) {
	t.Parallel()
	env := apptest.Start(t)
	register(t, env, "jo@example.com", password, "Jo")
	register(t, env, "sam@example.com", password, "Sam")
	for i := range 5 {
		r := env.Post(t, "/api/v1/auth/login", "", map[string]string{"email": "jo@example.com", "password": fmt.Sprintf("guess-%d-guess", i)})
		wantProblem(t, fmt.Sprintf("failure %d", i+1), r, http.StatusUnauthorized, "invalid_credentials", "")
	}
	r := env.Post(t, "/api/v1/auth/login", "", map[string]string{"email": "JO@example.com", "password": password})
	wantProblem(t, "login after five failures", r, http.StatusTooManyRequests, "rate_limited", "")
	if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 5 {
		t.Errorf("Retry-After = %q, want 1 to 5 seconds", r.Header.Get("Retry-After"))
	}
	login(t, env, "sam@example.com", password)
}
