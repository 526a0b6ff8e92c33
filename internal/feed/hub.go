package feed

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// ErrClosed is Subscribe's answer once the Hub is shutting down.
var ErrClosed = errors.New("feed: hub closed")

// LoadFunc reads what availability followers of an event are sent, encoded
// once for all of them.
type LoadFunc func(ctx context.Context, eventID uuid.UUID) ([]byte, error)

// Options tune a Hub; zero values take the defaults.
type Options struct {
	// Load reads an event's availability (required to follow
	// Availability).
	Load LoadFunc
	// AvailabilityEvery is the least time between two availability
	// updates of one event (250ms): notices arriving faster are
	// coalesced, the latest state wins.
	AvailabilityEvery time.Duration
	// QueueEvery is the least time between two "queue moved" signals of
	// one event (1s).
	QueueEvery time.Duration
	// Refresh is how often availability is re-read while anyone follows
	// it, notice or not (5s): holds lapse without a write, and a notice
	// can be lost while the bus reconnects.
	Refresh time.Duration
	// LoadTimeout bounds one load (5s).
	LoadTimeout time.Duration
	Logger      *slog.Logger
}

// Hub fans the bus's notices out to the process's followers of each event.
// It holds one bus subscription per followed event. Each event has one
// goroutine that rate-limits its updates and, for availability, loads the
// new state once and shares it: a follower holds one pending signal at
// most (a channel of capacity 1) and reads the latest state when it gets
// to it, so its memory is constant however slow it is.
type Hub struct {
	bus  Bus
	opts Options

	mu     sync.Mutex
	topics map[uuid.UUID]*topic
	// dirty lists the events whose bus subscription may need to change.
	dirty  map[uuid.UUID]struct{}
	closed bool

	poke chan struct{}
	// done is closed by Close: every subscription ends.
	done chan struct{}
	// quit stops the run loop; stopped is closed when it has.
	quit      chan struct{}
	stopped   chan struct{}
	closeOnce sync.Once
	quitOnce  sync.Once
	started   atomic.Bool

	// listening is owned by the run loop: the bus's state per event.
	listening map[uuid.UUID]*busState

	// loadCtx is cancelled by Close, ending loads in flight.
	loadCtx    context.Context
	cancelLoad context.CancelFunc
}

// NewHub returns a Hub on bus; Start runs it.
func NewHub(bus Bus, o Options) *Hub {
	if o.AvailabilityEvery <= 0 {
		o.AvailabilityEvery = 250 * time.Millisecond
	}
	if o.QueueEvery <= 0 {
		o.QueueEvery = time.Second
	}
	if o.Refresh <= 0 {
		o.Refresh = 5 * time.Second
	}
	if o.LoadTimeout <= 0 {
		o.LoadTimeout = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Hub{
		bus:        bus,
		opts:       o,
		topics:     map[uuid.UUID]*topic{},
		dirty:      map[uuid.UUID]struct{}{},
		poke:       make(chan struct{}, 1),
		done:       make(chan struct{}),
		quit:       make(chan struct{}),
		stopped:    make(chan struct{}),
		listening:  map[uuid.UUID]*busState{},
		loadCtx:    ctx,
		cancelLoad: cancel,
	}
}

// Start runs the Hub until Shutdown.
func (h *Hub) Start(context.Context) error {
	h.started.Store(true)
	go h.run()
	return nil
}

// Close ends every subscription (the streams following them finish) and
// refuses new ones. It returns at once; call it when the server starts
// shutting down, so that open streams do not hold the shutdown up.
func (h *Hub) Close() {
	h.closeOnce.Do(func() {
		h.mu.Lock()
		h.closed = true
		h.mu.Unlock()
		close(h.done)
		h.cancelLoad()
	})
}

// Shutdown closes the Hub, stops listening and closes the bus.
func (h *Hub) Shutdown(ctx context.Context) error {
	h.Close()
	if !h.started.Load() {
		return h.bus.Close()
	}
	h.quitOnce.Do(func() { close(h.quit) })
	select {
	case <-h.stopped:
	case <-ctx.Done():
		return ctx.Err()
	}
	return h.bus.Close()
}

// Topics returns how many events the process follows.
func (h *Hub) Topics() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.topics)
}

// Followers returns how many subscriptions follow the event.
func (h *Hub) Followers(eventID uuid.UUID) int {
	h.mu.Lock()
	t := h.topics[eventID]
	h.mu.Unlock()
	if t == nil {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.subs[0]) + len(t.subs[1])
}

