package httpapi_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/evently/evently/internal/apptest"
	"github.com/evently/evently/internal/auth"
	"github.com/evently/evently/internal/pgtest"
)

type userBody struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at"`
}

type sessionBody struct {
	User         userBody `json:"user"`
	AccessToken  string   `json:"access_token"`
	RefreshToken string   `json:"refresh_token"`
	TokenType    string   `json:"token_type"`
	ExpiresIn    int      `json:"expires_in"`
}

type userListBody struct {
	Data       []userBody `json:"data"`
	NextCursor *string    `json:"next_cursor"`
}

const (
	adminEmail    = "root@example.com"
	adminPassword = "admin-password-1234"
	password      = "correct horse battery"
)

func register(t *testing.T, env *apptest.Env, email, password, name string) sessionBody {
	t.Helper()
	r := env.Post(t, "/api/v1/auth/register", "", map[string]string{"email": email, "password": password, "name": name})
	if r.Status != http.StatusCreated {
		t.Fatalf("register %s = %d %s, want 201", email, r.Status, r.Body)
	}
	var s sessionBody
	r.Decode(t, &s)
	return s
}

func login(t *testing.T, env *apptest.Env, email, password string) sessionBody {
	t.Helper()
	r := env.Post(t, "/api/v1/auth/login", "", map[string]string{"email": email, "password": password})
	if r.Status != http.StatusOK {
		t.Fatalf("login %s = %d %s, want 200", email, r.Status, r.Body)
	}
	var s sessionBody
	r.Decode(t, &s)
	return s
}

func startWithAdmin(t *testing.T, opts ...apptest.Option) (*apptest.Env, sessionBody) {
	t.Helper()
	opts = append([]apptest.Option{
		apptest.WithEnv("EVENTLY_ADMIN_EMAIL", adminEmail),
		apptest.WithEnv("EVENTLY_ADMIN_PASSWORD", adminPassword),
	}, opts...)
	env := apptest.Start(t, opts...)
	return env, login(t, env, adminEmail, adminPassword)
}

func TestRegister(t *testing.T) {
	t.Parallel()
	env := apptest.Start(t)

	s := register(t, env, "Ada@Example.com", password, "  Ada Lovelace ")
	if s.TokenType != "Bearer" || s.ExpiresIn != 900 || s.AccessToken == "" || s.RefreshToken == "" {
		t.Errorf("session = %+v, want Bearer tokens expiring in 900s", s)
	}
	if s.User.Email != "Ada@Example.com" || s.User.Name != "Ada Lovelace" || s.User.Role != "user" {
		t.Errorf("user = %+v, want Ada@Example.com, trimmed name, role user", s.User)
	}
	if _, err := uuid.Parse(s.User.ID); err != nil {
		t.Errorf("user id %q: %v", s.User.ID, err)
	}
	if s.User.CreatedAt.Location() != time.UTC || time.Since(s.User.CreatedAt) > time.Minute {
		t.Errorf("created_at = %v, want a recent UTC time", s.User.CreatedAt)
	}

	me := env.Get(t, "/api/v1/me", s.AccessToken)
	if me.Status != http.StatusOK {
		t.Fatalf("GET /me = %d %s, want 200", me.Status, me.Body)
	}
	var u userBody
	me.Decode(t, &u)
	if u != s.User {
		t.Errorf("GET /me = %+v, want %+v", u, s.User)
	}

	for _, email := range []string{"Ada@Example.com", "ada@example.com", "ADA@EXAMPLE.COM"} {
		r := env.Post(t, "/api/v1/auth/register", "", map[string]string{"email": email, "password": password, "name": "Other"})
		wantProblem(t, "register "+email+" again", r, http.StatusConflict, "email_taken", "")
	}

	// Nobody registers as an admin: a role is an unknown field.
	r := env.Post(t, "/api/v1/auth/register", "", map[string]string{"email": "eve@example.com", "password": password, "name": "Eve", "role": "admin"})
	wantProblem(t, "register with a role", r, http.StatusBadRequest, "validation_failed", "role")
}

