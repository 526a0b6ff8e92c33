package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/evently/evently/internal/apptest"
	"github.com/evently/evently/internal/auth"
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

const (
	adminEmail    = "root@example.com"
	adminPassword = "admin-password-1234"
	password      = "correct horse battery"
)

func register(t *testing.T, env *apptest.Env, email, password, name string) sessionBody {
	t.Helper()
	var s sessionBody
	env.Post(t, "/api/v1/auth/register", "", map[string]string{"email": email, "password": password, "name": name}).
		Want(t, http.StatusCreated).Decode(t, &s)
	return s
}

func login(t *testing.T, env *apptest.Env, email, password string) sessionBody {
	t.Helper()
	var s sessionBody
	env.Post(t, "/api/v1/auth/login", "", map[string]string{"email": email, "password": password}).
		Want(t, http.StatusOK).Decode(t, &s)
	return s
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
