package account

import (
	"context"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/auth"
)

// Standing is what an account's access tokens are worth now: its current
// role and token version.
type Standing struct {
	Role         auth.Role
	TokenVersion int
}

// DefaultRevocationTTL is how long a process trusts its list of recent
// token changes before reading it again: a demotion or a logout
// everywhere takes effect within this time on every replica.
const DefaultRevocationTTL = 2 * time.Second

// Revocations decides whether an access token still stands. An access
// token is signed and self-contained, so without a check a demoted admin
// would keep admin rights until the token expired. Every change that
// must revoke tokens (a change of role or of password, a logout
// everywhere) raises the account's token version, and a token of an older
// version is refused.
//
// Only the accounts whose version rose within the access tokens' lifetime
// can have a token of an older version still unexpired, so Revocations
// keeps just those — read with one query at most every ttl, however many
// users and requests there are — and checks each request against them in
// memory. For any other account the token's role is the current role.
type Revocations struct {
	store  Store
	window time.Duration // how far back a change can concern a live token
	ttl    time.Duration
	now    func() time.Time

	mu      sync.Mutex
	changed map[uuid.UUID]Standing
	readAt  time.Time     // when the read that returned changed began
	loading chan struct{} // closed when the load in progress ends
	loadErr error
}

// NewRevocations returns the check for access tokens that live tokenTTL,
// reading recent changes from store at most every ttl (0:
// DefaultRevocationTTL).
func NewRevocations(store Store, tokenTTL, ttl time.Duration, now func() time.Time) *Revocations {
	if ttl <= 0 {
		ttl = DefaultRevocationTTL
	}
	if now == nil {
		now = time.Now
	}
	// A minute more than the tokens' lifetime, for clocks that disagree.
	return &Revocations{store: store, window: tokenTTL + time.Minute, ttl: ttl, now: now}
}

// Check returns p with the account's current role, or an Unauthorized
// error when p's token is older than the account's token version. It
// fails (Unavailable) when the recent changes cannot be read: it never
// lets a possibly revoked token through.
func (r *Revocations) Check(ctx context.Context, p auth.Principal) (auth.Principal, error) {
	changed, err := r.recent(ctx)
	if err != nil {
		return auth.Principal{}, apperr.Wrap(err, apperr.Unavailable, "The access token cannot be checked right now; try again.")
	}
	st, ok := changed[p.UserID]
	if !ok {
		return p, nil
	}
	if p.Version < st.TokenVersion {
		return auth.Principal{}, apperr.New(apperr.Unauthorized,
			"The access token was revoked by a change to the account; refresh the session or sign in again.")
	}
	p.Role = st.Role
	return p, nil
}

// recent returns the accounts whose token version rose within the window,
// from a read that began less than ttl before the caller asked: a change
// committed before a request reaches it within ttl, whatever reads were in
// flight. The list is read again ahead of time, in the background, once
// three quarters of ttl have passed, so that requests never queue behind
// the read while it is fresh; only when it is stale (the read is slow or
// failing) do callers wait for one, shared, read.
func (r *Revocations) recent(ctx context.Context) (map[uuid.UUID]Standing, error) {
	asked := r.now()
	for {
		r.mu.Lock()
		if r.changed != nil && asked.Before(r.readAt.Add(r.ttl)) {
			changed := r.changed
			if r.loading == nil && !r.now().Before(r.readAt.Add(r.ttl*3/4)) {
				done := r.startLoad()
				go r.load(context.WithoutCancel(ctx), done)
			}
			r.mu.Unlock()
			return changed, nil
		}
		if wait := r.loading; wait != nil {
			r.mu.Unlock()
			select {
			case <-wait:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			r.mu.Lock()
			err := r.loadErr
			r.mu.Unlock()
			if err != nil {
				return nil, err
			}
			continue
		}
		done := r.startLoad()
		r.mu.Unlock()
		if err := r.load(ctx, done); err != nil {
			return nil, err
		}
	}
}

// startLoad marks a read in progress. r.mu is held.
func (r *Revocations) startLoad() chan struct{} {
	done := make(chan struct{})
	r.loading = done
	return done
}

// load reads the recent changes and publishes them (or the error) to the
// callers waiting on done. The read outlives a caller that gives up.
func (r *Revocations) load(ctx context.Context, done chan struct{}) error {
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	began := r.now()
	changed, err := r.store.TokenChanges(lctx, r.window)
	cancel()
	if err == nil && changed == nil {
		changed = map[uuid.UUID]Standing{}
	}
	r.mu.Lock()
	r.loading, r.loadErr = nil, err
	if err == nil {
		r.changed, r.readAt = changed, began
	}
	r.mu.Unlock()
	close(done)
	return err
}
