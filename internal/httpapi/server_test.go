package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/evently/evently/api"
	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/auth"
	"github.com/evently/evently/internal/logging"
)

// stubAccounts satisfies AccountService for tests that exercise only
// routing and plumbing.
type stubAccounts struct{ AccountService }

func newTestServer(t testing.TB) *Server {
	t.Helper()
	s, err := New(Options{
		Logger:   logging.Discard(),
		Registry: prometheus.NewRegistry(),
		Spec:     api.Spec,
		Tokens:   auth.NewTokens([]byte(strings.Repeat("k", 32)), time.Minute, nil),
		Accounts: stubAccounts{},
	})
	if err != nil {
		t.Fatalf("New() error = %v", err)
	}
	return s
}

func decodeProblem(t *testing.T, rec *httptest.ResponseRecorder) problem {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type = %q, want application/problem+json", ct)
	}
	var p problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatalf("decode problem %s: %v", rec.Body, err)
	}
	if p.Status != rec.Code || p.Code == "" || p.Type == "" || p.Title == "" {
		t.Fatalf("incomplete problem for status %d: %s", rec.Code, rec.Body)
	}
	return p
}

type sample struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
}

func (s sample) Validate() error {
	var v apperr.Validator
	v.Check(s.Name != "", "name", "is required")
	return v.Err()
}

func TestDecode(t *testing.T) {
	t.Parallel()
	big := `{"name":"` + strings.Repeat("x", maxBodyBytes) + `"}`
	cases := []struct {
		name        string
		contentType string
		body        string
		wantStatus  int
		wantCode    apperr.Code
		wantField   string
	}{
		{"ok", "application/json", `{"name":"a","count":2}`, 200, "", ""},
		{"charset param", "application/json; charset=utf-8", `{"name":"a"}`, 200, "", ""},
		{"no content type", "", `{"name":"a"}`, 415, apperr.UnsupportedMediaType, ""},
		{"text/plain", "text/plain", `{"name":"a"}`, 415, apperr.UnsupportedMediaType, ""},
		{"too large", "application/json", big, 413, apperr.PayloadTooLarge, ""},
		{"syntax", "application/json", `{"name":`, 400, apperr.MalformedJSON, ""},
		{"garbage", "application/json", `nope`, 400, apperr.MalformedJSON, ""},
		{"empty", "application/json", ``, 400, apperr.MalformedJSON, ""},
		{"two values", "application/json", `{"name":"a"}{"name":"b"}`, 400, apperr.MalformedJSON, ""},
		{"not an object", "application/json", `[1,2]`, 400, apperr.MalformedJSON, ""},
		{"unknown field", "application/json", `{"name":"a","admin":true}`, 400, apperr.ValidationFailed, "admin"},
		{"wrong type", "application/json", `{"name":"a","count":"two"}`, 400, apperr.ValidationFailed, "count"},
		{"own validation", "application/json", `{"count":1}`, 400, apperr.ValidationFailed, "name"},
	}
	s := newTestServer(t)
	h := s.api(func(w http.ResponseWriter, r *http.Request) error {
		v, err := decode[sample](w, r)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, v)
		return nil
	})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(c.body))
			if c.contentType != "" {
				req.Header.Set("Content-Type", c.contentType)
			}
			rec := httptest.NewRecorder()
			h(rec, req)
			if rec.Code != c.wantStatus {
				t.Fatalf("status = %d (%s), want %d", rec.Code, rec.Body, c.wantStatus)
			}
			if c.wantStatus == 200 {
				return
			}
			p := decodeProblem(t, rec)
			if p.Code != c.wantCode {
				t.Errorf("code = %q, want %q", p.Code, c.wantCode)
			}
			if c.wantField != "" && (len(p.Errors) != 1 || p.Errors[0].Field != c.wantField) {
				t.Errorf("errors = %+v, want field %q", p.Errors, c.wantField)
			}
		})
	}
}