func TestRegisterValidation(t *testing.T) {
	t.Parallel()
	env := apptest.Start(t)

	body := func(email, password, name string) string {
		b, err := json.Marshal(map[string]string{"email": email, "password": password, "name": name})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	big := body("big@example.com", password, strings.Repeat("x", 1<<20))
	tests := []struct {
		name        string
		body        string
		contentType string
		status      int
		code        string
		field       string
	}{
		{"email without @", body("not-an-email", password, "A"), "", 400, "validation_failed", "email"},
		{"email with display name", body("Ada <ada@example.com>", password, "A"), "", 400, "validation_failed", "email"},
		{"email with spaces", body(" ada@example.com", password, "A"), "", 400, "validation_failed", "email"},
		{"email without domain", body("ada@", password, "A"), "", 400, "validation_failed", "email"},
		{"email empty", body("", password, "A"), "", 400, "validation_failed", "email"},
		{"email too long", body(strings.Repeat("a", 250)+"@example.com", password, "A"), "", 400, "validation_failed", "email"},
		{"password of 7", body("p7@example.com", "1234567", "A"), "", 400, "validation_failed", "password"},
		{"password of 129", body("p129@example.com", strings.Repeat("p", 129), "A"), "", 400, "validation_failed", "password"},
		{"password of 129 multibyte", body("p129m@example.com", strings.Repeat("é", 129), "A"), "", 400, "validation_failed", "password"},
		{"password of 8", body("p8@example.com", "12345678", "A"), "", 201, "", ""},
		{"password of 128", body("p128@example.com", strings.Repeat("p", 128), "A"), "", 201, "", ""},
		{"password of 100 multibyte", body("p100m@example.com", strings.Repeat("密", 100), "A"), "", 201, "", ""},
		{"password of 4 emoji", body("emoji@example.com", "😀😀😀😀", "A"), "", 400, "validation_failed", "password"},
		{"name empty", body("n0@example.com", password, ""), "", 400, "validation_failed", "name"},
		{"name blank", body("nb@example.com", password, "   "), "", 400, "validation_failed", "name"},
		{"name of 101", body("n101@example.com", password, strings.Repeat("n", 101)), "", 400, "validation_failed", "name"},
		{"name of 101 multibyte", body("n101m@example.com", password, strings.Repeat("é", 101)), "", 400, "validation_failed", "name"},
		{"name of 100 multibyte", body("n100m@example.com", password, strings.Repeat("é", 100)), "", 201, "", ""},
		{"name with a control character", body("nc@example.com", password, "A\x07B"), "", 400, "validation_failed", "name"},
		{"unknown field", `{"email":"u@example.com","password":"12345678","name":"A","admin":true}`, "", 400, "validation_failed", "admin"},
		{"wrong type", `{"email":"t@example.com","password":12345678,"name":"A"}`, "", 400, "validation_failed", "password"},
		{"malformed JSON", `{"email":`, "", 400, "malformed_json", ""},
		{"not JSON", `email=a@example.com`, "", 400, "malformed_json", ""},
		{"two JSON values", body("two@example.com", password, "A") + "{}", "", 400, "malformed_json", ""},
		{"empty body", ``, "", 400, "malformed_json", ""},
		{"wrong content type", body("ct@example.com", password, "A"), "text/plain", 415, "unsupported_media_type", ""},
		{"form content type", `email=a@example.com`, "application/x-www-form-urlencoded", 415, "unsupported_media_type", ""},
		{"over 1 MiB", big, "", 413, "payload_too_large", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := apptest.Request{Method: http.MethodPost, Path: "/api/v1/auth/register", Body: tc.body, Header: http.Header{}}
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			if tc.body == "" {
				req.Body = nil
				req.Header.Set("Content-Type", "application/json")
			}
			r := env.Do(t, req)
			if tc.status == http.StatusCreated {
				if r.Status != tc.status {
					t.Fatalf("register = %d %s, want 201", r.Status, r.Body)
				}
				return
			}
			wantProblem(t, "register", r, tc.status, tc.code, tc.field)
		})
	}

	t.Run("every field at once", func(t *testing.T) {
		t.Parallel()
		r := env.Post(t, "/api/v1/auth/register", "", map[string]string{"email": "x", "password": "x", "name": ""})
		wantProblem(t, "register", r, http.StatusBadRequest, "validation_failed", "email")
		if p := r.Problem(t); len(p.Errors) != 3 {
			t.Errorf("errors = %+v, want one per field", p.Errors)
		}
	})
}

// TestPasswordEveryCharacterCounts: two passwords that share their first
// 72 bytes (where bcrypt would stop reading) are different passwords.
func TestPasswordEveryCharacterCounts(t *testing.T) {
	t.Parallel()
	env := apptest.Start(t)
	prefix := strings.Repeat("é", 40) // 80 bytes
	register(t, env, "long@example.com", prefix+"A", "Long")
	r := env.Post(t, "/api/v1/auth/login", "", map[string]string{"email": "long@example.com", "password": prefix + "B"})
	wantProblem(t, "login with another tail", r, http.StatusUnauthorized, "invalid_credentials", "")
	login(t, env, "long@example.com", prefix+"A")
}

