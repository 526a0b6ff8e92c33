package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/evently/evently/internal/account"
	"github.com/evently/evently/internal/app"
	"github.com/evently/evently/internal/config"
	"github.com/evently/evently/internal/postgres"
)

// admin runs "evently admin create": the way to an admin account without
// restarting the server with EVENTLY_ADMIN_EMAIL set.
func admin(ctx context.Context, cfg config.Config, logger *slog.Logger, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		return errors.New("usage: evently admin create --email E --password P [--name N]")
	}
	fs := flag.NewFlagSet("evently admin create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	email := fs.String("email", cfg.AdminEmail, "the admin's e-mail (default EVENTLY_ADMIN_EMAIL)")
	password := fs.String("password", cfg.AdminPassword, "the admin's password, 8 to 128 characters (default EVENTLY_ADMIN_PASSWORD)")
	name := fs.String("name", app.AdminName, "the admin's name")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("admin create: unexpected argument %q", fs.Arg(0))
	}
	if *email == "" || *password == "" {
		return errors.New("admin create: --email and --password are required")
	}

	pool, err := postgres.OpenDatabase(ctx, cfg.DatabaseURL, cfg.AutoMigrate, logger)
	if err != nil {
		return err
	}
	defer pool.Close()
	accounts := account.NewService(postgres.NewUserStore(pool), nil, account.Options{})
	u, outcome, err := app.EnsureAdmin(ctx, accounts, *email, *password, *name,
		map[string]string{"email": "--email", "password": "--password", "name": "--name"})
	if err != nil {
		return fmt.Errorf("admin create: %w", err)
	}
	fmt.Fprintf(stdout, "admin %s (id %s): %s\n", u.Email, u.ID, outcome)
	return nil
}
