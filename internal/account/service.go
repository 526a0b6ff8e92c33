package account

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/auth"
)

// TokenIssuer issues the access tokens of sessions (auth.Tokens is one).
type TokenIssuer interface {
	Issue(p auth.Principal) (string, error)
	TTL() time.Duration
}

// Session is what a login gives: a short-lived access token and a refresh
// token that buys the next session once.
type Session struct {
	User         User
	AccessToken  string
	RefreshToken string
	// ExpiresIn is the access token's lifetime.
	ExpiresIn time.Duration
}

// Service runs the accounts.
type Service struct {
	store     Store
	tokens    TokenIssuer
	now       func() time.Time
	passwords *passwords
	throttle  LoginThrottle // nil: logins are not throttled per account
}

// Options adjust a Service.
type Options struct {
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Throttle, when set, limits failed logins per account (see Login).
	Throttle LoginThrottle
}

// NewService returns the accounts service. tokens may be nil for a service
// that only manages accounts (the admin CLI): it cannot start sessions.
func NewService(store Store, tokens TokenIssuer, o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Service{store: store, tokens: tokens, now: o.Now, throttle: o.Throttle, passwords: newPasswords(defaultParams)}
}

// Register creates a user (never an admin) and starts their first session.
func (s *Service) Register(ctx context.Context, r Registration) (Session, error) {
	r.Name = strings.TrimSpace(r.Name)
	if err := r.validate(); err != nil {
		return Session{}, err
	}
	u, err := s.create(ctx, r, auth.RoleUser)
	if err != nil {
		return Session{}, err
	}
	return s.startSession(ctx, u)
}

func (s *Service) create(ctx context.Context, r Registration, role auth.Role) (User, error) {
	hash, err := s.passwords.hash(ctx, r.Password)
	if err != nil {
		return User{}, err
	}
	now := s.now().UTC().Truncate(time.Microsecond) // what Postgres keeps
	u := User{
		ID:           uuid.Must(uuid.NewV7()),
		Email:        r.Email,
		Name:         r.Name,
		Role:         role,
		PasswordHash: hash,
		CreatedAt:    now,
		UpdatedAt:    now,
	}
	if err := s.store.CreateUser(ctx, u); err != nil {
		return User{}, err
	}
	return u, nil
}

func invalidCredentials() error {
	return apperr.New(apperr.InvalidCredentials, "The e-mail or password is wrong.")
}

// Login checks an e-mail and password and starts a session. An unknown
// e-mail and a wrong password get the same answer in about the same time.
func (s *Service) Login(ctx context.Context, email, password string) (Session, error) {
	if utf8.RuneCountInString(password) > MaxPasswordLen || utf8.RuneCountInString(email) > MaxEmailLen {
		return Session{}, invalidCredentials() // no such password can exist
	}
	key := throttleKey(email)
	if err := s.throttled(ctx, key); err != nil {
		return Session{}, err
	}
	u, found, err := s.loginUser(ctx, email)
	if err != nil {
		return Session{}, err
	}
	if !found {
		if err := s.passwords.burn(ctx, password); err != nil {
			return Session{}, err
		}
		return Session{}, s.loginFailed(ctx, key)
	}
	ok, err := s.passwords.verify(ctx, u.PasswordHash, password)
	if err != nil {
		return Session{}, fmt.Errorf("verify password of user=%s: %w", u.ID, err)
	}
	if !ok {
		return Session{}, s.loginFailed(ctx, key)
	}
	if s.throttle != nil {
		s.throttle.Succeeded(ctx, key)
	}
	return s.startSession(ctx, u)
}

// loginFailed counts a failed login to the account of key and returns the
// answer to it.
func (s *Service) loginFailed(ctx context.Context, key string) error {
	if s.throttle != nil {
		s.throttle.Failed(ctx, key)
	}
	return invalidCredentials()
}

// throttled returns the answer to a password check of the account of key
// while its failures make it wait, or nil.
func (s *Service) throttled(ctx context.Context, key string) error {
	if s.throttle == nil {
		return nil
	}
	if wait := s.throttle.Wait(ctx, key); wait > 0 {
		return loginThrottled(wait)
	}
	return nil
}

// loginUser finds the user of a login's e-mail. An invalid e-mail, which
// no account can have, is not looked up (nor sent to the database).
func (s *Service) loginUser(ctx context.Context, email string) (User, bool, error) {
	if !validEmail(email) {
		return User{}, false, nil
	}
	u, err := s.store.UserByEmail(ctx, email)
	if apperr.Is(err, apperr.NotFound) {
		return User{}, false, nil
	}
	return u, err == nil, err
}

