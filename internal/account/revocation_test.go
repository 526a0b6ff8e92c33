package account

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/auth"
	"github.com/evently/evently/internal/clocktest"
)

// changesStore serves TokenChanges from a map and counts the reads.
type changesStore struct {
	Store
	mu      sync.Mutex
	changes map[uuid.UUID]Standing
	err     error
	reads   atomic.Int32
	window  time.Duration
}

func (s *changesStore) TokenChanges(_ context.Context, within time.Duration) (map[uuid.UUID]Standing, error) {
	s.reads.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.window = within
	if s.err != nil {
		return nil, s.err
	}
	out := make(map[uuid.UUID]Standing, len(s.changes))
	for k, v := range s.changes {
		out[k] = v
	}
	return out, nil
}

func (s *changesStore) set(id uuid.UUID, st Standing, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.changes == nil {
		s.changes = map[uuid.UUID]Standing{}
	}
	if id != uuid.Nil {
		s.changes[id] = st
	}
	s.err = err
}

func TestRevocations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := clocktest.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	store := &changesStore{}
	r := NewRevocations(store, 15*time.Minute, 2*time.Second, clock.Now)
	admin := auth.Principal{UserID: uuid.New(), Role: auth.RoleAdmin}
	other := auth.Principal{UserID: uuid.New(), Role: auth.RoleUser}

	if p, err := r.Check(ctx, admin); err != nil || p != admin {
		t.Fatalf("Check(unchanged account) = %+v, %v; want it as it is", p, err)
	}
	if store.window != 16*time.Minute {
		t.Errorf("TokenChanges window = %v, want the tokens' lifetime and a minute", store.window)
	}

	// Demoted: within the TTL the old answer stands, after it the token is
	// revoked.
	store.set(admin.UserID, Standing{Role: auth.RoleUser, TokenVersion: 1}, nil)
	clock.Advance(time.Second)
	if p, err := r.Check(ctx, admin); err != nil || p != admin {
		t.Fatalf("Check(within the TTL) = %+v, %v; want the cached answer", p, err)
	}
	clock.Advance(1500 * time.Millisecond)
	if _, err := r.Check(ctx, admin); !apperr.Is(err, apperr.Unauthorized) {
		t.Fatalf("Check(older version after a demotion) = %v, want unauthorized", err)
	}
	// A token issued since carries the new version and the current role.
	fresh := admin
	fresh.Version = 1
	if p, err := r.Check(ctx, fresh); err != nil || p.Role != auth.RoleUser {
		t.Fatalf("Check(current version) = %+v, %v; want role user", p, err)
	}
	if p, err := r.Check(ctx, other); err != nil || p != other {
		t.Fatalf("Check(other account) = %+v, %v; want it as it is", p, err)
	}
	if n := store.reads.Load(); n != 2 {
		t.Errorf("TokenChanges read %d times, want 2 (once per TTL)", n)
	}

	// When the changes cannot be read, nothing passes.
	store.set(uuid.Nil, Standing{}, errors.New("database down"))
	clock.Advance(3 * time.Second)
	if _, err := r.Check(ctx, other); !apperr.Is(err, apperr.Unavailable) {
		t.Fatalf("Check(store failing) = %v, want unavailable", err)
	}
	store.set(uuid.Nil, Standing{}, nil)
	if _, err := r.Check(ctx, other); err != nil {
		t.Fatalf("Check(store back) = %v", err)
	}
}

func TestRevocationsShareOneRead(t *testing.T) {
	t.Parallel()
	store := &changesStore{}
	r := NewRevocations(store, time.Minute, time.Hour, nil)
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := r.Check(context.Background(), auth.Principal{UserID: uuid.New(), Role: auth.RoleUser}); err != nil {
				t.Errorf("Check() = %v", err)
			}
		}()
	}
	wg.Wait()
	if n := store.reads.Load(); n != 1 {
		t.Errorf("50 concurrent checks read the changes %d times, want 1", n)
	}
}

