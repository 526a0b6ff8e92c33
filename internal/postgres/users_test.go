package postgres_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/account"
	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/auth"
	"github.com/evently/evently/internal/pgtest"
	"github.com/evently/evently/internal/postgres"
)

func newUser(email, name string) account.User {
	now := time.Now().UTC().Truncate(time.Microsecond)
	return account.User{ID: uuid.Must(uuid.NewV7()), Email: email, Name: name, Role: auth.RoleUser,
		PasswordHash: "$argon2id$test", CreatedAt: now, UpdatedAt: now}
}

func TestUserStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := postgres.NewUserStore(pgtest.New(t))

	ada := newUser("Ada@Example.com", "Ada Lovelace")
	if err := store.CreateUser(ctx, ada); err != nil {
		t.Fatalf("CreateUser() = %v", err)
	}
	if err := store.CreateUser(ctx, newUser("ada@EXAMPLE.com", "Other")); !apperr.Is(err, apperr.EmailTaken) {
		t.Fatalf("CreateUser(same e-mail, other case) = %v, want email_taken", err)
	}
	got, err := store.UserByEmail(ctx, "ADA@example.COM")
	if err != nil || got != ada {
		t.Fatalf("UserByEmail() = %+v, %v; want %+v", got, err, ada)
	}
	if got, err := store.UserByID(ctx, ada.ID); err != nil || got != ada {
		t.Fatalf("UserByID() = %+v, %v; want %+v", got, err, ada)
	}
	if _, err := store.UserByID(ctx, uuid.New()); !apperr.Is(err, apperr.NotFound) {
		t.Errorf("UserByID(unknown) = %v, want not_found", err)
	}
	if _, err := store.UserByEmail(ctx, "nobody@example.com"); !apperr.Is(err, apperr.NotFound) {
		t.Errorf("UserByEmail(unknown) = %v, want not_found", err)
	}

	later := time.Now().UTC().Add(time.Hour).Truncate(time.Microsecond)
	same, err := store.SetRole(ctx, ada.ID, auth.RoleUser, later)
	if err != nil || !same.UpdatedAt.Equal(ada.UpdatedAt) {
		t.Errorf("SetRole(unchanged) = %+v, %v; want updated_at kept", same, err)
	}
	admin, err := store.SetRole(ctx, ada.ID, auth.RoleAdmin, later)
	if err != nil || admin.Role != auth.RoleAdmin || !admin.UpdatedAt.Equal(later) {
		t.Errorf("SetRole(admin) = %+v, %v; want role admin, updated_at %v", admin, err, later)
	}
	if _, err := store.SetRole(ctx, uuid.New(), auth.RoleAdmin, later); !apperr.Is(err, apperr.NotFound) {
		t.Errorf("SetRole(unknown) = %v, want not_found", err)
	}
}

