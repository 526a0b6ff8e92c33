package account

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/auth"
)

// testParams keep unit tests fast; the format and checks are the same.
var testParams = passwordParams{memory: 64, time: 1, threads: 1, saltLen: 16, keyLen: 32}

func TestRegistrationValidate(t *testing.T) {
	t.Parallel()
	ok := Registration{Email: "ada@example.com", Password: "12345678", Name: "Ada"}
	tests := []struct {
		name   string
		change func(*Registration)
		fields []string
	}{
		{"valid", func(*Registration) {}, nil},
		{"plus address", func(r *Registration) { r.Email = "ada+tickets@mail.example.co.uk" }, nil},
		{"email empty", func(r *Registration) { r.Email = "" }, []string{"email"}},
		{"email without @", func(r *Registration) { r.Email = "ada.example.com" }, []string{"email"}},
		{"email with display name", func(r *Registration) { r.Email = "Ada <ada@example.com>" }, []string{"email"}},
		{"email in angle brackets", func(r *Registration) { r.Email = "<ada@example.com>" }, []string{"email"}},
		{"email with trailing space", func(r *Registration) { r.Email = "ada@example.com " }, []string{"email"}},
		{"email with a comment", func(r *Registration) { r.Email = "ada@example.com (Ada)" }, []string{"email"}},
		{"two emails", func(r *Registration) { r.Email = "ada@example.com, bob@example.com" }, []string{"email"}},
		{"email of 255", func(r *Registration) { r.Email = strings.Repeat("a", 243) + "@example.com" }, []string{"email"}},
		{"password of 7", func(r *Registration) { r.Password = "1234567" }, []string{"password"}},
		{"password of 8", func(r *Registration) { r.Password = "12345678" }, nil},
		{"password of 128", func(r *Registration) { r.Password = strings.Repeat("x", 128) }, nil},
		{"password of 129", func(r *Registration) { r.Password = strings.Repeat("x", 129) }, []string{"password"}},
		{"password of 128 four-byte characters", func(r *Registration) { r.Password = strings.Repeat("😀", 128) }, nil},
		{"password of 7 multibyte characters", func(r *Registration) { r.Password = strings.Repeat("é", 7) }, []string{"password"}},
		{"name empty", func(r *Registration) { r.Name = "" }, []string{"name"}},
		{"name blank", func(r *Registration) { r.Name = " \t" }, []string{"name"}},
		{"name of 100 multibyte", func(r *Registration) { r.Name = strings.Repeat("ß", 100) }, nil},
		{"name of 101", func(r *Registration) { r.Name = strings.Repeat("n", 101) }, []string{"name"}},
		{"name with a newline", func(r *Registration) { r.Name = "Ada\nLovelace" }, []string{"name"}},
		{"everything wrong", func(r *Registration) { *r = Registration{} }, []string{"email", "password", "name"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := ok
			tc.change(&r)
			err := r.validate()
			var got []string
			if e, isErr := err.(*apperr.Error); isErr {
				for _, f := range e.Fields {
					got = append(got, f.Field)
				}
			} else if err != nil {
				t.Fatalf("validate() = %v, want an *apperr.Error", err)
			}
			if strings.Join(got, ",") != strings.Join(tc.fields, ",") {
				t.Errorf("validate(%+v) fields = %v, want %v", r, got, tc.fields)
			}
		})
	}
}

func TestPasswords(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := newPasswords(testParams)
	long := strings.Repeat("é", 40) // 80 bytes: past bcrypt's 72
	hash, err := p.hash(ctx, long+"A")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Errorf("hash = %q, want a PHC argon2id string", hash)
	}
	other, _ := p.hash(ctx, long+"A")
	if other == hash {
		t.Error("two hashes of one password are equal: salt missing")
	}
	for pw, want := range map[string]bool{long + "A": true, long + "B": false, long: false, "": false} {
		got, err := p.verify(ctx, hash, pw)
		if err != nil || got != want {
			t.Errorf("verify(%q) = %v, %v; want %v", pw, got, err, want)
		}
	}
	// The default costs verify too (and a hash records its own costs).
	def, err := newPasswords(defaultParams).hash(ctx, "12345678")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := p.verify(ctx, def, "12345678"); !ok || err != nil {
		t.Errorf("verify(default-cost hash) = %v, %v; want true", ok, err)
	}
}

