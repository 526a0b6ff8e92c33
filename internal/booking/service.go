package booking

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/auth"
	"github.com/evently/evently/internal/batch"
	"github.com/evently/evently/internal/ttlcache"
)

// Store keeps bookings in Postgres. Each method is one atomic step; all
// times are given by the caller, so the engine's clock is the only clock.
type Store interface {
	// Sale returns what the engine needs to sell the event's seats, or
	// NotFound.
	Sale(ctx context.Context, eventID uuid.UUID) (Sale, error)
	// Hold writes a batch of holds of one event in one transaction: it
	// re-checks the sale under the event's row lock, locks the seats the
	// holds ask for (and windows of free seats for best-available ones),
	// lets Allocate decide each hold, and writes every hold given seats —
	// with its idempotency answer when it has a key. A hold's refusal is
	// its outcome, never the batch's error; an error means nothing was
	// written (or the commit's answer was lost).
	Hold(ctx context.Context, b HoldBatch) (HoldResults, error)
	// Settle applies a batch of confirmations and cancellations in one
	// transaction: it locks the bookings' seats, then the bookings, lets
	// Decide rule on each change, and writes the verdicts. A refusal is
	// the change's outcome, never the batch's error.
	Settle(ctx context.Context, now time.Time, changes []Change) ([]ChangeOutcome, error)
	// Get returns a booking (NotFound when userID is set and not its owner).
	Get(ctx context.Context, id uuid.UUID, userID *uuid.UUID, now time.Time) (Booking, error)
	// List returns bookings newest first.
	List(ctx context.Context, f ListFilter, now time.Time) ([]Booking, error)
	// ExpireHolds expires up to limit lapsed pending bookings and frees
	// seats whose hold lapsed, returning what it released.
	ExpireHolds(ctx context.Context, now time.Time, limit int) (Released, error)
}

// Released is what a cleanup run gave back to sale.
type Released struct {
	// Bookings expired, with the seats each held.
	Bookings []ReleasedBooking
	// Seats freed per event (including seats of holds taken over earlier).
	SeatsByEvent map[uuid.UUID]int
}

// ReleasedBooking is one booking a cleanup run expired.
type ReleasedBooking struct {
	ID      uuid.UUID
	EventID uuid.UUID
	UserID  uuid.UUID
	SeatIDs []uuid.UUID
}

// Locks are the per-seat Redis locks that refuse taken seats before
// Postgres is asked. They are a filter, not the truth.
type Locks interface {
	// Acquire locks every seat for the booking, or none: it returns the
	// seats already locked by someone else.
	Acquire(ctx context.Context, eventID uuid.UUID, seatIDs []uuid.UUID, bookingID uuid.UUID, ttl time.Duration) ([]uuid.UUID, error)
	// Set locks seats Postgres has already given to bookings (each seat to
	// its booking) for ttl.
	Set(ctx context.Context, eventID uuid.UUID, locks []SeatLock, ttl time.Duration) error
	// Release deletes the booking's locks (compare-and-delete: a lock that
	// now belongs to another booking stays).
	Release(ctx context.Context, eventID uuid.UUID, seatIDs []uuid.UUID, bookingID uuid.UUID) error
}

// SeatLock is one seat's lock: the booking holding it.
type SeatLock struct {
	Seat, Booking uuid.UUID
}

// Admission says whether a user may book an event whose waiting room is
// on, given the admission pass they sent (empty for none): nil, or an
// apperr error (WaitingRoomRequired, Unavailable) to answer with.
type Admission interface {
	CheckAdmission(ctx context.Context, eventID, userID uuid.UUID, pass string) error
}

// Observer hears about the engine's outcomes (metrics, notifications).
type Observer interface {
	Held(b Booking, took time.Duration)
	Refused(eventID uuid.UUID, code apperr.Code, took time.Duration)
	Confirmed(b Booking)
	Cancelled(b Booking)
	Expired(n int)
	// Batched reports one committed batch: its kind ("hold" or
	// "lifecycle"), how many requests it answered and how long it took.
	Batched(kind string, size int, took time.Duration)
}

