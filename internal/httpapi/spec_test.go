package httpapi

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/evently/evently/api"
)

// routeSet lists a chi router's routes as "METHOD /path".
func routeSet(t *testing.T, r chi.Routes) []string {
	t.Helper()
	var out []string
	err := chi.Walk(r, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		route = strings.TrimSuffix(strings.ReplaceAll(route, "/*/", "/"), "/*")
		if route == "" {
			route = "/"
		}
		out = append(out, method+" "+route)
		return nil
	})
	if err != nil {
		t.Fatalf("walk routes: %v", err)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// specSet lists the spec's operations as "METHOD /path".
func specSet(t *testing.T) []string {
	t.Helper()
	doc, err := LoadSpec(api.Spec)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			out = append(out, method+" "+path)
		}
	}
	slices.Sort(out)
	return out
}

// diff returns what is in a but not in b.
func diff(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// TestSpecMatchesRouter fails when a route is served but not documented, or
// documented but not served.
func TestSpecMatchesRouter(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	routes := append(routeSet(t, s.router()), routeSet(t, s.metricsRouter())...)
	slices.Sort(routes)
	routes = slices.Compact(routes)
	spec := specSet(t)
	if missing := diff(routes, spec); len(missing) > 0 {
		t.Errorf("routes missing from api/openapi.yaml:\n  %s", strings.Join(missing, "\n  "))
	}
	if extra := diff(spec, routes); len(extra) > 0 {
		t.Errorf("api/openapi.yaml lists routes the router does not serve:\n  %s", strings.Join(extra, "\n  "))
	}
}

// TestDriftIsDetected proves the check above can fail: an undocumented
// route shows up in the difference.
func TestDriftIsDetected(t *testing.T) {
	t.Parallel()
	r := newTestServer(t).router()
	r.Get("/api/v1/undocumented/{id}", func(http.ResponseWriter, *http.Request) {})
	missing := diff(routeSet(t, r), specSet(t))
	if !slices.Equal(missing, []string{"GET /api/v1/undocumented/{id}"}) {
		t.Errorf("drift = %v, want the undocumented route", missing)
	}
}

// TestEveryAPIOperationDocumentsBadInput: the input rule (input.go) applies
// to the query and text headers of every /api/v1 request, so every such
// operation can answer 400 and the spec must say so; and every one can
// meet a database that cannot answer (503).
func TestEveryAPIOperationDocumentsBadInput(t *testing.T) {
	t.Parallel()
	doc, err := LoadSpec(api.Spec)
	if err != nil {
		t.Fatal(err)
	}
	for path, item := range doc.Paths.Map() {
		if !strings.HasPrefix(path, "/api/v1/") {
			continue
		}
		for method, op := range item.Operations() {
			if op.Responses.Status(http.StatusBadRequest) == nil {
				t.Errorf("%s %s documents no 400 response", method, path)
			}
			// Every operation reads or writes the database, which can be
			// restarting: 503 with Retry-After (the storage translates).
			if op.Responses.Status(http.StatusServiceUnavailable) == nil {
				t.Errorf("%s %s documents no 503 response", method, path)
			}
		}
	}
}
