package feed

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
)

// maxPending bounds the events a Notifier remembers between two sends;
// notices of further events are dropped (their followers catch up at the
// Hub's next refresh).
const maxPending = 10_000

// publishTimeout bounds one send.
const publishTimeout = 2 * time.Second

// Notifier publishes notices for the writers of changes without making them
// wait: Changed only records the notice, and one goroutine sends what has
// accumulated — every event changed since the last send, once — in one
// round trip. A hot event whose batches commit back to back is announced
// once per round trip, not once per batch, and a slow or absent bus costs
// the writers nothing.
type Notifier struct {
	pub    Publisher
	logger *slog.Logger

	mu      sync.Mutex
	pending map[uuid.UUID]Kind
	dropped int

	wake    chan struct{}
	quit    chan struct{}
	stopped chan struct{}
	once    sync.Once
	started bool
}

// NewNotifier returns a Notifier sending through pub once started.
func NewNotifier(pub Publisher, logger *slog.Logger) *Notifier {
	return &Notifier{
		pub:     pub,
		logger:  logger,
		pending: map[uuid.UUID]Kind{},
		wake:    make(chan struct{}, 1),
		quit:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
}

// Changed records that things of kinds changed about an event. It never
// blocks.
func (n *Notifier) Changed(eventID uuid.UUID, kinds Kind) {
	n.mu.Lock()
	if _, ok := n.pending[eventID]; !ok && len(n.pending) >= maxPending {
		n.dropped++
		n.mu.Unlock()
		return
	}
	n.pending[eventID] |= kinds
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// Start sends notices until Shutdown.
func (n *Notifier) Start(context.Context) error {
	n.mu.Lock()
	n.started = true
	n.mu.Unlock()
	go n.run()
	return nil
}

// Shutdown sends what is pending and stops, within ctx.
func (n *Notifier) Shutdown(ctx context.Context) error {
	n.mu.Lock()
	started := n.started
	n.mu.Unlock()
	if !started {
		return nil
	}
	n.once.Do(func() { close(n.quit) })
	select {
	case <-n.stopped:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (n *Notifier) run() {
	defer close(n.stopped)
	for {
		select {
		case <-n.wake:
			n.send()
		case <-n.quit:
			n.send()
			return
		}
	}
}

// send publishes every pending notice in one call.
func (n *Notifier) send() {
	n.mu.Lock()
	if len(n.pending) == 0 {
		n.mu.Unlock()
		return
	}
	notices := make([]Notice, 0, len(n.pending))
	for id, k := range n.pending {
		notices = append(notices, Notice{EventID: id, Kinds: k})
	}
	clear(n.pending)
	dropped := n.dropped
	n.dropped = 0
	n.mu.Unlock()
	if dropped > 0 {
		n.logger.Warn("live notices dropped: too many events changed at once", "dropped", dropped)
	}
	ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
	defer cancel()
	if err := n.pub.Publish(ctx, notices); err != nil {
		n.logger.Warn("live notices not published: streams catch up at their next refresh",
			"events", len(notices), "err", err)
	}
}
