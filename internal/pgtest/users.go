package pgtest

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/evently/evently/internal/auth"
)

// User inserts one user straight into the database and returns it as a
// principal of role user. Its password hash matches no password: tests
// that log in register through the API instead.
func User(t testing.TB, pool *pgxpool.Pool) auth.Principal {
	t.Helper()
	return Users(t, pool, 1)[0]
}

// Users inserts n users in one statement (hashing n passwords would
// dominate a test) and returns them, in order, as principals of role user;
// each has the e-mail address <id>@example.com.
func Users(t testing.TB, pool *pgxpool.Pool, n int) []auth.Principal {
	t.Helper()
	ids := make([]uuid.UUID, n)
	users := make([]auth.Principal, n)
	for i := range ids {
		ids[i] = uuid.Must(uuid.NewV7())
		users[i] = auth.Principal{UserID: ids[i], Role: auth.RoleUser}
	}
	if _, err := pool.Exec(context.Background(), `
		INSERT INTO users (id, email, name, password_hash, role)
		SELECT id, id::text || '@example.com', 'User', 'x', 'user' FROM unnest($1::uuid[]) AS id`, ids); err != nil {
		t.Fatalf("pgtest: insert %d users: %v", n, err)
	}
	return users
}
