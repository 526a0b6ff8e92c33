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

// createUser stores a new user.
func createUser(t *testing.T, store *postgres.UserStore, email, name string) account.User {
	t.Helper()
	u := newUser(email, name)
	if err := store.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return u
}

// createAdaAndBob stores two users, Ada and Bob.
func createAdaAndBob(t *testing.T, store *postgres.UserStore) (ada, bob account.User) {
	t.Helper()
	return createUser(t, store, "ada@example.com", "Ada"), createUser(t, store, "bob@example.com", "Bob")
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
	ada, _ := createAdaAndBob(t, store)
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
		u := createUser(t, store, fmt.Sprintf("user%d@example.com", i), name)
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
	svc := account.NewService(postgres.NewUserStore(pgtest.New(t)), tokens, account.Options{})
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
	u := createUser(t, store, "exp@example.com", "Exp")
	now := time.Now().UTC()
	token := func(b byte, expires time.Time) account.RefreshToken {
		h := sha256.Sum256([]byte{b})
		return account.RefreshToken{ID: uuid.Must(uuid.NewV7()), UserID: u.ID, FamilyID: uuid.New(), Hash: h[:],
			CreatedAt: now, ExpiresAt: expires}
	}
	old := token(1, now.Add(time.Minute))
	if err := store.CreateRefreshToken(ctx, old, 0); err != nil {
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
	conn := withoutSeqScans(t, pgtest.New(t))
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
		{`SELECT * FROM users WHERE id = (SELECT user_id FROM refresh_tokens WHERE token_hash = '\x00'::bytea) FOR NO KEY UPDATE`, "users_pkey"},
		{`SELECT * FROM users WHERE id = (SELECT user_id FROM refresh_tokens WHERE token_hash = '\x00'::bytea) FOR NO KEY UPDATE`, "refresh_tokens_token_hash_key"},
		{`UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = '0192f3c4-5e6f-7a8b-9c0d-1e2f3a4b5c6d' AND used_at IS NULL AND revoked_at IS NULL AND expires_at > now()`, "refresh_tokens_user_id"},
	}
	for _, tc := range tests {
		plan := plan(t, conn, tc.query)
		if !strings.Contains(plan, tc.index) {
			t.Errorf("%s\nplan does not use %s:\n%s", tc.query, tc.index, plan)
		}
	}
}

