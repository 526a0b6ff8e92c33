package pgtest_test

import (
	"context"
	"testing"

	"github.com/evently/evently/internal/pgtest"
)

// TestDatabasesAreFreshAndSeparate checks that each call yields its own
// migrated database: a table made in one is absent from the other.
func TestDatabasesAreFreshAndSeparate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b := pgtest.New(t), pgtest.New(t)
	var nameA, nameB string
	if err := a.QueryRow(ctx, "SELECT current_database()").Scan(&nameA); err != nil {
		t.Fatal(err)
	}
	if err := b.QueryRow(ctx, "SELECT current_database()").Scan(&nameB); err != nil {
		t.Fatal(err)
	}
	if nameA == nameB {
		t.Fatalf("both pools on %s", nameA)
	}
	var migrated int
	if err := a.QueryRow(ctx, "SELECT count(*) FROM goose_db_version WHERE is_applied AND version_id > 0").Scan(&migrated); err != nil || migrated == 0 {
		t.Fatalf("template not migrated: %d applied, %v", migrated, err)
	}
	if _, err := a.Exec(ctx, "CREATE TABLE only_in_a (id int)"); err != nil {
		t.Fatal(err)
	}
	var exists bool
	if err := b.QueryRow(ctx, "SELECT to_regclass('only_in_a') IS NOT NULL").Scan(&exists); err != nil || exists {
		t.Fatalf("table made in %s visible in %s (%v)", nameA, nameB, err)
	}
}
