package waitroom_test

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"

	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/redis"
	"github.com/evently/evently/internal/waitroom"
)

// passSecret is the secret the simulated replicas share.
var passSecret = []byte("test-secret-test-secret-test-secret-0123")

// replicaOf returns another process of s's room: the same Redis database
// through a client of its own (so that it can lose Redis alone), the same
// catalogue, scheduler and clock.
func replicaOf(t *testing.T, s *sim, refresh time.Duration) (*waitroom.Service, *goredis.Client) {
	t.Helper()
	o := s.rdb.Options()
	rdb := goredis.NewClient(&goredis.Options{Addr: o.Addr, Username: o.Username, Password: o.Password, DB: o.DB})
	t.Cleanup(func() { _ = rdb.Close() })
	return waitroom.NewService(s.cat, redis.NewWaitingRooms(rdb), s.sched, waitroom.Options{
		Now: s.clock.Now, RoomCacheTTL: time.Nanosecond, PassSecret: passSecret, RevocationRefresh: refresh}), rdb
}

// admit joins n users and runs the room until they are all admitted,
// returning their admitted tickets.
func (s *sim) admitAll(t *testing.T, n int) ([]uuid.UUID, []waitroom.Ticket) {
	t.Helper()
	users := s.join(n)
	s.runUntil(s.clock.Now().Add(time.Duration(n)*time.Second), nil)
	tickets := make([]waitroom.Ticket, n)
	for i, u := range users {
		tickets[i] = s.status(u)
		if tickets[i].Status != waitroom.StatusAdmitted || tickets[i].Pass == "" {
			t.Fatalf("user %d: %+v, want admitted with a pass", i, tickets[i])
		}
	}
	return users, tickets
}

// wantRefused checks that err refuses a pass for reason.
func wantRefused(t *testing.T, what string, err error, reason string) {
	t.Helper()
	var ae *apperr.Error
	if !errors.As(err, &ae) || ae.Code != apperr.WaitingRoomRequired || ae.Extra["admission_pass"] != reason {
		t.Errorf("%s: %v (%+v), want waiting_room_required with admission_pass %q", what, err, ae, reason)
	}
}

