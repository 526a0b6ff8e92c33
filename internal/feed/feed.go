// Package feed carries live change notices from where a change happens to
// the clients that follow it. A writer that changes an event (a booking
// batch that commits, an admission run of its waiting room) tells a
// Notifier, which publishes a notice on the Bus every process shares
// (Redis pub/sub), coalesced per event and without making the writer wait.
// In each process a Hub listens to the events its clients follow — one bus
// subscription per event, taken with the first follower and dropped after
// the last — and fans every notice out to them: rate-limited per event,
// latest state wins, so that one notice costs one database read per process
// however many clients follow the event, and a slow client never holds
// anyone up or makes memory grow.
//
// A notice says only what kind of thing changed. What followers are sent is
// read afresh by the Hub (availability: one load per process, shared by
// every follower) or by each follower itself (its own waiting-room ticket,
// an O(1) read), so a lost notice is made good by the next one, and the
// Hub re-reads availability now and then anyway.
package feed

import (
	"context"

	"github.com/google/uuid"
)

// Kind is what changed about an event; kinds combine as bits.
type Kind uint8

const (
	// Availability: seats were held, booked or released.
	Availability Kind = 1 << iota
	// Queue: the event's waiting-room line moved (someone was admitted),
	// so everyone's position and estimate may have changed.
	Queue

	allKinds = Availability | Queue
)

// kinds lists the kinds one at a time.
var kinds = [...]Kind{Availability, Queue}

// index is k's place in per-kind arrays (k must be a single kind).
func (k Kind) index() int {
	if k == Queue {
		return 1
	}
	return 0
}

// String names the kinds for logs.
func (k Kind) String() string {
	switch k {
	case Availability:
		return "availability"
	case Queue:
		return "queue"
	case allKinds:
		return "availability+queue"
	}
	return "none"
}

// Notice says that things of Kinds changed about an event.
type Notice struct {
	EventID uuid.UUID
	Kinds   Kind
}

// Publisher sends notices to every process (Redis PUBLISH).
type Publisher interface {
	Publish(ctx context.Context, notices []Notice) error
}

// Bus is the process's listening end: it subscribes to events' notices and
// delivers them, with the confirmation of each subscription change, in
// order on Messages. Subscribe and Unsubscribe are called by one goroutine
// at a time.
type Bus interface {
	Subscribe(ctx context.Context, eventID uuid.UUID) error
	Unsubscribe(ctx context.Context, eventID uuid.UUID) error
	// Messages delivers notices and confirmations; it is closed by Close.
	Messages() <-chan Message
	Close() error
}

// Confirmation is the bus's answer to a subscription change.
type Confirmation uint8

// Confirmations. Subscribed also follows a reconnection, when the bus
// subscribes again to every event it listened to: notices sent while it
// was away are lost.
const (
	NotConfirmation Confirmation = iota
	Subscribed
	Unsubscribed
)

// Message is a notice, or the confirmation of a subscription change of an
// event.
type Message struct {
	Notice
	Confirms Confirmation
}