// ReleaseListener is told, after the fact, that an event has seats for
// sale again (the waitlist listens).
type ReleaseListener interface {
	SeatsReleased(ctx context.Context, eventID uuid.UUID)
}

// Options are a Service's optional collaborators.
type Options struct {
	Admission Admission
	Observer  Observer
	Released  ReleaseListener
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// SaleCacheTTL is how long event facts are cached (default 1s). The
	// Store re-checks them atomically in every batch.
	SaleCacheTTL time.Duration
	// SoldOutTTL is how long a range found sold out is answered from
	// memory before Postgres is asked again (default 500ms). Seats
	// released by this process clear it at once.
	SoldOutTTL time.Duration
	// LocksDown is told when the seat locks (Redis) fail; holds then go on
	// without them for LocksPause (default 5s).
	LocksDown  func(error)
	LocksPause time.Duration
	// MaxBatchSeats bounds the seats one hold batch asks for (default
	// 512); MaxBatchChanges the changes of one lifecycle batch (default
	// 256).
	MaxBatchSeats   int
	MaxBatchChanges int
	// Rate, when set, rations holds per buyer and event.
	Rate HoldLimiter
}

// HoldLimiter rations holds per buyer and event, across every replica.
type HoldLimiter interface {
	// AllowHold takes one hold from the buyer's budget for the event: ok
	// false (and how long until the next is allowed) when none is left.
	AllowHold(ctx context.Context, eventID, userID uuid.UUID) (ok bool, retryAfter time.Duration, err error)
}

// Service is the booking engine. Concurrent holds of one event are
// written in batches, one transaction each (group commit); so are
// confirmations and cancellations.
type Service struct {
	store    Store
	locks    Locks
	admit    Admission
	rate     HoldLimiter
	observe  Observer
	released ReleaseListener
	now      func() time.Time
	sales    *ttlcache.Cache[uuid.UUID, Sale]
	memo     *memo
	breaker  *breaker
	holds    *batch.Runner[uuid.UUID, PendingHold, Booking]
	changes  *batch.Runner[struct{}, Change, ChangeOutcome]
}

// NewService returns the engine over store and locks.
func NewService(store Store, locks Locks, o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Observer == nil {
		o.Observer = nopObserver{}
	}
	if o.SaleCacheTTL == 0 {
		o.SaleCacheTTL = time.Second
	}
	if o.SoldOutTTL == 0 {
		o.SoldOutTTL = 500 * time.Millisecond
	}
	if o.LocksPause == 0 {
		o.LocksPause = 5 * time.Second
	}
	if o.MaxBatchSeats == 0 {
		o.MaxBatchSeats = 512
	}
	if o.MaxBatchChanges == 0 {
		o.MaxBatchChanges = 256
	}
	clock := o.Now
	s := &Service{
		store:    store,
		locks:    locks,
		admit:    o.Admission,
		rate:     o.Rate,
		observe:  o.Observer,
		released: o.Released,
		// Postgres keeps microseconds: times the engine hands out must
		// read back equal.
		now:     func() time.Time { return clock().Truncate(time.Microsecond) },
		sales:   ttlcache.New[uuid.UUID, Sale](o.SaleCacheTTL, memoLimit),
		memo:    newMemo(time.Second, o.SoldOutTTL),
		breaker: &breaker{pause: o.LocksPause, onTrip: o.LocksDown, now: o.Now},
	}
	s.holds = batch.New(s.runHolds, batch.Options[PendingHold]{
		MaxWeight: o.MaxBatchSeats,
		Weight:    func(h PendingHold) int { return max(h.Quantity, len(h.SeatIDs)) },
		// Two requests with one idempotency key go to different batches:
		// the second finds the first's answer recorded.
		Distinct: func(h PendingHold) any {
			if h.Key == nil {
				return nil
			}
			return userKey{h.UserID, h.Key.Key}
		},
	})
	s.changes = batch.New(s.runChanges, batch.Options[Change]{
		MaxWeight: o.MaxBatchChanges,
		// One change per booking per batch: a second one sees the first's
		// result.
		Distinct: func(c Change) any { return c.BookingID },
		// Changes of every event share this queue, one batch at a time:
		// a second batch running beside the first would take only what
		// arrived meanwhile, and measured fewer confirmations per second
		// and a longer tail at 50 buyers.
	})
	return s
}