// TestRoleChangeRaisesTokenVersion: a change of role raises the token
// version and lists the account among the recent token changes; setting
// the same role changes neither.
func TestRoleChangeRaisesTokenVersion(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := postgres.NewUserStore(pgtest.New(t))
	ada, bob := newUser("ada@example.com", "Ada"), newUser("bob@example.com", "Bob")
	for _, u := range []account.User{ada, bob} {
		if err := store.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	if changes, err := store.TokenChanges(ctx, time.Hour); err != nil || len(changes) != 0 {
		t.Fatalf("TokenChanges() before any change = %v, %v; want none", changes, err)
	}
	now := time.Now().UTC()
	if u, err := store.SetRole(ctx, ada.ID, auth.RoleUser, now); err != nil || u.TokenVersion != 0 {
		t.Fatalf("SetRole(same role) = %+v, %v; want token version 0", u, err)
	}
	if u, err := store.SetRole(ctx, ada.ID, auth.RoleAdmin, now); err != nil || u.TokenVersion != 1 {
		t.Fatalf("SetRole(admin) = %+v, %v; want token version 1", u, err)
	}
	if u, err := store.SetRole(ctx, ada.ID, auth.RoleUser, now); err != nil || u.TokenVersion != 2 || u.Role != auth.RoleUser {
		t.Fatalf("SetRole(user) = %+v, %v; want user, token version 2", u, err)
	}
	if u, err := store.UserByID(ctx, ada.ID); err != nil || u.TokenVersion != 2 || u.Principal().Version != 2 {
		t.Fatalf("UserByID() = %+v, %v; want token version 2", u, err)
	}
	changes, err := store.TokenChanges(ctx, time.Hour)
	want := map[uuid.UUID]account.Standing{ada.ID: {Role: auth.RoleUser, TokenVersion: 2}}
	if err != nil || len(changes) != 1 || changes[ada.ID] != want[ada.ID] {
		t.Fatalf("TokenChanges() = %v, %v; want %v", changes, err, want)
	}
	time.Sleep(50 * time.Millisecond)
	if changes, err := store.TokenChanges(ctx, 10*time.Millisecond); err != nil || len(changes) != 0 {
		t.Fatalf("TokenChanges(within 10ms, 50ms later) = %v, %v; want none", changes, err)
	}
}

func TestListUsers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := postgres.NewUserStore(pgtest.New(t))
	var all []account.User
	for i, name := range []string{"Ada", "Grace", "100% Alan", "Barbara_L", `Back\slash`, "Linus"} {
		u := newUser(fmt.Sprintf("user%d@example.com", i), name)
		if err := store.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		all = append([]account.User{u}, all...) // newest first
	}
	names := func(us []account.User) string {
		var s []string
		for _, u := range us {
			s = append(s, u.Name)
		}
		return strings.Join(s, ",")
	}
	tests := []struct {
		q    account.ListQuery
		want string
	}{
		{account.ListQuery{Limit: 10}, names(all)},
		{account.ListQuery{Limit: 2}, "Linus,Back\\slash"},
		{account.ListQuery{Limit: 2, After: all[1].ID}, "Barbara_L,100% Alan"},
		{account.ListQuery{Limit: 10, After: all[5].ID}, ""},
		{account.ListQuery{Limit: 10, Search: "GRACE"}, "Grace"},
		{account.ListQuery{Limit: 10, Search: "user0@"}, "Ada"},
		{account.ListQuery{Limit: 10, Search: "%"}, "100% Alan"},
		{account.ListQuery{Limit: 10, Search: "_"}, "Barbara_L"},
		{account.ListQuery{Limit: 10, Search: `\`}, `Back\slash`},
		{account.ListQuery{Limit: 10, Search: "a", After: all[2].ID}, "100% Alan,Grace,Ada"},
	}
	for _, tc := range tests {
		got, err := store.ListUsers(ctx, tc.q)
		if err != nil {
			t.Fatalf("ListUsers(%+v) = %v", tc.q, err)
		}
		if names(got) != tc.want {
			t.Errorf("ListUsers(%+v) = %s, want %s", tc.q, names(got), tc.want)
		}
	}
}

// TestConcurrentRefresh: of many refreshes racing with one token, exactly
// one wins, and the losers' reuse ends the session, the winner's new token
// included.
func TestConcurrentRefresh(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tokens := auth.NewTokens([]byte("0123456789abcdef0123456789abcdef"), time.Minute, nil)
	svc := account.NewService(postgres.NewUserStore(pgtest.New(t)), tokens, nil)
	sess, err := svc.Register(ctx, account.Registration{Email: "race@example.com", Password: "12345678", Name: "Race"})
	if err != nil {
		t.Fatal(err)
	}

	const n = 8
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		won  []account.Session
		lost int
	)
	for range n {
		wg.Go(func() {
			s, err := svc.Refresh(ctx, sess.RefreshToken)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won = append(won, s)
			case apperr.Is(err, apperr.Unauthorized):
				lost++
			default:
				t.Errorf("Refresh() = %v", err)
			}
		})
	}
	wg.Wait()
	if len(won) != 1 || lost != n-1 {
		t.Fatalf("%d refreshes won and %d lost, want 1 and %d", len(won), lost, n-1)
	}
	if _, err := svc.Refresh(ctx, won[0].RefreshToken); !apperr.Is(err, apperr.Unauthorized) {
		t.Errorf("Refresh(winner's token after reuse) = %v, want unauthorized", err)
	}
}

func TestRefreshExpiry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.New(t)
	store := postgres.NewUserStore(pool)
	u := newUser("exp@example.com", "Exp")
	if err := store.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	token := func(b byte, expires time.Time) account.RefreshToken {
		h := sha256.Sum256([]byte{b})
		return account.RefreshToken{ID: uuid.Must(uuid.NewV7()), UserID: u.ID, FamilyID: uuid.New(), Hash: h[:],
			CreatedAt: now, ExpiresAt: expires}
	}
	old := token(1, now.Add(time.Minute))
	if err := store.CreateRefreshToken(ctx, old); err != nil {
		t.Fatal(err)
	}
	if _, err := store.RotateRefreshToken(ctx, old.Hash, token(2, now.Add(time.Hour)), now.Add(time.Minute)); !apperr.Is(err, apperr.NotFound) {
		t.Fatalf("RotateRefreshToken(expired) = %v, want not_found", err)
	}
	got, err := store.RotateRefreshToken(ctx, old.Hash, token(3, now.Add(time.Hour)), now)
	if err != nil || got.ID != u.ID {
		t.Fatalf("RotateRefreshToken(live) = %+v, %v; want user %s", got, err, u.ID)
	}
	var stored int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM refresh_tokens WHERE family_id = $1 AND user_id = $2`, old.FamilyID, u.ID).Scan(&stored); err != nil || stored != 2 {
		t.Errorf("tokens in the family = %d, %v; want 2 (the next one joins it)", stored, err)
	}
}

// TestAccountQueriesUseIndexes checks that the account queries can use
// their indexes (sequential scans are switched off, so a plan without an
// index means there is none to use).
func TestAccountQueriesUseIndexes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn, err := pgtest.New(t).Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SET enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ query, index string }{
		{`SELECT * FROM users WHERE email = 'a@example.com'`, "users_email_key"},
		{`SELECT * FROM users WHERE id < '0192f3c4-5e6f-7a8b-9c0d-1e2f3a4b5c6d' ORDER BY id DESC LIMIT 21`, "users_pkey"},
		// The search's predicate (the planner may still prefer walking the
		// primary key in order when most users match).
		{`SELECT * FROM users WHERE (email::text ILIKE '%lovelace%' OR name ILIKE '%lovelace%')`, "users_name_trgm"},
		{`SELECT * FROM users WHERE (email::text ILIKE '%lovelace%' OR name ILIKE '%lovelace%')`, "users_email_trgm"},
		{`SELECT * FROM refresh_tokens WHERE token_hash = '\x00'::bytea FOR UPDATE`, "refresh_tokens_token_hash_key"},
		{`UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = '0192f3c4-5e6f-7a8b-9c0d-1e2f3a4b5c6d' AND revoked_at IS NULL`, "refresh_tokens_family_id"},
		{`SELECT id, role, token_version FROM users WHERE token_changed_at > now() - make_interval(secs => 960)`, "users_token_changed_at"},
	}
	for _, tc := range tests {
		rows, err := conn.Query(ctx, "EXPLAIN "+tc.query)
		if err != nil {
			t.Fatalf("EXPLAIN %s: %v", tc.query, err)
		}
		var plan strings.Builder
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			plan.WriteString(line + "\n")
		}
		if rows.Err() != nil {
			t.Fatal(rows.Err())
		}
		if !strings.Contains(plan.String(), tc.index) {
			t.Errorf("%s\nplan does not use %s:\n%s", tc.query, tc.index, plan.String())
		}
	}
}