func TestLogin(t *testing.T) {
	t.Parallel()
	env := apptest.Start(t)
	reg := register(t, env, "grace@example.com", password, "Grace Hopper")

	s := login(t, env, "GRACE@example.COM", password)
	if s.User != reg.User || s.TokenType != "Bearer" || s.RefreshToken == reg.RefreshToken {
		t.Errorf("login session = %+v, want %+v with a new refresh token", s, reg.User)
	}
	if r := env.Get(t, "/api/v1/me", s.AccessToken); r.Status != http.StatusOK {
		t.Errorf("GET /me = %d %s, want 200", r.Status, r.Body)
	}

	wrong := env.Post(t, "/api/v1/auth/login", "", map[string]string{"email": "grace@example.com", "password": "wrong password"})
	wantProblem(t, "wrong password", wrong, http.StatusUnauthorized, "invalid_credentials", "")
	unknown := env.Post(t, "/api/v1/auth/login", "", map[string]string{"email": "nobody@example.com", "password": password})
	wantProblem(t, "unknown e-mail", unknown, http.StatusUnauthorized, "invalid_credentials", "")
	if a, b := wrong.Problem(t), unknown.Problem(t); a.Detail != b.Detail {
		t.Errorf("wrong password says %q, unknown e-mail %q: want the same answer", a.Detail, b.Detail)
	}
	long := env.Post(t, "/api/v1/auth/login", "", map[string]string{"email": "grace@example.com", "password": strings.Repeat("p", 1000)})
	wantProblem(t, "overlong password", long, http.StatusUnauthorized, "invalid_credentials", "")

	for _, email := range []string{"grace@example.com ", "Grace <grace@example.com>"} {
		r := env.Post(t, "/api/v1/auth/login", "", map[string]string{"email": email, "password": password})
		wantProblem(t, fmt.Sprintf("login as %q", email), r, http.StatusUnauthorized, "invalid_credentials", "")
	}
	// A NUL is no text at all: the input rule refuses it before any lookup.
	for _, email := range []string{"grace@example.com\x00", "\x00"} {
		r := env.Post(t, "/api/v1/auth/login", "", map[string]string{"email": email, "password": password})
		wantProblem(t, fmt.Sprintf("login as %q", email), r, http.StatusBadRequest, "validation_failed", "email")
	}

	r := env.Post(t, "/api/v1/auth/login", "", map[string]string{"email": "grace@example.com"})
	wantProblem(t, "login without password", r, http.StatusBadRequest, "validation_failed", "password")
	r = env.Post(t, "/api/v1/auth/login", "", map[string]string{"email": "grace@example.com", "password": password, "remember": "yes"})
	wantProblem(t, "login with an unknown field", r, http.StatusBadRequest, "validation_failed", "remember")
	r = env.Post(t, "/api/v1/auth/login", "", "{")
	wantProblem(t, "login with malformed JSON", r, http.StatusBadRequest, "malformed_json", "")
}