// userKey is an idempotency key of a user's.
type userKey struct {
	user uuid.UUID
	key  string
}

// Confirm confirms the caller's pending hold. Confirming a confirmed
// booking returns it unchanged.
func (s *Service) Confirm(ctx context.Context, id uuid.UUID, who auth.Principal, paymentRef *string) (Booking, error) {
	return s.change(ctx, Change{Kind: Confirm, BookingID: id, Owner: &who.UserID, PaymentRef: paymentRef})
}

// Cancel cancels a pending or confirmed booking: its seats go back on sale
// at once.
func (s *Service) Cancel(ctx context.Context, id uuid.UUID, who auth.Principal) (Booking, error) {
	return s.change(ctx, Change{Kind: Cancel, BookingID: id, Owner: owner(who)})
}

// Decline cancels the caller's pending hold (a waitlist offer they turn
// down); a booking confirmed meanwhile is left alone (InvalidState).
func (s *Service) Decline(ctx context.Context, id uuid.UUID, who auth.Principal) error {
	_, err := s.change(ctx, Change{Kind: Cancel, BookingID: id, Owner: &who.UserID, PendingOnly: true})
	return err
}

func (s *Service) change(ctx context.Context, c Change) (Booking, error) {
	out, err := s.changes.Do(ctx, struct{}{}, c)
	if err != nil {
		return Booking{}, err
	}
	return out.Booking, out.Err
}

// owner is the user a principal acts as: nil for an admin, who acts on
// any booking.
func owner(who auth.Principal) *uuid.UUID {
	if who.IsAdmin() {
		return nil
	}
	return &who.UserID
}

// runChanges is the lifecycle batch: one transaction for every change
// queued, then each change's after-effects.
func (s *Service) runChanges(ctx context.Context, _ struct{}, changes []Change) []batch.Result[ChangeOutcome] {
	start := time.Now()
	outs, err := s.store.Settle(ctx, s.now(), changes)
	if err != nil {
		return s.retryChanges(ctx, changes, err)
	}
	s.observe.Batched("lifecycle", len(changes), time.Since(start))
	res := make([]batch.Result[ChangeOutcome], len(changes))
	for i, o := range outs {
		s.afterChange(ctx, o)
		res[i] = batch.Result[ChangeOutcome]{Value: o}
	}
	return res
}

// retryChanges retries each change of a failed batch on its own, once: a
// change that breaks its batch fails alone. (A change whose first commit
// went through unannounced finds its own result: confirming again answers
// the booking unchanged; cancelling again answers invalid_state.)
func (s *Service) retryChanges(ctx context.Context, changes []Change, err error) []batch.Result[ChangeOutcome] {
	res := make([]batch.Result[ChangeOutcome], len(changes))
	for i, c := range changes {
		if len(changes) == 1 {
			res[i].Err = err
			break
		}
		start := time.Now()
		outs, err := s.store.Settle(ctx, s.now(), []Change{c})
		if err != nil {
			res[i].Err = err
			continue
		}
		s.observe.Batched("lifecycle", 1, time.Since(start))
		s.afterChange(ctx, outs[0])
		res[i].Value = outs[0]
	}
	return res
}

// afterChange tells the world what a committed change did.
func (s *Service) afterChange(ctx context.Context, o ChangeOutcome) {
	b := o.Booking
	switch o.Verdict {
	case DoConfirm:
		s.observe.Confirmed(b)
	case DoCancel:
		s.afterRelease(ctx, b.EventID, b.ID, seatIDs(b.Seats))
		s.observe.Cancelled(b)
	case DoExpire:
		s.afterRelease(ctx, b.EventID, b.ID, seatIDs(b.Seats))
		s.observe.Expired(1)
	}
}

// Get returns a booking to its owner or an admin; to anyone else it does
// not exist.
func (s *Service) Get(ctx context.Context, id uuid.UUID, who auth.Principal) (Booking, error) {
	return s.store.Get(ctx, id, owner(who), s.now())
}

