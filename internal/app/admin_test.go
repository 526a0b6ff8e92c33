package app_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/evently/evently/internal/account"
	"github.com/evently/evently/internal/app"
	"github.com/evently/evently/internal/auth"
	"github.com/evently/evently/internal/config"
	"github.com/evently/evently/internal/logging"
	"github.com/evently/evently/internal/pgtest"
	"github.com/evently/evently/internal/postgres"
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

// TestBootstrapAdminTakenEmailStartsAnyway: someone registered the
// bootstrap admin's e-mail first, with a password of their own. The
// process starts, says so in the log, and never promotes that account.
func TestBootstrapAdminTakenEmailStartsAnyway(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewURL(t)
	pool, err := postgres.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	tokens := auth.NewTokens([]byte(strings.Repeat("k", 32)), time.Minute, nil)
	squatter, err := account.NewService(postgres.NewUserStore(pool), tokens, account.Options{}).Register(ctx,
		account.Registration{Email: "root@example.com", Password: "the-squatters-password", Name: "Squatter"})
	if err != nil {
		t.Fatal(err)
	}

	env := map[string]string{
		"DATABASE_URL":           db,
		"REDIS_URL":              redistest.NewURL(t),
		"EVENTLY_ADMIN_EMAIL":    "ROOT@example.com",
		"EVENTLY_ADMIN_PASSWORD": "the-operators-password",
		"EVENTLY_METRICS_ADDR":   "127.0.0.1:0",
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	a, err := app.New(ctx, cfg, logging.New(&syncWriter{w: &logs}, slog.LevelInfo, "json"),
		app.Options{Listener: must(net.Listen("tcp", "127.0.0.1:0"))})
	if err != nil {
		t.Fatalf("app.New() with the admin e-mail taken = %v, want it to start", err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(runCtx) }()
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run() = %v", err)
	}

	if !strings.Contains(logs.String(), `"level":"ERROR","msg":"bootstrap admin not made`) {
		t.Errorf("no error logged about the bootstrap admin:\n%s", logs.String())
	}
	var role string
	if err := pool.QueryRow(ctx, `SELECT role FROM users WHERE id = $1`, squatter.User.ID).Scan(&role); err != nil || role != "user" {
		t.Errorf("the squatter's role = %q, %v; want user", role, err)
	}
	var admins int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM users WHERE role = 'admin'`).Scan(&admins); err != nil || admins != 0 {
		t.Errorf("%d admins, %v; want none", admins, err)
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
