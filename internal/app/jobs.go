package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/evently/evently/internal/booking"
	"github.com/evently/evently/internal/postgres"
	"github.com/evently/evently/internal/waitlist"
	"github.com/evently/evently/internal/waitroom"
	"github.com/evently/evently/internal/worker"
)

// idempotencyKeep is how long answers to Idempotency-Key requests are
// kept (the contract promises at least 24 hours).
const idempotencyKeep = 25 * time.Hour

// Concurrent confirmations spread the analytics rollups over shard rows;
// every analyticsFoldSchedule, the rows of slots older than
// analyticsFoldAfter (and of every event) are merged back into one per key.
const (
	analyticsFoldSchedule = "@every 10m"
	analyticsFoldAfter    = time.Hour
)

// cleanup is the periodic job of EVENTLY_CLEANUP_SCHEDULE: it releases
// lapsed holds, prunes old idempotency answers, and sweeps for lost
// triggers (waitlist offers, webhooks).
type cleanup struct {
	bookings    *booking.Service
	idempotency *postgres.IdempotencyStore
	waitlists   *waitlist.Service
	out         *outreach
	logger      *slog.Logger
}

var _ worker.Cleaner = cleanup{}

// Cleanup runs one pass.
func (c cleanup) Cleanup(ctx context.Context) error {
	n, err := c.bookings.ExpireHolds(ctx)
	if err != nil {
		return err
	}
	pruned, err := c.idempotency.Prune(ctx, idempotencyKeep)
	if err != nil {
		return err
	}
	offers, webhooks, err := c.out.sweep(ctx, c.waitlists)
	if err != nil {
		return err
	}
	c.logger.InfoContext(ctx, "cleanup done", "holds_expired", n, "idempotency_keys_pruned", pruned,
		"waitlists_retriggered", offers, "webhooks_requeued", webhooks)
	return nil
}

// rearm restarts waiting-room admission chains whose task was lost.
type rearm struct {
	rooms  *waitroom.Service
	logger *slog.Logger
}

// Cleanup runs one pass.
func (r rearm) Cleanup(ctx context.Context) error {
	n, err := r.rooms.Rearm(ctx)
	if n > 0 {
		r.logger.WarnContext(ctx, "restarted lost waiting-room admission chains", "count", n)
	}
	return err
}

// analyticsFold merges the analytics shard rows of slots older than
// analyticsFoldAfter.
type analyticsFold struct {
	store  *postgres.AnalyticsStore
	now    func() time.Time
	logger *slog.Logger
}

// Cleanup runs one pass.
func (f analyticsFold) Cleanup(ctx context.Context) error {
	n, err := f.store.FoldShards(ctx, f.now().Add(-analyticsFoldAfter))
	if n > 0 {
		f.logger.InfoContext(ctx, "analytics shards folded", "rows", n)
	}
	return err
}

// periodic is a job the scheduler enqueues on spec (a cron spec or
// "@every d") and the worker runs.
type periodic struct {
	typ, queue, spec string
	job              worker.Cleaner
}

// schedule registers the periodic jobs with the worker and the scheduler.
func (a *App) schedule(jobs ...periodic) error {
	for _, p := range jobs {
		a.worker.Handle(p.typ, worker.CleanupHandler(p.job))
		if err := a.scheduler.Every(p.spec, p.typ, p.queue, nil); err != nil {
			return err
		}
	}
	return nil
}