func TestDecodeOptionalAcceptsNoBody(t *testing.T) {
	t.Parallel()
	type opt struct {
		Ref string `json:"ref"`
	}
	req := httptest.NewRequest(http.MethodPost, "/", nil)
	got, err := decodeOptional[opt](httptest.NewRecorder(), req)
	if err != nil || got.Ref != "" {
		t.Fatalf("decodeOptional() = %+v, %v; want zero value, nil", got, err)
	}
	req = httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"ref":"x"}`))
	req.Header.Set("Content-Type", "application/json")
	if got, err = decodeOptional[opt](httptest.NewRecorder(), req); err != nil || got.Ref != "x" {
		t.Fatalf("decodeOptional() = %+v, %v; want ref x", got, err)
	}
}

func TestWriteErrorHidesInternalDetails(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	logger := logging.New(&logs, nil, "json")
	rec := httptest.NewRecorder()
	writeError(rec, httptest.NewRequest(http.MethodGet, "/", nil), logger, errors.New("pq: password=hunter2 leaked"))
	if rec.Code != 500 {
		t.Fatalf("status = %d, want 500", rec.Code)
	}
	p := decodeProblem(t, rec)
	if p.Code != apperr.Internal || strings.Contains(rec.Body.String(), "hunter2") {
		t.Errorf("problem = %s, want a bare internal error", rec.Body)
	}
	if !strings.Contains(logs.String(), "hunter2") {
		t.Errorf("the cause was not logged: %s", logs.String())
	}
}

func TestWriteErrorExtraMembers(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	err := apperr.New(apperr.SeatUnavailable, "taken").With("seat_ids", []string{"a", "b"})
	writeError(rec, httptest.NewRequest(http.MethodGet, "/", nil), logging.Discard(), err)
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if rec.Code != 409 || m["code"] != "seat_unavailable" || len(m["seat_ids"].([]any)) != 2 {
		t.Errorf("got %d %s", rec.Code, rec.Body)
	}
}

func TestEveryCodeHasAStatus(t *testing.T) {
	t.Parallel()
	codes := []apperr.Code{
		apperr.MalformedJSON, apperr.ValidationFailed, apperr.UnsupportedMediaType, apperr.PayloadTooLarge,
		apperr.Unauthorized, apperr.InvalidCredentials, apperr.WrongPassword, apperr.Forbidden, apperr.NotFound, apperr.MethodNotAllowed,
		apperr.EmailTaken, apperr.Conflict, apperr.SeatUnavailable, apperr.SoldOut, apperr.SalesClosed,
		apperr.HoldExpired, apperr.InvalidState, apperr.WaitingRoomRequired, apperr.SeatsAvailable,
		apperr.IdempotencyKeyReused, apperr.RateLimited, apperr.Unavailable, apperr.Internal,
	}
	for _, c := range codes {
		if _, ok := statusOf[c]; !ok {
			t.Errorf("code %q has no HTTP status", c)
		}
	}
}

func TestRecovererAnswersProblem(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	logger := logging.New(&logs, nil, "json")
	h := requestID(recoverer(logger)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("secret panic detail")
	})))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != 500 {
		t.Fatalf("status = %d, want 500", rec.Code)
	}
	p := decodeProblem(t, rec)
	if p.Code != apperr.Internal || strings.Contains(rec.Body.String(), "secret panic detail") {
		t.Errorf("problem = %s", rec.Body)
	}
	if !strings.Contains(logs.String(), "secret panic detail") || !strings.Contains(logs.String(), p.RequestID) {
		t.Errorf("panic not logged with its request id: %s", logs.String())
	}
}

func TestRequestID(t *testing.T) {
	t.Parallel()
	h := newTestServer(t).Handler()
	req := httptest.NewRequest(http.MethodGet, "/healthz", nil)
	req.Header.Set("X-Request-ID", "client-chosen-42")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if got := rec.Header().Get("X-Request-ID"); got != "client-chosen-42" {
		t.Errorf("echoed X-Request-ID = %q", got)
	}
	for _, bad := range []string{"", strings.Repeat("x", 200), "has space"} {
		req := httptest.NewRequest(http.MethodGet, "/healthz", nil)
		req.Header.Set("X-Request-ID", bad)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if got := rec.Header().Get("X-Request-ID"); got == "" || got == bad {
			t.Errorf("X-Request-ID %q: response id = %q, want a fresh one", bad, got)
		}
	}
}

func TestNotFoundAndMethodNotAllowedAreProblems(t *testing.T) {
	t.Parallel()
	h := newTestServer(t).Handler()
	for _, c := range []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/nope", 404},
		{http.MethodGet, "/api/v1/nope", 404},
		{http.MethodPost, "/healthz", 405},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(c.method, c.path, nil))
		if rec.Code != c.status {
			t.Errorf("%s %s = %d, want %d", c.method, c.path, rec.Code, c.status)
			continue
		}
		decodeProblem(t, rec)
	}
}

// TestReadyz: /readyz answers 503 only when the instance cannot serve
// bookings (a required dependency down, or shutting down); an optional one
// down is 200 "degraded". Every answer lists each dependency's state.
func TestReadyz(t *testing.T) {
	t.Parallel()
	up := func(context.Context) error { return nil }
	down := func(context.Context) error { return errors.New("connection refused") }
	tests := []struct {
		name         string
		postgres     func(context.Context) error
		redis        func(context.Context) error
		shuttingDown bool
		wantCode     int
		wantStatus   string // of a 200
		wantDetail   string // of a 503
	}{
		{"all up", up, up, false, 200, "ok", ""},
		{"redis down", up, down, false, 200, "degraded", ""},
		{"postgres down", down, up, false, 503, "", "Not ready: postgres down."},
		{"both down", down, down, false, 503, "", "Not ready: postgres down."},
		{"shutting down", up, up, true, 503, "", "Not ready: shutting down."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newTestServer(t)
			s.checks = []Check{
				{Name: "postgres", Ping: tc.postgres},
				{Name: "redis", Ping: tc.redis, Optional: true},
			}
			if tc.shuttingDown {
				s.BeginShutdown()
			}
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			var got struct {
				Status any               `json:"status"` // a number in a problem
				Checks map[string]string `json:"checks"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatalf("readyz body %s: %v", rec.Body, err)
			}
			state := func(ping func(context.Context) error) string {
				if ping(context.Background()) == nil {
					return "up"
				}
				return "down"
			}
			if got.Checks["postgres"] != state(tc.postgres) || got.Checks["redis"] != state(tc.redis) {
				t.Errorf("checks = %v", got.Checks)
			}
			if rec.Code != tc.wantCode {
				t.Fatalf("readyz = %d %s, want %d", rec.Code, rec.Body, tc.wantCode)
			}
			if tc.wantCode == 503 {
				if p := decodeProblem(t, rec); p.Code != apperr.Unavailable || p.Detail != tc.wantDetail {
					t.Errorf("readyz problem = %+v, want unavailable %q", p, tc.wantDetail)
				}
				return
			}
			if got.Status != tc.wantStatus {
				t.Errorf("readyz status = %q, want %q", got.Status, tc.wantStatus)
			}
		})
	}
}

func TestCORS(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	s.cors = []string{"https://app.example"}
	req := httptest.NewRequest(http.MethodOptions, "/api/v1/events", nil)
	req.Header.Set("Origin", "https://app.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "authorization, content-type, idempotency-key")
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	if got := rec.Header().Get("Access-Control-Allow-Origin"); got != "https://app.example" {
		t.Errorf("preflight from an allowed origin: Allow-Origin = %q (status %d)", got, rec.Code)
	}
	req.Header.Set("Origin", "https://evil.example")
	rec = httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	if got := rec.Header().Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("preflight from another origin: Allow-Origin = %q", got)
	}
}