func TestParseHashRejectsMalformed(t *testing.T) {
	t.Parallel()
	for _, h := range []string{
		"",
		"plain",
		"$2a$10$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234",
		"$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=18$m=64,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=0,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1$!!!$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0$",
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0",
	} {
		if _, _, _, err := parseHash(h); err == nil {
			t.Errorf("parseHash(%q) = nil error, want one", h)
		}
	}
}

func TestHashRefreshToken(t *testing.T) {
	t.Parallel()
	s := NewService(nil, nil, Options{})
	tok, secret, err := s.newRefreshToken(uuid.New(), uuid.New())
	if err != nil {
		t.Fatal(err)
	}
	h, ok := hashRefreshToken(secret)
	if !ok || string(h) != string(tok.Hash) || len(tok.Hash) != 32 {
		t.Fatalf("hashRefreshToken(issued) = %x, %v; want the stored hash %x", h, ok, tok.Hash)
	}
	if strings.Contains(string(tok.Hash), secret) {
		t.Error("the stored form holds the token")
	}
	if got := tok.ExpiresAt.Sub(tok.CreatedAt); got != RefreshTTL {
		t.Errorf("refresh token lives %v, want %v", got, RefreshTTL)
	}
	for _, bad := range []string{"", "x", secret + "A", secret[:len(secret)-1], "+" + secret[1:]} {
		if _, ok := hashRefreshToken(bad); ok {
			t.Errorf("hashRefreshToken(%q) accepted", bad)
		}
	}
}

// fakeStore holds users in memory; methods the tests do not need panic.
type fakeStore struct {
	Store
	mu          sync.Mutex
	users       map[string]User
	beforeWrite func()
}

func (f *fakeStore) CreateUser(_ context.Context, u User) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	key := strings.ToLower(u.Email)
	if _, ok := f.users[key]; ok {
		return apperr.New(apperr.EmailTaken, "taken")
	}
	f.users[key] = u
	return nil
}

func (f *fakeStore) UserByEmail(_ context.Context, email string) (User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	u, ok := f.users[strings.ToLower(email)]
	if !ok {
		return User{}, apperr.New(apperr.NotFound, "no such user")
	}
	return u, nil
}

func (f *fakeStore) SetRole(_ context.Context, id uuid.UUID, role auth.Role, _ time.Time) (User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, u := range f.users {
		if u.ID == id {
			u.Role = role
			f.users[k] = u
			return u, nil
		}
	}
	return User{}, apperr.New(apperr.NotFound, "no such user")
}

func (f *fakeStore) UserByID(_ context.Context, id uuid.UUID) (User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, u := range f.users {
		if u.ID == id {
			return u, nil
		}
	}
	return User{}, apperr.New(apperr.NotFound, "no such user")
}

