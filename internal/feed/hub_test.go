package feed

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
)

// memBus is a Bus in memory that confirms subscription changes at once
// (unless held) and counts them.
type memBus struct {
	mu      sync.Mutex
	subs    map[uuid.UUID]int
	unsubs  map[uuid.UUID]int
	on      map[uuid.UUID]bool
	hold    bool // do not confirm subscriptions until release
	held    []Message
	msgs    chan Message
	closing sync.Once
}

func newMemBus() *memBus {
	return &memBus{
		subs: map[uuid.UUID]int{}, unsubs: map[uuid.UUID]int{}, on: map[uuid.UUID]bool{},
		msgs: make(chan Message, 1024),
	}
}

func (b *memBus) Subscribe(_ context.Context, id uuid.UUID) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.subs[id]++
	b.on[id] = true
	m := Message{Notice: Notice{EventID: id}, Confirms: Subscribed}
	if b.hold {
		b.held = append(b.held, m)
		return nil
	}
	b.msgs <- m
	return nil
}

func (b *memBus) Unsubscribe(_ context.Context, id uuid.UUID) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.unsubs[id]++
	b.on[id] = false
	b.msgs <- Message{Notice: Notice{EventID: id}, Confirms: Unsubscribed}
	return nil
}

func (b *memBus) release() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.hold = false
	for _, m := range b.held {
		b.msgs <- m
	}
	b.held = nil
}

// Publish delivers notices of the events the bus listens to, as Redis
// would.
func (b *memBus) Publish(_ context.Context, notices []Notice) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, n := range notices {
		if b.on[n.EventID] {
			b.msgs <- Message{Notice: n}
		}
	}
	return nil
}

func (b *memBus) Messages() <-chan Message { return b.msgs }
func (b *memBus) Close() error {
	b.closing.Do(func() { close(b.msgs) })
	return nil
}

func (b *memBus) counts(id uuid.UUID) (subs, unsubs int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.subs[id], b.unsubs[id]
}

// loader is a LoadFunc whose answer the test sets, counting its calls.
type loader struct {
	calls atomic.Int64
	value atomic.Int64
}

func (l *loader) load(_ context.Context, id uuid.UUID) ([]byte, error) {
	l.calls.Add(1)
	return fmt.Appendf(nil, `{"event_id":%q,"v":%d}`, id, l.value.Load()), nil
}

func startHub(t *testing.T, bus Bus, o Options) *Hub {
	t.Helper()
	h := NewHub(bus, o)
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := h.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown() = %v", err)
		}
	})
	return h
}

func waitFor(t *testing.T, what string, c <-chan struct{}, d time.Duration) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(d):
		t.Fatalf("%s: nothing within %v", what, d)
	}
}

func mustSubscribe(t *testing.T, h *Hub, id uuid.UUID, k Kind) *Subscription {
	t.Helper()
	s, err := h.Subscribe(id, k)
	if err != nil {
		t.Fatalf("Subscribe() = %v", err)
	}
	return s
}