func TestRefreshRotation(t *testing.T) {
	t.Parallel()
	env := apptest.Start(t)
	first := register(t, env, "alan@example.com", password, "Alan Turing")

	r := env.Post(t, "/api/v1/auth/refresh", "", map[string]string{"refresh_token": first.RefreshToken})
	if r.Status != http.StatusOK {
		t.Fatalf("refresh = %d %s, want 200", r.Status, r.Body)
	}
	var second sessionBody
	r.Decode(t, &second)
	if second.RefreshToken == first.RefreshToken || second.AccessToken == "" || second.User != first.User || second.TokenType != "Bearer" {
		t.Fatalf("refreshed session = %+v, want a new refresh token for %+v", second, first.User)
	}
	if r := env.Get(t, "/api/v1/me", second.AccessToken); r.Status != http.StatusOK {
		t.Fatalf("GET /me with the refreshed token = %d %s", r.Status, r.Body)
	}

	// The spent token stops working...
	r = env.Post(t, "/api/v1/auth/refresh", "", map[string]string{"refresh_token": first.RefreshToken})
	wantProblem(t, "refresh with the spent token", r, http.StatusUnauthorized, "unauthorized", "")
	// ...and its reuse revoked the family: the newest token is dead too.
	r = env.Post(t, "/api/v1/auth/refresh", "", map[string]string{"refresh_token": second.RefreshToken})
	wantProblem(t, "refresh with the newest token after reuse", r, http.StatusUnauthorized, "unauthorized", "")

	// Another session of the same user is not affected.
	other := login(t, env, "alan@example.com", password)
	r = env.Post(t, "/api/v1/auth/refresh", "", map[string]string{"refresh_token": other.RefreshToken})
	if r.Status != http.StatusOK {
		t.Fatalf("refresh of another session = %d %s, want 200", r.Status, r.Body)
	}

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
	r = env.Post(t, "/api/v1/auth/refresh", "", map[string]string{"refresh_token": other.RefreshToken})
	if r.Status != http.StatusOK {
		t.Fatalf("refresh of the other session = %d %s, want 200", r.Status, r.Body)
	}

	// Logging out with a rotated session's spent token ends that session.
	var next sessionBody
	r.Decode(t, &next)
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

func TestMeAuthentication(t *testing.T) {
	t.Parallel()
	env := apptest.Start(t)
	s := register(t, env, "margaret@example.com", password, "Margaret")
	id := uuid.MustParse(s.User.ID)
	secret := env.Config.JWTSecret

	sign := func(method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
		t.Helper()
		tok, err := jwt.NewWithClaims(method, claims).SignedString(key)
		if err != nil {
			t.Fatalf("sign: %v", err)
		}
		return tok
	}
	claims := func() jwt.MapClaims {
		return jwt.MapClaims{"iss": "evently", "sub": id.String(), "role": "user",
			"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()}
	}
	expired := claims()
	expired["exp"] = time.Now().Add(-time.Minute).Unix()
	noExp := claims()
	delete(noExp, "exp")
	otherIssuer := claims()
	otherIssuer["iss"] = "someone-else"
	pastTokens := auth.NewTokens(secret, 15*time.Minute, func() time.Time { return time.Now().Add(-time.Hour) })
	expiredIssued, err := pastTokens.Issue(auth.Principal{UserID: id, Role: auth.RoleUser})
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		header string
	}{
		{"no token", ""},
		{"garbage", "Bearer garbage"},
		{"not bearer", "Basic bWU6cGFzc3dvcmQ="},
		{"empty bearer", "Bearer "},
		{"alg none", "Bearer " + sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims())},
		{"HS512 with the right secret", "Bearer " + sign(jwt.SigningMethodHS512, secret, claims())},
		{"HS384 with the right secret", "Bearer " + sign(jwt.SigningMethodHS384, secret, claims())},
		{"HS256 with a wrong secret", "Bearer " + sign(jwt.SigningMethodHS256, []byte("another-secret-another-secret-0123"), claims())},
		{"expired", "Bearer " + sign(jwt.SigningMethodHS256, secret, expired)},
		{"expired, issued by Evently", "Bearer " + expiredIssued},
		{"without expiry", "Bearer " + sign(jwt.SigningMethodHS256, secret, noExp)},
		{"another issuer", "Bearer " + sign(jwt.SigningMethodHS256, secret, otherIssuer)},
		{"refresh token as access token", "Bearer " + s.RefreshToken},
		{"user that does not exist", "Bearer " + env.Token(t, auth.Principal{UserID: uuid.New(), Role: auth.RoleUser})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := apptest.Request{Method: http.MethodGet, Path: "/api/v1/me"}
			if tc.header != "" {
				req.Header = http.Header{"Authorization": {tc.header}}
			}
			wantProblem(t, "GET /me", env.Do(t, req), http.StatusUnauthorized, "unauthorized", "")
		})
	}
	t.Run("valid", func(t *testing.T) {
		t.Parallel()
		if r := env.Get(t, "/api/v1/me", sign(jwt.SigningMethodHS256, secret, claims())); r.Status != http.StatusOK {
			t.Fatalf("GET /me = %d %s, want 200", r.Status, r.Body)
		}
	})
	t.Run("invalid token on an anonymous endpoint", func(t *testing.T) {
		t.Parallel()
		r := env.Post(t, "/api/v1/auth/login", "garbage", map[string]string{"email": "margaret@example.com", "password": password})
		wantProblem(t, "login with a bad bearer token", r, http.StatusUnauthorized, "unauthorized", "")
	})
}

func TestAdminUsersForbidden(t *testing.T) {
	t.Parallel()
	env := apptest.Start(t)
	s := register(t, env, "mallory@example.com", password, "Mallory")
	path := "/api/v1/admin/users/" + s.User.ID

	wantProblem(t, "GET /admin/users as user", env.Get(t, "/api/v1/admin/users", s.AccessToken), http.StatusForbidden, "forbidden", "")
	r := env.Do(t, apptest.Request{Method: http.MethodPatch, Path: path, Token: s.AccessToken, Body: map[string]string{"role": "admin"}})
	wantProblem(t, "PATCH own role as user", r, http.StatusForbidden, "forbidden", "")

	wantProblem(t, "GET /admin/users anonymously", env.Get(t, "/api/v1/admin/users", ""), http.StatusUnauthorized, "unauthorized", "")
	r = env.Do(t, apptest.Request{Method: http.MethodPatch, Path: path, Body: map[string]string{"role": "admin"}})
	wantProblem(t, "PATCH anonymously", r, http.StatusUnauthorized, "unauthorized", "")

	if me := env.Get(t, "/api/v1/me", s.AccessToken); !strings.Contains(string(me.Body), `"role":"user"`) {
		t.Errorf("GET /me = %s, want role user still", me.Body)
	}
}

