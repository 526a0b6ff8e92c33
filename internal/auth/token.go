// Package auth holds Evently's notion of who is calling: roles, the
// principal of an authenticated request, and the short-lived access tokens
// (HS256 JWTs) that carry it.
package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/evently/evently/internal/ttlcache"
)

// Role is a user's role.
type Role string

// The roles.
const (
	RoleUser Role = "user"
	// RoleStaff scans tickets at the door (check-ins), and is otherwise a
	// user.
	RoleStaff Role = "staff"
	RoleAdmin Role = "admin"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == RoleUser || r == RoleStaff || r == RoleAdmin }

// Principal is the authenticated caller of a request.
type Principal struct {
	UserID uuid.UUID
	Role   Role
	// Version is the account's token version when the token was issued.
	// Changing the account's role raises its version, and a token of an
	// older version is revoked (see account.Revocations).
	Version int
}

// IsAdmin reports whether the caller is an admin.
func (p Principal) IsAdmin() bool { return p.Role == RoleAdmin }

// CanScan reports whether the caller may check tickets in: staff and
// admins.
func (p Principal) CanScan() bool { return p.Role == RoleStaff || p.Role == RoleAdmin }

type ctxKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// PrincipalFrom returns the principal carried by ctx, if any.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(ctxKey{}).(Principal)
	return p, ok
}

// ErrInvalidToken is returned for every token that does not verify: bad
// signature, other algorithm, expired, malformed.
var ErrInvalidToken = errors.New("invalid access token")

const issuer = "evently"

// Tokens issues and verifies access tokens.
type Tokens struct {
	secret []byte
	ttl    time.Duration
	now    func() time.Time

	// verified remembers the tokens already verified, until they expire:
	// a buyer pressing the button during an on-sale sends the same token
	// many times a second, and parsing it (base64, JSON, HMAC) is a good
	// share of answering a request that is refused from memory.
	verified *ttlcache.Cache[string, Principal]
}

// verifiedLimit bounds the cache of verified tokens.
const verifiedLimit = 100_000

// NewTokens returns a token issuer keyed by secret whose tokens live ttl.
func NewTokens(secret []byte, ttl time.Duration, now func() time.Time) *Tokens {
	if now == nil {
		now = time.Now
	}
	return &Tokens{secret: secret, ttl: ttl, now: now, verified: ttlcache.New[string, Principal](ttl, verifiedLimit)}
}

// TTL is the lifetime of an access token.
func (t *Tokens) TTL() time.Duration { return t.ttl }

type claims struct {
	Role    Role `json:"role"`
	Version int  `json:"ver,omitempty"`
	jwt.RegisteredClaims
}

// Issue returns a signed access token for p.
func (t *Tokens) Issue(p Principal) (string, error) {
	now := t.now()
	c := claims{
		Role:    p.Role,
		Version: p.Version,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    issuer,
			Subject:   p.UserID.String(),
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(t.ttl)),
			ID:        uuid.NewString(),
		},
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(t.secret)
	if err != nil {
		return "", fmt.Errorf("sign access token: %w", err)
	}
	return s, nil
}

// Verify checks a token's signature (HS256 only: "none" and every other
// algorithm are refused), issuer and expiry, and returns its principal.
func (t *Tokens) Verify(token string) (Principal, error) {
	now := t.now()
	if p, ok := t.verified.Get(token, now); ok {
		return p, nil
	}
	var c claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return t.secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(issuer),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(t.now),
	)
	if err != nil {
		return Principal{}, ErrInvalidToken
	}
	id, err := uuid.Parse(c.Subject)
	if err != nil || !c.Role.Valid() || c.Version < 0 {
		return Principal{}, ErrInvalidToken
	}
	p := Principal{UserID: id, Role: c.Role, Version: c.Version}
	t.verified.PutUntil(token, p, now, c.ExpiresAt.Time)
	return p, nil
}
