package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/apperr"
)

// The webhook types: every booking state change, every waitlist offer and
// every event cancellation. Each notification kind has its webhook
// (booking_confirmed → booking.confirmed, booking_cancelled →
// booking.cancelled, hold_expired → booking.expired, waitlist_offer →
// waitlist.offered, event_cancelled → event.cancelled, once per event).
const (
	TypeBookingHeld      = "booking.held"
	TypeBookingConfirmed = "booking.confirmed"
	TypeBookingCancelled = "booking.cancelled"
	TypeBookingExpired   = "booking.expired"
	TypeWaitlistOffered  = "waitlist.offered"
	TypeEventCancelled   = "event.cancelled"
)

// SignatureHeader carries a webhook's signature.
const SignatureHeader = "Evently-Signature"

// Sign returns the Evently-Signature value of body sent at t:
// "t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed by secret>".
// The timestamp is part of what is signed, so a receiver that rejects old
// timestamps is safe from replays.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks a signature header against body as a receiver would: a v1
// signature must match and the timestamp be within tolerance of now.
func Verify(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts string
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			if b, err := hex.DecodeString(v); err == nil {
				sigs = append(sigs, b)
			}
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return errors.New("malformed signature header")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("signature timestamp %d is outside the tolerance", sec)
	}
	want := mac(secret, ts, body)
	for _, s := range sigs {
		if hmac.Equal(s, want) {
			return nil
		}
	}
	return errors.New("signature does not match")
}

// DeliveryStatus is where a webhook delivery stands.
type DeliveryStatus string

// Delivery states: pending until an attempt gets a 2xx (delivered) or the
// last attempt fails (failed).
const (
	DeliveryPending   DeliveryStatus = "pending"
	DeliveryDelivered DeliveryStatus = "delivered"
	DeliveryFailed    DeliveryStatus = "failed"
)

// Valid reports whether s is a known status.
func (s DeliveryStatus) Valid() bool {
	return s == DeliveryPending || s == DeliveryDelivered || s == DeliveryFailed
}

// Delivery is one webhook and the record of its delivery.
type Delivery struct {
	// ID is the webhook's id, the same on every attempt.
	ID        uuid.UUID
	Type      string
	SubjectID uuid.UUID
	// Body is the exact JSON sent on every attempt:
	// {"id", "type", "created_at", "data"}.
	Body        []byte
	Status      DeliveryStatus
	Attempts    int
	LastError   *string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	DeliveredAt *time.Time
}

// Attempt is the outcome of one delivery attempt.
type Attempt struct {
	At time.Time
	OK bool
	// Final is set on the last attempt: a failure then fails the delivery.
	Final bool
	Error string
}

// DeliveryFilter selects deliveries for the operator's list.
type DeliveryFilter struct {
	Status *DeliveryStatus
	After  *Cursor
	Limit  int
}

// DeliveryStore keeps the webhook outbox.
type DeliveryStore interface {
	// Delivery returns one delivery, or NotFound.
	Delivery(ctx context.Context, id uuid.UUID) (Delivery, error)
	// RecordAttempt counts an attempt on a pending delivery and records its
	// outcome (a delivery no longer pending is left alone).
	RecordAttempt(ctx context.Context, id uuid.UUID, a Attempt) error
	// Deliveries lists deliveries newest first.
	Deliveries(ctx context.Context, f DeliveryFilter) ([]Delivery, error)
	// Stalled returns pending deliveries created before the given time,
	// oldest first: their task may have been lost.
	Stalled(ctx context.Context, before time.Time, limit int) ([]uuid.UUID, error)
}

// Sender posts a webhook body with its signature (over HTTP, in the
// worker) and returns the receiver's status code.
type Sender interface {
	Send(ctx context.Context, id uuid.UUID, body []byte, signature string) (int, error)
}

// Webhooks delivers the outbox's webhooks, one attempt at a time; the
// queue that calls Deliver owns retries and backoff.
type Webhooks struct {
	store  DeliveryStore
	sender Sender
	secret []byte
	now    func() time.Time
	// observe, when set, hears of every attempt (see Observe).
	observe AttemptObserver
}

// NewWebhooks returns a deliverer signing with secret.
func NewWebhooks(store DeliveryStore, sender Sender, secret []byte, now func() time.Time) *Webhooks {
	if now == nil {
		now = time.Now
	}
	return &Webhooks{store: store, sender: sender, secret: secret, now: now}
}

// ErrAttemptFailed wraps the error of an attempt that did not get a 2xx.
var ErrAttemptFailed = errors.New("webhook attempt failed")

// Deliver makes one attempt at delivering webhook id, unless it is no
// longer pending (delivered, failed, or never recorded), and records the
// outcome. It returns an error wrapping ErrAttemptFailed when the receiver
// did not answer 2xx, so that the caller retries. No transaction is open
// while the request is in flight.
func (w *Webhooks) Deliver(ctx context.Context, id uuid.UUID, final bool) error {
	d, err := w.store.Delivery(ctx, id)
	if apperr.Is(err, apperr.NotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if d.Status != DeliveryPending {
		return nil
	}
	now := w.now()
	status, err := w.sender.Send(ctx, d.ID, d.Body, Sign(w.secret, now, d.Body))
	a := Attempt{At: now, Final: final, OK: err == nil && status >= 200 && status < 300}
	switch {
	case err != nil:
		a.Error = truncate(err.Error(), 500)
	case !a.OK:
		a.Error = fmt.Sprintf("HTTP %d", status)
	}
	if w.observe != nil {
		w.observe.Attempted(d.Attempts+1, a.Outcome())
	}
	// The outcome is recorded even when the caller's context is ending:
	// the request was made.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := w.store.RecordAttempt(rctx, id, a); err != nil {
		return fmt.Errorf("record webhook attempt %s: %w", id, err)
	}
	if !a.OK {
		return fmt.Errorf("%w: webhook %s: %s", ErrAttemptFailed, id, a.Error)
	}
	return nil
}

// Deliveries lists deliveries for the operator, newest first.
func (w *Webhooks) Deliveries(ctx context.Context, f DeliveryFilter) ([]Delivery, error) {
	return w.store.Deliveries(ctx, f)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
