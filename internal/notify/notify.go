// Package notify is what Evently tells people and systems about changes:
// the in-app notifications of each user (the inbox) and the signed
// webhooks posted to the endpoints operators register. Both are written by
// the stores in the transaction of the change they report; this package
// reads the inbox, manages the endpoints, and fans each webhook out to
// them and delivers it.
package notify

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/apperr"
)

// Kind is what a notification is about.
type Kind string

// The kinds of notification.
const (
	// KindBookingConfirmed: a booking was confirmed.
	KindBookingConfirmed Kind = "booking_confirmed"
	// KindBookingCancelled: a confirmed booking was cancelled, by its
	// owner, an admin or the event's cancellation.
	KindBookingCancelled Kind = "booking_cancelled"
	// KindHoldExpired: a hold or a waitlist offer lapsed unconfirmed.
	KindHoldExpired Kind = "hold_expired"
	// KindWaitlistOffer: seats were held for the user from the waitlist.
	KindWaitlistOffer Kind = "waitlist_offer"
	// KindEventCancelled: an event the user held or booked seats of was
	// cancelled.
	KindEventCancelled Kind = "event_cancelled"
	// KindSoldOut: the event sold out while the user waited in its
	// waiting room; they can go on to its waitlist in line order. It has
	// no webhook.
	KindSoldOut Kind = "sold_out"
)

// Notification is one message in a user's inbox.
type Notification struct {
	ID     uuid.UUID
	UserID uuid.UUID
	Kind   Kind
	Title  string
	Body   string
	// Data is a JSON object with the ids the notification is about (for
	// instance booking_id and expires_at of a waitlist offer).
	Data      json.RawMessage
	CreatedAt time.Time
	ReadAt    *time.Time
}

// Cursor is the position of a notification in a newest-first list.
type Cursor struct {
	CreatedAt time.Time
	ID        uuid.UUID
}

// ListFilter selects a user's notifications.
type ListFilter struct {
	UserID     uuid.UUID
	UnreadOnly bool
	After      *Cursor
	Limit      int
}

// Store keeps the inbox.
type Store interface {
	// Notifications returns a user's notifications newest first.
	Notifications(ctx context.Context, f ListFilter) ([]Notification, error)
	// MarkRead marks the user's notification read (keeping the first read
	// time); NotFound when it is not theirs.
	MarkRead(ctx context.Context, id, userID uuid.UUID, now time.Time) error
}

// Inbox serves users their notifications.
type Inbox struct {
	store Store
	now   func() time.Time
}

// NewInbox returns the inbox over store; now is its clock.
func NewInbox(store Store, now func() time.Time) *Inbox {
	if now == nil {
		now = time.Now
	}
	return &Inbox{store: store, now: now}
}

// List returns the user's notifications newest first.
func (i *Inbox) List(ctx context.Context, f ListFilter) ([]Notification, error) {
	return i.store.Notifications(ctx, f)
}

// MarkRead marks one of the user's notifications read. Someone else's
// notification does not exist for them.
func (i *Inbox) MarkRead(ctx context.Context, id, userID uuid.UUID) error {
	if err := i.store.MarkRead(ctx, id, userID, i.now()); err != nil {
		if apperr.Is(err, apperr.NotFound) {
			return apperr.New(apperr.NotFound, "No such notification.")
		}
		return err
	}
	return nil
}
