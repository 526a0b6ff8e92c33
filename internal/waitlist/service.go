package waitlist

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/auth"
	"github.com/evently/evently/internal/event"
)

// Store keeps waitlists in Postgres. Each method is one atomic step.
type Store interface {
	// Facts returns what joining needs to know of an event, counting its
	// free seats up to upTo; NotFound when there is no such event.
	Facts(ctx context.Context, eventID uuid.UUID, now time.Time, upTo int) (Facts, error)
	// Insert adds a waiting entry; Conflict when the user already has an
	// active one on the event.
	Insert(ctx context.Context, e Entry) (Entry, error)
	// Latest returns the user's active entry on the event or, without one,
	// their most recent; NotFound when they never joined.
	Latest(ctx context.Context, eventID, userID uuid.UUID) (Entry, error)
	// Leave marks the user's waiting entry left and returns it. An offered
	// entry is returned unchanged (its offer must be declined); NotFound
	// when the user has no active entry.
	Leave(ctx context.Context, eventID, userID uuid.UUID, now time.Time) (Entry, error)
	// Entries lists an event's entries oldest first.
	Entries(ctx context.Context, f ListFilter) ([]Entry, error)
	// Offer offers seats to the oldest waiting entry of the event whose
	// quantity fits the available seats: it holds the seats for that user
	// (a pending booking expiring at r.ExpiresAt), marks the entry offered
	// and writes the user's notification, in one transaction. Offers of
	// one event are serialised. ok is false when no entry fits (or the
	// event is not on sale).
	Offer(ctx context.Context, r OfferRequest) (o Offer, ok bool, err error)
	// Stalled returns events where a waiting entry fits the available
	// seats: an offer run was missed (its task lost, or a concurrent buyer
	// made it stop early).
	Stalled(ctx context.Context, limit int) ([]uuid.UUID, error)
}

// Bookings is the booking engine as the waitlist uses it.
type Bookings interface {
	// Decline cancels the caller's pending hold; a confirmed booking is
	// left alone (InvalidState).
	Decline(ctx context.Context, bookingID uuid.UUID, who auth.Principal) error
}

// Expiries are told of each offer made, so that its lapse is handled when
// it is due rather than at the next cleanup.
type Expiries interface {
	OfferMade(ctx context.Context, o Offer)
}

// Options are a Service's collaborators and settings.
type Options struct {
	// OfferTTL is how long an offer holds its seats
	// (EVENTLY_WAITLIST_OFFER_TTL).
	OfferTTL time.Duration
	Bookings Bookings
	Expiries Expiries
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Line, when set, places users coming from a sold-out waiting room.
	Line Line
}

// Line is the waiting room as the waitlist uses it.
type Line interface {
	// QueuedAt is the waitlist time of the user's place in the event's
	// sold-out waiting room; NotFound or InvalidState when they have none,
	// Unavailable when the room cannot be read.
	QueuedAt(ctx context.Context, eventID, userID uuid.UUID) (time.Time, error)
}

// Service runs waitlists.
type Service struct {
	store    Store
	offerTTL time.Duration
	bookings Bookings
	expiries Expiries
	line     Line
	now      func() time.Time
}

// NewService returns a Service over store.
func NewService(store Store, o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.OfferTTL <= 0 {
		o.OfferTTL = 15 * time.Minute
	}
	clock := o.Now
	return &Service{
		store:    store,
		offerTTL: o.OfferTTL,
		bookings: o.Bookings,
		expiries: o.Expiries,
		line:     o.Line,
		now:      func() time.Time { return clock().Truncate(time.Microsecond) },
	}
}

// Join puts the caller on an event's waitlist for quantity seats. It is
// refused while the event could serve the request now (seats_available):
// the waitlist is for sold-out events. A caller who was still in line
// when the event's waiting room sold out takes the place the line gives
// them (Line.QueuedAt), so the line's order carries over to the waitlist
// however late each of them makes the call.
func (s *Service) Join(ctx context.Context, eventID uuid.UUID, who auth.Principal, quantity int) (Entry, error) {
	now := s.now()
	at := now
	if s.line != nil {
		q, err := s.line.QueuedAt(ctx, eventID, who.UserID)
		switch {
		case err == nil:
			at = q.Truncate(time.Microsecond)
		case apperr.Is(err, apperr.NotFound), apperr.Is(err, apperr.InvalidState), apperr.Is(err, apperr.Unavailable):
			// No place in a sold-out line, or the waiting room cannot be
			// read (Redis down): the entry queues from now, so that the
			// waitlist keeps working without the waiting room.
		default:
			return Entry{}, err
		}
	}
	return s.join(ctx, eventID, who, quantity, now, at)
}

