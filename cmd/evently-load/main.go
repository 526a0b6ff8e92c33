// Command evently-load drives a running Evently through its HTTP API the
// way buyers do during an on-sale, and reports throughput, latency,
// answers and — given the database — whether every booking invariant
// still holds.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/loadgen"
	"github.com/evently/evently/internal/postgres"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "evently-load:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("evently-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		cfg          loadgen.Config
		scenarios    string
		dbURL        string
		jsonOut      string
		singleBuyers int
		singleSeats  int
	)
	fs.StringVar(&cfg.BaseURL, "url", "http://127.0.0.1:8080", "Evently's base URL, or several replicas' separated by commas (buyers are spread over them, each on one)")
	fs.StringVar(&cfg.AdminEmail, "admin-email", getenv("EVENTLY_ADMIN_EMAIL"), "an admin's e-mail (creates the events)")
	fs.StringVar(&cfg.AdminPassword, "admin-password", getenv("EVENTLY_ADMIN_PASSWORD"), "that admin's password")
	fs.StringVar(&scenarios, "scenario", "rush,contention,waitroom", "comma-separated scenarios: single, rush, contention, waitroom")
	fs.IntVar(&cfg.Buyers, "buyers", 1000, "concurrent virtual buyers (rush, contention; single unless -single-buyers)")
	fs.IntVar(&cfg.Seats, "seats", 20000, "general-admission seats of the rush event (and of single unless -single-seats)")
	fs.IntVar(&singleBuyers, "single-buyers", 0, "concurrent buyers of the single scenario (0: -buyers)")
	fs.IntVar(&singleSeats, "single-seats", 0, "seats of the single scenario's event (0: -seats)")
	fs.Float64Var(&cfg.ConfirmRatio, "confirm", 0.7, "share of rush holds that are confirmed (the rest are cancelled)")
	fs.IntVar(&cfg.FrontRow, "front-row", 200, "seats fought over in the contention scenario")
	fs.IntVar(&cfg.Joiners, "joiners", 50000, "users joining the waiting room")
	fs.IntVar(&cfg.AdmitPerMinute, "admit-per-minute", 6000, "the waiting room's admission rate")
	fs.Float64Var(&cfg.PreQueue, "pre-queue", 0.8, "share of waiting-room joiners who join before sales open (the pre-queue, drawn at random at the opening)")
	fs.DurationVar(&cfg.PollEvery, "poll-every", 0, "how often each joiner polls its ticket (0: when the server says, poll_after_ms)")
	fs.DurationVar(&cfg.MaxDuration, "max-duration", 3*time.Minute, "upper bound of each scenario")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "seed of the buyers' random choices")
	fs.StringVar(&dbURL, "database-url", getenv("DATABASE_URL"), "Evently's database, to check the invariants after each scenario (empty: skip)")
	fs.StringVar(&jsonOut, "json", "", "also write the reports as JSON to this file")
	jwtSecret := fs.String("jwt-secret", getenv("EVENTLY_JWT_SECRET"), "the server's JWT secret: waiting-room joiners beyond -buyers get minted tokens instead of accounts")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if cfg.AdminEmail == "" || cfg.AdminPassword == "" {
		return errors.New("an admin is needed: -admin-email and -admin-password (or EVENTLY_ADMIN_EMAIL/EVENTLY_ADMIN_PASSWORD)")
	}
	cfg.Progress = stderr
	cfg.JWTSecret = []byte(*jwtSecret)
	if dbURL != "" {
		pool, err := postgres.Open(ctx, dbURL)
		if err != nil {
			return err
		}
		defer pool.Close()
		cfg.Invariants = func(ctx context.Context, eventID string) ([]string, error) {
			id, err := uuid.Parse(eventID)
			if err != nil {
				return nil, err
			}
			v, err := postgres.CheckInvariants(ctx, pool, id)
			out := make([]string, len(v))
			for i, x := range v {
				out[i] = fmt.Sprintf("%s (%d rows)", x.Rule, x.Rows)
			}
			return out, err
		}
		cfg.BookingBuyers = func(ctx context.Context, eventID string) (int64, int64, error) {
			id, err := uuid.Parse(eventID)
			if err != nil {
				return 0, 0, err
			}
			return postgres.EventBuyers(ctx, pool, id)
		}
		cfg.Commits = func(ctx context.Context) (int64, error) { return postgres.Commits(ctx, pool) }
		cfg.CommitsLag = 11 * time.Second // Postgres publishes an idle session's counts within 10s
	}

	var reports []loadgen.Report
	failed := false
	for _, sc := range strings.Split(scenarios, ",") {
		sc = strings.TrimSpace(sc)
		rep, err := loadgen.Run(ctx, scenarioConfig(cfg, sc, singleBuyers, singleSeats), sc)
		if err != nil {
			return fmt.Errorf("scenario %s: %w", sc, err)
		}
		rep.WriteText(stdout)
		reports = append(reports, rep)
		failed = failed || rep.ServerError > 0 || len(rep.Invariants) > 0
	}
	if jsonOut != "" {
		b, err := json.MarshalIndent(reports, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(jsonOut, b, 0o644); err != nil {
			return err
		}
	}
	if failed {
		return errors.New("server errors or broken invariants (see above)")
	}
	return nil
}

// scenarioConfig is cfg as scenario sc runs: the single scenario takes its
// own buyers and seats when they are given.
func scenarioConfig(cfg loadgen.Config, sc string, singleBuyers, singleSeats int) loadgen.Config {
	if sc == "single" {
		if singleBuyers > 0 {
			cfg.Buyers = singleBuyers
		}
		if singleSeats > 0 {
			cfg.Seats = singleSeats
		}
	}
	return cfg
}
