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
	"github.com/evently/evently/internal/waitlist"
	"github.com/evently/evently/internal/worker"
)

// stalledWebhookAge is how long a webhook may stay pending with no attempt
// before the cleanup's sweep enqueues it again (its task was lost).
const stalledWebhookAge = time.Minute

// outreach is what tells people and systems about changes: waitlist
// offers, the inbox and webhooks.
type outreach struct {
	offers *worker.Offers
	// hooks enqueues webhook deliveries; nil when EVENTLY_WEBHOOK_URL is
	// unset, and then no webhook is recorded, queued or sent.
	hooks      *worker.Webhooks
	store      *postgres.NotificationStore
	inbox      *notify.Inbox
	deliveries *notify.Webhooks
	waitlists  *postgres.WaitlistStore
}

func newOutreach(cfg config.Config, pool *pgxpool.Pool, rdb *goredis.Client, queue *asynq.Client, logger *slog.Logger) *outreach {
	o := &outreach{
		offers:    worker.NewOffers(rdb, queue, logger),
		store:     postgres.NewNotificationStore(pool),
		waitlists: postgres.NewWaitlistStore(pool),
	}
	o.inbox = notify.NewInbox(o.store, time.Now)
	o.deliveries = notify.NewWebhooks(o.store, worker.NewHTTPSender(cfg.WebhookURL), []byte(cfg.WebhookSecret), time.Now)
	if cfg.WebhookURL != "" {
		o.hooks = worker.NewWebhooks(queue, logger)
	}
	return o
}

// recordWebhooks makes the stores record webhooks, when they are on.
func (o *outreach) recordWebhooks(stores ...interface{ EnableWebhooks(postgres.Dispatch) }) {
	if o.hooks == nil {
		return
	}
	for _, s := range append(stores, o.waitlists) {
		s.EnableWebhooks(o.hooks.Dispatch)
	}
}

// register adds the notify queue's handlers to the worker.
func (o *outreach) register(w *worker.Server, waitlists *waitlist.Service, bookings *booking.Service) {
	w.Handle(worker.TypeWaitlistOffer, worker.OfferHandler(o.offers, waitlists))
	w.Handle(worker.TypeOfferLapse, worker.OfferLapseHandler(bookings))
	if o.hooks != nil {
		w.Handle(worker.TypeWebhook, worker.WebhookHandler(o.deliveries))
		w.Backoff(worker.TypeWebhook, worker.RandomWebhookRetryDelay)
	}
}

// sweep is the cleanup's backstop for lost triggers: it enqueues offers
// for waitlists that could be offered seats, and webhooks that have stayed
// pending without a task.
func (o *outreach) sweep(ctx context.Context, waitlists *waitlist.Service) (offers, webhooks int, err error) {
	events, err := waitlists.Stalled(ctx)
	if err != nil {
		return 0, 0, err
	}
	for _, id := range events {
		o.offers.SeatsReleased(ctx, id)
	}
	if o.hooks == nil {
		return len(events), 0, nil
	}
	ids, err := o.store.Stalled(ctx, time.Now().Add(-stalledWebhookAge), 1000)
	if err != nil {
		return len(events), 0, err
	}
	o.hooks.Dispatch(ctx, ids)
	return len(events), len(ids), nil
}
