package app_test

import (
	"context"
	"strings"
	"testing"

	"github.com/evently/evently/internal/app"
	"github.com/evently/evently/internal/config"
	"github.com/evently/evently/internal/logging"
	"github.com/evently/evently/internal/pgtest"
	"github.com/evently/evently/internal/redistest"
)

// TestBootstrapAdminRefusesBadValues: a bootstrap admin that cannot be
// made stops start-up with a message naming the variable.
func TestBootstrapAdminRefusesBadValues(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"DATABASE_URL":           pgtest.NewURL(t),
		"REDIS_URL":              redistest.NewURL(t),
		"EVENTLY_ADMIN_EMAIL":    "root@example.com",
		"EVENTLY_ADMIN_PASSWORD": "short",
		"PORT":                   "0",
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(context.Background(), cfg, logging.Discard(), app.Options{})
	if err == nil {
		t.Fatalf("app.New() = %v, want an error", a)
	}
	if !strings.Contains(err.Error(), "EVENTLY_ADMIN_PASSWORD must be 8 to 128 characters") {
		t.Errorf("app.New() = %v, want it to name EVENTLY_ADMIN_PASSWORD", err)
	}
}
