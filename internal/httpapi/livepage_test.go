package httpapi

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// TestLivePage: the organiser's view is one document, the same for every
// event id (known, unknown or draft: the script asks the API, which
// decides), whose inline style and script are exactly what its
// Content-Security-Policy admits by hash, refers to nothing outside the
// server, and labels its figures; a non-UUID event id is a 404 problem,
// as for the waiting-room page.
func TestLivePage(t *testing.T) {
	t.Parallel()
	h := newTestServer(t).Handler()
	get := func(path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec
	}
	rec := get("/admin/live/01936d1e-8f5a-7c3e-9a51-2f0b6c1d4e7a")
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("GET /admin/live/{id} = %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	body, csp := checkInlineHashes(t, rec)
	for _, want := range []string{"default-src 'none'", "connect-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("Content-Security-Policy %q lacks %s", csp, want)
		}
	}
	if got := rec.Header().Get("Referrer-Policy"); got != "no-referrer" {
		t.Errorf("Referrer-Policy = %q, want no-referrer", got)
	}
	if strings.Contains(body, "{{") {
		t.Errorf("page keeps a placeholder: %s", regexp.MustCompile(`\{\{[A-Z]+\}\}`).FindString(body))
	}
	for _, m := range regexp.MustCompile(`(?:src|href|action)="([^"]*)"`).FindAllStringSubmatch(body, -1) {
		if !strings.HasPrefix(m[1], "/") || strings.HasPrefix(m[1], "//") {
			t.Errorf("page refers to %q, outside this server", m[1])
		}
	}
	for _, want := range []string{`<label for="email">`, `<label for="password">`, `aria-live="polite"`, `role="alert"`,
		`name="viewport"`, `<dt>Waiting</dt><dd id="waiting">`, `<dt>Seats left</dt><dd id="seats-left">`, `role="img"`,
		"/stream?access_token="} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if other := get("/admin/live/0193a0b1-0000-7000-8000-000000000000"); other.Code != http.StatusOK || other.Body.String() != body {
		t.Errorf("GET /admin/live/{other id} = %d, want the same document", other.Code)
	}
	rec = get("/admin/live/not-an-id")
	if rec.Code != http.StatusNotFound || decodeProblem(t, rec).Code != "not_found" {
		t.Errorf("GET /admin/live/not-an-id = %d, want 404 not_found", rec.Code)
	}
}