func TestAdminChangesRole(t *testing.T) {
	t.Parallel()
	env, admin := startWithAdmin(t, apptest.WithRevocationTTL(time.Millisecond))
	if admin.User.Role != "admin" || admin.User.Name != "Administrator" {
		t.Fatalf("bootstrap admin = %+v, want role admin", admin.User)
	}
	u := register(t, env, "barbara@example.com", password, "Barbara")
	patch := func(token, id string, body any) *apptest.Response {
		return env.Do(t, apptest.Request{Method: http.MethodPatch, Path: "/api/v1/admin/users/" + id, Token: token, Body: body})
	}

	r := patch(admin.AccessToken, u.User.ID, map[string]string{"role": "admin"})
	if r.Status != http.StatusOK {
		t.Fatalf("PATCH role admin = %d %s, want 200", r.Status, r.Body)
	}
	var got userBody
	r.Decode(t, &got)
	want := u.User
	want.Role = "admin"
	if got != want {
		t.Fatalf("PATCH role admin = %+v, want %+v", got, want)
	}
	// Idempotent.
	if r := patch(admin.AccessToken, u.User.ID, map[string]string{"role": "admin"}); r.Status != http.StatusOK {
		t.Fatalf("PATCH role admin again = %d %s, want 200", r.Status, r.Body)
	}

	// The change revoked the old access token; the next refresh says admin.
	wantProblem(t, "GET /admin/users with the old token", env.Get(t, "/api/v1/admin/users", u.AccessToken), http.StatusUnauthorized, "unauthorized", "")
	wantProblem(t, "GET /me with the old token", env.Get(t, "/api/v1/me", u.AccessToken), http.StatusUnauthorized, "unauthorized", "")
	r = env.Post(t, "/api/v1/auth/refresh", "", map[string]string{"refresh_token": u.RefreshToken})
	var promoted sessionBody
	r.Decode(t, &promoted)
	if promoted.User.Role != "admin" {
		t.Fatalf("refreshed session = %+v, want role admin", promoted.User)
	}
	if r := env.Get(t, "/api/v1/admin/users", promoted.AccessToken); r.Status != http.StatusOK {
		t.Fatalf("GET /admin/users as the new admin = %d %s, want 200", r.Status, r.Body)
	}

	// The new admin demotes nobody but others: demoting oneself is refused.
	r = patch(promoted.AccessToken, promoted.User.ID, map[string]string{"role": "user"})
	wantProblem(t, "self-demotion", r, http.StatusConflict, "conflict", "")
	r = patch(promoted.AccessToken, admin.User.ID, map[string]string{"role": "user"})
	if r.Status != http.StatusOK {
		t.Fatalf("demote the other admin = %d %s, want 200", r.Status, r.Body)
	}
	wantProblem(t, "the demoted admin's old token", patch(admin.AccessToken, u.User.ID, map[string]string{"role": "user"}),
		http.StatusUnauthorized, "unauthorized", "")

	tok := promoted.AccessToken
	wantProblem(t, "non-UUID id", patch(tok, "not-a-uuid", map[string]string{"role": "user"}), http.StatusNotFound, "not_found", "")
	wantProblem(t, "unknown id", patch(tok, uuid.NewString(), map[string]string{"role": "user"}), http.StatusNotFound, "not_found", "")
	wantProblem(t, "bad role", patch(tok, u.User.ID, map[string]string{"role": "root"}), http.StatusBadRequest, "validation_failed", "role")
	wantProblem(t, "no role", patch(tok, u.User.ID, map[string]string{}), http.StatusBadRequest, "validation_failed", "role")
	wantProblem(t, "unknown field", patch(tok, u.User.ID, map[string]string{"role": "user", "name": "x"}), http.StatusBadRequest, "validation_failed", "name")
	wantProblem(t, "malformed JSON", patch(tok, u.User.ID, "{"), http.StatusBadRequest, "malformed_json", "")
}

