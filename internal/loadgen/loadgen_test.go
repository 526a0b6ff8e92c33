package loadgen_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/evently/evently/internal/apptest"
	"github.com/evently/evently/internal/loadgen"
	"github.com/evently/evently/internal/postgres"
)

// The account the servers the scenarios run against make their admin.
const (
	loadAdmin         = "load-admin@evently.test"
	loadAdminPassword = "load-admin-password"
)

// startServer starts a whole evently with the load admin's account and
// opens its database (closed when t ends).
func startServer(t *testing.T) (*apptest.Env, *pgxpool.Pool) {
	t.Helper()
	env := apptest.Start(t,
		apptest.WithEnv("EVENTLY_ADMIN_EMAIL", loadAdmin),
		apptest.WithEnv("EVENTLY_ADMIN_PASSWORD", loadAdminPassword))
	pool, err := pgxpool.New(context.Background(), env.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return env, pool
}

// TestScenariosAgainstARealServer runs small versions of the single, rush
// and contention scenarios against a whole evently: everything sells,
// nothing answers 5xx, and the invariants read from Postgres hold.
func TestScenariosAgainstARealServer(t *testing.T) {
	t.Parallel()
	env, pool := startServer(t)
	cfg := loadgen.Config{
		BaseURL: env.URL, AdminEmail: loadAdmin, AdminPassword: loadAdminPassword,
		Buyers: 12, Seats: 60, ConfirmRatio: 0.7, FrontRow: 10, MaxDuration: time.Minute, Seed: 3,
		Invariants: func(ctx context.Context, eventID string) ([]string, error) {
			v, err := postgres.CheckInvariants(ctx, pool, uuid.MustParse(eventID))
			out := make([]string, len(v))
			for i, x := range v {
				out[i] = fmt.Sprint(x)
			}
			return out, err
		},
	}
	for _, sc := range []string{"single", "rush", "contention"} {
		rep, err := loadgen.Run(context.Background(), cfg, sc)
		if err != nil {
			t.Fatalf("%s: %v", sc, err)
		}
		if rep.ServerError != 0 || !rep.Checked || len(rep.Invariants) != 0 {
			t.Errorf("%s: %d server errors, invariants checked %v, broken %v", sc, rep.ServerError, rep.Checked, rep.Invariants)
		}
		switch sc {
		case "single":
			if rep.Figures["sold_out"] != true || rep.Figures["bookings"] != int64(60) || rep.Figures["tickets_sold"] != int64(60) {
				t.Errorf("single: %v", rep.Figures)
			}
		case "rush":
			if rep.Figures["sold_out"] != true || rep.Figures["tickets_sold"] != int64(60) {
				t.Errorf("rush: %v", rep.Figures)
			}
		case "contention":
			if rep.Figures["seats_sold"] != int64(10) {
				t.Errorf("contention: %v", rep.Figures)
			}
		}
	}
}

// TestWaitingRoomScenario runs a small waiting-room scenario against a
// whole evently: 80% of the joiners join before sales open, the rest
// after; the report's order facts show the pre-queue admitted first and
// the late joiners in arrival order, every registered buyer books with
// its pass, nothing answers 5xx, and the funnel reconciles with the
// bookings table and the clients' own admission and hold times.
func TestWaitingRoomScenario(t *testing.T) {
	t.Parallel()
	env, pool := startServer(t)
	cfg := loadgen.Config{
		BaseURL: env.URL, AdminEmail: loadAdmin, AdminPassword: loadAdminPassword,
		Buyers: 6, Joiners: 100, AdmitPerMinute: 600, PreQueue: 0.8, MaxDuration: time.Minute, Seed: 5,
		JWTSecret: env.Config.JWTSecret,
		BookingBuyers: func(ctx context.Context, eventID string) (int64, int64, error) {
			return postgres.EventBuyers(ctx, pool, uuid.MustParse(eventID))
		},
	}
	rep, err := loadgen.Run(context.Background(), cfg, "waitroom")
	if err != nil {
		t.Fatal(err)
	}
	f := rep.Figures
	t.Logf("waiting room: %v", f)
	if rep.ServerError != 0 || len(rep.Invariants) != 0 {
		t.Errorf("%d server errors, broken: %v", rep.ServerError, rep.Invariants)
	}
	for name, want := range map[string]any{
		"joiners":                               int64(100),
		"prequeue_joiners":                      80,
		"post_opening_joiners":                  20,
		"prequeue_admitted":                     80,
		"prequeue_admitted_before_post_joiners": 80,
		"post_opening_admitted":                 20,
		"post_opening_admission_inversions":     0,
		"bookings_after_admission_with_pass":    int64(6),
		"holds_with_pass_not_201":               0,
		"still_waiting":                         int64(0),
		"funnel_reconciled":                     true,
		"funnel_expected":                       map[string]int64{"joined": 100, "admitted": 100, "held": 6, "confirmed": 6},
	} {
		if fmt.Sprint(f[name]) != fmt.Sprint(want) || fmt.Sprintf("%T", f[name]) != fmt.Sprintf("%T", want) {
			t.Errorf("%s = %v (%T), want %v", name, f[name], f[name], want)
		}
	}
	// At 10 a second the pre-queue is admitted in about 8 batches (fewer,
	// larger ones when the machine is busy and admission runs come late):
	// at least 4 are enough for the rank correlation to mean something.
	if n, _ := f["prequeue_admission_batches"].(int); n < 4 {
		t.Errorf("the pre-queue was admitted in %v batches, want at least 4", f["prequeue_admission_batches"])
	}
	if rho, ok := f["prequeue_join_admission_rank_corr"].(float64); !ok || rho > 0.6 || rho < -0.6 {
		t.Errorf("pre-queue rank correlation = %v, want near 0", f["prequeue_join_admission_rank_corr"])
	}
	if d, _ := f["first_admission_after_opening_s"].(float64); d < 0 || d > 2 {
		t.Errorf("first admission %.2fs after the opening, want within 2s", d)
	}
}
