package httpapi_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/evently/evently/internal/apptest"
	"github.com/evently/evently/internal/auth"
)

// refreshFails checks that a refresh token no longer buys a session.
func refreshFails(t *testing.T, env *apptest.Env, what, token string) {
	t.Helper()
	r := env.Post(t, "/api/v1/auth/refresh", "", map[string]string{"refresh_token": token})
	wantProblem(t, "refresh with "+what, r, http.StatusUnauthorized, "unauthorized", "")
}

// refresh spends a refresh token for the next session.
func refresh(t *testing.T, env *apptest.Env, what, token string) sessionBody {
	t.Helper()
	r := env.Post(t, "/api/v1/auth/refresh", "", map[string]string{"refresh_token": token})
	if r.Status != http.StatusOK {
		t.Fatalf("refresh with %s = %d %s, want 200", what, r.Status, r.Body)
	}
	var s sessionBody
	r.Decode(t, &s)
	return s
}

// waitRevoked waits until GET /me refuses an access token on env (401),
// which must happen within the revocation TTL (plus slack for a loaded
// machine); until then the token may only work.
func waitRevoked(t *testing.T, env *apptest.Env, what, token string, ttl time.Duration) {
	t.Helper()
	deadline := time.Now().Add(ttl + 2*time.Second)
	for {
		r := env.Get(t, "/api/v1/me", token)
		if r.Status == http.StatusUnauthorized {
			wantProblem(t, "GET /me with "+what, r, http.StatusUnauthorized, "unauthorized", "")
			return
		}
		if r.Status != http.StatusOK || time.Now().After(deadline) {
			t.Fatalf("GET /me with %s = %d %s, want 401 within %v", what, r.Status, r.Body, ttl)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestLogoutAll: logging out everywhere ends every session of the caller,
// on every replica: each refresh token fails at once (spent ones, rotated
// sessions and the caller's own included), each access token issued
// before is refused within the revocation TTL on both processes, and
// other accounts are untouched; signing in again works.
func TestLogoutAll(t *testing.T) {
	t.Parallel()
	const ttl = 200 * time.Millisecond
	env := apptest.Start(t, apptest.WithRevocationTTL(ttl))
	// A second replica on the same database and Redis.
	replica := apptest.Start(t, apptest.WithRevocationTTL(ttl),
		apptest.WithEnv("DATABASE_URL", env.DatabaseURL), apptest.WithEnv("REDIS_URL", env.RedisURL))

	caller := register(t, env, "ines@example.com", password, "Ines")
	laptop := login(t, env, "ines@example.com", password)
	phone := login(t, replica, "ines@example.com", password)
	rotated := refresh(t, replica, "the phone's token", phone.RefreshToken)
	bystander := register(t, env, "omar@example.com", password, "Omar")
	// Both processes have read the recent changes before the logout.
	for _, e := range []*apptest.Env{env, replica} {
		if r := e.Get(t, "/api/v1/me", laptop.AccessToken); r.Status != http.StatusOK {
			t.Fatalf("GET /me before the logout = %d %s", r.Status, r.Body)
		}
	}

	wantProblem(t, "logout-all anonymously", env.Post(t, "/api/v1/auth/logout-all", "", nil), http.StatusUnauthorized, "unauthorized", "")
	r := env.Post(t, "/api/v1/auth/logout-all", caller.AccessToken, nil)
	if r.Status != http.StatusNoContent || len(r.Body) != 0 {
		t.Fatalf("logout-all = %d %q, want 204 and no body", r.Status, r.Body)
	}

	for what, token := range map[string]string{
		"the caller's token": caller.RefreshToken, "the laptop's token": laptop.RefreshToken,
		"the phone's rotated token": rotated.RefreshToken, "the phone's spent token": phone.RefreshToken,
	} {
		refreshFails(t, env, what, token)
	}
	for _, e := range []*apptest.Env{env, replica} {
		for what, token := range map[string]string{
			"the caller's access token": caller.AccessToken, "the laptop's access token": laptop.AccessToken,
			"the phone's access token": phone.AccessToken, "the rotated access token": rotated.AccessToken,
		} {
			waitRevoked(t, e, what, token, ttl)
		}
	}
	wantProblem(t, "logout-all with a revoked token", env.Post(t, "/api/v1/auth/logout-all", caller.AccessToken, nil),
		http.StatusUnauthorized, "unauthorized", "")

	if r := env.Get(t, "/api/v1/me", bystander.AccessToken); r.Status != http.StatusOK {
		t.Errorf("GET /me as another user = %d %s, want 200", r.Status, r.Body)
	}
	refresh(t, env, "another user's token", bystander.RefreshToken)

	again := login(t, replica, "ines@example.com", password)
	time.Sleep(ttl + 50*time.Millisecond) // until both have read the change again: the new session stands
	for _, e := range []*apptest.Env{env, replica} {
		if r := e.Get(t, "/api/v1/me", again.AccessToken); r.Status != http.StatusOK {
			t.Errorf("GET /me with a session started after = %d %s, want 200", r.Status, r.Body)
		}
	}
	refresh(t, env, "a session started after", again.RefreshToken)
}

// TestChangePassword: a password change answers a working session while
// every other session ends (refresh tokens at once, access tokens within
// the revocation TTL); the old password stops working and the new one
// works. Bad bodies are refused before anything changes.
func TestChangePassword(t *testing.T) {
	t.Parallel()
	const ttl = 200 * time.Millisecond
	env := apptest.Start(t, apptest.WithRevocationTTL(ttl))
	dev := register(t, env, "noor@example.com", password, "Noor")
	other := login(t, env, "noor@example.com", password)
	bystander := register(t, env, "paz@example.com", password, "Paz")
	change := func(token string, body any) *apptest.Response {
		return env.Post(t, "/api/v1/me/password", token, body)
	}
	const newPassword = "a brand new passphrase"

	for _, tc := range []struct {
		what  string
		body  any
		field string
	}{
		{"a short new password", map[string]string{"current_password": password, "new_password": "1234567"}, "new_password"},
		{"a new password of 129", map[string]string{"current_password": password, "new_password": fmt.Sprintf("%0129d", 0)}, "new_password"},
		{"no current password", map[string]string{"new_password": newPassword}, "current_password"},
		{"no new password", map[string]string{"current_password": password}, "new_password"},
		{"a NUL in the new password", map[string]string{"current_password": password, "new_password": "new\x00password"}, "new_password"},
		{"an unknown field", map[string]string{"current_password": password, "new_password": newPassword, "email": "x@example.com"}, "email"},
		{"a number", `{"current_password":"x","new_password":12345678}`, "new_password"},
	} {
		wantProblem(t, "change with "+tc.what, change(dev.AccessToken, tc.body), http.StatusBadRequest, "validation_failed", tc.field)
	}
	wantProblem(t, "change with malformed JSON", change(dev.AccessToken, "{"), http.StatusBadRequest, "malformed_json", "")
	r := env.Do(t, apptest.Request{Method: http.MethodPost, Path: "/api/v1/me/password", Token: dev.AccessToken,
		Body: `{"current_password":"x","new_password":"y"}`, Header: http.Header{"Content-Type": {"text/plain"}}})
	wantProblem(t, "change as text", r, http.StatusUnsupportedMediaType, "unsupported_media_type", "")
	wantProblem(t, "change anonymously", change("", map[string]string{"current_password": password, "new_password": newPassword}),
		http.StatusUnauthorized, "unauthorized", "")
	wantProblem(t, "change with a wrong current password", change(dev.AccessToken, map[string]string{"current_password": "not my password", "new_password": newPassword}),
		http.StatusForbidden, "wrong_password", "")
	// Nothing changed: every session still works.
	other = refresh(t, env, "the other session's token before the change", other.RefreshToken)

	r = change(dev.AccessToken, map[string]string{"current_password": password, "new_password": newPassword})
	if r.Status != http.StatusOK {
		t.Fatalf("change = %d %s, want 200", r.Status, r.Body)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
	var fresh sessionBody
	r.Decode(t, &fresh)
	if fresh.User != dev.User || fresh.TokenType != "Bearer" || fresh.AccessToken == "" || fresh.RefreshToken == dev.RefreshToken {
		t.Fatalf("session after the change = %+v, want new tokens for %+v", fresh, dev.User)
	}

	refreshFails(t, env, "the changing session's old token", dev.RefreshToken)
	refreshFails(t, env, "the other session's token", other.RefreshToken)
	waitRevoked(t, env, "the changing session's old access token", dev.AccessToken, ttl)
	waitRevoked(t, env, "the other session's access token", other.AccessToken, ttl)
	if r := env.Get(t, "/api/v1/me", fresh.AccessToken); r.Status != http.StatusOK {
		t.Errorf("GET /me with the new session = %d %s, want 200", r.Status, r.Body)
	}
	next := refresh(t, env, "the new session's token", fresh.RefreshToken)
	if r := env.Get(t, "/api/v1/me", next.AccessToken); r.Status != http.StatusOK {
		t.Errorf("GET /me after refreshing the new session = %d %s, want 200", r.Status, r.Body)
	}
	if r := env.Get(t, "/api/v1/me", bystander.AccessToken); r.Status != http.StatusOK {
		t.Errorf("GET /me as another user = %d %s, want 200", r.Status, r.Body)
	}

	r = env.Post(t, "/api/v1/auth/login", "", map[string]string{"email": "noor@example.com", "password": password})
	wantProblem(t, "login with the old password", r, http.StatusUnauthorized, "invalid_credentials", "")
	login(t, env, "noor@example.com", newPassword)
	// The old password is no longer the current one.
	wantProblem(t, "change back with the old password", change(next.AccessToken, map[string]string{"current_password": password, "new_password": password}),
		http.StatusForbidden, "wrong_password", "")
}

// TestChangePasswordThrottled: wrong current passwords count as failed
// logins of the account — with failed logins, five of them make both a
// password change and a login wait (429 with Retry-After), even with the
// right password — so a stolen access token guesses no faster than a
// login; the refusals change nothing.
func TestChangePasswordThrottled(t *testing.T) {
	t.Parallel()
	env := apptest.Start(t)
	s := register(t, env, "quinn@example.com", password, "Quinn")
	body := func(current string) map[string]string {
		return map[string]string{"current_password": current, "new_password": "another passphrase"}
	}
	for i := range 2 {
		r := env.Post(t, "/api/v1/auth/login", "", map[string]string{"email": "quinn@example.com", "password": fmt.Sprintf("guess-%d-guess", i)})
		wantProblem(t, fmt.Sprintf("failed login %d", i+1), r, http.StatusUnauthorized, "invalid_credentials", "")
	}
	for i := range 3 {
		r := env.Post(t, "/api/v1/me/password", s.AccessToken, body(fmt.Sprintf("guess-%d-change", i)))
		wantProblem(t, fmt.Sprintf("wrong current password %d", i+1), r, http.StatusForbidden, "wrong_password", "")
	}
	r := env.Post(t, "/api/v1/me/password", s.AccessToken, body(password))
	wantProblem(t, "change after five failures", r, http.StatusTooManyRequests, "rate_limited", "")
	if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 5 {
		t.Errorf("Retry-After = %q, want 1 to 5 seconds", r.Header.Get("Retry-After"))
	}
	r = env.Post(t, "/api/v1/auth/login", "", map[string]string{"email": "quinn@example.com", "password": password})
	wantProblem(t, "login after five failures", r, http.StatusTooManyRequests, "rate_limited", "")
	// The session is untouched.
	if r := env.Get(t, "/api/v1/me", s.AccessToken); r.Status != http.StatusOK {
		t.Errorf("GET /me after the refusals = %d %s, want 200", r.Status, r.Body)
	}
	refresh(t, env, "the session's token after the refusals", s.RefreshToken)
}

// tokenVersion reads the account version an access token carries.
func tokenVersion(t *testing.T, token string) int {
	t.Helper()
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(token, claims); err != nil {
		t.Errorf("parse access token: %v", err)
		return -1
	}
	v, _ := claims["ver"].(float64)
	return int(v)
}

// TestLogoutAllRacingRefreshes: logouts everywhere racing with many
// clients refreshing (and signing in again when refused) leave no refresh
// token that a refresh issued before the last logout still able to buy a
// session: each one issued at an older account version fails.
func TestLogoutAllRacingRefreshes(t *testing.T) {
	t.Parallel()
	env := apptest.Start(t)
	reg := register(t, env, "rae@example.com", password, "Rae")
	id := uuid.MustParse(reg.User.ID)

	type issued struct {
		refresh string
		version int
	}
	var (
		mu       sync.Mutex
		all      []issued
		refused  int
		wg       sync.WaitGroup
		done     = make(chan struct{})
		workers  = 6
		logouts  = 6
		loginOne = func() (sessionBody, bool) {
			r := env.Post(t, "/api/v1/auth/login", "", map[string]string{"email": "rae@example.com", "password": password})
			var s sessionBody
			if r.Status != http.StatusOK {
				t.Errorf("login = %d %s, want 200", r.Status, r.Body)
				return s, false
			}
			r.Decode(t, &s)
			return s, true
		}
	)
	for range workers {
		wg.Go(func() {
			cur, ok := loginOne()
			for ok {
				select {
				case <-done:
					return
				default:
				}
				r := env.Post(t, "/api/v1/auth/refresh", "", map[string]string{"refresh_token": cur.RefreshToken})
				switch r.Status {
				case http.StatusOK:
					r.Decode(t, &cur)
					mu.Lock()
					all = append(all, issued{cur.RefreshToken, tokenVersion(t, cur.AccessToken)})
					mu.Unlock()
				case http.StatusUnauthorized:
					mu.Lock()
					refused++
					mu.Unlock()
					cur, ok = loginOne()
				default:
					t.Errorf("refresh = %d %s", r.Status, r.Body)
					return
				}
			}
		})
	}
	for v := range logouts {
		// Each logout lands among refreshes in flight: wait for a few
		// since the last one (signing in again takes a password hash).
		mu.Lock()
		want := len(all) + 3*workers
		mu.Unlock()
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			mu.Lock()
			n := len(all)
			mu.Unlock()
			if n >= want {
				break
			}
		}
		// A token of the current version, as a fresh login would give.
		tok := env.Token(t, auth.Principal{UserID: id, Role: auth.RoleUser, Version: v})
		if r := env.Post(t, "/api/v1/auth/logout-all", tok, nil); r.Status != http.StatusNoContent {
			t.Fatalf("logout-all %d = %d %s, want 204", v+1, r.Status, r.Body)
		}
	}
	close(done)
	wg.Wait()
	t.Logf("%d refreshes, %d refused", len(all), refused)
	if len(all) == 0 || refused == 0 {
		t.Fatalf("%d refreshes and %d refusals: the race was not run", len(all), refused)
	}
	stale := 0
	for _, tok := range all {
		if tok.version >= logouts {
			continue
		}
		stale++
		r := env.Post(t, "/api/v1/auth/refresh", "", map[string]string{"refresh_token": tok.refresh})
		wantProblem(t, fmt.Sprintf("refresh with a token issued at version %d of %d", tok.version, logouts), r,
			http.StatusUnauthorized, "unauthorized", "")
	}
	if stale == 0 {
		t.Fatalf("no refresh was issued before the last logout: the race was not run")
	}
}

// TestSessionEndpointsRateLimited: logging out everywhere and changing a
// password are limited per client address, as the /auth endpoints are.
func TestSessionEndpointsRateLimited(t *testing.T) {
	t.Parallel()
	env := apptest.Start(t, apptest.WithEnv("EVENTLY_AUTH_RATE_PER_MINUTE", "2"))
	s := register(t, env, "ravi@example.com", password, "Ravi")
	id := uuid.MustParse(s.User.ID)
	wrong := map[string]string{"current_password": "not my password", "new_password": "another passphrase"}
	for i := range 2 {
		r := env.Post(t, "/api/v1/me/password", s.AccessToken, wrong)
		wantProblem(t, fmt.Sprintf("change %d", i+1), r, http.StatusForbidden, "wrong_password", "")
	}
	r := env.Post(t, "/api/v1/me/password", s.AccessToken, wrong)
	wantProblem(t, "3rd change in a minute", r, http.StatusTooManyRequests, "rate_limited", "")
	for v := range 2 {
		tok := env.Token(t, auth.Principal{UserID: id, Role: auth.RoleUser, Version: v})
		if r := env.Post(t, "/api/v1/auth/logout-all", tok, nil); r.Status != http.StatusNoContent {
			t.Fatalf("logout-all %d = %d %s, want 204", v+1, r.Status, r.Body)
		}
	}
	tok := env.Token(t, auth.Principal{UserID: id, Role: auth.RoleUser, Version: 2})
	r = env.Post(t, "/api/v1/auth/logout-all", tok, nil)
	wantProblem(t, "3rd logout-all in a minute", r, http.StatusTooManyRequests, "rate_limited", "")
	if r.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
}

func TestRefreshRotation(t *testing.T) {
	t.Parallel()
	env := apptest.Start(t)
	first := register(t, env, "alan@example.com", password, "Alan Turing")

	second := refresh(t, env, "the first token", first.RefreshToken)
	if second.RefreshToken == first.RefreshToken || second.AccessToken == "" || second.User != first.User || second.TokenType != "Bearer" {
		t.Fatalf("refreshed session = %+v, want a new refresh token for %+v", second, first.User)
	}
	if r := env.Get(t, "/api/v1/me", second.AccessToken); r.Status != http.StatusOK {
		t.Fatalf("GET /me with the refreshed token = %d %s", r.Status, r.Body)
	}

	// The spent token stops working...
	r := env.Post(t, "/api/v1/auth/refresh", "", map[string]string{"refresh_token": first.RefreshToken})
	wantProblem(t, "refresh with the spent token", r, http.StatusUnauthorized, "unauthorized", "")
	// ...and its reuse revoked the family: the newest token is dead too.
	r = env.Post(t, "/api/v1/auth/refresh", "", map[string]string{"refresh_token": second.RefreshToken})
	wantProblem(t, "refresh with the newest token after reuse", r, http.StatusUnauthorized, "unauthorized", "")

	// Another session of the same user is not affected.
	other := login(t, env, "alan@example.com", password)
	refresh(t, env, "another session's token", other.RefreshToken)

	for name, token := range map[string]string{
		"garbage":     "not-a-token",
		"unknown":     base64.RawURLEncoding.EncodeToString(make([]byte, 32)),
		"access":      first.AccessToken,
		"short":       base64.RawURLEncoding.EncodeToString(make([]byte, 16)),
		"with spaces": " " + other.RefreshToken,
	} {
		r := env.Post(t, "/api/v1/auth/refresh", "", map[string]string{"refresh_token": token})
		wantProblem(t, "refresh with a "+name+" token", r, http.StatusUnauthorized, "unauthorized", "")
	}
	r = env.Post(t, "/api/v1/auth/refresh", "", map[string]string{})
	wantProblem(t, "refresh without a token", r, http.StatusBadRequest, "validation_failed", "refresh_token")
}

func TestLogout(t *testing.T) {
	t.Parallel()
	env := apptest.Start(t)
	s := register(t, env, "linus@example.com", password, "Linus")
	other := login(t, env, "linus@example.com", password)

	r := env.Post(t, "/api/v1/auth/logout", "", map[string]string{"refresh_token": s.RefreshToken})
	if r.Status != http.StatusNoContent || len(r.Body) != 0 {
		t.Fatalf("logout = %d %q, want 204 and no body", r.Status, r.Body)
	}
	r = env.Post(t, "/api/v1/auth/refresh", "", map[string]string{"refresh_token": s.RefreshToken})
	wantProblem(t, "refresh after logout", r, http.StatusUnauthorized, "unauthorized", "")

	// Logging out again, or with a token nobody issued, is still 204.
	for _, token := range []string{s.RefreshToken, "unknown", base64.RawURLEncoding.EncodeToString(make([]byte, 32))} {
		if r := env.Post(t, "/api/v1/auth/logout", "", map[string]string{"refresh_token": token}); r.Status != http.StatusNoContent {
			t.Errorf("logout with %q = %d %s, want 204", token, r.Status, r.Body)
		}
	}

	// The other session lives on.
	next := refresh(t, env, "the other session's token", other.RefreshToken)

	// Logging out with a rotated session's spent token ends that session.
	if r := env.Post(t, "/api/v1/auth/logout", "", map[string]string{"refresh_token": other.RefreshToken}); r.Status != http.StatusNoContent {
		t.Fatalf("logout with a spent token = %d %s, want 204", r.Status, r.Body)
	}
	r = env.Post(t, "/api/v1/auth/refresh", "", map[string]string{"refresh_token": next.RefreshToken})
	wantProblem(t, "refresh after logout of the session", r, http.StatusUnauthorized, "unauthorized", "")

	r = env.Post(t, "/api/v1/auth/logout", "", map[string]string{})
	wantProblem(t, "logout without a token", r, http.StatusBadRequest, "validation_failed", "refresh_token")
	r = env.Do(t, apptest.Request{Method: http.MethodPost, Path: "/api/v1/auth/logout", Body: `{"refresh_token":"x"}`,
		Header: http.Header{"Content-Type": {"text/plain"}}})
	wantProblem(t, "logout as text", r, http.StatusUnsupportedMediaType, "unsupported_media_type", "")
}