// TestDemotionRevokesAdminTokens: a demoted admin's access token, still
// unexpired, loses admin rights within the revocation TTL — it can neither
// list users nor promote its owner again — and a refresh gives a user's
// token.
func TestDemotionRevokesAdminTokens(t *testing.T) {
	t.Parallel()
	const ttl = 200 * time.Millisecond
	env, root := startWithAdmin(t, apptest.WithRevocationTTL(ttl))
	u := register(t, env, "eve@example.com", password, "Eve")
	patch := func(token, id, role string) *apptest.Response {
		return env.Do(t, apptest.Request{Method: http.MethodPatch, Path: "/api/v1/admin/users/" + id, Token: token,
			Body: map[string]string{"role": role}})
	}
	if r := patch(root.AccessToken, u.User.ID, "admin"); r.Status != http.StatusOK {
		t.Fatalf("promote = %d %s", r.Status, r.Body)
	}
	time.Sleep(ttl + 50*time.Millisecond)
	r := env.Post(t, "/api/v1/auth/refresh", "", map[string]string{"refresh_token": u.RefreshToken})
	var eve sessionBody
	r.Decode(t, &eve)
	if r := env.Get(t, "/api/v1/admin/users", eve.AccessToken); r.Status != http.StatusOK {
		t.Fatalf("GET /admin/users as the new admin = %d %s, want 200", r.Status, r.Body)
	}

	if r := patch(root.AccessToken, u.User.ID, "user"); r.Status != http.StatusOK {
		t.Fatalf("demote = %d %s", r.Status, r.Body)
	}
	deadline := time.Now().Add(ttl + 2*time.Second)
	for {
		r := env.Get(t, "/api/v1/admin/users", eve.AccessToken)
		if r.Status == http.StatusUnauthorized {
			break
		}
		if r.Status != http.StatusOK || time.Now().After(deadline) {
			t.Fatalf("GET /admin/users with the demoted admin's token = %d %s, want 401 within %v", r.Status, r.Body, ttl)
		}
		time.Sleep(20 * time.Millisecond)
	}
	wantProblem(t, "re-promotion with the old token", patch(eve.AccessToken, u.User.ID, "admin"), http.StatusUnauthorized, "unauthorized", "")
	wantProblem(t, "GET /me with the old token", env.Get(t, "/api/v1/me", eve.AccessToken), http.StatusUnauthorized, "unauthorized", "")

	r = env.Post(t, "/api/v1/auth/refresh", "", map[string]string{"refresh_token": eve.RefreshToken})
	var demoted sessionBody
	r.Decode(t, &demoted)
	if demoted.User.Role != "user" {
		t.Fatalf("refreshed session = %+v, want role user", demoted.User)
	}
	wantProblem(t, "GET /admin/users as the demoted user", env.Get(t, "/api/v1/admin/users", demoted.AccessToken), http.StatusForbidden, "forbidden", "")
	if r := env.Get(t, "/api/v1/me", demoted.AccessToken); r.Status != http.StatusOK {
		t.Fatalf("GET /me with the new token = %d %s, want 200", r.Status, r.Body)
	}
	if r := env.Get(t, "/api/v1/admin/users", root.AccessToken); r.Status != http.StatusOK {
		t.Fatalf("GET /admin/users as the admin who demoted = %d %s, want 200", r.Status, r.Body)
	}
}

