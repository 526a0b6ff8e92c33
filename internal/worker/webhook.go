package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/evently/evently/internal/notify"
)

// TypeWebhook delivers one webhook to one endpoint (a delivery, on the
// notify queue); TypeWebhookFanOut makes the deliveries of webhooks that
// committed changes recorded, one per endpoint that receives their type,
// and queues them.
const (
	TypeWebhook       = "webhook:deliver"
	TypeWebhookFanOut = "webhook:fanout"
)

// The retry schedule of a delivery: WebhookBackoff doubles from a second
// to webhookBackoffCap, and WebhookAttempts attempts span about three
// days (69 hours, ±10% of jitter).
const (
	WebhookAttempts   = 26
	webhookBackoffCap = 6 * time.Hour
	// webhookJitter is the fraction by which each wait is spread at
	// random, so that the retries of many deliveries that failed together
	// (a receiver's outage) do not come back together.
	webhookJitter = 0.1
)

// WebhookMaxWait is the longest wait between two attempts at a delivery:
// a pending delivery not attempted for longer has lost its task.
const WebhookMaxWait = webhookBackoffCap + webhookBackoffCap/10

// WebhookBackoff is the nominal wait before retry n+1 of a delivery (n
// retries done): 1 s, 2 s, 4 s, ... doubling up to 6 hours.
func WebhookBackoff(n int) time.Duration {
	if n > 20 {
		return webhookBackoffCap
	}
	return min(time.Second<<max(n, 0), webhookBackoffCap)
}

// WebhookRetryDelay is WebhookBackoff(n) spread by ±10%: r, from [0, 1),
// picks where (0: 10% sooner, 0.5: on time, towards 1: 10% later).
func WebhookRetryDelay(n int, r float64) time.Duration {
	d := WebhookBackoff(n)
	return d + time.Duration((2*r-1)*webhookJitter*float64(d))
}

// RandomWebhookRetryDelay is WebhookRetryDelay at a random point: the
// delay the worker waits (see Server.Backoff).
func RandomWebhookRetryDelay(n int) time.Duration { return WebhookRetryDelay(n, rand.Float64()) }

// Webhooks queues the fan-out of recorded webhooks and the deliveries it
// makes.
type Webhooks struct {
	queue  Enqueuer
	logger *slog.Logger
}

// NewWebhooks returns the enqueuer.
func NewWebhooks(queue Enqueuer, logger *slog.Logger) *Webhooks {
	return &Webhooks{queue: queue, logger: logger}
}

type webhookPayload struct {
	ID uuid.UUID `json:"id"`
}

type fanOutPayload struct {
	IDs []uuid.UUID `json:"ids"`
}

// Dispatch enqueues one fan-out task for the webhooks a committed change
// recorded (one Redis call for a whole batch of changes). It never fails
// the caller: webhooks whose fan-out was not queued are fanned out by the
// sweep.
func (w *Webhooks) Dispatch(ctx context.Context, ids []uuid.UUID) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	payload, _ := json.Marshal(fanOutPayload{IDs: ids})
	_, err := w.queue.EnqueueContext(ctx, asynq.NewTask(TypeWebhookFanOut, payload),
		asynq.Queue(QueueNotify), asynq.MaxRetry(5), asynq.Timeout(30*time.Second))
	if err != nil {
		w.logger.WarnContext(ctx, "enqueue webhook fan-out", "webhooks", len(ids), "err", err)
	}
}

// Send enqueues one delivery task per delivery id; the task id is the
// delivery's, so a delivery enqueued again (by the sweep) while its task
// exists is not sent twice. It never fails the caller: a delivery whose
// enqueue failed stays pending and the sweep enqueues it.
func (w *Webhooks) Send(ctx context.Context, ids []uuid.UUID) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	for _, id := range ids {
		payload, _ := json.Marshal(webhookPayload{ID: id})
		_, err := w.queue.EnqueueContext(ctx, asynq.NewTask(TypeWebhook, payload),
			asynq.Queue(QueueNotify), asynq.TaskID(TypeWebhook+":"+id.String()),
			asynq.MaxRetry(WebhookAttempts-1), asynq.Timeout(30*time.Second))
		if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
			w.logger.WarnContext(ctx, "enqueue webhook delivery", "delivery_id", id, "err", err)
			return
		}
	}
}

// Deliverer makes one attempt at a delivery (notify.Webhooks).
type Deliverer interface {
	Deliver(ctx context.Context, id uuid.UUID, final bool) error
}

// WebhookHandler makes one delivery attempt per run; a failed attempt
// returns an error so that asynq retries it after WebhookRetryDelay, until
// the last attempt, which marks the delivery failed.
func WebhookHandler(d Deliverer) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		var p webhookPayload
		if err := json.Unmarshal(t.Payload(), &p); err != nil || p.ID == uuid.Nil {
			return fmt.Errorf("webhook payload %q: %w", t.Payload(), asynq.SkipRetry)
		}
		retried, _ := asynq.GetRetryCount(ctx)
		maxRetry, _ := asynq.GetMaxRetry(ctx)
		return d.Deliver(ctx, p.ID, retried >= maxRetry)
	})
}

// FanOuter makes and queues the deliveries of webhooks (notify.Webhooks).
type FanOuter interface {
	FanOut(ctx context.Context, webhookIDs []uuid.UUID) error
}

// WebhookFanOutHandler fans out the webhooks of each fan-out task.
func WebhookFanOutHandler(f FanOuter) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		var p fanOutPayload
		if err := json.Unmarshal(t.Payload(), &p); err != nil || len(p.IDs) == 0 {
			return fmt.Errorf("webhook fan-out payload %q: %w", t.Payload(), asynq.SkipRetry)
		}
		return f.FanOut(ctx, p.IDs)
	})
}

// webhookAttempt reports whether err is a failed delivery attempt, and
// which attempt of how many it was. One that asynq will try again is a
// warning, not an error, since receivers are down now and then and the
// retries are there for it; the last one is an error.
func webhookAttempt(ctx context.Context, err error) (attempt, of int, ok bool) {
	retried, _ := asynq.GetRetryCount(ctx)
	maxRetry, _ := asynq.GetMaxRetry(ctx)
	return retried + 1, maxRetry + 1, errors.Is(err, notify.ErrAttemptFailed)
}