// newRefreshToken makes a refresh token of user in family (a new family
// when uuid.Nil), returning it and its hash.
func newRefreshToken(t *testing.T, user, family uuid.UUID) account.RefreshToken {
	t.Helper()
	if family == uuid.Nil {
		family = uuid.New()
	}
	h := sha256.Sum256([]byte(uuid.NewString()))
	now := time.Now().UTC()
	return account.RefreshToken{ID: uuid.Must(uuid.NewV7()), UserID: user, FamilyID: family, Hash: h[:],
		CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
}

// TestEndSessions: ending every session raises the token version (listed
// among the recent token changes) and revokes every refresh token of the
// user, spent ones' families included, and no one else's; a session
// started from the account as it stood before is refused.
func TestEndSessions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := postgres.NewUserStore(pgtest.New(t))
	ada, bob := createAdaAndBob(t, store)
	var live []account.RefreshToken
	for range 3 {
		tok := newRefreshToken(t, ada.ID, uuid.Nil)
		if err := store.CreateRefreshToken(ctx, tok, 0); err != nil {
			t.Fatalf("CreateRefreshToken() = %v", err)
		}
		live = append(live, tok)
	}
	// One session has rotated: its live token is the second of its family.
	next := newRefreshToken(t, ada.ID, live[0].FamilyID)
	if _, err := store.RotateRefreshToken(ctx, live[0].Hash, next, time.Now().UTC()); err != nil {
		t.Fatalf("RotateRefreshToken() = %v", err)
	}
	live[0] = next
	bobs := newRefreshToken(t, bob.ID, uuid.Nil)
	if err := store.CreateRefreshToken(ctx, bobs, 0); err != nil {
		t.Fatal(err)
	}

	if err := store.EndSessions(ctx, ada.ID, time.Now().UTC()); err != nil {
		t.Fatalf("EndSessions() = %v", err)
	}
	if u, err := store.UserByID(ctx, ada.ID); err != nil || u.TokenVersion != 1 || !u.UpdatedAt.Equal(ada.UpdatedAt) {
		t.Fatalf("UserByID() after EndSessions = %+v, %v; want token version 1, updated_at kept", u, err)
	}
	if changes, err := store.TokenChanges(ctx, time.Minute); err != nil || changes[ada.ID].TokenVersion != 1 || len(changes) != 1 {
		t.Fatalf("TokenChanges() = %v, %v; want ada at version 1", changes, err)
	}
	for i, tok := range live {
		if _, err := store.RotateRefreshToken(ctx, tok.Hash, newRefreshToken(t, ada.ID, tok.FamilyID), time.Now().UTC()); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("RotateRefreshToken(session %d after EndSessions) = %v, want not_found", i, err)
		}
	}
	if _, err := store.RotateRefreshToken(ctx, bobs.Hash, newRefreshToken(t, bob.ID, bobs.FamilyID), time.Now().UTC()); err != nil {
		t.Errorf("RotateRefreshToken(another user's token) = %v, want it untouched", err)
	}

	if err := store.CreateRefreshToken(ctx, newRefreshToken(t, ada.ID, uuid.Nil), 0); !apperr.Is(err, apperr.Conflict) {
		t.Errorf("CreateRefreshToken(at the old version) = %v, want conflict", err)
	}
	if err := store.CreateRefreshToken(ctx, newRefreshToken(t, ada.ID, uuid.Nil), 1); err != nil {
		t.Errorf("CreateRefreshToken(at the new version) = %v", err)
	}
	if err := store.EndSessions(ctx, uuid.New(), time.Now().UTC()); !apperr.Is(err, apperr.NotFound) {
		t.Errorf("EndSessions(unknown user) = %v, want not_found", err)
	}
}

// TestChangePasswordStore: the change replaces the hash only if it is
// still the one checked, raises the version, revokes every session and
// stores the new one, which works.
func TestChangePasswordStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := postgres.NewUserStore(pgtest.New(t))
	ada := createUser(t, store, "ada@example.com", "Ada")
	old := newRefreshToken(t, ada.ID, uuid.Nil)
	if err := store.CreateRefreshToken(ctx, old, 0); err != nil {
		t.Fatal(err)
	}
	later := time.Now().UTC().Add(time.Minute).Truncate(time.Microsecond)

	if _, err := store.ChangePassword(ctx, ada.ID, "$argon2id$other", "$argon2id$new", newRefreshToken(t, ada.ID, uuid.Nil), later); !apperr.Is(err, apperr.Conflict) {
		t.Fatalf("ChangePassword(stale old hash) = %v, want conflict", err)
	}
	if _, err := store.ChangePassword(ctx, uuid.New(), ada.PasswordHash, "$argon2id$new", newRefreshToken(t, ada.ID, uuid.Nil), later); !apperr.Is(err, apperr.NotFound) {
		t.Fatalf("ChangePassword(unknown user) = %v, want not_found", err)
	}
	if u, err := store.UserByID(ctx, ada.ID); err != nil || u != ada {
		t.Fatalf("user after refused changes = %+v, %v; want unchanged %+v", u, err, ada)
	}

	session := newRefreshToken(t, ada.ID, uuid.Nil)
	u, err := store.ChangePassword(ctx, ada.ID, ada.PasswordHash, "$argon2id$new", session, later)
	if err != nil || u.PasswordHash != "$argon2id$new" || u.TokenVersion != 1 || !u.UpdatedAt.Equal(later) {
		t.Fatalf("ChangePassword() = %+v, %v; want the new hash, token version 1, updated_at %v", u, err, later)
	}
	if got, err := store.UserByID(ctx, ada.ID); err != nil || got != u {
		t.Fatalf("UserByID() = %+v, %v; want %+v", got, err, u)
	}
	if _, err := store.RotateRefreshToken(ctx, old.Hash, newRefreshToken(t, ada.ID, old.FamilyID), time.Now().UTC()); !apperr.Is(err, apperr.NotFound) {
		t.Errorf("RotateRefreshToken(session before the change) = %v, want not_found", err)
	}
	if got, err := store.RotateRefreshToken(ctx, session.Hash, newRefreshToken(t, ada.ID, session.FamilyID), time.Now().UTC()); err != nil || got.TokenVersion != 1 {
		t.Errorf("RotateRefreshToken(the change's session) = %+v, %v; want the user at version 1", got, err)
	}
}