// eventually reports whether fn became true within d.
func eventually(d time.Duration, fn func() bool) bool {
	deadline := time.Now().Add(d)
	for !fn() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

// TestHubSubscribesOncePerEvent: however many followers an event has, the
// bus is subscribed once, and unsubscribed once after the last leaves.
func TestHubSubscribesOncePerEvent(t *testing.T) {
	t.Parallel()
	bus := newMemBus()
	var l loader
	h := startHub(t, bus, Options{Load: l.load})
	a, b := uuid.New(), uuid.New()
	var subs []*Subscription
	for i := range 50 {
		k := Availability
		if i%2 == 1 {
			k = Queue
		}
		subs = append(subs, mustSubscribe(t, h, a, k))
	}
	other := mustSubscribe(t, h, b, Queue)
	for _, s := range subs {
		waitFor(t, "ready", s.Ready(), time.Second)
	}
	if n, _ := bus.counts(a); n != 1 {
		t.Errorf("bus subscriptions of a = %d with 50 followers, want 1", n)
	}
	if h.Topics() != 2 || h.Followers(a) != 50 {
		t.Errorf("Topics() = %d, Followers(a) = %d; want 2 and 50", h.Topics(), h.Followers(a))
	}
	for _, s := range subs[:49] {
		s.Close()
	}
	if !eventually(200*time.Millisecond, func() bool { return h.Followers(a) == 1 }) {
		t.Fatalf("Followers(a) = %d after 49 left, want 1", h.Followers(a))
	}
	if _, n := bus.counts(a); n != 0 {
		t.Errorf("unsubscribed from a with a follower left")
	}
	subs[49].Close()
	subs[49].Close() // twice is harmless
	if !eventually(time.Second, func() bool { _, n := bus.counts(a); return n == 1 }) {
		_, n := bus.counts(a)
		t.Errorf("bus unsubscriptions of a = %d after the last left, want 1", n)
	}
	if n, u := bus.counts(b); n != 1 || u != 0 {
		t.Errorf("b: %d subscriptions, %d unsubscriptions; want 1, 0", n, u)
	}
	other.Close()
}

// TestHubReadyWaitsForTheBus: a subscription is not ready until the bus
// confirms it listens, so that a state read after Ready cannot miss a
// notice.
func TestHubReadyWaitsForTheBus(t *testing.T) {
	t.Parallel()
	bus := newMemBus()
	bus.hold = true
	h := startHub(t, bus, Options{})
	s := mustSubscribe(t, h, uuid.New(), Queue)
	defer s.Close()
	select {
	case <-s.Ready():
		t.Fatal("ready before the bus confirmed the subscription")
	case <-time.After(100 * time.Millisecond):
	}
	bus.release()
	waitFor(t, "ready after the confirmation", s.Ready(), time.Second)
}

// TestHubCoalescesAvailability: a burst of notices costs a load per
// interval, not one per notice; every follower ends on the latest state,
// and a follower that reads nothing holds one pending signal at most.
func TestHubCoalescesAvailability(t *testing.T) {
	t.Parallel()
	bus := newMemBus()
	var l loader
	every := 50 * time.Millisecond
	h := startHub(t, bus, Options{Load: l.load, AvailabilityEvery: every, Refresh: time.Hour})
	id := uuid.New()
	reader := mustSubscribe(t, h, id, Availability)
	defer reader.Close()
	idle := mustSubscribe(t, h, id, Availability) // never reads
	defer idle.Close()
	waitFor(t, "ready", reader.Ready(), time.Second)
	waitFor(t, "initial state", reader.Changes(), time.Second)
	if got := string(reader.Data()); got != fmt.Sprintf(`{"event_id":%q,"v":0}`, id) {
		t.Fatalf("initial Data() = %s", got)
	}
	start := time.Now()
	loadsBefore := l.calls.Load()
	for i := 1; i <= 200; i++ {
		l.value.Store(int64(i))
		_ = bus.Publish(context.Background(), []Notice{{EventID: id, Kinds: Availability}})
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	want := fmt.Sprintf(`{"event_id":%q,"v":200}`, id)
	if !eventually(time.Second, func() bool { return string(reader.Data()) == want }) {
		t.Fatalf("Data() = %s after the burst, want %s", reader.Data(), want)
	}
	loads := l.calls.Load() - loadsBefore
	if max := int64(elapsed/every) + 2; loads > max {
		t.Errorf("%d loads for 200 notices in %v, want at most %d (one per %v)", loads, elapsed, max, every)
	}
	if n := len(idle.Changes()); n != 1 {
		t.Errorf("an idle follower holds %d pending signals, want 1", n)
	}
}

// TestHubSkipsUnchangedState: a notice whose load finds the same state
// signals nobody.
func TestHubSkipsUnchangedState(t *testing.T) {
	t.Parallel()
	bus := newMemBus()
	var l loader
	h := startHub(t, bus, Options{Load: l.load, AvailabilityEvery: time.Millisecond, Refresh: time.Hour})
	id := uuid.New()
	s := mustSubscribe(t, h, id, Availability)
	defer s.Close()
	waitFor(t, "initial state", s.Changes(), time.Second)
	calls := l.calls.Load()
	_ = bus.Publish(context.Background(), []Notice{{EventID: id, Kinds: Availability}})
	if !eventually(time.Second, func() bool { return l.calls.Load() > calls }) {
		t.Fatal("no load after a notice")
	}
	select {
	case <-s.Changes():
		t.Fatal("signalled for an unchanged state")
	case <-time.After(50 * time.Millisecond):
	}
}

// TestHubQueueTicksAreRateLimited: "queue moved" notices reach followers
// at most once per interval.
func TestHubQueueTicksAreRateLimited(t *testing.T) {
	t.Parallel()
	bus := newMemBus()
	every := 100 * time.Millisecond
	h := startHub(t, bus, Options{QueueEvery: every})
	id := uuid.New()
	s := mustSubscribe(t, h, id, Queue)
	defer s.Close()
	waitFor(t, "ready", s.Ready(), time.Second)
	ticks := 0
	deadline := time.After(550 * time.Millisecond)
	go func() {
		for range 100 {
			_ = bus.Publish(context.Background(), []Notice{{EventID: id, Kinds: Queue}})
			time.Sleep(5 * time.Millisecond)
		}
	}()
loop:
	for {
		select {
		case <-s.Changes():
			ticks++
		case <-deadline:
			break loop
		}
	}
	if ticks < 2 || ticks > 7 {
		t.Errorf("%d ticks in 550 ms of notices every 5 ms, want 2 to 7 (one per %v)", ticks, every)
	}
}

// TestHubReloadsAfterReconnection: a subscription confirmed again (the
// bus reconnected, notices may be lost) makes the Hub read afresh.
func TestHubReloadsAfterReconnection(t *testing.T) {
	t.Parallel()
	bus := newMemBus()
	var l loader
	h := startHub(t, bus, Options{Load: l.load, AvailabilityEvery: time.Millisecond, Refresh: time.Hour})
	id := uuid.New()
	s := mustSubscribe(t, h, id, Availability)
	defer s.Close()
	q := mustSubscribe(t, h, id, Queue)
	defer q.Close()
	waitFor(t, "initial state", s.Changes(), time.Second)
	l.value.Store(7) // changed while the bus was away: no notice
	bus.msgs <- Message{Notice: Notice{EventID: id}, Confirms: Subscribed}
	waitFor(t, "availability after reconnection", s.Changes(), time.Second)
	waitFor(t, "queue tick after reconnection", q.Changes(), time.Second)
	if want := fmt.Sprintf(`{"event_id":%q,"v":7}`, id); string(s.Data()) != want {
		t.Errorf("Data() = %s, want %s", s.Data(), want)
	}
}

// TestHubRefreshesWithoutNotices: availability is re-read every Refresh
// even when no notice comes (a hold lapses without a write).
func TestHubRefreshesWithoutNotices(t *testing.T) {
	t.Parallel()
	bus := newMemBus()
	var l loader
	h := startHub(t, bus, Options{Load: l.load, AvailabilityEvery: time.Millisecond, Refresh: 50 * time.Millisecond})
	s := mustSubscribe(t, h, uuid.New(), Availability)
	defer s.Close()
	waitFor(t, "initial state", s.Changes(), time.Second)
	l.value.Store(1)
	waitFor(t, "refreshed state", s.Changes(), time.Second)
}

// TestHubCloseEndsSubscriptions: Close ends every subscription and refuses
// new ones.
func TestHubCloseEndsSubscriptions(t *testing.T) {
	t.Parallel()
	h := startHub(t, newMemBus(), Options{})
	s := mustSubscribe(t, h, uuid.New(), Queue)
	h.Close()
	waitFor(t, "Done after Close", s.Done(), time.Second)
	if _, err := h.Subscribe(uuid.New(), Queue); err != ErrClosed {
		t.Errorf("Subscribe() after Close = %v, want ErrClosed", err)
	}
	s.Close()
}

// blockingPublisher counts notices and blocks until released.
type blockingPublisher struct {
	mu      sync.Mutex
	calls   [][]Notice
	release chan struct{}
}

func (p *blockingPublisher) Publish(_ context.Context, n []Notice) error {
	p.mu.Lock()
	p.calls = append(p.calls, n)
	p.mu.Unlock()
	<-p.release
	return nil
}

// TestNotifierCoalescesWhileSending: notices that arrive while a send is
// under way are merged per event into the next send; Changed never waits.
func TestNotifierCoalescesWhileSending(t *testing.T) {
	t.Parallel()
	pub := &blockingPublisher{release: make(chan struct{})}
	n := NewNotifier(pub, slogDiscard())
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	a, b := uuid.New(), uuid.New()
	n.Changed(a, Availability)
	if !eventually(time.Second, func() bool { pub.mu.Lock(); defer pub.mu.Unlock(); return len(pub.calls) == 1 }) {
		t.Fatal("first notice not sent")
	}
	start := time.Now()
	for range 1000 {
		n.Changed(a, Availability)
		n.Changed(b, Queue)
	}
	n.Changed(b, Availability)
	if took := time.Since(start); took > 100*time.Millisecond {
		t.Errorf("2,001 Changed calls took %v while the publisher was blocked", took)
	}
	close(pub.release)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	pub.mu.Lock()
	defer pub.mu.Unlock()
	if len(pub.calls) != 2 {
		t.Fatalf("%d sends, want 2 (the first, then everything that came meanwhile)", len(pub.calls))
	}
	got := map[uuid.UUID]Kind{}
	for _, nt := range pub.calls[1] {
		got[nt.EventID] = nt.Kinds
	}
	if len(pub.calls[1]) != 2 || got[a] != Availability || got[b] != Queue|Availability {
		t.Errorf("second send = %v, want a: availability, b: availability+queue", pub.calls[1])
	}
}

func slogDiscard() *slog.Logger { return slog.New(slog.DiscardHandler) }