func (s *Service) join(ctx context.Context, eventID uuid.UUID, who auth.Principal, quantity int, now, at time.Time) (Entry, error) {
	f, err := s.store.Facts(ctx, eventID, now, min(max(quantity, 1), 100))
	if err != nil {
		return Entry{}, err
	}
	if f.Status == "draft" {
		return Entry{}, event.NotFound(eventID)
	}
	if quantity < 1 || quantity > f.MaxSeatsPerBooking {
		return Entry{}, apperr.Invalid(apperr.FieldError{Field: "quantity",
			Message: fmt.Sprintf("must be from 1 to %d (the event's max_seats_per_booking)", f.MaxSeatsPerBooking)})
	}
	if why := closed(f, now); why != "" {
		return Entry{}, apperr.New(apperr.SalesClosed, "%s", why)
	}
	if f.Free >= quantity {
		return Entry{}, apperr.New(apperr.SeatsAvailable, "%d seat(s) can be booked now: book them instead of waiting.", quantity)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return Entry{}, fmt.Errorf("waitlist entry id: %w", err)
	}
	return s.store.Insert(ctx, Entry{ID: id, EventID: eventID, UserID: who.UserID, Quantity: quantity,
		Status: StatusWaiting, CreatedAt: at})
}

// closed says why an event's seats cannot be sold now, or "".
func closed(f Facts, now time.Time) string {
	return event.SaleWindow{Status: event.Status(f.Status), StartsAt: f.StartsAt,
		SalesStart: f.SalesStart, SalesEnd: f.SalesEnd}.At(now).Reason()
}

// Mine returns the caller's entry on an event: the active one, else the
// latest (so that a user sees how their wait ended).
func (s *Service) Mine(ctx context.Context, eventID uuid.UUID, who auth.Principal) (Entry, error) {
	e, err := s.store.Latest(ctx, eventID, who.UserID)
	if apperr.Is(err, apperr.NotFound) {
		return Entry{}, apperr.New(apperr.NotFound, "You are not on this event's waitlist.")
	}
	return e, err
}

// Leave takes the caller off an event's waitlist. An outstanding offer is
// declined: its booking is cancelled and the seats go to the next entry. A
// booking the user confirmed meanwhile is never touched.
func (s *Service) Leave(ctx context.Context, eventID uuid.UUID, who auth.Principal) error {
	e, err := s.store.Leave(ctx, eventID, who.UserID, s.now())
	if apperr.Is(err, apperr.NotFound) {
		return apperr.New(apperr.NotFound, "You are not on this event's waitlist.")
	}
	if err != nil {
		return err
	}
	if e.Status != StatusOffered || e.OfferBookingID == nil {
		return nil
	}
	// Declining cancels the pending offer; the cancellation marks the entry
	// left in its own transaction. If the offer was confirmed or lapsed
	// meanwhile, the entry has ended anyway.
	err = s.bookings.Decline(ctx, *e.OfferBookingID, who)
	if err != nil && !apperr.Is(err, apperr.InvalidState) && !apperr.Is(err, apperr.HoldExpired) {
		return err
	}
	return nil
}

// List returns an event's entries oldest first (queue order), for admins.
func (s *Service) List(ctx context.Context, f ListFilter) ([]Entry, error) {
	if _, err := s.store.Facts(ctx, f.EventID, s.now(), 0); err != nil {
		return nil, err
	}
	return s.store.Entries(ctx, f)
}

// maxOffersPerRun bounds one offer run; a run that reaches it is followed
// by another (the caller re-triggers).
const maxOffersPerRun = 1000

// Offer makes offers on an event to its oldest fitting waiting entries
// until none fits the available seats, and returns how many it made. It is
// idempotent and safe to run concurrently with itself, holds and
// releases: each offer is one transaction, serialised per event.
func (s *Service) Offer(ctx context.Context, eventID uuid.UUID) (int, error) {
	n := 0
	for n < maxOffersPerRun {
		id, err := uuid.NewV7()
		if err != nil {
			return n, fmt.Errorf("booking id: %w", err)
		}
		now := s.now()
		o, ok, err := s.store.Offer(ctx, OfferRequest{EventID: eventID, BookingID: id, Now: now, ExpiresAt: now.Add(s.offerTTL)})
		if err != nil {
			return n, fmt.Errorf("offer seats event=%s: %w", eventID, err)
		}
		if !ok {
			return n, nil
		}
		n++
		if s.expiries != nil {
			s.expiries.OfferMade(ctx, o)
		}
	}
	return n, nil
}

// Stalled returns events whose waitlist could be offered seats now.
func (s *Service) Stalled(ctx context.Context) ([]uuid.UUID, error) {
	return s.store.Stalled(ctx, 1000)
}