// List returns bookings newest first.
func (s *Service) List(ctx context.Context, f ListFilter) ([]Booking, error) {
	return s.store.List(ctx, f, s.now())
}

// cleanupBatch bounds one cleanup transaction.
const cleanupBatch = 500

// ExpireHolds is the cleanup job: it expires lapsed holds in batches,
// frees their seats and locks, and tells the release listener which events
// have seats again. It is idempotent.
func (s *Service) ExpireHolds(ctx context.Context) (int, error) {
	total := 0
	for {
		r, err := s.store.ExpireHolds(ctx, s.now(), cleanupBatch)
		if err != nil {
			return total, fmt.Errorf("expire holds: %w", err)
		}
		for _, b := range r.Bookings {
			s.releaseLocks(ctx, b.EventID, b.SeatIDs, b.ID)
		}
		for eventID, n := range r.SeatsByEvent {
			s.sales.Forget(eventID)
			s.memo.released(eventID, n)
			if s.released != nil {
				s.released.SeatsReleased(ctx, eventID)
			}
		}
		total += len(r.Bookings)
		s.observe.Expired(len(r.Bookings))
		if len(r.Bookings) < cleanupBatch {
			return total, nil
		}
	}
}

// afterRelease follows seats that came back: their locks go, the sold-out
// memo learns, the waitlist hears.
func (s *Service) afterRelease(ctx context.Context, eventID, bookingID uuid.UUID, seats []uuid.UUID) {
	s.releaseLocks(ctx, eventID, seats, bookingID)
	s.memo.released(eventID, len(seats))
	if s.released != nil {
		s.released.SeatsReleased(context.WithoutCancel(ctx), eventID)
	}
}

func seatIDs(seats []Seat) []uuid.UUID {
	ids := make([]uuid.UUID, len(seats))
	for i, s := range seats {
		ids[i] = s.ID
	}
	return ids
}

// sale returns the event's sale facts, cached briefly: every hold of an
// on-sale needs them, and the Store re-checks them atomically anyway.
func (s *Service) sale(ctx context.Context, eventID uuid.UUID, now time.Time) (Sale, error) {
	if sale, ok := s.sales.Get(eventID, now); ok {
		return sale, nil
	}
	sale, err := s.store.Sale(ctx, eventID)
	if err != nil {
		return Sale{}, err
	}
	s.sales.Put(eventID, sale, now)
	return sale, nil
}

// ForgetSale drops the cached facts of an event (after it was changed).
func (s *Service) ForgetSale(eventID uuid.UUID) { s.sales.Forget(eventID) }

type nopObserver struct{}

func (nopObserver) Held(Booking, time.Duration)                   {}
func (nopObserver) Refused(uuid.UUID, apperr.Code, time.Duration) {}
func (nopObserver) Confirmed(Booking)                             {}
func (nopObserver) Cancelled(Booking)                             {}
func (nopObserver) Expired(int)                                   {}
func (nopObserver) Batched(string, int, time.Duration)            {}

// Observers is an Observer that tells each of its members in turn.
type Observers []Observer

// Held implements Observer.
func (os Observers) Held(b Booking, took time.Duration) {
	for _, o := range os {
		o.Held(b, took)
	}
}

// Refused implements Observer.
func (os Observers) Refused(eventID uuid.UUID, code apperr.Code, took time.Duration) {
	for _, o := range os {
		o.Refused(eventID, code, took)
	}
}

// Confirmed implements Observer.
func (os Observers) Confirmed(b Booking) {
	for _, o := range os {
		o.Confirmed(b)
	}
}

// Cancelled implements Observer.
func (os Observers) Cancelled(b Booking) {
	for _, o := range os {
		o.Cancelled(b)
	}
}

// Expired implements Observer.
func (os Observers) Expired(n int) {
	for _, o := range os {
		o.Expired(n)
	}
}

// Batched implements Observer.
func (os Observers) Batched(kind string, size int, took time.Duration) {
	for _, o := range os {
		o.Batched(kind, size, took)
	}
}
