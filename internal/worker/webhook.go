package worker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
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

// WebhookAttempts bounds the attempts at one webhook; with WebhookBackoff
// they span about three hours.
const WebhookAttempts = 15

// WebhookBackoff is the wait before retry n+1 of a webhook (n retries
// done): 1 s, 2 s, 4 s, ... doubling up to an hour.
func WebhookBackoff(n int) time.Duration {
	if n > 12 {
		return time.Hour
	}
	return min(time.Second<<n, time.Hour)
}

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
// returns an error so that asynq retries it after WebhookBackoff, until
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
