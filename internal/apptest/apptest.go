// Package apptest boots a whole Evently process inside a test, on a fresh
// database and Redis database of its own, and gives the test an HTTP client
// that checks every response against the OpenAPI spec: a response whose
// status, headers or body the spec does not describe fails the test, and so
// does an error response that is not problem+json with a code.
package apptest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/evently/evently/api"
	"github.com/evently/evently/internal/app"
	"github.com/evently/evently/internal/auth"
	"github.com/evently/evently/internal/config"
	"github.com/evently/evently/internal/logging"
	"github.com/evently/evently/internal/pgtest"
	"github.com/evently/evently/internal/redis"
	"github.com/evently/evently/internal/redistest"
)

// Env is one running Evently process and what a test needs to talk to it.
type Env struct {
	URL string
	// MetricsURL is the base URL of the listener that serves /metrics, the
	// same as URL when it is served on the API's (EVENTLY_METRICS_ADDR=api).
	MetricsURL  string
	DatabaseURL string
	RedisURL    string
	Config      config.Config
	client      *http.Client
	router      routers.Router

	cancel context.CancelFunc // ends the run context
	done   chan error         // receives what Run returned
	mu     sync.Mutex
	ran    bool // Run has returned and runErr is what it returned
	runErr error
}

// Option changes the environment of the process under test.
type Option func(env map[string]string, opts *app.Options)

// WithEnv sets a configuration variable.
func WithEnv(key, value string) Option {
	return func(env map[string]string, _ *app.Options) { env[key] = value }
}

// WithHandlerWrapper wraps the API handler.
func WithHandlerWrapper(wrap func(http.Handler) http.Handler) Option {
	return func(_ map[string]string, o *app.Options) { o.WrapHandler = wrap }
}

// WithRevocationTTL sets how long the process trusts its list of recent
// token changes, so that a test sees a demotion take effect quickly.
func WithRevocationTTL(d time.Duration) Option {
	return func(_ map[string]string, o *app.Options) { o.RevocationTTL = d }
}

// WithWaitingRooms adjusts the waiting rooms' Redis store.
func WithWaitingRooms(opts ...redis.RoomOption) Option {
	return func(_ map[string]string, o *app.Options) { o.WaitingRooms = append(o.WaitingRooms, opts...) }
}

