// Package account is Evently's user accounts: registration, password
// logins, sessions of rotating refresh tokens, roles, and the bootstrap
// admin. It knows neither HTTP nor SQL; its Store is implemented in the
// postgres package.
package account

import (
	"context"
	"net/mail"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/auth"
)

// Limits of the account fields, in Unicode characters.
const (
	MinPasswordLen = 8
	MaxPasswordLen = 128
	MaxNameLen     = 100
	MaxEmailLen    = 254
	MaxSearchLen   = 200
)

// RefreshTTL is the lifetime of a refresh token. Each refresh issues a new
// one, so a session that is used at least this often never ends.
const RefreshTTL = 30 * 24 * time.Hour

// User is an account.
type User struct {
	ID    uuid.UUID
	Email string
	Name  string
	Role  auth.Role
	// PasswordHash is the PHC-formatted argon2id hash of the password.
	PasswordHash string
	// TokenVersion rises with every change that must revoke the access
	// tokens already issued: a change of role or of password, a logout
	// everywhere.
	TokenVersion int
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Principal is the identity an access token of u carries.
func (u User) Principal() auth.Principal {
	return auth.Principal{UserID: u.ID, Role: u.Role, Version: u.TokenVersion}
}

// RefreshToken is the stored form of a refresh token: the SHA-256 of its
// random bytes, never the token itself.
type RefreshToken struct {
	ID        uuid.UUID
	UserID    uuid.UUID
	FamilyID  uuid.UUID
	Hash      []byte
	CreatedAt time.Time
	ExpiresAt time.Time
}

// ListQuery selects a page of users, newest first.
type ListQuery struct {
	// Search, when not empty, keeps the users whose e-mail or name contains
	// it (case-insensitively).
	Search string
	// After, unless uuid.Nil, starts the page after the user with that id.
	After uuid.UUID
	Limit int
}

// Store is the persistence the accounts need. Every method is atomic.
type Store interface {
	// CreateUser stores a new user; apperr.EmailTaken when the e-mail is in
	// use, whatever its case.
	CreateUser(ctx context.Context, u User) error
	// UserByID and UserByEmail return apperr.NotFound for no such user;
	// e-mails compare case-insensitively.
	UserByID(ctx context.Context, id uuid.UUID) (User, error)
	UserByEmail(ctx context.Context, email string) (User, error)
	// ListUsers returns at most q.Limit users, newest first.
	ListUsers(ctx context.Context, q ListQuery) ([]User, error)
	// SetRole changes a user's role (apperr.NotFound for no such user). A
	// change raises the user's token version, revoking their access tokens.
	SetRole(ctx context.Context, id uuid.UUID, role auth.Role, now time.Time) (User, error)
	// TokenChanges returns the users whose token version rose within the
	// last `within` (by the store's clock), with their current standing.
	TokenChanges(ctx context.Context, within time.Duration) (map[uuid.UUID]Standing, error)

	// CreateRefreshToken stores the refresh token of a new session of a
	// user read at token version tokenVersion; apperr.Conflict when the
	// version has risen since (the password changed, every session was
	// ended, the role changed), so that a session checked against the
	// account as it stood never outlives such a change.
	CreateRefreshToken(ctx context.Context, t RefreshToken, tokenVersion int) error
	// RotateRefreshToken spends the live refresh token whose hash is hash
	// and stores next (with the spent token's user and family) in the same
	// transaction, returning the token's user. apperr.NotFound when no
	// live token has that hash: unknown, expired at now, revoked or spent.
	// A spent one revokes its whole family, the newest token included (it
	// has leaked: its owner or a thief used it first).
	RotateRefreshToken(ctx context.Context, hash []byte, next RefreshToken, now time.Time) (User, error)
	// RevokeRefreshFamily revokes every token of the family of the token
	// whose hash is hash; an unknown hash is no error.
	RevokeRefreshFamily(ctx context.Context, hash []byte, now time.Time) error
	// EndSessions ends every session of a user in one transaction: their
	// token version rises (revoking their access tokens) and every live
	// refresh token is revoked, those of refreshes racing with it
	// included. apperr.NotFound for no such user.
	EndSessions(ctx context.Context, id uuid.UUID, now time.Time) error
	// ChangePassword replaces a user's password hash oldHash with newHash,
	// ends every session as EndSessions does and stores session, the
	// refresh token of the session that made the change, all in one
	// transaction; it returns the changed user. apperr.NotFound for no such
	// user, apperr.Conflict when the hash is no longer oldHash (another
	// change came first).
	ChangePassword(ctx context.Context, id uuid.UUID, oldHash, newHash string, session RefreshToken, now time.Time) (User, error)
}

// Registration is what a new user gives.
type Registration struct {
	Email    string
	Password string
	Name     string
}

// validate checks a registration against the contract's rules, reporting
// every invalid field by its JSON name.
func (r Registration) validate() error {
	var v apperr.Validator
	checkEmail(&v, r.Email)
	checkPassword(&v, "password", r.Password)
	checkName(&v, r.Name)
	return v.Err()
}

func checkEmail(v *apperr.Validator, email string) {
	switch {
	case email == "":
		v.Add("email", "is required")
	case utf8.RuneCountInString(email) > MaxEmailLen:
		v.Add("email", "must be at most 254 characters")
	case !validEmail(email):
		v.Add("email", "must be an e-mail address such as ada@example.com")
	}
}

// validEmail accepts what net/mail parses as a bare address and nothing
// more: no display name, comment, angle brackets or surrounding spaces.
func validEmail(email string) bool {
	a, err := mail.ParseAddress(email)
	return err == nil && a.Name == "" && a.Address == email
}

// checkPassword checks a new password, reported as field.
func checkPassword(v *apperr.Validator, field, password string) {
	n := utf8.RuneCountInString(password)
	v.Check(n >= MinPasswordLen && n <= MaxPasswordLen, field, "must be 8 to 128 characters")
}

// PasswordChange is what a user gives to change their password.
type PasswordChange struct {
	Current string
	New     string
}

// validate checks a password change against the contract's rules: the new
// password follows registration's, fields are reported by their JSON name.
func (c PasswordChange) validate() error {
	var v apperr.Validator
	v.Check(c.Current != "", "current_password", "is required")
	checkPassword(&v, "new_password", c.New)
	return v.Err()
}

func checkName(v *apperr.Validator, name string) {
	n := utf8.RuneCountInString(name)
	switch {
	case strings.TrimSpace(name) == "":
		v.Add("name", "is required")
	case n > MaxNameLen:
		v.Add("name", "must be at most 100 characters")
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		v.Add("name", "must not contain control characters")
	}
}
