package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5/pgxpool"
	goredis "github.com/redis/go-redis/v9"

	"github.com/evently/evently/internal/booking"
	"github.com/evently/evently/internal/config"
	"github.com/evently/evently/internal/notify"
	"github.com/evently/evently/internal/postgres"
	"github.com/evently/evently/internal/redis"
	"github.com/evently/evently/internal/waitlist"
	"github.com/evently/evently/internal/worker"
)

// stalledWebhookAge is how long a webhook may wait for its fan-out, or a
// delivery for its first attempt, before the cleanup's sweep enqueues it
// again (its task was lost).
const stalledWebhookAge = time.Minute

// outreach is what tells people and systems about changes: waitlist
// offers, the inbox and webhooks.
type outreach struct {
	offers *worker.Offers
	// hooks enqueues the fan-out of webhooks and their deliveries.
	hooks *worker.Webhooks
	// webhooks keeps endpoints, webhooks and deliveries, and says whether
	// any endpoint is enabled (with none, nothing is recorded or queued).
	webhooks   *postgres.WebhookStore
	inbox      *notify.Inbox
	deliveries *notify.Webhooks
	endpoints  *notify.Endpoints
	waitlists  *postgres.WaitlistStore
	// record makes a store record webhooks while an endpoint is enabled.
	record postgres.StoreOption
	now    func() time.Time
}

func newOutreach(pool *pgxpool.Pool, rdb goredis.UniversalClient, queue *asynq.Client, logger *slog.Logger,
	now func() time.Time, attempts notify.AttemptObserver) *outreach {
	o := &outreach{
		offers:   worker.NewOffers(redis.NewOfferMarkers(rdb, worker.OfferPendingTTL), queue, logger),
		hooks:    worker.NewWebhooks(queue, logger),
		webhooks: postgres.NewWebhookStore(pool),
		now:      now,
	}
	o.record = postgres.Webhooks(o.hooks.Dispatch, o.webhooks.Recording)
	o.waitlists = postgres.NewWaitlistStore(pool, o.record)
	o.inbox = notify.NewInbox(postgres.NewNotificationStore(pool), now)
	o.deliveries = notify.NewWebhooks(o.webhooks, notify.NewHTTPSender(), o.hooks, notify.WebhookOptions{Now: now, Observer: attempts})
	o.endpoints = notify.NewEndpoints(o.webhooks, now)
	return o
}

// bootstrap sets up the endpoint of EVENTLY_WEBHOOK_URL and
// EVENTLY_WEBHOOK_SECRET (receiving every type), or disables it when the
// URL is unset, and learns whether any endpoint is enabled.
func (o *outreach) bootstrap(ctx context.Context, cfg config.Config) error {
	if err := o.endpoints.Bootstrap(ctx, cfg.WebhookURL, cfg.WebhookSecret); err != nil {
		return err
	}
	return o.webhooks.CheckRecording(ctx)
}

// register adds the notify queue's handlers to the worker.
func (o *outreach) register(w *worker.Server, waitlists *waitlist.Service, bookings *booking.Service) {
	w.Handle(worker.TypeWaitlistOffer, worker.OfferHandler(o.offers, waitlists))
	w.Handle(worker.TypeOfferLapse, worker.OfferLapseHandler(bookings))
	w.Handle(worker.TypeWebhookFanOut, worker.WebhookFanOutHandler(o.deliveries))
	w.Handle(worker.TypeWebhook, worker.WebhookHandler(o.deliveries))
	w.Backoff(worker.TypeWebhook, worker.RandomWebhookRetryDelay)
}

// sweep is the cleanup's backstop for lost triggers: it enqueues offers
// for waitlists that could be offered seats, fans out webhooks that no
// task fanned out, and enqueues deliveries that have stayed pending
// without a task.
func (o *outreach) sweep(ctx context.Context, waitlists *waitlist.Service) (offers, webhooks int, err error) {
	events, err := waitlists.Stalled(ctx)
	if err != nil {
		return 0, 0, err
	}
	for _, id := range events {
		o.offers.SeatsReleased(ctx, id)
	}
	fresh := o.now().Add(-stalledWebhookAge)
	unsent, stalled, err := o.deliveries.Sweep(ctx, fresh, fresh.Add(-worker.WebhookMaxWait))
	return len(events), unsent + stalled, err
}