// Subscribe follows changes of kind (one kind) of an event. The
// subscription signals on Changes when there is something new: for
// Availability, once the event's state is loaded and whenever it changes
// (read it with Data); for Queue, when the line moved. Wait for Ready
// before reading the state the stream starts from, so that no change
// falls between that read and the first notice. Close it when done.
func (h *Hub) Subscribe(eventID uuid.UUID, kind Kind) (*Subscription, error) {
	if kind != Availability && kind != Queue {
		return nil, errors.New("feed: subscribe to one kind")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	t := h.topics[eventID]
	if t == nil {
		t = newTopic(eventID)
		h.topics[eventID] = t
		h.markDirty(eventID)
		go t.pump(h)
	}
	s := &Subscription{hub: h, topic: t, kind: kind, c: make(chan struct{}, 1)}
	t.mu.Lock()
	t.subs[kind.index()][s] = struct{}{}
	load := kind == Availability && t.data.Load() == nil
	if kind == Availability && !load {
		s.signal()
	}
	t.mu.Unlock()
	if load {
		t.notify(Availability)
	}
	return s, nil
}

// markDirty asks the run loop to reconcile the event's bus subscription
// (h.mu held).
func (h *Hub) markDirty(eventID uuid.UUID) {
	h.dirty[eventID] = struct{}{}
	select {
	case h.poke <- struct{}{}:
	default:
	}
}

// leave removes s from its topic, and the topic when it was the last.
func (h *Hub) leave(s *Subscription) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t := s.topic
	t.mu.Lock()
	delete(t.subs[s.kind.index()], s)
	empty := len(t.subs[0]) == 0 && len(t.subs[1]) == 0
	if s.kind == Availability && len(t.subs[0]) == 0 {
		// Nobody follows availability: a later follower must not be sent
		// a state that was left to go stale.
		t.data.Store(nil)
	}
	t.mu.Unlock()
	if empty && h.topics[t.id] == t {
		delete(h.topics, t.id)
		close(t.stop)
		h.markDirty(t.id)
	}
}

// run is the only caller of the bus's Subscribe and Unsubscribe, so that
// an event's subscription changes reach the bus in the order they were
// decided, and the only reader of its messages.
func (h *Hub) run() {
	defer close(h.stopped)
	msgs := h.bus.Messages()
	for {
		select {
		case <-h.poke:
			h.reconcile()
		case m, ok := <-msgs:
			if !ok {
				return
			}
			h.receive(m)
		case <-h.quit:
			return
		}
	}
}

// busTimeout bounds one subscription change.
const busTimeout = 2 * time.Second

// busState is what the bus does for one event: on says whether the
// latest decision was to listen; inflight counts the subscription changes
// sent and not yet confirmed.
type busState struct {
	on       bool
	inflight int
}

// reconcile makes the bus listen to exactly the events that have a topic.
func (h *Hub) reconcile() {
	h.mu.Lock()
	dirty := h.dirty
	h.dirty = map[uuid.UUID]struct{}{}
	h.mu.Unlock()
	for id := range dirty {
		h.mu.Lock()
		t := h.topics[id]
		h.mu.Unlock()
		st := h.listening[id]
		if st == nil {
			st = &busState{}
			h.listening[id] = st
		}
		switch {
		case t != nil && !st.on:
			st.on = true
			st.inflight++
			h.busCall("subscribe", id, h.bus.Subscribe)
		case t != nil && st.inflight == 0:
			// A new topic of an event the bus still listens to.
			t.setReady()
		case t == nil && st.on:
			st.on = false
			st.inflight++
			h.busCall("unsubscribe", id, h.bus.Unsubscribe)
		}
		if !st.on && st.inflight == 0 {
			delete(h.listening, id)
		}
	}
}

func (h *Hub) busCall(what string, id uuid.UUID, call func(context.Context, uuid.UUID) error) {
	ctx, cancel := context.WithTimeout(context.Background(), busTimeout)
	defer cancel()
	if err := call(ctx, id); err != nil {
		// The bus keeps the intent and applies it when it reconnects.
		h.opts.Logger.Warn("live feed: "+what+" failed", "event_id", id, "err", err)
	}
}

// receive handles one bus message.
func (h *Hub) receive(m Message) {
	id := m.EventID
	h.mu.Lock()
	t := h.topics[id]
	h.mu.Unlock()
	if m.Confirms == NotConfirmation {
		if t != nil {
			t.notify(m.Kinds)
		}
		return
	}
	st := h.listening[id]
	if st == nil {
		return
	}
	if st.inflight > 0 {
		st.inflight--
		if st.inflight > 0 {
			return
		}
		if !st.on {
			delete(h.listening, id)
		} else if t != nil {
			// Every change sent is in effect: the bus listens.
			t.setReady()
		}
		return
	}
	if m.Confirms == Subscribed && st.on && t != nil {
		// Subscribed again after a reconnection: what was sent meanwhile
		// is lost, so everything is read afresh.
		t.notify(allKinds)
	}
}

