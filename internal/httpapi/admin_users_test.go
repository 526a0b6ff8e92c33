package httpapi_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/apptest"
	"github.com/evently/evently/internal/pgtest"
)

type userListBody struct {
	Data       []userBody `json:"data"`
	NextCursor *string    `json:"next_cursor"`
}

// adminAccount are the options that have a server create the admin
// account adminEmail with adminPassword at start.
func adminAccount() []apptest.Option {
	return []apptest.Option{
		apptest.WithEnv("EVENTLY_ADMIN_EMAIL", adminEmail),
		apptest.WithEnv("EVENTLY_ADMIN_PASSWORD", adminPassword),
	}
}

func startWithAdmin(t *testing.T, opts ...apptest.Option) (*apptest.Env, sessionBody) {
	t.Helper()
	env := apptest.Start(t, append(adminAccount(), opts...)...)
	return env, login(t, env, adminEmail, adminPassword)
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
	promoted := refresh(t, env, "the promoted user's token", u.RefreshToken)
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
	eve := refresh(t, env, "the promoted user's token", u.RefreshToken)
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

	demoted := refresh(t, env, "the demoted user's token", eve.RefreshToken)
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
		var l userListBody
		env.Get(t, "/api/v1/admin/users"+query, admin.AccessToken).Want(t, http.StatusOK).Decode(t, &l)
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
