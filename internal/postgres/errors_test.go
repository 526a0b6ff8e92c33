package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/postgres"
)

func TestTranslate(t *testing.T) {
	t.Parallel()
	refused := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		pool, err := pgxpool.New(ctx, "postgres://postgres@127.0.0.1:1/x?sslmode=disable&connect_timeout=2")
		if err != nil {
			return err
		}
		defer pool.Close()
		return pool.Ping(ctx)
	}()
	tests := []struct {
		name string
		err  error
		want apperr.Code // "" = unchanged
	}{
		{"starting up", fmt.Errorf("hold: %w", &pgconn.PgError{Code: "57P03", Message: "the database system is starting up"}), apperr.Unavailable},
		{"admin shutdown", &pgconn.PgError{Code: "57P01"}, apperr.Unavailable},
		{"connection failure", &pgconn.PgError{Code: "08006"}, apperr.Unavailable},
		{"deadlock", &pgconn.PgError{Code: "40P01"}, apperr.Unavailable},
		{"serialization", &pgconn.PgError{Code: "40001"}, apperr.Unavailable},
		{"connection refused", refused, apperr.Unavailable},
		{"deadline", fmt.Errorf("settle: %w", context.DeadlineExceeded), apperr.Unavailable},
		{"unique violation is a bug here", &pgconn.PgError{Code: "23505"}, ""},
		{"syntax error is a bug", &pgconn.PgError{Code: "42601"}, ""},
		{"plain error", errors.New("boom"), ""},
		{"already coded", apperr.New(apperr.SoldOut, "x"), apperr.SoldOut},
	}
	for _, tt := range tests {
		got := postgres.Translate(tt.err)
		if tt.want == "" {
			if got != tt.err {
				t.Errorf("%s: Translate() = %v, want it unchanged", tt.name, got)
			}
			continue
		}
		var ae *apperr.Error
		if !errors.As(got, &ae) || ae.Code != tt.want {
			t.Errorf("%s: Translate(%v) = %v, want %s", tt.name, tt.err, got, tt.want)
			continue
		}
		if tt.want == apperr.Unavailable && (ae.RetryAfter <= 0 || !errors.Is(got, tt.err)) {
			t.Errorf("%s: no Retry-After or cause lost: %+v", tt.name, ae)
		}
	}
	if postgres.Translate(nil) != nil {
		t.Error("Translate(nil) != nil")
	}
}
