package account

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	"github.com/evently/evently/internal/apperr"
)

// The per-account login throttle. Failed logins are limited per client
// address (in httpapi) and, here, per account: after LoginFreeFailures
// failures for one e-mail with no quiet spell of LoginFailureWindow
// between them, each further failure makes every login to that e-mail
// wait (429 rate_limited) for a delay that starts at LoginDelayBase and
// doubles up to LoginDelayMax. The delay is bounded, so an attacker can
// make its owner wait at most LoginDelayMax, never lock them out, while
// guessing at most once per LoginDelayMax; a successful login forgets the
// failures. Unknown e-mails are counted like known ones, so the throttle
// tells nothing about which accounts exist. A wrong current password
// given to ChangePassword counts as a failed login, and a throttled
// account's password change waits too: a stolen access token guesses no
// faster than a login.
const (
	LoginFreeFailures  = 5
	LoginFailureWindow = 15 * time.Minute
	LoginDelayBase     = 5 * time.Second
	LoginDelayMax      = 5 * time.Minute
)

// ThrottlePolicy is the throttle's parameters as a store applies them.
type ThrottlePolicy struct {
	// FreeFailures is the number of failures before the first delay.
	FreeFailures int
	// Window is how long failures are remembered after the latest one.
	Window time.Duration
	// Base is the first delay; each further failure doubles it, up to Max.
	Base, Max time.Duration
}

// DefaultThrottlePolicy is the policy described above.
var DefaultThrottlePolicy = ThrottlePolicy{
	FreeFailures: LoginFreeFailures, Window: LoginFailureWindow, Base: LoginDelayBase, Max: LoginDelayMax,
}

// Delay is the wait after the nth failure in a row (0 before
// FreeFailures).
func (p ThrottlePolicy) Delay(n int) time.Duration {
	if n < p.FreeFailures {
		return 0
	}
	d := p.Base
	for i := p.FreeFailures; i < n && d < p.Max; i++ {
		d *= 2
	}
	return min(d, p.Max)
}

// LoginThrottle keeps the failed logins of each account, by a key that is
// a hash of its e-mail. Implementations fail open (and report it their own
// way): when the counts cannot be reached, logins are limited per address
// only, rather than refused for everyone.
type LoginThrottle interface {
	// Wait returns how long logins to key must still wait (0: none).
	Wait(ctx context.Context, key string) time.Duration
	// Failed records a failed login to key.
	Failed(ctx context.Context, key string)
	// Succeeded forgets key's failures.
	Succeeded(ctx context.Context, key string)
}

// throttleKey is the key of an e-mail's failures: a hash of its lower
// case, so that no e-mail is stored and every spelling counts as one.
func throttleKey(email string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(email)))
	return hex.EncodeToString(sum[:16])
}

func loginThrottled(wait time.Duration) error {
	return &apperr.Error{Code: apperr.RateLimited, RetryAfter: wait,
		Detail: "Too many failed logins for this account; try again later."}
}
