package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/evently/evently/internal/account"
	"github.com/evently/evently/internal/app"
	"github.com/evently/evently/internal/auth"
	"github.com/evently/evently/internal/config"
	"github.com/evently/evently/internal/event"
	"github.com/evently/evently/internal/logging"
	"github.com/evently/evently/internal/postgres"
	"github.com/evently/evently/internal/redis"
	"github.com/evently/evently/internal/seed"
	"github.com/evently/evently/internal/version"
)

const usage = `usage: evently [command]

commands:
  serve                     run the API, worker and scheduler (default)
  migrate up|down|status    apply, roll back one, or list schema migrations
  admin create --email E --password P [--name N]
                            create an admin, or make an existing user one
                            (only with their password); idempotent. The
                            e-mail and password default to EVENTLY_ADMIN_EMAIL
                            and EVENTLY_ADMIN_PASSWORD
  healthcheck               exit 0 when the local server's /readyz answers 200 (for container health checks)
  seed                      create an admin and demo events (idempotent: a second run creates nothing)
  version                   print the release, commit and Go version of this binary
  help                      show this text

evently <command> --help shows a command's own usage.
Configuration comes from the environment; see docs/configuration.md.
`

// run is the whole program: main only adds signals and the exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	case "version":
		return printVersion(args, stdout, stderr)
	case "serve", "migrate", "admin", "seed", "healthcheck":
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
	if asksForHelp(args) {
		fmt.Fprint(stdout, commandUsage[cmd])
		return nil
	}

	cfg, err := config.Load(getenv)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	logger := logging.New(stderr, cfg.LogLevel, cfg.LogFormat)

	switch cmd {
	case "migrate":
		return migrate(ctx, cfg, args, stdout)
	case "admin":
		return admin(ctx, cfg, logger, args, stdout, stderr)
	case "healthcheck":
		return healthcheck(ctx, cfg.Port)
	case "seed":
		return seedEvents(ctx, cfg, stdout)
	default:
		return serve(ctx, cfg, logger)
	}
}

func serve(ctx context.Context, cfg config.Config, logger *slog.Logger) error {
	v := version.Get()
	logger.Info("starting evently", "version", v.Version, "revision", v.Revision, "go_version", v.GoVersion, "config", cfg)
	if cfg.JWTSecretGenerated {
		logger.Warn("EVENTLY_JWT_SECRET is unset: using a random secret, so tokens stop working when this process exits and are not accepted by other replicas")
	}
	if cfg.TicketSigningKeyGenerated {
		logger.Warn("EVENTLY_TICKET_SIGNING_KEY is unset: signing ticket codes with a random key, so codes stop verifying when this process exits and differ between replicas")
	}
	redis.RouteLibraryLogs(logger)
	a, err := app.New(ctx, cfg, logger, app.Options{})
	if err != nil {
		return err
	}
	return a.Run(ctx)
}

func migrate(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return errors.New("usage: evently migrate up|down|status")
	}
	pool, err := postgres.OpenDatabase(ctx, cfg.DatabaseURL, false, logging.Discard())
	if err != nil {
		return err
	}
	defer pool.Close()
	m, err := postgres.NewMigrator(pool, logging.Discard())
	if err != nil {
		return err
	}
	defer m.Close()
	switch args[0] {
	case "up":
		n, err := m.Up(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "applied %d migration(s)\n", n)
		return nil
	case "down":
		return m.Down(ctx)
	case "status":
		return m.Status(ctx, stdout)
	default:
		return fmt.Errorf("unknown migrate command %q: want up, down or status", args[0])
	}
}

func healthcheck(ctx context.Context, port int) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/readyz", port), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: /readyz answered %d", resp.StatusCode)
	}
	return nil
}

// seedEvents creates the demo events that are missing, migrating first
// unless EVENTLY_AUTO_MIGRATE=false.
func seedEvents(ctx context.Context, cfg config.Config, stdout io.Writer) error {
	pool, err := postgres.OpenDatabase(ctx, cfg.DatabaseURL, cfg.AutoMigrate, logging.Discard())
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := seedAdmin(ctx, pool, cfg, stdout); err != nil {
		return err
	}
	events := event.NewService(postgres.NewEventStore(pool), time.Now, event.Options{HoldTTL: cfg.HoldTTL})
	res, err := seed.Events(ctx, events, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "seeded %d event(s); %d already present\n", res.Created, res.Existing)
	users := postgres.NewUserStore(pool)
	sales, err := seed.Sales(ctx, seed.SalesDeps{
		Accounts: account.NewService(users, auth.NewTokens(cfg.JWTSecret, time.Minute, time.Now), account.Options{}),
		Roles:    users,
		Events:   events,
		Bookings: postgres.NewBookingStore(pool),
		Tickets:  postgres.NewTicketStore(pool),
	}, time.Now().UTC().Truncate(time.Microsecond))
	if err != nil {
		return err
	}
	for email, password := range sales.Passwords {
		fmt.Fprintf(stdout, "demo account %s created with password %s\n", email, password)
	}
	if sales.Bookings > 0 {
		fmt.Fprintf(stdout, "seeded %d confirmed booking(s) of Hamlet, %d ticket(s) checked in\n", sales.Bookings, sales.CheckedIn)
	}
	return nil
}

// seedAdmin makes sure the demo has an admin: the one of
// EVENTLY_ADMIN_EMAIL/EVENTLY_ADMIN_PASSWORD when set, else
// admin@evently.local with a random password, printed once, when it is
// created.
func seedAdmin(ctx context.Context, pool *pgxpool.Pool, cfg config.Config, stdout io.Writer) error {
	email, password := cfg.AdminEmail, cfg.AdminPassword
	if email == "" {
		b := make([]byte, 12)
		if _, err := rand.Read(b); err != nil {
			return err
		}
		email, password = "admin@evently.local", hex.EncodeToString(b)
	}
	accounts := account.NewService(postgres.NewUserStore(pool), auth.NewTokens(cfg.JWTSecret, time.Minute, time.Now), account.Options{})
	u, outcome, err := app.EnsureAdmin(ctx, accounts, email, password, app.AdminName,
		map[string]string{"email": "EVENTLY_ADMIN_EMAIL", "password": "EVENTLY_ADMIN_PASSWORD"})
	if err != nil {
		return fmt.Errorf("seed admin: %w", err)
	}
	if outcome == account.AdminCreated && cfg.AdminEmail == "" {
		fmt.Fprintf(stdout, "admin %s created with password %s\n", u.Email, password)
		return nil
	}
	fmt.Fprintf(stdout, "admin %s %s\n", u.Email, outcome)
	return nil
}