// slowStore is a changesStore whose reads wait for a gate once armed.
type slowStore struct {
	changesStore
	gate chan struct{}
}

func (s *slowStore) TokenChanges(ctx context.Context, within time.Duration) (map[uuid.UUID]Standing, error) {
	s.mu.Lock()
	gate := s.gate
	s.mu.Unlock()
	if gate != nil {
		<-gate
	}
	return s.changesStore.TokenChanges(ctx, within)
}

// TestRevocationsRefreshAhead: in the last quarter of the TTL the list is
// read again in the background, and requests do not wait for that read;
// the new list serves them once it is in.
func TestRevocationsRefreshAhead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := clocktest.New(start)
	store := &slowStore{}
	r := NewRevocations(store, 15*time.Minute, 2*time.Second, clock.Now)
	admin := auth.Principal{UserID: uuid.New(), Role: auth.RoleAdmin}
	if _, err := r.Check(ctx, admin); err != nil {
		t.Fatal(err)
	}
	store.set(admin.UserID, Standing{Role: auth.RoleUser, TokenVersion: 1}, nil)
	gate := make(chan struct{})
	store.mu.Lock()
	store.gate = gate
	store.mu.Unlock()

	clock.Set(start.Add(1600 * time.Millisecond)) // past three quarters of the TTL
	done := make(chan error, 1)
	go func() { _, err := r.Check(ctx, admin); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Check while refreshing ahead = %v, want the current list's answer", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Check waited for the background read")
	}
	close(gate)
	deadline := time.Now().Add(5 * time.Second)
	for store.reads.Load() < 2 || r.loadingNow() {
		if time.Now().After(deadline) {
			t.Fatal("the background read did not happen")
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := r.Check(ctx, admin); !apperr.Is(err, apperr.Unauthorized) {
		t.Errorf("after the background read, Check(old version) = %v, want unauthorized", err)
	}
}

func (r *Revocations) loadingNow() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.loading != nil
}

// snapshotStore takes its answer when a read begins and, for the first
// read, holds it until gate closes: a read in flight while the account
// changes.
type snapshotStore struct {
	changesStore
	gate  chan struct{}
	first atomic.Bool
}

func (s *snapshotStore) TokenChanges(ctx context.Context, within time.Duration) (map[uuid.UUID]Standing, error) {
	out, err := s.changesStore.TokenChanges(ctx, within)
	if s.first.CompareAndSwap(false, true) {
		<-s.gate
	}
	return out, err
}

// TestRevocationsNeverServeAStaleRead: a read that began before a change
// and ends after it does not answer a request that came more than the TTL
// after the read began; that request reads again and sees the change.
func TestRevocationsNeverServeAStaleRead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := clocktest.New(start)
	store := &snapshotStore{gate: make(chan struct{})}
	r := NewRevocations(store, 15*time.Minute, 2*time.Second, clock.Now)
	admin := auth.Principal{UserID: uuid.New(), Role: auth.RoleAdmin}

	first := make(chan error, 1)
	go func() { _, err := r.Check(ctx, admin); first <- err }()
	for store.reads.Load() < 1 {
		time.Sleep(time.Millisecond)
	}
	// The read in flight saw no change; the admin is demoted now, and the
	// next request comes later than the TTL after that read began.
	store.set(admin.UserID, Standing{Role: auth.RoleUser, TokenVersion: 1}, nil)
	clock.Set(start.Add(3 * time.Second))
	second := make(chan error, 1)
	go func() { _, err := r.Check(ctx, admin); second <- err }()
	time.Sleep(20 * time.Millisecond) // let it wait on the read in flight
	close(store.gate)

	if err := <-first; err != nil {
		t.Fatalf("the request that started the read = %v, want its (old) answer", err)
	}
	if err := <-second; !apperr.Is(err, apperr.Unauthorized) {
		t.Errorf("a request after the change = %v, want unauthorized (a read that began too early must not answer it)", err)
	}
}