// Refresh spends a refresh token for a new session (with the user's
// current role). Each token works once: presenting a spent one ends its
// whole family, so a stolen token is worth at most one refresh, and only
// until its owner refreshes.
func (s *Service) Refresh(ctx context.Context, token string) (Session, error) {
	hash, ok := hashRefreshToken(token)
	if !ok {
		return Session{}, invalidRefreshToken()
	}
	next, secret, err := s.newRefreshToken(uuid.Nil, uuid.Nil)
	if err != nil {
		return Session{}, err
	}
	u, err := s.store.RotateRefreshToken(ctx, hash, next, s.now().UTC())
	if apperr.Is(err, apperr.NotFound) {
		return Session{}, invalidRefreshToken()
	}
	if err != nil {
		return Session{}, err
	}
	return s.session(u, secret)
}

// Logout ends the session a refresh token belongs to: that token and every
// other of its family stop working. An unknown token is no error.
func (s *Service) Logout(ctx context.Context, token string) error {
	hash, ok := hashRefreshToken(token)
	if !ok {
		return nil
	}
	return s.store.RevokeRefreshFamily(ctx, hash, s.now().UTC())
}

// LogoutAll ends every session of a user: in one transaction their token
// version rises, so that every access token already issued is refused
// (within the Revocations TTL, on every process), and every refresh token
// is revoked.
func (s *Service) LogoutAll(ctx context.Context, userID uuid.UUID) error {
	return s.store.EndSessions(ctx, userID, s.now().UTC())
}

// ChangePassword changes a user's password once the current one is
// checked, ends every session (as LogoutAll does, in the same
// transaction) and starts a new one, so that the device that made the
// change stays signed in while every other is signed out. A wrong current
// password counts against the account's login throttle, and a throttled
// account waits here as at login: this is no faster way to guess a
// password than logging in. Both hashes are computed before the
// transaction begins.
func (s *Service) ChangePassword(ctx context.Context, userID uuid.UUID, c PasswordChange) (Session, error) {
	if err := c.validate(); err != nil {
		return Session{}, err
	}
	u, err := s.store.UserByID(ctx, userID)
	if err != nil {
		return Session{}, err
	}
	key := throttleKey(u.Email)
	if err := s.throttled(ctx, key); err != nil {
		return Session{}, err
	}
	ok := utf8.RuneCountInString(c.Current) <= MaxPasswordLen // no longer one can be right
	if ok {
		if ok, err = s.passwords.verify(ctx, u.PasswordHash, c.Current); err != nil {
			return Session{}, fmt.Errorf("verify password of user=%s: %w", u.ID, err)
		}
	}
	if !ok {
		if s.throttle != nil {
			s.throttle.Failed(ctx, key)
		}
		return Session{}, wrongPassword()
	}
	if s.throttle != nil {
		s.throttle.Succeeded(ctx, key)
	}
	hash, err := s.passwords.hash(ctx, c.New)
	if err != nil {
		return Session{}, err
	}
	t, secret, err := s.newRefreshToken(u.ID, uuid.Must(uuid.NewV7()))
	if err != nil {
		return Session{}, err
	}
	u, err = s.store.ChangePassword(ctx, u.ID, u.PasswordHash, hash, t, s.now().UTC())
	if apperr.Is(err, apperr.Conflict) {
		return Session{}, wrongPassword() // changed meanwhile: c.Current is no longer the password
	}
	if err != nil {
		return Session{}, err
	}
	return s.session(u, secret)
}

func wrongPassword() error {
	return apperr.New(apperr.WrongPassword, "The current password is wrong.")
}

// User returns the user with the given id.
func (s *Service) User(ctx context.Context, id uuid.UUID) (User, error) {
	return s.store.UserByID(ctx, id)
}

// ListUsers returns a page of users, newest first.
func (s *Service) ListUsers(ctx context.Context, q ListQuery) ([]User, error) {
	q.Search = strings.TrimSpace(q.Search)
	var v apperr.Validator
	v.Check(utf8.RuneCountInString(q.Search) <= MaxSearchLen, "q", "must be at most 200 characters")
	v.Check(utf8.ValidString(q.Search) && strings.IndexFunc(q.Search, unicode.IsControl) < 0,
		"q", "must be UTF-8 text without control characters")
	if err := v.Err(); err != nil {
		return nil, err
	}
	if q.Limit < 1 {
		return nil, apperr.Invalid(apperr.FieldError{Field: "limit", Message: "must be at least 1"})
	}
	return s.store.ListUsers(ctx, q)
}

// SetRole changes a user's role on behalf of actor, an admin. Admins cannot
// demote themselves, so that the last admin cannot lock everyone out.
func (s *Service) SetRole(ctx context.Context, actor auth.Principal, id uuid.UUID, role auth.Role) (User, error) {
	if !actor.IsAdmin() {
		return User{}, apperr.New(apperr.Forbidden, "Admins only.")
	}
	if !role.Valid() {
		return User{}, apperr.Invalid(apperr.FieldError{Field: "role", Message: "must be user, staff or admin"})
	}
	if id == actor.UserID && role != auth.RoleAdmin {
		return User{}, apperr.New(apperr.Conflict, "Admins cannot demote themselves; another admin can.")
	}
	return s.store.SetRole(ctx, id, role, s.now().UTC())
}