func TestAdminListsUsers(t *testing.T) {
	t.Parallel()
	env, admin := startWithAdmin(t)
	var ids []string
	for i := 1; i <= 25; i++ {
		s := register(t, env, fmt.Sprintf("pager%02d@example.com", i), password, fmt.Sprintf("Page Turner %d", i))
		ids = append(ids, s.User.ID)
	}
	register(t, env, "percent%sign@example.com", password, "Under_score")
	list := func(query string) userListBody {
		t.Helper()
		r := env.Get(t, "/api/v1/admin/users"+query, admin.AccessToken)
		if r.Status != http.StatusOK {
			t.Fatalf("GET /admin/users%s = %d %s, want 200", query, r.Status, r.Body)
		}
		var l userListBody
		r.Decode(t, &l)
		return l
	}

	// 25 users, 10 at a time: every one once, newest first, then null.
	var seen []string
	cursor := ""
	for page := 0; ; page++ {
		q := "?q=PAGER&limit=10"
		if cursor != "" {
			q += "&cursor=" + cursor
		}
		l := list(q)
		if want := []int{10, 10, 5}[min(page, 2)]; len(l.Data) != want {
			t.Fatalf("page %d has %d users, want %d", page, len(l.Data), want)
		}
		for _, u := range l.Data {
			seen = append(seen, u.ID)
		}
		if l.NextCursor == nil {
			break
		}
		cursor = *l.NextCursor
	}
	want := slices.Clone(ids)
	slices.Reverse(want)
	if !slices.Equal(seen, want) {
		t.Fatalf("paged ids = %v, want every user once, newest first: %v", seen, want)
	}

	if l := list(""); len(l.Data) != 20 || l.NextCursor == nil {
		t.Errorf("default page: %d users, next %v; want 20 and a cursor", len(l.Data), l.NextCursor)
	}
	if l := list("?limit=1000"); len(l.Data) != 27 || l.NextCursor != nil {
		t.Errorf("limit=1000 (clamped to 100): %d users, next %v; want all 27, no cursor", len(l.Data), l.NextCursor)
	}
	if l := list("?q=turner%2017"); len(l.Data) != 1 || l.Data[0].Email != "pager17@example.com" {
		t.Errorf("q=turner 17 (name) = %+v, want pager17", l.Data)
	}
	if l := list("?q=ROOT@"); len(l.Data) != 1 || l.Data[0].ID != admin.User.ID {
		t.Errorf("q=ROOT@ (e-mail) = %+v, want the admin", l.Data)
	}
	if l := list("?q=%25"); len(l.Data) != 1 || l.Data[0].Email != "percent%sign@example.com" {
		t.Errorf("q=%% = %+v, want only the e-mail with a %% in it", l.Data)
	}
	if l := list("?q=_"); len(l.Data) != 1 || l.Data[0].Name != "Under_score" {
		t.Errorf("q=_ = %+v, want only the name with an _ in it", l.Data)
	}
	if l := list("?q=nobody-matches"); len(l.Data) != 0 || l.NextCursor != nil {
		t.Errorf("q=nobody-matches = %+v, want an empty page", l)
	}

	for _, q := range []string{"?limit=abc", "?limit=0", "?limit=-1", "?limit=1.5", "?limit=1e3", "?q=" + strings.Repeat("x", 201), "?q=a%00b", "?q=%FF%FE"} {
		field := "limit"
		if strings.HasPrefix(q, "?q=") {
			field = "q"
		}
		wantProblem(t, "GET /admin/users"+q, env.Get(t, "/api/v1/admin/users"+q, admin.AccessToken), http.StatusBadRequest, "validation_failed", field)
	}
	enc := base64.RawURLEncoding.EncodeToString
	for _, c := range []string{"!!!", "abc", enc([]byte(`{"id":"x"}`)), enc([]byte(`{}`)), enc([]byte(`null`)),
		enc([]byte(`{"id":"` + ids[0] + `","extra":1}`)), enc([]byte(`{"id":"` + ids[0] + `"}{}`))} {
		wantProblem(t, "cursor "+c, env.Get(t, "/api/v1/admin/users?cursor="+c, admin.AccessToken), http.StatusBadRequest, "validation_failed", "cursor")
	}
}

func TestAuthRateLimit(t *testing.T) {
	t.Parallel()
	env := apptest.Start(t, apptest.WithEnv("EVENTLY_AUTH_RATE_PER_MINUTE", "3"))
	creds := map[string]string{"email": "nobody@example.com", "password": password}
	for i := range 3 {
		// A client-sent X-Forwarded-For is not trusted: it changes nothing.
		r := env.Do(t, apptest.Request{Method: http.MethodPost, Path: "/api/v1/auth/login", Body: creds,
			Header: http.Header{"X-Forwarded-For": {fmt.Sprintf("198.51.100.%d", i)}}})
		wantProblem(t, "login", r, http.StatusUnauthorized, "invalid_credentials", "")
	}
	r := env.Do(t, apptest.Request{Method: http.MethodPost, Path: "/api/v1/auth/login", Body: creds,
		Header: http.Header{"X-Forwarded-For": {"198.51.100.99"}}})
	wantProblem(t, "4th login in a minute", r, http.StatusTooManyRequests, "rate_limited", "")
	if ra := r.Header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("Retry-After = %q, want a number of seconds", ra)
	}

	// Each endpoint counts on its own.
	for i := range 3 {
		register(t, env, fmt.Sprintf("rl%d@example.com", i), password, "R")
	}
	r = env.Post(t, "/api/v1/auth/register", "", map[string]string{"email": "rl9@example.com", "password": password, "name": "R"})
	wantProblem(t, "4th register in a minute", r, http.StatusTooManyRequests, "rate_limited", "")
	if r.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	// Other endpoints are not limited by /auth's limits.
	if r := env.Get(t, "/healthz", ""); r.Status != http.StatusOK {
		t.Errorf("GET /healthz = %d, want 200", r.Status)
	}
}

