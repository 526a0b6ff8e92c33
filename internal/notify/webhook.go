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
	// TypeTicketCheckedIn: a ticket was scanned in at the door (it has no
	// notification: the holder is at the door).
	TypeTicketCheckedIn = "ticket.checked_in"
)

// SignatureHeader carries a webhook's signature.
const SignatureHeader = "Evently-Signature"

// Sign returns the Evently-Signature value of body sent at t:
// "t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed by secret>".
// The timestamp is part of what is signed, so a receiver that rejects old
// timestamps is safe from replays.
func Sign(secret []byte, t time.Time, body []byte) string {
	return SignKeys(t, body, secret)
}

// SignKeys is Sign with one v1 signature per key, in order: while a
// rotated-out secret still signs, a receiver holding either key finds a
// signature it can check.
func SignKeys(t time.Time, body []byte, keys ...[]byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	var b strings.Builder
	b.WriteString("t=" + ts)
	for _, k := range keys {
		b.WriteString(",v1=" + hex.EncodeToString(mac(k, ts, body)))
	}
	return b.String()
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

// Delivery is one webhook on its way to one endpoint, and the record of
// its attempts. A change records its webhook once, in its transaction;
// after the commit the webhook is fanned out to a delivery per endpoint
// subscribed to its type.
type Delivery struct {
	// ID is the delivery's own id.
	ID uuid.UUID
	// WebhookID is the webhook's id (the body's "id", and the
	// Evently-Webhook-Id header): the same on every endpoint, attempt and
	// redelivery, so that receivers de-duplicate by it.
	WebhookID uuid.UUID
	// EndpointID is where it goes; nil once that endpoint is deleted (and
	// for deliveries made before endpoints existed).
	EndpointID *uuid.UUID
	// RedeliveryOf is the delivery an operator sent again with this one.
	RedeliveryOf *uuid.UUID
	Type         string
	SubjectID    uuid.UUID
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
	// Skipped is set when no request was made because the endpoint is
	// disabled or deleted: the delivery fails without counting an attempt.
	Skipped bool
	Error   string
}

// DeliveryFilter selects deliveries for the operator's list.
type DeliveryFilter struct {
	Status     *DeliveryStatus
	EndpointID *uuid.UUID
	After      *Cursor
	Limit      int
}

// DeliveryStore keeps the webhooks and their deliveries.
type DeliveryStore interface {
	// Delivery returns one delivery and its endpoint (nil when deleted),
	// or NotFound.
	Delivery(ctx context.Context, id uuid.UUID) (Delivery, *Endpoint, error)
	// RecordAttempt counts an attempt on a pending delivery and records its
	// outcome (a delivery no longer pending is left alone).
	RecordAttempt(ctx context.Context, id uuid.UUID, a Attempt) error
	// Deliveries lists deliveries newest first.
	Deliveries(ctx context.Context, f DeliveryFilter) ([]Delivery, error)
	// FanOut makes, for each of the webhooks not fanned out yet, a
	// delivery per enabled endpoint subscribed to its type, in one
	// statement, and returns the pending deliveries of the webhooks that
	// have had no attempt yet (those just made, and those of an earlier
	// fan-out whose tasks may have been lost).
	FanOut(ctx context.Context, webhookIDs []uuid.UUID, now time.Time) ([]uuid.UUID, error)
	// Redeliver makes a new pending delivery of the webhook of delivery id
	// to the same endpoint. NotFound when there is no such delivery,
	// Conflict when its endpoint is deleted or disabled.
	Redeliver(ctx context.Context, id uuid.UUID, now time.Time) (Delivery, error)
	// Stalled returns pending deliveries whose task may have been lost,
	// oldest first: those with no attempt since before fresh, and those
	// whose last attempt was before retried.
	Stalled(ctx context.Context, fresh, retried time.Time, limit int) ([]uuid.UUID, error)
	// Unsent returns webhooks recorded before the given time and not
	// fanned out yet, oldest first: their task may have been lost.
	Unsent(ctx context.Context, before time.Time, limit int) ([]uuid.UUID, error)
}

// Sender posts a webhook body with its signature to an endpoint's URL
// (over HTTP, in the worker) and returns the receiver's status code.
type Sender interface {
	Send(ctx context.Context, url string, id uuid.UUID, body []byte, signature string) (int, error)
}

// DeliveryQueue queues one delivery task per delivery (the worker). It
// never fails the caller: a delivery whose enqueue failed stays pending,
// and the sweep queues it.
type DeliveryQueue interface {
	Send(ctx context.Context, deliveryIDs []uuid.UUID)
}

// Webhooks fans webhooks out to endpoints and delivers them, one attempt
// at a time; the queue that calls Deliver owns retries and backoff.
type Webhooks struct {
	store  DeliveryStore
	sender Sender
	queue  DeliveryQueue
	now    func() time.Time
	// observe, when set, hears of every attempt (WebhookOptions.Observer).
	observe AttemptObserver
}

// WebhookOptions adjust Webhooks.
type WebhookOptions struct {
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Observer, when set, hears of each attempt made (metrics). Attempts
	// that could not be made (the delivery could not be read) are not
	// reported.
	Observer AttemptObserver
}

// NewWebhooks returns a deliverer; queue takes the deliveries that
// FanOut and Redeliver make.
func NewWebhooks(store DeliveryStore, sender Sender, queue DeliveryQueue, o WebhookOptions) *Webhooks {
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Webhooks{store: store, sender: sender, queue: queue, now: o.Now, observe: o.Observer}
}

// ErrAttemptFailed wraps the error of an attempt that did not get a 2xx.
var ErrAttemptFailed = errors.New("webhook attempt failed")

// FanOut makes the deliveries of webhooks recorded by committed changes,
// one per subscribed endpoint, and queues them. Running it again for the
// same webhooks makes no more deliveries.
func (w *Webhooks) FanOut(ctx context.Context, webhookIDs []uuid.UUID) error {
	ids, err := w.store.FanOut(ctx, webhookIDs, w.now().UTC())
	if err != nil {
		return fmt.Errorf("fan out %d webhooks: %w", len(webhookIDs), err)
	}
	w.send(ctx, ids)
	return nil
}

func (w *Webhooks) send(ctx context.Context, ids []uuid.UUID) {
	if w.queue != nil && len(ids) > 0 {
		w.queue.Send(ctx, ids)
	}
}

// Deliver makes one attempt at delivery id, unless it is no longer
// pending (delivered, failed, or never recorded), signed with each key of
// its endpoint, and records the outcome. A delivery whose endpoint is
// disabled or deleted fails without a request. It returns an error
// wrapping ErrAttemptFailed when the receiver did not answer 2xx, so that
// the caller retries. No transaction is open while the request is in
// flight.
func (w *Webhooks) Deliver(ctx context.Context, id uuid.UUID, final bool) error {
	d, ep, err := w.store.Delivery(ctx, id)
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
	var a Attempt
	switch {
	case ep == nil:
		a = Attempt{At: now, Final: true, Skipped: true, Error: "endpoint deleted"}
	case !ep.Enabled:
		a = Attempt{At: now, Final: true, Skipped: true, Error: "endpoint disabled"}
	default:
		status, err := w.sender.Send(ctx, ep.URL, d.WebhookID, d.Body, SignKeys(now, d.Body, ep.keys(now)...))
		a = Attempt{At: now, Final: final, OK: err == nil && status >= 200 && status < 300}
		switch {
		case err != nil:
			a.Error = truncate(err.Error(), 500)
		case !a.OK:
			a.Error = fmt.Sprintf("HTTP %d", status)
		}
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
	if !a.OK && !a.Skipped {
		return fmt.Errorf("%w: delivery %s of webhook %s (%s) to endpoint %s: %s",
			ErrAttemptFailed, id, d.WebhookID, d.Type, ep.ID, a.Error)
	}
	return nil
}

// Redeliver sends the webhook of delivery id again to the same endpoint,
// as a new delivery with attempts of its own; the body and the webhook's
// id are unchanged.
func (w *Webhooks) Redeliver(ctx context.Context, id uuid.UUID) (Delivery, error) {
	d, err := w.store.Redeliver(ctx, id, w.now().UTC())
	if err != nil {
		return Delivery{}, err
	}
	w.send(ctx, []uuid.UUID{d.ID})
	return d, nil
}

// Deliveries lists deliveries for the operator, newest first.
func (w *Webhooks) Deliveries(ctx context.Context, f DeliveryFilter) ([]Delivery, error) {
	return w.store.Deliveries(ctx, f)
}

// Sweep is the backstop for lost tasks: it fans out the webhooks recorded
// before fresh that no task fanned out, and queues again the pending
// deliveries that have had no attempt since before fresh or none since
// before retried (a time older than the longest wait between two
// attempts). It returns how many of each.
func (w *Webhooks) Sweep(ctx context.Context, fresh, retried time.Time) (webhooks, deliveries int, err error) {
	unsent, err := w.store.Unsent(ctx, fresh, 1000)
	if err != nil {
		return 0, 0, err
	}
	if len(unsent) > 0 {
		if err := w.FanOut(ctx, unsent); err != nil {
			return 0, 0, err
		}
	}
	stalled, err := w.store.Stalled(ctx, fresh, retried, 1000)
	if err != nil {
		return len(unsent), 0, err
	}
	w.send(ctx, stalled)
	return len(unsent), len(stalled), nil
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
