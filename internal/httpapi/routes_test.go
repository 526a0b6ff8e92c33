package httpapi

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/evently/evently/api"
	"github.com/evently/evently/internal/auth"
	"github.com/evently/evently/internal/logging"
)

// stubAccounts satisfies AccountService; routing needs no behaviour.
type stubAccounts struct{ AccountService }

// TestRoutesMatchSpec keeps routes.go and api/openapi.yaml equal: every
// route is documented, every documented operation is routed.
func TestRoutesMatchSpec(t *testing.T) {
	t.Parallel()
	s, err := New(Options{
		Logger:   logging.Discard(),
		Registry: prometheus.NewRegistry(),
		Spec:     api.Spec,
		Tokens:   auth.NewTokens([]byte("0123456789abcdef0123456789abcdef"), time.Minute, nil),
		Accounts: stubAccounts{},
	})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := LoadSpec(api.Spec)
	if err != nil {
		t.Fatal(err)
	}
	var routed []string
	err = chi.Walk(s.router(), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		routed = append(routed, method+" "+route)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var documented []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented = append(documented, method+" "+path)
		}
	}
	for _, r := range routed {
		if !slices.Contains(documented, r) {
			t.Errorf("%s is routed but not in api/openapi.yaml", r)
		}
	}
	for _, d := range documented {
		if !slices.Contains(routed, d) {
			t.Errorf("%s is in api/openapi.yaml but not routed", d)
		}
	}
}
