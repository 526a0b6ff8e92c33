package httpapi

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/evently/evently/api"
)

// TestVendoredRedocMatchesChecksum: the renderer embedded in the binary
// is byte for byte the file docsui/redoc.version records (version and
// sha256 of the npm package's bundle), so an edit or a partial update of
// the vendored copy fails here.
func TestVendoredRedocMatchesChecksum(t *testing.T) {
	t.Parallel()
	f, err := os.Open("docsui/redoc.version")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rec := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok && !strings.HasPrefix(k, "#") {
			rec[k] = v
		}
	}
	if rec["package"] != "redoc" || rec["version"] == "" || len(rec["sha256"]) != 64 {
		t.Fatalf("docsui/redoc.version = %v, want package, version and sha256", rec)
	}
	embedded := mustRead(docsUI, "docsui/redoc.standalone.js")
	sum := sha256.Sum256(embedded)
	if got := hex.EncodeToString(sum[:]); got != rec["sha256"] {
		t.Errorf("embedded redoc.standalone.js sha256 = %s, redoc.version records %s", got, rec["sha256"])
	}
	if bytes.Contains(embedded, []byte("cdn.redoc.ly")) {
		t.Error("embedded redoc.standalone.js still loads from Redocly's CDN")
	}
}

// TestDocsPageIsSelfContained: /docs is the Redoc page pointing at this
// server's spec and script only, under a policy that forbids anything
// else; the script is the vendored bundle.
func TestDocsPageIsSelfContained(t *testing.T) {
	t.Parallel()
	h := newTestServer(t).Handler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/docs", nil))
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("GET /docs = %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	body := rec.Body.String()
	for _, want := range []string{`spec-url="/openapi.yaml"`, `<script src="/docs/redoc.standalone.js">`} {
		if !strings.Contains(body, want) {
			t.Errorf("docs page lacks %s", want)
		}
	}
	for _, m := range regexp.MustCompile(`(?:src|href|spec-url)="([^"]*)"`).FindAllStringSubmatch(body, -1) {
		if !strings.HasPrefix(m[1], "/") || strings.HasPrefix(m[1], "//") {
			t.Errorf("docs page refers to %q, outside this server", m[1])
		}
	}
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "connect-src 'self'") {
		t.Errorf("Content-Security-Policy = %q", csp)
	}

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/docs/redoc.standalone.js", nil))
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/javascript") ||
		!bytes.Equal(rec.Body.Bytes(), mustRead(docsUI, "docsui/redoc.standalone.js")) {
		t.Errorf("GET /docs/redoc.standalone.js = %d %s, %d bytes, want the vendored bundle",
			rec.Code, rec.Header().Get("Content-Type"), rec.Body.Len())
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/openapi.yaml", nil))
	if rec.Code != http.StatusOK || !bytes.Equal(rec.Body.Bytes(), api.Spec) {
		t.Errorf("GET /openapi.yaml = %d, body differs from the embedded spec", rec.Code)
	}
}

// TestFixedDocumentsRevalidate: the spec, the reference page, its script,
// the waiting-room page and the live view carry an ETag, and a request
// naming it gets a 304 without a body; a stale or foreign tag gets the
// document.
func TestFixedDocumentsRevalidate(t *testing.T) {
	t.Parallel()
	h := newTestServer(t).Handler()
	for _, path := range []string{"/openapi.yaml", "/docs", "/docs/redoc.standalone.js", "/wait/01936d1e-8f5a-7c3e-9a51-2f0b6c1d4e7a",
		"/admin/live/01936d1e-8f5a-7c3e-9a51-2f0b6c1d4e7a"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		etag := rec.Header().Get("ETag")
		if rec.Code != http.StatusOK || !strings.HasPrefix(etag, `W/"`) || rec.Header().Get("Cache-Control") == "" {
			t.Errorf("GET %s = %d, ETag %q, Cache-Control %q", path, rec.Code, etag, rec.Header().Get("Cache-Control"))
			continue
		}
		for inm, want := range map[string]int{
			etag:                           http.StatusNotModified,
			strings.TrimPrefix(etag, "W/"): http.StatusNotModified,
			`W/"other", ` + etag:           http.StatusNotModified,
			"*":                            http.StatusNotModified,
			`W/"other"`:                    http.StatusOK,
		} {
			req := httptest.NewRequest(http.MethodGet, path, nil)
			req.Header.Set("If-None-Match", inm)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != want {
				t.Errorf("GET %s If-None-Match %s = %d, want %d", path, inm, rec.Code, want)
			}
			if rec.Code == http.StatusNotModified && (rec.Body.Len() != 0 || rec.Header().Get("ETag") != etag) {
				t.Errorf("304 for %s: %d body bytes, ETag %q", path, rec.Body.Len(), rec.Header().Get("ETag"))
			}
		}
	}
}

// checkInlineHashes checks that the page rec answered has an inline
// style and script, and that its Content-Security-Policy admits exactly
// those by hash; it returns the page and the policy.
func checkInlineHashes(t *testing.T, rec *httptest.ResponseRecorder) (body, csp string) {
	t.Helper()
	body = rec.Body.String()
	csp = rec.Header().Get("Content-Security-Policy")
	for _, tag := range []string{"script", "style"} {
		m := regexp.MustCompile(`(?s)<` + tag + `>(.*?)</` + tag + `>`).FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("page has no inline <%s>", tag)
		}
		if !strings.Contains(csp, tag+"-src '"+cspHash(m[1])+"'") {
			t.Errorf("Content-Security-Policy %q does not admit the page's <%s>", csp, tag)
		}
	}
	return body, csp
}

// TestWaitPage: the page is one document whose inline style and script
// are exactly what its Content-Security-Policy admits by hash, carrying
// the storefront address escaped; a non-UUID event id is a 404 problem.
func TestWaitPage(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	s.waitPageDoc = newWaitPage(`https://shop.example/checkout?from="wait"&x=<y>`)
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/wait/01936d1e-8f5a-7c3e-9a51-2f0b6c1d4e7a", nil))
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("GET /wait/{id} = %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	body, _ := checkInlineHashes(t, rec)
	if !strings.Contains(body, `data-storefront="https://shop.example/checkout?from=&#34;wait&#34;&amp;x=&lt;y&gt;"`) {
		t.Errorf("storefront address missing or unescaped in the page")
	}
	for _, want := range []string{`<label for="email">`, `aria-live="polite"`, `<progress id="progress"`, `name="viewport"`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	rec = httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/wait/not-an-id", nil))
	if rec.Code != http.StatusNotFound || decodeProblem(t, rec).Code != "not_found" {
		t.Errorf("GET /wait/not-an-id = %d, want 404 not_found", rec.Code)
	}
}
