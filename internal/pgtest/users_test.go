package pgtest_test

import (
	"context"
	"testing"

	"github.com/evently/evently/internal/auth"
	"github.com/evently/evently/internal/pgtest"
)

// TestUsersAreInsertedAsReturned: the principals returned are the rows
// inserted, distinct, each of role user.
func TestUsersAreInsertedAsReturned(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.New(t)
	users := append(pgtest.Users(t, pool, 3), pgtest.User(t, pool))
	seen := map[string]bool{}
	for _, u := range users {
		if u.Role != auth.RoleUser || seen[u.UserID.String()] {
			t.Fatalf("principal %+v: want a new user of role user", u)
		}
		seen[u.UserID.String()] = true
		var role, email string
		if err := pool.QueryRow(ctx, `SELECT role, email FROM users WHERE id = $1`, u.UserID).Scan(&role, &email); err != nil {
			t.Fatalf("user %s not in the database: %v", u.UserID, err)
		}
		if role != "user" || email != u.UserID.String()+"@example.com" {
			t.Errorf("user %s stored as %s, %s", u.UserID, role, email)
		}
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil || n != 4 {
		t.Fatalf("%d users in the database (%v), want 4", n, err)
	}
}
