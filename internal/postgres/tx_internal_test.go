package postgres

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestRetryOnConflict: a transaction aborted to break a deadlock or a
// serialization conflict is run again, at most conflictAttempts times in
// all; any other error, or a cancelled context, ends it at once.
func TestRetryOnConflict(t *testing.T) {
	t.Parallel()
	deadlock := &pgconn.PgError{Code: "40P01"}
	serialization := &pgconn.PgError{Code: "40001"}
	other := errors.New("boom")
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name      string
		ctx       context.Context
		errs      []error // what each run returns; nil once it succeeds
		wantRuns  int
		wantError error
	}{
		{"succeeds after two deadlocks", context.Background(), []error{deadlock, serialization, nil}, 3, nil},
		{"gives up after the last attempt", context.Background(), []error{deadlock, deadlock, deadlock, nil}, conflictAttempts, deadlock},
		{"other errors are not retried", context.Background(), []error{other, nil}, 1, other},
		{"a cancelled context is not retried", cancelled, []error{deadlock, nil}, 1, deadlock},
	}
	for _, tt := range tests {
		runs := 0
		_, err := retryOnConflict(tt.ctx, func() (struct{}, error) {
			runs++
			return struct{}{}, tt.errs[runs-1]
		})
		if runs != tt.wantRuns || !errors.Is(err, tt.wantError) {
			t.Errorf("%s: runs = %d, err = %v; want %d, %v", tt.name, runs, err, tt.wantRuns, tt.wantError)
		}
	}
}