// TestAdmissionPass: an admitted user's ticket carries a pass, the same on
// every poll; it admits its holder to its event until the admission
// lapses, and nothing else: forged, altered, expired, other-event and
// other-user passes are refused, each for its reason, and a pass that is
// sent is the only thing checked (no falling back to Redis).
func TestAdmissionPass(t *testing.T) {
	t.Parallel()
	s := newSim(t, 600, 0, time.Minute)
	s.svc = waitroom.NewService(s.cat, s.queue, s.sched, waitroom.Options{Now: s.clock.Now, RoomCacheTTL: time.Nanosecond, PassSecret: passSecret})
	users, tickets := s.admitAll(t, 2)
	alice, bob := users[0], users[1]
	pass := tickets[0].Pass
	if again := s.status(alice); again.Pass != pass {
		t.Errorf("second poll's pass %q, want the same %q", again.Pass, pass)
	}
	ctx := s.ctx
	if err := s.svc.CheckAdmission(ctx, s.event, alice, pass); err != nil {
		t.Fatalf("CheckAdmission(valid pass) = %v", err)
	}
	p, err := waitroom.NewPasses(passSecret).Verify(pass)
	if err != nil || p.EventID != s.event || p.UserID != alice || !p.Expires.Equal(*tickets[0].AdmittedUntil) || p.Admission != 1 {
		t.Errorf("the pass says %+v, %v; want alice's admission 1 to this event until %v", p, err, tickets[0].AdmittedUntil)
	}

	// Forged: garbage, an altered payload (bob's id in alice's pass), a
	// pass signed with another key, a different version.
	body, sig, _ := strings.Cut(pass, ".")
	raw, _ := base64.RawURLEncoding.DecodeString(body)
	altered := append([]byte(nil), raw...)
	copy(altered[17:33], bob[:])
	newVersion := append([]byte(nil), raw...)
	newVersion[0] = 2
	other := waitroom.NewPasses([]byte("another-secret-another-secret-0123456789"))
	for name, forged := range map[string]string{
		"empty signature": body + ".",
		"garbage":         "not-a-pass",
		"altered":         base64.RawURLEncoding.EncodeToString(altered) + "." + sig,
		"other version":   base64.RawURLEncoding.EncodeToString(newVersion) + "." + sig,
		"other key":       other.Sign(waitroom.Pass{EventID: s.event, UserID: bob, Admission: 2, Expires: s.clock.Now().Add(time.Hour)}),
		"truncated":       pass[:len(pass)-1],
		"padded":          pass + "=",
	} {
		wantRefused(t, name, s.svc.CheckAdmission(ctx, s.event, bob, forged), waitroom.PassInvalid)
	}
	// Bob is admitted in Redis, but the pass he sends is what counts.
	wantRefused(t, "someone else's pass", s.svc.CheckAdmission(ctx, s.event, bob, pass), waitroom.PassOtherUser)
	if err := s.svc.CheckAdmission(ctx, s.event, bob, ""); err != nil {
		t.Errorf("bob without a pass = %v, want admitted (Redis)", err)
	}
	wantRefused(t, "another event's pass", s.svc.CheckAdmission(ctx, uuid.New(), alice, pass), waitroom.PassOtherEvent)

	// Expired, to the millisecond.
	s.clock.Set(tickets[0].AdmittedUntil.Add(-time.Millisecond))
	if err := s.svc.CheckAdmission(ctx, s.event, alice, pass); err != nil {
		t.Errorf("a millisecond before expiry = %v", err)
	}
	s.clock.Set(*tickets[0].AdmittedUntil)
	wantRefused(t, "expired", s.svc.CheckAdmission(ctx, s.event, alice, pass), waitroom.PassExpired)
	if tk := s.status(alice); tk.Status != waitroom.StatusExpired || tk.Pass != "" {
		t.Errorf("expired ticket %+v, want no pass", tk)
	}
}

