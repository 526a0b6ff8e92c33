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

// TestScenariosAgainstARealServer runs small versions of the single, rush
// and contention scenarios against a whole evently: everything sells,
// nothing answers 5xx, and the invariants read from Postgres hold.
func TestScenariosAgainstARealServer(t *testing.T) {
	t.Parallel()
	env := apptest.Start(t,
		apptest.WithEnv("EVENTLY_ADMIN_EMAIL", "load-admin@evently.test"),
		apptest.WithEnv("EVENTLY_ADMIN_PASSWORD", "load-admin-password"))
	pool, err := pgxpool.New(context.Background(), env.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	cfg := loadgen.Config{
		BaseURL: env.URL, AdminEmail: "load-admin@evently.test", AdminPassword: "load-admin-password",
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