// Start boots Evently on 127.0.0.1 with a random port and stops it when t
// ends, failing t if the process did not shut down cleanly.
func Start(t testing.TB, opts ...Option) *Env {
	t.Helper()
	env := map[string]string{
		"EVENTLY_JWT_SECRET":           "test-secret-test-secret-test-secret-0123",
		"EVENTLY_AUTH_RATE_PER_MINUTE": "0",
		// Tests hold many times per buyer; the hold ration has its own.
		"EVENTLY_HOLD_RATE_PER_MINUTE": "0",
		"EVENTLY_LOG_LEVEL":            "warn",
		// /metrics on a listener of its own, on any free port.
		"EVENTLY_METRICS_ADDR": "127.0.0.1:0",
	}
	var appOpts app.Options
	for _, o := range opts {
		o(env, &appOpts)
	}
	// A database and Redis database of its own, unless the test shares
	// another process's (WithEnv), as replicas do.
	if env["DATABASE_URL"] == "" {
		env["DATABASE_URL"] = pgtest.NewURL(t)
	}
	if env["REDIS_URL"] == "" {
		env["REDIS_URL"] = redistest.NewURL(t)
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("apptest: config: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("apptest: listen: %v", err)
	}
	appOpts.Listener = ln
	logger := logging.New(testWriter{t}, cfg.LogLevel, "text")
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, logger, appOpts)
	if err != nil {
		cancel()
		t.Fatalf("apptest: start evently: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	metricsURL := "http://" + ln.Addr().String()
	if addr := a.MetricsAddr(); addr != nil {
		metricsURL = "http://" + addr.String()
	}
	e := &Env{
		URL:         "http://" + ln.Addr().String(),
		MetricsURL:  metricsURL,
		DatabaseURL: env["DATABASE_URL"],
		RedisURL:    env["REDIS_URL"],
		Config:      cfg,
		client:      &http.Client{Timeout: 60 * time.Second},
		router:      specRouter(t),
		cancel:      cancel,
		done:        done,
	}
	t.Cleanup(func() {
		e.Shutdown()
		e.mu.Lock()
		waited := e.ran
		e.mu.Unlock()
		if waited {
			return // the test has seen how Run ended
		}
		if ok, err := e.wait(30 * time.Second); !ok {
			t.Errorf("apptest: evently did not shut down within 30s")
		} else if err != nil {
			t.Errorf("apptest: evently shutdown: %v", err)
		}
	})
	return e
}

// Shutdown cancels the process's run context, as SIGTERM does, and
// returns at once.
func (e *Env) Shutdown() { e.cancel() }

// Wait returns what the process's Run returned, failing t unless it
// returns within d of the call.
func (e *Env) Wait(t testing.TB, d time.Duration) error {
	t.Helper()
	ok, err := e.wait(d)
	if !ok {
		t.Fatalf("apptest: evently did not shut down within %v", d)
	}
	return err
}

// wait reports whether Run returned within d, and what it returned.
func (e *Env) wait(d time.Duration) (bool, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.ran {
		select {
		case e.runErr = <-e.done:
			e.ran = true
		case <-time.After(d):
			return false, nil
		}
	}
	return true, e.runErr
}

func specRouter(t testing.TB) routers.Router {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(api.Spec)
	if err != nil {
		t.Fatalf("apptest: parse openapi spec: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("apptest: validate openapi spec: %v", err)
	}
	doc.Servers = nil // match requests whatever host the test server has
	r, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatalf("apptest: spec router: %v", err)
	}
	return r
}

// Response is a received response with its body read.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
	// Request names what was asked ("POST /api/v1/bookings").
	Request string
}

// Want fails t now unless the response has status, naming the request and
// showing the body. It returns r, to decode what a fixture needs:
//
//	env.Post(t, "/api/v1/bookings", token, body).Want(t, http.StatusCreated).Decode(t, &b)
func (r *Response) Want(t testing.TB, status int) *Response {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%s = %d %s, want %d", r.Request, r.Status, truncate(r.Body), status)
	}
	return r
}