// TestLeavingRevokesThePass: leaving revokes the pass at once on the
// process that served the leave and within the revocation refresh (2 s)
// on the others; a process that loses Redis keeps honouring what it read,
// and still accepts the passes nobody revoked.
func TestLeavingRevokesThePass(t *testing.T) {
	t.Parallel()
	s := newSim(t, 600, 0, time.Hour)
	a, _ := replicaOf(t, s, 2*time.Second)
	b, bRedis := replicaOf(t, s, 2*time.Second)
	s.svc = a
	users, tickets := s.admitAll(t, 3)
	ctx := s.ctx
	start := s.clock.Now()
	for i, u := range users {
		// B reads the event's (empty) list of revocations.
		if err := b.CheckAdmission(ctx, s.event, u, tickets[i].Pass); err != nil {
			t.Fatalf("B: CheckAdmission(user %d) = %v", i, err)
		}
	}
	s.clock.Set(start.Add(500 * time.Millisecond))
	if err := a.Leave(ctx, s.event, users[0]); err != nil {
		t.Fatal(err)
	}
	wantRefused(t, "the leaver's pass, on the process that served the leave", a.CheckAdmission(ctx, s.event, users[0], tickets[0].Pass), waitroom.PassRevoked)
	// B's list is younger than 2 s: the bound, not a promise of sooner.
	s.clock.Set(start.Add(1999 * time.Millisecond))
	if err := b.CheckAdmission(ctx, s.event, users[0], tickets[0].Pass); err != nil {
		t.Errorf("B, 1.5 s after the leave, its list 1.999 s old = %v; want still accepted (the documented bound)", err)
	}
	s.clock.Set(start.Add(2500 * time.Millisecond)) // 2 s after the leave
	wantRefused(t, "the leaver's pass, on another process 2 s later", b.CheckAdmission(ctx, s.event, users[0], tickets[0].Pass), waitroom.PassRevoked)
	if err := b.CheckAdmission(ctx, s.event, users[1], tickets[1].Pass); err != nil {
		t.Errorf("B: another user's pass = %v", err)
	}

	// B loses Redis: it keeps the revocation it read, and passes go on.
	if err := bRedis.Close(); err != nil {
		t.Fatal(err)
	}
	s.clock.Set(start.Add(10 * time.Second))
	wantRefused(t, "a revoked pass, Redis lost", b.CheckAdmission(ctx, s.event, users[0], tickets[0].Pass), waitroom.PassRevoked)
	if err := b.CheckAdmission(ctx, s.event, users[1], tickets[1].Pass); err != nil {
		t.Errorf("a valid pass, Redis lost = %v, want accepted", err)
	}
	if err := b.CheckAdmission(ctx, s.event, users[1], ""); !apperr.Is(err, apperr.Unavailable) {
		t.Errorf("no pass, Redis lost = %v, want unavailable", err)
	}
	// A process that never read the event's list (started during the
	// outage) has nothing to honour: it accepts, as documented.
	c, cRedis := replicaOf(t, s, 2*time.Second)
	_ = cRedis.Close()
	if err := c.CheckAdmission(ctx, s.event, users[2], tickets[2].Pass); err != nil {
		t.Errorf("a fresh process without Redis = %v, want the pass accepted", err)
	}

	// Leaving twice is harmless; a leave while waiting revokes nothing.
	if err := a.Leave(ctx, s.event, users[0]); err != nil {
		t.Fatal(err)
	}
	waiting := s.join(1)[0]
	if tk := s.status(waiting); tk.Status != waitroom.StatusWaiting {
		t.Fatalf("newcomer %+v, want waiting", tk)
	}
	if err := a.Leave(ctx, s.event, waiting); err != nil {
		t.Fatal(err)
	}
	revoked, err := s.queue.Revoked(ctx, s.event, s.clock.Now())
	if err != nil || len(revoked) != 1 || !revoked[1].Equal(*tickets[0].AdmittedUntil) {
		t.Errorf("Revoked = %v, %v; want admission 1 until %v", revoked, err, tickets[0].AdmittedUntil)
	}
	// Rejoining queues anew; the old pass stays revoked.
	if tk, err := a.Join(ctx, s.event, users[0]); err != nil || tk.Status != waitroom.StatusWaiting {
		t.Fatalf("rejoin = %+v, %v", tk, err)
	}
	wantRefused(t, "the old pass after rejoining", a.CheckAdmission(ctx, s.event, users[0], tickets[0].Pass), waitroom.PassRevoked)
}

// TestRevocationReadIsBounded: a Redis that hangs costs a pass check at
// most the revocation timeout, once per refresh interval.
func TestRevocationReadIsBounded(t *testing.T) {
	t.Parallel()
	s := newSim(t, 600, 0, time.Hour)
	s.svc = waitroom.NewService(s.cat, s.queue, s.sched, waitroom.Options{Now: s.clock.Now, RoomCacheTTL: time.Nanosecond,
		PassSecret: passSecret, RevocationTimeout: 50 * time.Millisecond})
	users, tickets := s.admitAll(t, 1)
	hung := waitroom.NewService(s.cat, hangingQueue{s.queue}, s.sched, waitroom.Options{Now: s.clock.Now, PassSecret: passSecret,
		RevocationTimeout: 50 * time.Millisecond})
	started := time.Now()
	if err := hung.CheckAdmission(s.ctx, s.event, users[0], tickets[0].Pass); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(started); took < 50*time.Millisecond || took > time.Second {
		t.Errorf("first check with Redis hanging took %v, want the 50ms timeout", took)
	}
	started = time.Now()
	for range 100 {
		if err := hung.CheckAdmission(s.ctx, s.event, users[0], tickets[0].Pass); err != nil {
			t.Fatal(err)
		}
	}
	if took := time.Since(started); took > 50*time.Millisecond {
		t.Errorf("100 more checks within the refresh interval took %v, want no Redis call", took)
	}
}

// hangingQueue is a Queue whose revocation reads hang until cancelled.
type hangingQueue struct{ waitroom.Queue }

func (hangingQueue) Revoked(ctx context.Context, _ uuid.UUID, _ time.Time) (map[int64]time.Time, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}