// TestEndSessionsRacingRefreshes: logouts everywhere racing with many
// refreshes and new sessions leave no live refresh token issued at an
// older token version: a refresh or login that read the account before a
// logout either committed before it, and was revoked by it, or stored
// nothing.
func TestEndSessionsRacingRefreshes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.New(t)
	store := postgres.NewUserStore(pool)
	u := createUser(t, store, "race@example.com", "Race")

	type issued struct {
		hash    []byte
		version int
	}
	var (
		mu       sync.Mutex
		all      []issued
		wg       sync.WaitGroup
		done     = make(chan struct{})
		rotated  int
		refused  int
		conflict int
	)
	record := func(hash []byte, version int) {
		mu.Lock()
		defer mu.Unlock()
		all = append(all, issued{hash, version})
	}
	const workers, logouts = 8, 30
	for range workers {
		wg.Go(func() {
			var current account.RefreshToken // this worker's session, if any
			for {
				select {
				case <-done:
					return
				default:
				}
				if current.Hash == nil {
					cur, err := store.UserByID(ctx, u.ID)
					if err != nil {
						t.Errorf("UserByID() = %v", err)
						return
					}
					tok := newRefreshToken(t, u.ID, uuid.Nil)
					err = store.CreateRefreshToken(ctx, tok, cur.TokenVersion)
					if apperr.Is(err, apperr.Conflict) {
						mu.Lock()
						conflict++
						mu.Unlock()
						continue
					}
					if err != nil {
						t.Errorf("CreateRefreshToken() = %v", err)
						return
					}
					record(tok.Hash, cur.TokenVersion)
					current = tok
					continue
				}
				next := newRefreshToken(t, u.ID, current.FamilyID)
				got, err := store.RotateRefreshToken(ctx, current.Hash, next, time.Now().UTC())
				mu.Lock()
				if err == nil {
					rotated++
				} else {
					refused++
				}
				mu.Unlock()
				switch {
				case apperr.Is(err, apperr.NotFound):
					current = account.RefreshToken{}
				case err != nil:
					t.Errorf("RotateRefreshToken() = %v", err)
					return
				default:
					record(next.Hash, got.TokenVersion)
					current = next
				}
			}
		})
	}
	for range logouts {
		time.Sleep(5 * time.Millisecond)
		if err := store.EndSessions(ctx, u.ID, time.Now().UTC()); err != nil {
			t.Fatalf("EndSessions() = %v", err)
		}
	}
	close(done)
	wg.Wait()
	t.Logf("%d rotations, %d refused, %d stale logins", rotated, refused, conflict)
	if rotated == 0 || refused == 0 {
		t.Fatalf("%d rotations and %d refusals: the race was not run", rotated, refused)
	}

	final, err := store.UserByID(ctx, u.ID)
	if err != nil || final.TokenVersion != logouts {
		t.Fatalf("UserByID() = %+v, %v; want token version %d", final, err, logouts)
	}
	stale := 0
	for _, tok := range all {
		if tok.version >= final.TokenVersion {
			continue
		}
		var alive bool
		if err := pool.QueryRow(ctx, `
			SELECT used_at IS NULL AND revoked_at IS NULL FROM refresh_tokens WHERE token_hash = $1`, tok.hash).Scan(&alive); err != nil {
			t.Fatal(err)
		}
		if alive {
			stale++
		}
	}
	if stale > 0 {
		t.Errorf("%d of %d refresh tokens issued before a logout everywhere are still live", stale, len(all))
	}
}