// CreateRefreshToken and ChangePassword call beforeWrite, if set, as a
// change committed while the caller checked a password.
func (f *fakeStore) CreateRefreshToken(_ context.Context, t RefreshToken, version int) error {
	if f.beforeWrite != nil {
		f.beforeWrite()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, u := range f.users {
		if u.ID == t.UserID && u.TokenVersion != version {
			return apperr.New(apperr.Conflict, "changed")
		}
	}
	return nil
}

func (f *fakeStore) ChangePassword(_ context.Context, id uuid.UUID, oldHash, newHash string, _ RefreshToken, _ time.Time) (User, error) {
	if f.beforeWrite != nil {
		f.beforeWrite()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, u := range f.users {
		if u.ID != id {
			continue
		}
		if u.PasswordHash != oldHash {
			return User{}, apperr.New(apperr.Conflict, "changed")
		}
		u.PasswordHash = newHash
		u.TokenVersion++
		f.users[k] = u
		return u, nil
	}
	return User{}, apperr.New(apperr.NotFound, "no such user")
}

func newTestService(throttle ...LoginThrottle) (*Service, *fakeStore) {
	store := &fakeStore{users: map[string]User{}}
	o := Options{}
	if len(throttle) > 0 {
		o.Throttle = throttle[0]
	}
	s := NewService(store, auth.NewTokens([]byte("0123456789abcdef0123456789abcdef"), time.Minute, nil), o)
	s.passwords = newPasswords(testParams)
	return s, store
}

func TestSetRoleRules(t *testing.T) {
	t.Parallel()
	s, _ := newTestService()
	ctx := context.Background()
	admin := auth.Principal{UserID: uuid.New(), Role: auth.RoleAdmin}
	tests := []struct {
		name  string
		actor auth.Principal
		id    uuid.UUID
		role  auth.Role
		code  apperr.Code
	}{
		{"user may not", auth.Principal{UserID: uuid.New(), Role: auth.RoleUser}, uuid.New(), auth.RoleAdmin, apperr.Forbidden},
		{"unknown role", admin, uuid.New(), "root", apperr.ValidationFailed},
		{"self-demotion", admin, admin.UserID, auth.RoleUser, apperr.Conflict},
		{"self-promotion reaches the store", admin, admin.UserID, auth.RoleAdmin, apperr.NotFound},
		{"unknown user", admin, uuid.New(), auth.RoleUser, apperr.NotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := s.SetRole(ctx, tc.actor, tc.id, tc.role)
			if got := apperr.CodeOf(err); got != tc.code {
				t.Errorf("SetRole() = %v, want code %s", err, tc.code)
			}
		})
	}
}

func TestRegisterNeverAdmin(t *testing.T) {
	t.Parallel()
	s, store := newTestService()
	sess, err := s.Register(context.Background(), Registration{Email: "a@example.com", Password: "12345678", Name: " A "})
	if err != nil {
		t.Fatal(err)
	}
	if sess.User.Role != auth.RoleUser || sess.User.Name != "A" || sess.User.CreatedAt.Location() != time.UTC {
		t.Errorf("registered %+v, want role user, trimmed name, UTC time", sess.User)
	}
	if u, _ := store.UserByEmail(context.Background(), "a@example.com"); strings.Contains(u.PasswordHash, "12345678") {
		t.Error("the stored hash holds the password")
	}
}

func TestEnsureAdmin(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newTestService()

	u, outcome, err := s.EnsureAdmin(ctx, "root@example.com", "first-password", "Root")
	if err != nil || outcome != AdminCreated || u.Role != auth.RoleAdmin {
		t.Fatalf("EnsureAdmin() = %+v, %s, %v; want a created admin", u, outcome, err)
	}
	again, outcome, err := s.EnsureAdmin(ctx, "ROOT@example.com", "other-password", "Root")
	if err != nil || outcome != AdminUnchanged || again.ID != u.ID || again.PasswordHash != u.PasswordHash {
		t.Fatalf("EnsureAdmin() again = %s, %v; want the same admin unchanged", outcome, err)
	}

	if _, err := s.Register(ctx, Registration{Email: "bob@example.com", Password: "bobs-password", Name: "Bob"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.EnsureAdmin(ctx, "bob@example.com", "not-bobs-password", "Bob"); !apperr.Is(err, apperr.Conflict) {
		t.Fatalf("EnsureAdmin(someone else's account) = %v, want conflict", err)
	}
	bob, outcome, err := s.EnsureAdmin(ctx, "bob@example.com", "bobs-password", "Bob")
	if err != nil || outcome != AdminPromoted || bob.Role != auth.RoleAdmin {
		t.Fatalf("EnsureAdmin(bob, his password) = %+v, %s, %v; want promoted", bob, outcome, err)
	}
	if _, _, err := s.EnsureAdmin(ctx, "root@example.com", "short", "Root"); !apperr.Is(err, apperr.ValidationFailed) {
		t.Errorf("EnsureAdmin(short password) = %v, want validation_failed", err)
	}
}

// TestLoginUnknownEmailCostsAHash: an unknown e-mail is answered only after
// a password hash, like a wrong password, so timing does not tell which.
func TestLoginUnknownEmailCostsAHash(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newTestService()
	s.passwords = newPasswords(passwordParams{memory: 32 * 1024, time: 3, threads: 1, saltLen: 16, keyLen: 32})
	if _, err := s.Register(ctx, Registration{Email: "a@example.com", Password: "12345678", Name: "A"}); err != nil {
		t.Fatal(err)
	}
	measure := func(email string) time.Duration {
		best := time.Duration(1<<63 - 1)
		for range 3 {
			start := time.Now()
			_, err := s.Login(ctx, email, "wrong-password")
			if !apperr.Is(err, apperr.InvalidCredentials) {
				t.Fatalf("Login(%s) = %v, want invalid_credentials", email, err)
			}
			best = min(best, time.Since(start))
		}
		return best
	}
	measure("nobody@example.com") // the first call also makes the dummy hash
	unknown, wrong := measure("nobody@example.com"), measure("a@example.com")
	if unknown < wrong/3 {
		t.Errorf("unknown e-mail answered in %v, wrong password in %v: want about the same", unknown, wrong)
	}
}

func TestThrottlePolicyDelay(t *testing.T) {
	t.Parallel()
	p := DefaultThrottlePolicy
	want := map[int]time.Duration{0: 0, 4: 0, 5: 5 * time.Second, 6: 10 * time.Second, 7: 20 * time.Second,
		10: 160 * time.Second, 11: 5 * time.Minute, 1000: 5 * time.Minute}
	for n, d := range want {
		if got := p.Delay(n); got != d {
			t.Errorf("Delay(%d) = %v, want %v", n, got, d)
		}
	}
}

// memThrottle is a LoginThrottle in memory.
type memThrottle struct {
	mu       sync.Mutex
	failures map[string]int
}

func (m *memThrottle) Wait(_ context.Context, key string) time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	return DefaultThrottlePolicy.Delay(m.failures[key])
}

func (m *memThrottle) Failed(_ context.Context, key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failures[key]++
}

func (m *memThrottle) Succeeded(_ context.Context, key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.failures, key)
}

func TestLoginThrottled(t *testing.T) {
	t.Parallel()
	th := &memThrottle{failures: map[string]int{}}
	s, _ := newTestService(th)
	ctx := context.Background()
	if _, err := s.Register(ctx, Registration{Email: "kim@example.com", Password: "password-1", Name: "Kim"}); err != nil {
		t.Fatal(err)
	}
	for i := range LoginFreeFailures {
		if _, err := s.Login(ctx, "KIM@example.com", "wrong-password"); !apperr.Is(err, apperr.InvalidCredentials) {
			t.Fatalf("failure %d = %v, want invalid_credentials", i+1, err)
		}
	}
	_, err := s.Login(ctx, "kim@example.com", "password-1")
	var ae *apperr.Error
	if !errors.As(err, &ae) || ae.Code != apperr.RateLimited || ae.RetryAfter != LoginDelayBase {
		t.Fatalf("login after %d failures = %v, want rate_limited for %v even with the right password", LoginFreeFailures, err, LoginDelayBase)
	}
	// Unknown e-mails count the same way.
	for range LoginFreeFailures {
		_, _ = s.Login(ctx, "nobody@example.com", "x-password")
	}
	if _, err := s.Login(ctx, "nobody@example.com", "x-password"); !apperr.Is(err, apperr.RateLimited) {
		t.Errorf("unknown e-mail after %d failures = %v, want rate_limited", LoginFreeFailures, err)
	}
	// Once the wait is over (forgotten here), the right password works and
	// clears the count.
	th.mu.Lock()
	th.failures[throttleKey("kim@example.com")] = LoginFreeFailures - 1
	th.mu.Unlock()
	if _, err := s.Login(ctx, "kim@example.com", "password-1"); err != nil {
		t.Fatalf("login = %v", err)
	}
	if n := th.failures[throttleKey("kim@example.com")]; n != 0 {
		t.Errorf("failures after a success = %d, want 0", n)
	}
}

func TestPasswordChangeValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		c      PasswordChange
		fields []string
	}{
		{PasswordChange{Current: "x", New: "12345678"}, nil},
		{PasswordChange{Current: "x", New: strings.Repeat("😀", 128)}, nil},
		{PasswordChange{Current: "", New: "12345678"}, []string{"current_password"}},
		{PasswordChange{Current: "x", New: "1234567"}, []string{"new_password"}},
		{PasswordChange{Current: "x", New: strings.Repeat("x", 129)}, []string{"new_password"}},
		{PasswordChange{}, []string{"current_password", "new_password"}},
	}
	for _, tc := range tests {
		var got []string
		if e, ok := tc.c.validate().(*apperr.Error); ok {
			for _, f := range e.Fields {
				got = append(got, f.Field)
			}
		}
		if strings.Join(got, ",") != strings.Join(tc.fields, ",") {
			t.Errorf("validate(%+v) fields = %v, want %v", tc.c, got, tc.fields)
		}
	}
}

