package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/evently/evently/internal/account"
	"github.com/evently/evently/internal/auth"
	"github.com/evently/evently/internal/pgtest"
	"github.com/evently/evently/internal/postgres"
)

func TestAdminCreate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewURL(t)
	env := map[string]string{"DATABASE_URL": db, "EVENTLY_LOG_LEVEL": "warn"}
	getenv := func(k string) string { return env[k] }
	evently := func(args ...string) (string, error) {
		var stdout, stderr bytes.Buffer
		err := run(ctx, args, getenv, &stdout, &stderr)
		return stdout.String(), err
	}

	out, err := evently("admin", "create", "--email", "ops@example.com", "--password", "ops-password-1", "--name", "Ops")
	if err != nil || !strings.Contains(out, "ops@example.com") || !strings.HasSuffix(out, ": created\n") {
		t.Fatalf("admin create = %q, %v; want created", out, err)
	}
	out, err = evently("admin", "create", "--email", "OPS@example.com", "--password", "another-password")
	if err != nil || !strings.HasSuffix(out, ": unchanged\n") {
		t.Fatalf("admin create again = %q, %v; want unchanged", out, err)
	}

	pool, err := postgres.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	store := postgres.NewUserStore(pool)
	u, err := store.UserByEmail(ctx, "ops@example.com")
	if err != nil || u.Role != auth.RoleAdmin || u.Name != "Ops" {
		t.Fatalf("stored admin = %+v, %v; want role admin, name Ops", u, err)
	}

	// An existing user becomes an admin only with their own password.
	accounts := account.NewService(store, auth.NewTokens([]byte("0123456789abcdef0123456789abcdef"), time.Minute, nil), account.Options{})
	if _, err := accounts.Register(ctx, account.Registration{Email: "dev@example.com", Password: "devs-password", Name: "Dev"}); err != nil {
		t.Fatal(err)
	}
	if _, err := evently("admin", "create", "--email", "dev@example.com", "--password", "a-guess-at-it"); err == nil || !strings.Contains(err.Error(), "not theirs") {
		t.Fatalf("admin create of someone else's account = %v, want refused", err)
	}
	if u, _ := store.UserByEmail(ctx, "dev@example.com"); u.Role != auth.RoleUser {
		t.Fatalf("role after a refused promotion = %s, want user", u.Role)
	}
	if out, err := evently("admin", "create", "--email", "dev@example.com", "--password", "devs-password"); err != nil || !strings.HasSuffix(out, ": promoted\n") {
		t.Fatalf("admin create with the user's password = %q, %v; want promoted", out, err)
	}

	// The e-mail and password default to EVENTLY_ADMIN_*.
	env["EVENTLY_ADMIN_EMAIL"], env["EVENTLY_ADMIN_PASSWORD"] = "env@example.com", "env-password-1"
	if out, err := evently("admin", "create"); err != nil || !strings.HasSuffix(out, ": created\n") {
		t.Fatalf("admin create from the environment = %q, %v; want created", out, err)
	}
	delete(env, "EVENTLY_ADMIN_EMAIL")
	delete(env, "EVENTLY_ADMIN_PASSWORD")

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"admin"}, "usage"},
		{[]string{"admin", "delete"}, "usage"},
		{[]string{"admin", "create", "--email", "x@example.com"}, "required"},
		{[]string{"admin", "create", "--email", "x@example.com", "--password", "short"}, "--password must be 8 to 128 characters"},
		{[]string{"admin", "create", "--email", "not-an-email", "--password", "long-enough"}, "--email must be"},
		{[]string{"admin", "create", "--email", "x@example.com", "--password", "long-enough", "extra"}, "unexpected argument"},
		{[]string{"admin", "create", "--bogus"}, "not defined"},
	} {
		if _, err := evently(tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("evently %s = %v, want an error containing %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}

	var usage bytes.Buffer
	if err := run(ctx, []string{"help"}, getenv, &usage, &usage); err != nil || !strings.Contains(usage.String(), "admin create") {
		t.Errorf("help = %q, %v; want it to list admin create", usage.String(), err)
	}
}