// topic is one followed event.
type topic struct {
	id uuid.UUID

	mu sync.Mutex
	// subs are the subscriptions per kind (index()).
	subs  [2]map[*Subscription]struct{}
	ready chan struct{}
	isSet bool

	// notices are the kinds noticed and not yet handled by pump; wake
	// tells pump there are some.
	notices atomic.Uint32
	wake    chan struct{}
	// stop is closed when the last subscription left.
	stop chan struct{}
	// data is the latest availability, shared by every follower.
	data atomic.Pointer[[]byte]
}

func newTopic(id uuid.UUID) *topic {
	return &topic{
		id:    id,
		subs:  [2]map[*Subscription]struct{}{{}, {}},
		ready: make(chan struct{}),
		wake:  make(chan struct{}, 1),
		stop:  make(chan struct{}),
	}
}

func (t *topic) setReady() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.isSet {
		t.isSet = true
		close(t.ready)
	}
}

// notify records a notice for pump.
func (t *topic) notify(k Kind) {
	for {
		old := t.notices.Load()
		if old|uint32(k) == old || t.notices.CompareAndSwap(old, old|uint32(k)) {
			break
		}
	}
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// pump delivers the topic's updates, each kind at most once per its
// interval: a notice that comes sooner waits for the interval to end, and
// the notices that came meanwhile are delivered as one.
func (t *topic) pump(h *Hub) {
	select {
	case <-t.ready:
	case <-t.stop:
		return
	case <-h.done:
		return
	}
	every := [2]time.Duration{h.opts.AvailabilityEvery, h.opts.QueueEvery}
	var last [2]time.Time
	var pending Kind
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	refresh := time.NewTicker(h.opts.Refresh)
	defer refresh.Stop()
	for {
		pending |= Kind(t.notices.Swap(0))
		now := time.Now()
		wait := time.Duration(-1)
		for _, k := range kinds {
			if pending&k == 0 {
				continue
			}
			i := k.index()
			if d := every[i] - now.Sub(last[i]); d > 0 {
				if wait < 0 || d < wait {
					wait = d
				}
				continue
			}
			pending &^= k
			last[i] = now
			t.deliver(h, k)
		}
		if wait >= 0 {
			timer.Reset(wait)
		}
		select {
		case <-t.stop:
			return
		case <-h.done:
			return
		case <-t.wake:
		case <-timer.C:
		case <-refresh.C:
			pending |= Availability
		}
	}
}

// deliver signals the followers of kind k; for availability it first
// loads the state, and signals only when it changed.
func (t *topic) deliver(h *Hub, k Kind) {
	var data []byte
	if k == Availability {
		t.mu.Lock()
		n := len(t.subs[0])
		t.mu.Unlock()
		if n == 0 || h.opts.Load == nil {
			return
		}
		ctx, cancel := context.WithTimeout(h.loadCtx, h.opts.LoadTimeout)
		var err error
		data, err = h.opts.Load(ctx, t.id)
		cancel()
		if err != nil {
			if h.loadCtx.Err() == nil {
				h.opts.Logger.Warn("live feed: availability not loaded; retrying at the next refresh",
					"event_id", t.id, "err", err)
			}
			return
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	subs := t.subs[k.index()]
	if k == Availability {
		if len(subs) == 0 {
			return // the followers left while it loaded
		}
		if old := t.data.Load(); old != nil && bytes.Equal(*old, data) {
			return
		}
		t.data.Store(&data)
	}
	for s := range subs {
		s.signal()
	}
}

// Subscription is one follower's view of an event.
type Subscription struct {
	hub   *Hub
	topic *topic
	kind  Kind
	c     chan struct{}
	once  sync.Once
}

func (s *Subscription) signal() {
	select {
	case s.c <- struct{}{}:
	default:
	}
}

// Ready is closed once the bus listens to the event: a state read after it
// is followed by a signal for every later change.
func (s *Subscription) Ready() <-chan struct{} { return s.topic.ready }

// Changes signals that something new is there; signals that are not
// taken in time merge into one.
func (s *Subscription) Changes() <-chan struct{} { return s.c }

// Data is the event's latest availability (nil before the first load).
// The slice is shared: do not change it.
func (s *Subscription) Data() []byte {
	if p := s.topic.data.Load(); p != nil {
		return *p
	}
	return nil
}

// Done is closed when the Hub closes: the follower must finish.
func (s *Subscription) Done() <-chan struct{} { return s.hub.done }

// Close ends the subscription.
func (s *Subscription) Close() {
	s.once.Do(func() { s.hub.leave(s) })
}