// TestChangePassword: the right current password changes it (the version
// rises, the new session carries it, the old password stops working); a
// wrong one is refused and counts as a failed login of the account, so
// that guesses through either way share one throttle.
func TestChangePassword(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	th := &memThrottle{failures: map[string]int{}}
	s, _ := newTestService(th)
	reg, err := s.Register(ctx, Registration{Email: "Lin@example.com", Password: "password-1", Name: "Lin"})
	if err != nil {
		t.Fatal(err)
	}
	id := reg.User.ID

	if _, err := s.ChangePassword(ctx, id, PasswordChange{Current: "password-1", New: "short"}); !apperr.Is(err, apperr.ValidationFailed) {
		t.Fatalf("ChangePassword(short new password) = %v, want validation_failed", err)
	}
	if _, err := s.ChangePassword(ctx, uuid.New(), PasswordChange{Current: "password-1", New: "password-2"}); !apperr.Is(err, apperr.NotFound) {
		t.Fatalf("ChangePassword(unknown user) = %v, want not_found", err)
	}
	for i, current := range []string{"wrong-password", strings.Repeat("p", MaxPasswordLen+1)} {
		if _, err := s.ChangePassword(ctx, id, PasswordChange{Current: current, New: "password-2"}); !apperr.Is(err, apperr.WrongPassword) {
			t.Fatalf("ChangePassword(wrong current password) = %v, want wrong_password", err)
		}
		if n := th.failures[throttleKey("lin@example.com")]; n != i+1 {
			t.Fatalf("failures after %d wrong current passwords = %d, want %d", i+1, n, i+1)
		}
	}
	// Failed logins and wrong current passwords add up.
	for range LoginFreeFailures - 2 {
		if _, err := s.Login(ctx, "lin@example.com", "wrong-password"); !apperr.Is(err, apperr.InvalidCredentials) {
			t.Fatalf("Login(wrong password) = %v, want invalid_credentials", err)
		}
	}
	_, err = s.ChangePassword(ctx, id, PasswordChange{Current: "password-1", New: "password-2"})
	var ae *apperr.Error
	if !errors.As(err, &ae) || ae.Code != apperr.RateLimited || ae.RetryAfter != LoginDelayBase {
		t.Fatalf("ChangePassword after %d failures = %v, want rate_limited for %v even with the right password", LoginFreeFailures, err, LoginDelayBase)
	}
	if _, err := s.Login(ctx, "lin@example.com", "password-1"); !apperr.Is(err, apperr.RateLimited) {
		t.Fatalf("Login after %d failures = %v, want rate_limited", LoginFreeFailures, err)
	}

	th.mu.Lock()
	delete(th.failures, throttleKey("lin@example.com"))
	th.mu.Unlock()
	sess, err := s.ChangePassword(ctx, id, PasswordChange{Current: "password-1", New: "password-2"})
	if err != nil {
		t.Fatalf("ChangePassword() = %v", err)
	}
	if sess.User.TokenVersion != reg.User.TokenVersion+1 || sess.AccessToken == "" || sess.RefreshToken == "" {
		t.Errorf("session = %+v, want tokens at version %d", sess, reg.User.TokenVersion+1)
	}
	if _, err := s.Login(ctx, "lin@example.com", "password-1"); !apperr.Is(err, apperr.InvalidCredentials) {
		t.Errorf("Login(old password) = %v, want invalid_credentials", err)
	}
	if got, err := s.Login(ctx, "lin@example.com", "password-2"); err != nil || got.User.TokenVersion != sess.User.TokenVersion {
		t.Errorf("Login(new password) = %+v, %v; want a session at version %d", got.User, err, sess.User.TokenVersion)
	}
}

