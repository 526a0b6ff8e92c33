package worker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/evently/evently/internal/logging"
	"github.com/evently/evently/internal/notify"
)

// TypeWebhook delivers one webhook (on the notify queue).
const TypeWebhook = "webhook:deliver"

// The retry schedule of a webhook: WebhookBackoff doubles from a second
// to webhookBackoffCap, and WebhookAttempts attempts span about three
// days (69 hours, ±10% of jitter).
const (
	WebhookAttempts   = 26
	webhookBackoffCap = 6 * time.Hour
	// webhookJitter is the fraction by which each wait is spread at
	// random, so that the retries of many webhooks that failed together
	// (a receiver's outage) do not come back together.
	webhookJitter = 0.1
)

// WebhookBackoff is the nominal wait before retry n+1 of a webhook (n
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

// Webhooks enqueues the delivery of recorded webhooks.
type Webhooks struct {
	queue  Enqueuer
	logger *slog.Logger
}

// NewWebhooks returns the delivery enqueuer.
func NewWebhooks(queue Enqueuer, logger *slog.Logger) *Webhooks {
	return &Webhooks{queue: queue, logger: logger}
}

type webhookPayload struct {
	ID uuid.UUID `json:"id"`
}

// Dispatch enqueues one delivery task per webhook id; the task id is the
// webhook's, so a webhook enqueued again (by the sweep) while its task
// exists is not delivered twice. It never fails the caller: a webhook
// whose enqueue failed stays pending and the sweep enqueues it.
func (w *Webhooks) Dispatch(ctx context.Context, ids []uuid.UUID) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	for _, id := range ids {
		payload, _ := json.Marshal(webhookPayload{ID: id})
		_, err := w.queue.EnqueueContext(ctx, asynq.NewTask(TypeWebhook, payload),
			asynq.Queue(QueueNotify), asynq.TaskID(TypeWebhook+":"+id.String()),
			asynq.MaxRetry(WebhookAttempts-1), asynq.Timeout(30*time.Second))
		if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
			w.logger.WarnContext(ctx, "enqueue webhook delivery", "webhook_id", id, "err", err)
			return
		}
	}
}

// Deliverer makes one attempt at a webhook (notify.Webhooks).
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

// webhookAttempt reports whether err is a failed delivery attempt, and
// which attempt of how many it was. One that asynq will try again is a
// warning, not an error, since receivers are down now and then and the
// retries are there for it; the last one is an error.
func webhookAttempt(ctx context.Context, err error) (attempt, of int, ok bool) {
	retried, _ := asynq.GetRetryCount(ctx)
	maxRetry, _ := asynq.GetMaxRetry(ctx)
	return retried + 1, maxRetry + 1, errors.Is(err, notify.ErrAttemptFailed)
}

// HTTPSender posts webhooks to one URL.
type HTTPSender struct {
	url string
	// shown is url as errors may show it (logging.RedactURL): a receiver's
	// URL often carries a token, and errors reach the logs and the
	// operators' list of deliveries.
	shown  string
	client *http.Client
}

// NewHTTPSender returns a sender to url with a 10 s timeout per attempt.
// Redirects are not followed: a receiver answers where it was configured.
func NewHTTPSender(url string) *HTTPSender {
	return &HTTPSender{url: url, shown: logging.RedactURL(url), client: &http.Client{
		Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}
}

// Send posts body with its signature and returns the status code.
func (s *HTTPSender) Send(ctx context.Context, id uuid.UUID, body []byte, signature string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return 0, s.hide(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Evently-Webhooks/1")
	req.Header.Set(notify.SignatureHeader, signature)
	req.Header.Set("Evently-Webhook-Id", id.String())
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, s.hide(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, nil
}

// hide replaces the URL that net/http errors quote (the whole URL, query
// included) with its redacted form.
func (s *HTTPSender) hide(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		ue.URL = s.shown
	}
	return err
}