// Decode unmarshals the body into v, failing t on error.
func (r *Response) Decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// Problem is the part of a problem document tests look at.
type Problem struct {
	Status int    `json:"status"`
	Code   string `json:"code"`
	Detail string `json:"detail"`
	Errors []struct {
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"errors"`
}

// Problem decodes the body as a problem document.
func (r *Response) Problem(t testing.TB) Problem {
	t.Helper()
	var p Problem
	r.Decode(t, &p)
	return p
}

// Request describes one request to send.
type Request struct {
	Method string
	Path   string
	// Body is marshalled as JSON unless it is a []byte or string, which are
	// sent as they are.
	Body    any
	Token   string
	Header  http.Header
	NoCheck bool // skip the spec check (for deliberately off-spec requests)
}

// Do sends req and checks the response against the spec.
func (e *Env) Do(t testing.TB, req Request) *Response {
	t.Helper()
	var body io.Reader
	var raw []byte
	switch b := req.Body.(type) {
	case nil:
	case []byte:
		raw = b
	case string:
		raw = []byte(b)
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			t.Fatalf("marshal body: %v", err)
		}
	}
	if raw != nil {
		body = bytes.NewReader(raw)
	}
	hr, err := http.NewRequest(req.Method, e.URL+req.Path, body)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	if raw != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	for k, vs := range req.Header {
		hr.Header[k] = vs
	}
	if req.Token != "" {
		hr.Header.Set("Authorization", "Bearer "+req.Token)
	}
	resp, err := e.client.Do(hr)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.Path, err)
	}
	defer resp.Body.Close()
	respBody, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", req.Method, req.Path, err)
	}
	out := &Response{Status: resp.StatusCode, Header: resp.Header, Body: respBody, Request: req.Method + " " + req.Path}
	CheckProblem(t, out.Request, out)
	if !req.NoCheck {
		e.checkSpec(t, hr, raw, out)
	}
	return out
}

// Metrics returns the text of GET /metrics, failing t unless it answers
// 200.
func (e *Env) Metrics(t testing.TB) string {
	t.Helper()
	resp, err := e.client.Get(e.MetricsURL + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics = %d, %v", resp.StatusCode, err)
	}
	return string(b)
}

// Get is Do for a GET.
func (e *Env) Get(t testing.TB, path, token string) *Response {
	t.Helper()
	return e.Do(t, Request{Method: http.MethodGet, Path: path, Token: token})
}

// Post is Do for a POST with a JSON body (nil for none).
func (e *Env) Post(t testing.TB, path, token string, body any) *Response {
	t.Helper()
	return e.Do(t, Request{Method: http.MethodPost, Path: path, Token: token, Body: body})
}

// CheckProblem fails t when an error response is not a problem document
// with a code, or any response lacks X-Request-ID.
func CheckProblem(t testing.TB, what string, r *Response) {
	t.Helper()
	if r.Header.Get("X-Request-ID") == "" {
		t.Errorf("%s: response has no X-Request-ID", what)
	}
	if r.Status < 400 {
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("%s: status %d with Content-Type %q, want application/problem+json", what, r.Status, ct)
		return
	}
	var p Problem
	if err := json.Unmarshal(r.Body, &p); err != nil || p.Code == "" || p.Status != r.Status {
		t.Errorf("%s: status %d: problem without code or with a wrong status: %s", what, r.Status, r.Body)
	}
}

// checkSpec validates the request's response against the operation the
// spec declares for it.
func (e *Env) checkSpec(t testing.TB, req *http.Request, reqBody []byte, resp *Response) {
	t.Helper()
	what := req.Method + " " + req.URL.Path
	route, params, err := e.router.FindRoute(req)
	if err != nil {
		if resp.Status == http.StatusNotFound || resp.Status == http.StatusMethodNotAllowed {
			return // no such route: the problem check above is all there is
		}
		t.Errorf("%s: not in the OpenAPI spec (%v) but answered %d", what, err, resp.Status)
		return
	}
	if reqBody != nil {
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	input := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request:    req,
			PathParams: params,
			Route:      route,
			Options:    &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
		},
		Status: resp.Status,
		Header: resp.Header,
		Options: &openapi3filter.Options{
			IncludeResponseStatus: true,
			MultiError:            true,
		},
	}
	input.SetBodyBytes(resp.Body)
	if err := openapi3filter.ValidateResponse(context.Background(), input); err != nil {
		t.Errorf("%s: response %d does not match the spec: %v\nbody: %s", what, resp.Status, trim(err), truncate(resp.Body))
	}
}

func trim(err error) string {
	var me openapi3.MultiError
	if errors.As(err, &me) {
		var parts []string
		for _, e := range me {
			parts = append(parts, e.Error())
		}
		return strings.Join(parts, "; ")
	}
	return err.Error()
}

func truncate(b []byte) string {
	if len(b) > 2000 {
		return string(b[:2000]) + "..."
	}
	return string(b)
}

// testWriter sends log lines to the test log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// Token mints an access token for a principal directly, as if that user had
// logged in.
func (e *Env) Token(t testing.TB, p auth.Principal) string {
	t.Helper()
	tok, err := auth.NewTokens(e.Config.JWTSecret, 15*time.Minute, nil).Issue(p)
	if err != nil {
		t.Fatalf("apptest: token: %v", err)
	}
	return tok
}
