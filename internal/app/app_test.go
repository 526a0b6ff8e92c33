package app_test

import (
	"net/http"
	"testing"

	"github.com/evently/evently/internal/apptest"
)

func TestReadyz(t *testing.T) {
	t.Parallel()
	env := apptest.Start(t)
	r := env.Get(t, "/readyz", "")
	if r.Status != http.StatusOK {
		t.Fatalf("GET /readyz = %d %s, want 200", r.Status, r.Body)
	}
}