func TestAuthRateLimitTrustedHeader(t *testing.T) {
	t.Parallel()
	env := apptest.Start(t,
		apptest.WithEnv("EVENTLY_AUTH_RATE_PER_MINUTE", "2"),
		apptest.WithEnv("EVENTLY_TRUSTED_IP_HEADER", "X-Forwarded-For"))
	// A new e-mail each time, so that only the per-address limit counts
	// (failures for one account are throttled on their own).
	n := 0
	loginFrom := func(xff ...string) *apptest.Response {
		n++
		creds := map[string]string{"email": fmt.Sprintf("nobody%d@example.com", n), "password": password}
		return env.Do(t, apptest.Request{Method: http.MethodPost, Path: "/api/v1/auth/login", Body: creds,
			Header: http.Header{"X-Forwarded-For": xff}})
	}
	for range 2 {
		wantProblem(t, "login from .1", loginFrom("203.0.113.1"), http.StatusUnauthorized, "invalid_credentials", "")
	}
	wantProblem(t, "3rd login from .1", loginFrom("203.0.113.1"), http.StatusTooManyRequests, "rate_limited", "")
	// The proxy appends the address it saw: entries to its left are the
	// client's to invent and change nothing.
	wantProblem(t, "spoofed login from .1", loginFrom("192.0.2.7, 203.0.113.1"), http.StatusTooManyRequests, "rate_limited", "")
	wantProblem(t, "split header from .1", loginFrom("192.0.2.8", "203.0.113.1"), http.StatusTooManyRequests, "rate_limited", "")
	// Another client behind the proxy has a budget of its own.
	wantProblem(t, "login from .2", loginFrom("203.0.113.1, 203.0.113.2"), http.StatusUnauthorized, "invalid_credentials", "")
	// IPv6 clients count by /64.
	wantProblem(t, "login from v6 ::1", loginFrom("2001:db8:1:2::1"), http.StatusUnauthorized, "invalid_credentials", "")
	wantProblem(t, "login from v6 ::2", loginFrom("2001:db8:1:2::2"), http.StatusUnauthorized, "invalid_credentials", "")
	wantProblem(t, "login from v6 ::3", loginFrom("2001:db8:1:2::3"), http.StatusTooManyRequests, "rate_limited", "")
	// Without the header, the peer address counts.
	for range 2 {
		wantProblem(t, "login from the peer", loginFrom(), http.StatusUnauthorized, "invalid_credentials", "")
	}
	wantProblem(t, "3rd login from the peer", loginFrom(), http.StatusTooManyRequests, "rate_limited", "")
}

func TestBootstrapAdminIdempotent(t *testing.T) {
	t.Parallel()
	db := pgtest.NewURL(t)
	first, admin := startWithAdmin(t, apptest.WithEnv("DATABASE_URL", db))
	// A second process on the same database (a restart, or another
	// replica) with a different password: the admin is kept as it is.
	second := apptest.Start(t, apptest.WithEnv("DATABASE_URL", db),
		apptest.WithEnv("EVENTLY_ADMIN_EMAIL", strings.ToUpper(adminEmail)),
		apptest.WithEnv("EVENTLY_ADMIN_PASSWORD", "a-different-password"))
	again := login(t, second, adminEmail, adminPassword)
	if again.User != admin.User || again.User.Role != "admin" {
		t.Fatalf("admin after restart = %+v, want %+v", again.User, admin.User)
	}
	r := second.Post(t, "/api/v1/auth/login", "", map[string]string{"email": adminEmail, "password": "a-different-password"})
	wantProblem(t, "login with the second password", r, http.StatusUnauthorized, "invalid_credentials", "")
	l := first.Get(t, "/api/v1/admin/users?q=root", admin.AccessToken)
	var list userListBody
	l.Decode(t, &list)
	if len(list.Data) != 1 {
		t.Fatalf("users named root = %+v, want one", list.Data)
	}
}

// TestLoginThrottledPerAccount: after five failed logins for one e-mail
// (from any address), logins to it wait — 429 with Retry-After, even with
// the right password — while other accounts are untouched.
func TestLoginThrottledPerAccount(t *testing.T) {
	t.Parallel()
	env := apptest.Start(t)
	register(t, env, "jo@example.com", password, "Jo")
	register(t, env, "sam@example.com", password, "Sam")
	for i := range 5 {
		r := env.Post(t, "/api/v1/auth/login", "", map[string]string{"email": "jo@example.com", "password": fmt.Sprintf("guess-%d-guess", i)})
		wantProblem(t, fmt.Sprintf("failure %d", i+1), r, http.StatusUnauthorized, "invalid_credentials", "")
	}
	r := env.Post(t, "/api/v1/auth/login", "", map[string]string{"email": "JO@example.com", "password": password})
	wantProblem(t, "login after five failures", r, http.StatusTooManyRequests, "rate_limited", "")
	if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 5 {
		t.Errorf("Retry-After = %q, want 1 to 5 seconds", r.Header.Get("Retry-After"))
	}
	login(t, env, "sam@example.com", password)
}