// AdminOutcome says what EnsureAdmin did.
type AdminOutcome string

// The outcomes of EnsureAdmin.
const (
	AdminCreated   AdminOutcome = "created"
	AdminPromoted  AdminOutcome = "promoted"
	AdminUnchanged AdminOutcome = "unchanged"
)

// EnsureAdmin makes sure that an admin with the given e-mail exists, and is
// idempotent: it creates the account when missing, leaves an existing admin
// as it is (password included: the configured one only ever sets the
// first), and promotes an existing user only when password is theirs, so
// that whoever registered the address first cannot be handed admin rights
// by a configuration that names it.
func (s *Service) EnsureAdmin(ctx context.Context, email, password, name string) (User, AdminOutcome, error) {
	r := Registration{Email: email, Password: password, Name: strings.TrimSpace(name)}
	if err := r.validate(); err != nil {
		return User{}, "", err
	}
	for attempt := 0; ; attempt++ {
		u, err := s.store.UserByEmail(ctx, email)
		if apperr.Is(err, apperr.NotFound) {
			u, err = s.create(ctx, r, auth.RoleAdmin)
			if apperr.Is(err, apperr.EmailTaken) && attempt == 0 {
				continue // created concurrently (another replica): look again
			}
			return u, AdminCreated, err
		}
		if err != nil {
			return User{}, "", err
		}
		if u.Role == auth.RoleAdmin {
			return u, AdminUnchanged, nil
		}
		ok, err := s.passwords.verify(ctx, u.PasswordHash, password)
		if err != nil {
			return User{}, "", fmt.Errorf("verify password of user=%s: %w", u.ID, err)
		}
		if !ok {
			return User{}, "", apperr.New(apperr.Conflict,
				"A user with the e-mail %s exists and the password given is not theirs, so they were not made an admin.", email)
		}
		u, err = s.store.SetRole(ctx, u.ID, auth.RoleAdmin, s.now().UTC())
		return u, AdminPromoted, err
	}
}

// startSession starts a new session (a new refresh token family) for u,
// as read before the caller checked its password. If u's token version
// rose meanwhile (a password change, a logout everywhere, a change of
// role committed during the check), no session starts from the stale u:
// the account is read again and, unless its password changed, the
// session starts as it now stands; a changed password fails the login.
func (s *Service) startSession(ctx context.Context, u User) (Session, error) {
	for attempt := 1; ; attempt++ {
		t, secret, err := s.newRefreshToken(u.ID, uuid.Must(uuid.NewV7()))
		if err != nil {
			return Session{}, err
		}
		err = s.store.CreateRefreshToken(ctx, t, u.TokenVersion)
		if err == nil {
			return s.session(u, secret)
		}
		if !apperr.Is(err, apperr.Conflict) {
			return Session{}, err
		}
		if attempt == 3 {
			return Session{}, apperr.Wrap(err, apperr.Unavailable, "The account is changing right now; try again.")
		}
		cur, err := s.store.UserByID(ctx, u.ID)
		if err != nil {
			return Session{}, err
		}
		if cur.PasswordHash != u.PasswordHash {
			return Session{}, invalidCredentials()
		}
		u = cur
	}
}

func (s *Service) session(u User, refresh string) (Session, error) {
	if s.tokens == nil {
		return Session{}, errors.New("account service has no token issuer")
	}
	access, err := s.tokens.Issue(u.Principal())
	if err != nil {
		return Session{}, err
	}
	return Session{User: u, AccessToken: access, RefreshToken: refresh, ExpiresIn: s.tokens.TTL()}, nil
}

// refreshTokenBytes is the entropy of a refresh token.
const refreshTokenBytes = 32

// newRefreshToken makes a random refresh token and its stored form.
func (s *Service) newRefreshToken(userID, familyID uuid.UUID) (RefreshToken, string, error) {
	b := make([]byte, refreshTokenBytes)
	if _, err := rand.Read(b); err != nil {
		return RefreshToken{}, "", fmt.Errorf("refresh token: %w", err)
	}
	now := s.now().UTC()
	sum := sha256.Sum256(b)
	return RefreshToken{
		ID:        uuid.Must(uuid.NewV7()),
		UserID:    userID,
		FamilyID:  familyID,
		Hash:      sum[:],
		CreatedAt: now,
		ExpiresAt: now.Add(RefreshTTL),
	}, base64.RawURLEncoding.EncodeToString(b), nil
}

// hashRefreshToken returns the stored form of a presented token, or false
// when it cannot be one of ours.
func hashRefreshToken(token string) ([]byte, bool) {
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) != refreshTokenBytes {
		return nil, false
	}
	sum := sha256.Sum256(b)
	return sum[:], true
}

func invalidRefreshToken() error {
	return apperr.New(apperr.Unauthorized, "The refresh token is invalid, expired or already used.")
}
