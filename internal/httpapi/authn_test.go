package httpapi

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/auth"
)

func TestAuthentication(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	user := auth.Principal{UserID: uuid.New(), Role: auth.RoleUser}
	admin := auth.Principal{UserID: uuid.New(), Role: auth.RoleAdmin}
	mint := func(p auth.Principal) string {
		tok, err := s.tokens.Issue(p)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	expired, _ := auth.NewTokens([]byte(strings.Repeat("k", 32)), time.Minute,
		func() time.Time { return time.Now().Add(-time.Hour) }).Issue(user)
	otherKey, _ := auth.NewTokens([]byte(strings.Repeat("x", 32)), time.Minute, nil).Issue(user)
	b64 := base64.RawURLEncoding.EncodeToString
	algNone := b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." +
		b64([]byte(`{"iss":"evently","sub":"`+admin.UserID.String()+`","role":"admin","exp":`+
			"9999999999"+`}`)) + "."

	var seen auth.Principal
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = principal(r)
		w.WriteHeader(http.StatusNoContent)
	})
	userOnly := s.authenticate(s.requireUser(ok))
	adminOnly := s.authenticate(s.requireAdmin(ok))

	cases := []struct {
		name     string
		h        http.Handler
		header   string
		want     int
		wantCode apperr.Code
		wantWho  auth.Principal
	}{
		{"no token", userOnly, "", 401, apperr.Unauthorized, auth.Principal{}},
		{"garbage", userOnly, "Bearer not-a-jwt", 401, apperr.Unauthorized, auth.Principal{}},
		{"wrong scheme", userOnly, "Basic dXNlcjpwYXNz", 401, apperr.Unauthorized, auth.Principal{}},
		{"alg none", adminOnly, "Bearer " + algNone, 401, apperr.Unauthorized, auth.Principal{}},
		{"other key", userOnly, "Bearer " + otherKey, 401, apperr.Unauthorized, auth.Principal{}},
		{"expired", userOnly, "Bearer " + expired, 401, apperr.Unauthorized, auth.Principal{}},
		{"user", userOnly, "Bearer " + mint(user), 204, "", user},
		{"user on admin route", adminOnly, "Bearer " + mint(user), 403, apperr.Forbidden, auth.Principal{}},
		{"admin", adminOnly, "bearer " + mint(admin), 204, "", admin},
	}
	for _, c := range cases {
		seen = auth.Principal{}
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		if c.header != "" {
			req.Header.Set("Authorization", c.header)
		}
		rec := httptest.NewRecorder()
		c.h.ServeHTTP(rec, req)
		if rec.Code != c.want {
			t.Errorf("%s: status = %d, want %d (%s)", c.name, rec.Code, c.want, rec.Body)
			continue
		}
		if c.wantCode != "" {
			if p := decodeProblem(t, rec); p.Code != c.wantCode {
				t.Errorf("%s: code = %q, want %q", c.name, p.Code, c.wantCode)
			}
		}
		if seen != c.wantWho {
			t.Errorf("%s: handler saw %+v, want %+v", c.name, seen, c.wantWho)
		}
	}
}