// TestLoginRacingAccountChange: a login whose account changes while its
// password is checked starts no session from the account as it was read:
// a new password fails it, any other change (a logout everywhere, a role)
// gives a session at the new version.
func TestLoginRacingAccountChange(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, store := newTestService()
	reg, err := s.Register(ctx, Registration{Email: "kai@example.com", Password: "password-1", Name: "Kai"})
	if err != nil {
		t.Fatal(err)
	}
	change := func(f func(*User)) {
		store.beforeWrite = func() {
			store.beforeWrite = nil
			store.mu.Lock()
			defer store.mu.Unlock()
			u := store.users["kai@example.com"]
			f(&u)
			store.users["kai@example.com"] = u
		}
	}

	change(func(u *User) { u.TokenVersion++ })
	sess, err := s.Login(ctx, "kai@example.com", "password-1")
	if err != nil || sess.User.TokenVersion != reg.User.TokenVersion+1 {
		t.Fatalf("Login() across a logout everywhere = %+v, %v; want a session at version %d", sess.User, err, reg.User.TokenVersion+1)
	}
	change(func(u *User) { u.TokenVersion++; u.PasswordHash = "$argon2id$changed" })
	if _, err := s.Login(ctx, "kai@example.com", "password-1"); !apperr.Is(err, apperr.InvalidCredentials) {
		t.Fatalf("Login() across a password change = %v, want invalid_credentials", err)
	}
}

// TestChangePasswordRacingChange: of two changes that both checked the
// same current password, the second finds it no longer current.
func TestChangePasswordRacingChange(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, store := newTestService()
	reg, err := s.Register(ctx, Registration{Email: "max@example.com", Password: "password-1", Name: "Max"})
	if err != nil {
		t.Fatal(err)
	}
	store.beforeWrite = func() {
		store.beforeWrite = nil
		store.mu.Lock()
		defer store.mu.Unlock()
		u := store.users["max@example.com"]
		u.PasswordHash, u.TokenVersion = "$argon2id$first", u.TokenVersion+1
		store.users["max@example.com"] = u
	}
	if _, err := s.ChangePassword(ctx, reg.User.ID, PasswordChange{Current: "password-1", New: "password-2"}); !apperr.Is(err, apperr.WrongPassword) {
		t.Fatalf("ChangePassword() after another change = %v, want wrong_password", err)
	}
	if u := store.users["max@example.com"]; u.PasswordHash != "$argon2id$first" {
		t.Errorf("password hash = %q, want the first change's", u.PasswordHash)
	}
}
