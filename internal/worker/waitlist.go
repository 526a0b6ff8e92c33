package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/evently/evently/internal/waitlist"
)

// Waitlist tasks, both on the notify queue.
const (
	// TypeWaitlistOffer offers an event's available seats to its waitlist.
	TypeWaitlistOffer = "waitlist:offer"
	// TypeOfferLapse runs the hold cleanup when waitlist offers lapse, so
	// that their seats pass to the next entry without waiting for the
	// cleanup schedule.
	TypeOfferLapse = "waitlist:offer-lapse"
)

// OfferPendingTTL bounds how long a pending marker can outlive a lost
// enqueue; after it, releases enqueue offers again.
const OfferPendingTTL = time.Minute

// Offers turns "seats came back" into offer tasks. An event has at most
// one offer task pending at a time: a Redis marker, set when the task is
// enqueued and cleared when it starts, coalesces the releases that land
// while it waits. (A task id would not do: it would also refuse the
// trigger of a release that lands while the task is already running, and
// those seats would wait for the next release.)
type Offers struct {
	markers OfferMarkers
	queue   Enqueuer
	logger  *slog.Logger
}

// OfferMarkers keep the per-event marker "an offer task is pending"
// (redis.OfferMarkers).
type OfferMarkers interface {
	// Mark sets the event's marker unless it is set, reporting whether
	// this call set it.
	Mark(ctx context.Context, eventID uuid.UUID) (bool, error)
	// Clear removes the event's marker.
	Clear(ctx context.Context, eventID uuid.UUID) error
}

// NewOffers returns the offer trigger.
func NewOffers(markers OfferMarkers, queue Enqueuer, logger *slog.Logger) *Offers {
	return &Offers{markers: markers, queue: queue, logger: logger}
}

type offerPayload struct {
	EventID uuid.UUID `json:"event_id"`
}

// SeatsReleased enqueues an offer task for the event unless one is
// already pending. It is called after the release committed, and never
// fails the caller: a lost trigger is found by the cleanup's sweep.
func (o *Offers) SeatsReleased(ctx context.Context, eventID uuid.UUID) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	set, err := o.markers.Mark(ctx, eventID)
	if err != nil {
		o.logger.WarnContext(ctx, "waitlist offer trigger", "event_id", eventID, "err", err)
		return
	}
	if !set {
		return // a pending task will see these seats
	}
	payload, _ := json.Marshal(offerPayload{EventID: eventID})
	_, err = o.queue.EnqueueContext(ctx, asynq.NewTask(TypeWaitlistOffer, payload),
		asynq.Queue(QueueNotify), asynq.MaxRetry(5), asynq.Timeout(time.Minute))
	if err != nil {
		if err := o.markers.Clear(ctx, eventID); err != nil {
			o.logger.WarnContext(ctx, "clear waitlist offer marker", "event_id", eventID, "err", err)
		}
		o.logger.WarnContext(ctx, "enqueue waitlist offer", "event_id", eventID, "err", err)
	}
}

// OfferMade schedules the cleanup for when the offer lapses. Offers that
// lapse in the same second share one task.
func (o *Offers) OfferMade(ctx context.Context, offer waitlist.Offer) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	at := offer.ExpiresAt.Truncate(time.Second).Add(time.Second)
	_, err := o.queue.EnqueueContext(ctx, asynq.NewTask(TypeOfferLapse, nil),
		asynq.Queue(QueueNotify), asynq.ProcessAt(at),
		asynq.TaskID(TypeOfferLapse+"@"+strconv.FormatInt(at.Unix(), 10)),
		asynq.MaxRetry(3), asynq.Timeout(5*time.Minute))
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		o.logger.WarnContext(ctx, "schedule offer lapse", "booking_id", offer.BookingID, "err", err)
	}
}

// Offerer makes the offers of an event (waitlist.Service).
type Offerer interface {
	Offer(ctx context.Context, eventID uuid.UUID) (int, error)
}

// OfferHandler runs an offer task: it clears the event's pending marker
// first, so that a release committed from then on enqueues a new task,
// and then makes every offer that fits.
func OfferHandler(o *Offers, offerer Offerer) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		var p offerPayload
		if err := json.Unmarshal(t.Payload(), &p); err != nil || p.EventID == uuid.Nil {
			return fmt.Errorf("waitlist offer payload %q: %w", t.Payload(), asynq.SkipRetry)
		}
		if err := o.markers.Clear(ctx, p.EventID); err != nil {
			return err
		}
		n, err := offerer.Offer(ctx, p.EventID)
		if err != nil {
			return err
		}
		if n > 0 {
			o.logger.InfoContext(ctx, "waitlist offers made", "event_id", p.EventID, "offers", n)
		}
		return nil
	})
}

// Expirer expires lapsed holds (booking.Service).
type Expirer interface {
	ExpireHolds(ctx context.Context) (int, error)
}

// OfferLapseHandler expires lapsed holds, lapsed offers among them; their
// events' waitlists are then offered the seats.
func OfferLapseHandler(e Expirer) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, _ *asynq.Task) error {
		if _, err := e.ExpireHolds(ctx); err != nil {
			return fmt.Errorf("expire lapsed offers: %w", err)
		}
		return nil
	})
}
