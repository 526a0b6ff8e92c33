package httpapi

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/evently/evently/api"
	"github.com/evently/evently/internal/auth"
	"github.com/evently/evently/internal/logging"
)

// TestRoutesMatchSpec keeps routes.go and api/openapi.yaml listing the
// same operations.
func TestRoutesMatchSpec(t *testing.T) {
	t.Parallel()
	s, err := New(Options{
		Logger: logging.Discard(), Registry: prometheus.NewRegistry(), Spec: api.Spec,
		Tokens: auth.NewTokens([]byte("0123456789abcdef0123456789abcdef"), time.Minute, nil),
	})
	if err != nil {
		t.Fatal(err)
	}
	var routes []string
	err = chi.Walk(s.router(), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		routes = append(routes, method+" "+strings.TrimSuffix(strings.ReplaceAll(route, "/*/", "/"), "/"))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := LoadSpec(api.Spec)
	if err != nil {
		t.Fatal(err)
	}
	var spec []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			spec = append(spec, method+" "+path)
		}
	}
	slices.Sort(routes)
	slices.Sort(spec)
	for _, r := range routes {
		if !slices.Contains(spec, r) {
			t.Errorf("route %s is not in the OpenAPI spec", r)
		}
	}
	for _, op := range spec {
		if !slices.Contains(routes, op) {
			t.Errorf("spec operation %s has no route", op)
		}
	}
}
