package booking

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/auth"
)

// Store keeps bookings in Postgres. Each method is one atomic step; all
// times are given by the caller, so the engine's clock is the only clock.
type Store interface {
	// Sale returns what the engine needs to sell the event's seats, or
	// NotFound.
	Sale(ctx context.Context, eventID uuid.UUID) (Sale, error)
	// HoldSeats holds exactly the given seats for a new pending booking, or
	// none of them: SeatUnavailable (with the taken seat ids),
	// ValidationFailed (seats not of this event), SalesClosed.
	HoldSeats(ctx context.Context, h SeatHold) (Booking, error)
	// HoldBest holds the best n available seats between positions lo and
	// hi (preferring an adjacent block in one row when adjacent is set), or
	// returns SoldOut or SalesClosed. It also reports the position of the
	// first seat it found free, the allocator's hint for the next hold.
	HoldBest(ctx context.Context, h BestHold) (Booking, int, error)
	// Confirm confirms the owner's pending hold, fenced by the seats' hold
	// sequence: HoldExpired when it lapsed (the booking becomes expired),
	// InvalidState when cancelled, NotFound when not the owner's.
	Confirm(ctx context.Context, id, userID uuid.UUID, paymentRef *string, now time.Time) (Booking, bool, error)
	// Cancel cancels a pending or confirmed booking (only a pending one
	// when pendingOnly is set: InvalidState otherwise) and frees its seats.
	// userID nil means an admin acting. Returns the seats freed.
	Cancel(ctx context.Context, id uuid.UUID, userID *uuid.UUID, now time.Time, pendingOnly bool) (Booking, error)
	// Get returns a booking (NotFound when userID is set and not its owner).
	Get(ctx context.Context, id uuid.UUID, userID *uuid.UUID, now time.Time) (Booking, error)
	// List returns bookings newest first.
	List(ctx context.Context, f ListFilter, now time.Time) ([]Booking, error)
	// ExpireHolds expires up to limit lapsed pending bookings and frees
	// seats whose hold lapsed, returning what it released.
	ExpireHolds(ctx context.Context, now time.Time, limit int) (Released, error)
}

// SeatHold asks for specific seats.
type SeatHold struct {
	BookingID uuid.UUID
	EventID   uuid.UUID
	UserID    uuid.UUID
	SeatIDs   []uuid.UUID
	Now       time.Time
	ExpiresAt time.Time
}

// BestHold asks for the best n seats in a position range.
type BestHold struct {
	BookingID uuid.UUID
	EventID   uuid.UUID
	UserID    uuid.UUID
	Quantity  int
	Lo, Hi    int
	Adjacent  bool
	Now       time.Time
	ExpiresAt time.Time
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
	// Set locks seats Postgres has already given the booking.
	Set(ctx context.Context, eventID uuid.UUID, seatIDs []uuid.UUID, bookingID uuid.UUID, ttl time.Duration) error
	// Release deletes the booking's locks (compare-and-delete: a lock that
	// now belongs to another booking stays).
	Release(ctx context.Context, eventID uuid.UUID, seatIDs []uuid.UUID, bookingID uuid.UUID) error
}

// Admission says whether a user may book an event whose waiting room is
// on.
type Admission interface {
	Admitted(ctx context.Context, eventID, userID uuid.UUID) (bool, error)
}

// Observer hears about the engine's outcomes (metrics, notifications).
type Observer interface {
	Held(b Booking, took time.Duration)
	Refused(code apperr.Code, took time.Duration)
	Confirmed(b Booking)
	Cancelled(b Booking)
	Expired(n int)
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
	// Store re-checks them atomically at every hold.
	SaleCacheTTL time.Duration
	// LocksDown is told when the seat locks (Redis) fail; holds then go on
	// without them for LocksPause (default 5s).
	LocksDown  func(error)
	LocksPause time.Duration
}

// Service is the booking engine.
type Service struct {
	store    Store
	locks    Locks
	admit    Admission
	observe  Observer
	released ReleaseListener
	now      func() time.Time
	sales    *saleCache
	hints    *hints
	breaker  *breaker
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
	if o.LocksPause == 0 {
		o.LocksPause = 5 * time.Second
	}
	clock := o.Now
	return &Service{
		store:    store,
		locks:    locks,
		admit:    o.Admission,
		observe:  o.Observer,
		released: o.Released,
		// Postgres keeps microseconds: times the engine hands out must
		// read back equal.
		now:     func() time.Time { return clock().Truncate(time.Microsecond) },
		sales:   &saleCache{ttl: o.SaleCacheTTL, entries: map[uuid.UUID]cachedSale{}},
		hints:   &hints{ttl: time.Second, m: map[hintKey]hint{}, sold: map[hintKey]soldMark{}},
		breaker: &breaker{pause: o.LocksPause, onTrip: o.LocksDown},
	}
}

// HoldRequest asks for a hold: either SeatIDs or Quantity (with an
// optional Section).
type HoldRequest struct {
	EventID  uuid.UUID
	UserID   uuid.UUID
	SeatIDs  []uuid.UUID
	Quantity int
	Section  string
}

// Hold creates a pending booking for the requested seats.
func (s *Service) Hold(ctx context.Context, req HoldRequest) (Booking, error) {
	start := time.Now()
	b, err := s.hold(ctx, req)
	if err != nil {
		s.observe.Refused(apperr.CodeOf(err), time.Since(start))
		return Booking{}, err
	}
	s.observe.Held(b, time.Since(start))
	return b, nil
}

func (s *Service) hold(ctx context.Context, req HoldRequest) (Booking, error) {
	now := s.now()
	sale, err := s.sale(ctx, req.EventID, now)
	if err != nil {
		return Booking{}, err
	}
	if err := validateHold(req, sale); err != nil {
		return Booking{}, err
	}
	if ok, why := sale.openAt(now); !ok {
		return Booking{}, apperr.New(apperr.SalesClosed, "%s", why)
	}
	if sale.WaitingRoomEnabled && s.admit != nil {
		ok, err := s.admit.Admitted(ctx, req.EventID, req.UserID)
		if err != nil {
			return Booking{}, apperr.Wrap(err, apperr.Unavailable, "The waiting room cannot be checked right now; try again.")
		}
		if !ok {
			return Booking{}, apperr.New(apperr.WaitingRoomRequired, "This event has a waiting room: join it and book once admitted.")
		}
	}

	id, err := uuid.NewV7()
	if err != nil {
		return Booking{}, fmt.Errorf("booking id: %w", err)
	}
	expires := now.Add(sale.HoldTTL)
	if len(req.SeatIDs) > 0 {
		return s.holdSeats(ctx, SeatHold{
			BookingID: id, EventID: req.EventID, UserID: req.UserID,
			SeatIDs: req.SeatIDs, Now: now, ExpiresAt: expires,
		}, sale.HoldTTL)
	}
	return s.holdBest(ctx, req, sale, id, now, expires)
}

func (s *Service) holdSeats(ctx context.Context, h SeatHold, ttl time.Duration) (Booking, error) {
	locked := false
	if s.breaker.closed() {
		lctx, cancel := context.WithTimeout(ctx, lockTimeout)
		taken, err := s.locks.Acquire(lctx, h.EventID, h.SeatIDs, h.BookingID, ttl)
		cancel()
		switch {
		case err != nil:
			// Redis is a filter, not the truth: without it the hold goes
			// on, and Postgres's row locks and unique index still make a
			// double sale impossible.
			s.breaker.trip(err)
		case len(taken) > 0:
			return Booking{}, seatsTaken(taken)
		default:
			locked = true
		}
	}
	b, err := s.store.HoldSeats(ctx, h)
	if err != nil {
		if locked {
			// Give the locks back whatever happened; the seats may be
			// someone else's to take now.
			s.releaseLocks(ctx, h.EventID, h.SeatIDs, h.BookingID)
		}
		return Booking{}, err
	}
	return b, nil
}

// lockTimeout bounds each seat-lock call, so that an unreachable Redis
// costs a hold at most this long (and then, for a while, nothing).
const lockTimeout = 300 * time.Millisecond

// releaseLocks deletes a booking's seat locks, best effort.
func (s *Service) releaseLocks(ctx context.Context, eventID uuid.UUID, seats []uuid.UUID, bookingID uuid.UUID) {
	if !s.breaker.closed() {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lockTimeout)
	defer cancel()
	if err := s.locks.Release(rctx, eventID, seats, bookingID); err != nil {
		s.breaker.trip(err)
	}
}

// breaker skips the seat locks for a while after Redis failed, so that an
// outage does not add a timeout to every hold.
type breaker struct {
	mu       sync.Mutex
	openTill time.Time
	pause    time.Duration
	onTrip   func(error)
}

func (b *breaker) closed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return time.Now().After(b.openTill)
}

func (b *breaker) trip(err error) {
	b.mu.Lock()
	b.openTill = time.Now().Add(b.pause)
	b.mu.Unlock()
	if b.onTrip != nil {
		b.onTrip(err)
	}
}

func (s *Service) holdBest(ctx context.Context, req HoldRequest, sale Sale, id uuid.UUID, now, expires time.Time) (Booking, error) {
	lo, hi, adjacent := 1, 0, false
	if req.Section != "" {
		sec, _ := sale.section(req.Section)
		lo, hi, adjacent = sec.First, sec.Last, sec.Numbered
	} else if len(sale.Sections) > 0 {
		lo, hi = sale.Sections[0].First, sale.Sections[len(sale.Sections)-1].Last
		for _, sec := range sale.Sections {
			adjacent = adjacent || sec.Numbered
		}
	}
	key := hintKey{event: req.EventID, lo: lo, hi: hi}
	if s.hints.soldOut(key, req.Quantity, now) {
		return Booking{}, apperr.New(apperr.SoldOut, "Fewer than %d seats are free.", req.Quantity)
	}
	from := max(lo, s.hints.get(key, now))
	for {
		h := BestHold{
			BookingID: id, EventID: req.EventID, UserID: req.UserID, Quantity: req.Quantity,
			Lo: from, Hi: hi, Adjacent: adjacent, Now: now, ExpiresAt: expires,
		}
		b, first, err := s.store.HoldBest(ctx, h)
		if apperr.Is(err, apperr.SoldOut) && from > lo {
			// Seats below the hint may have come back: look again from the
			// start before saying sold out.
			from = lo
			continue
		}
		if apperr.Is(err, apperr.SoldOut) {
			s.hints.markSoldOut(key, req.Quantity, now)
		}
		if err != nil {
			return Booking{}, err
		}
		s.hints.set(key, first, now)
		ids := make([]uuid.UUID, len(b.Seats))
		for i, seat := range b.Seats {
			ids[i] = seat.ID
		}
		// The seats are already ours in Postgres; the Redis locks only make
		// buyers of these exact seats fail fast, so a failure here is
		// harmless.
		if s.breaker.closed() {
			lctx, cancel := context.WithTimeout(ctx, lockTimeout)
			// The locks lapse with the hold, not a hold time after now.
			if err := s.locks.Set(lctx, req.EventID, ids, b.ID, b.ExpiresAt.Sub(s.now())); err != nil {
				s.breaker.trip(err)
			}
			cancel()
		}
		return b, nil
	}
}

func validateHold(req HoldRequest, sale Sale) error {
	var v apperr.Validator
	switch {
	case len(req.SeatIDs) > 0 && req.Quantity != 0:
		v.Add("seat_ids", "give either seat_ids or quantity, not both")
	case len(req.SeatIDs) == 0 && req.Quantity == 0:
		v.Add("quantity", "give either seat_ids or quantity")
	case len(req.SeatIDs) > 0:
		v.Check(len(req.SeatIDs) <= sale.MaxSeatsPerBooking, "seat_ids",
			fmt.Sprintf("at most %d seats per booking", sale.MaxSeatsPerBooking))
		v.Check(req.Section == "", "section", "section goes with quantity, not seat_ids")
		sorted := slices.Clone(req.SeatIDs)
		slices.SortFunc(sorted, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })
		v.Check(len(slices.Compact(sorted)) == len(req.SeatIDs), "seat_ids", "must not repeat a seat")
	default:
		v.Check(req.Quantity >= 1, "quantity", "must be at least 1")
		v.Check(req.Quantity <= sale.MaxSeatsPerBooking, "quantity",
			fmt.Sprintf("at most %d seats per booking", sale.MaxSeatsPerBooking))
		if req.Section != "" {
			_, ok := sale.section(req.Section)
			v.Check(ok, "section", "no such section in this event")
		}
	}
	return v.Err()
}

func seatsTaken(ids []uuid.UUID) error {
	return apperr.New(apperr.SeatUnavailable, "%d of the seats asked for are taken.", len(ids)).With("seat_ids", ids)
}

// Confirm confirms the caller's pending hold. Confirming a confirmed
// booking returns it unchanged.
func (s *Service) Confirm(ctx context.Context, id uuid.UUID, who auth.Principal, paymentRef *string) (Booking, error) {
	b, changed, err := s.store.Confirm(ctx, id, who.UserID, paymentRef, s.now())
	if err != nil {
		if apperr.Is(err, apperr.HoldExpired) {
			s.observe.Expired(1)
		}
		return Booking{}, err
	}
	if changed {
		s.observe.Confirmed(b)
	}
	return b, nil
}

// Cancel cancels a pending or confirmed booking: its seats go back on sale
// at once.
func (s *Service) Cancel(ctx context.Context, id uuid.UUID, who auth.Principal) (Booking, error) {
	var owner *uuid.UUID
	if !who.IsAdmin() {
		owner = &who.UserID
	}
	return s.cancel(ctx, id, owner, false)
}

// Decline cancels the caller's pending hold (a waitlist offer they turn
// down); a booking confirmed meanwhile is left alone (InvalidState).
func (s *Service) Decline(ctx context.Context, id uuid.UUID, who auth.Principal) error {
	_, err := s.cancel(ctx, id, &who.UserID, true)
	return err
}

func (s *Service) cancel(ctx context.Context, id uuid.UUID, owner *uuid.UUID, pendingOnly bool) (Booking, error) {
	b, err := s.store.Cancel(ctx, id, owner, s.now(), pendingOnly)
	if err != nil {
		return Booking{}, err
	}
	s.afterRelease(ctx, b.EventID, b.ID, seatIDs(b.Seats))
	s.observe.Cancelled(b)
	return b, nil
}

// Get returns a booking to its owner or an admin; to anyone else it does
// not exist.
func (s *Service) Get(ctx context.Context, id uuid.UUID, who auth.Principal) (Booking, error) {
	var owner *uuid.UUID
	if !who.IsAdmin() {
		owner = &who.UserID
	}
	return s.store.Get(ctx, id, owner, s.now())
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
			s.sales.forget(eventID)
			s.hints.released(eventID, n)
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

func (s *Service) afterRelease(ctx context.Context, eventID, bookingID uuid.UUID, seats []uuid.UUID) {
	s.releaseLocks(ctx, eventID, seats, bookingID)
	s.hints.released(eventID, len(seats))
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
	if sale, ok := s.sales.get(eventID, now); ok {
		return sale, nil
	}
	sale, err := s.store.Sale(ctx, eventID)
	if err != nil {
		return Sale{}, err
	}
	s.sales.put(eventID, sale, now)
	return sale, nil
}

// ForgetSale drops the cached facts of an event (after it was changed).
func (s *Service) ForgetSale(eventID uuid.UUID) { s.sales.forget(eventID) }

type cachedSale struct {
	sale    Sale
	expires time.Time
}

type saleCache struct {
	mu      sync.Mutex
	ttl     time.Duration
	entries map[uuid.UUID]cachedSale
}

func (c *saleCache) get(id uuid.UUID, now time.Time) (Sale, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[id]
	if !ok || !now.Before(e.expires) {
		return Sale{}, false
	}
	return e.sale, true
}

func (c *saleCache) put(id uuid.UUID, s Sale, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) > 10000 {
		clear(c.entries)
	}
	c.entries[id] = cachedSale{sale: s, expires: now.Add(c.ttl)}
}

func (c *saleCache) forget(id uuid.UUID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, id)
}

// hints remember, per event and position range, where the last
// best-available hold found its first free seat, so that the next one
// starts there instead of wading through every seat sold before it. A hint
// is only a starting point: a hold that finds too few seats from its hint
// looks again from the start, and hints lapse after a second so that seats
// released elsewhere are found.
type hintKey struct {
	event  uuid.UUID
	lo, hi int
}

type hint struct {
	pos int
	at  time.Time
}

type hints struct {
	mu  sync.Mutex
	ttl time.Duration
	m   map[hintKey]hint
	// sold remembers, for soldOutTTL, the smallest quantity a range could
	// not serve even after looking from its start: when an on-sale is over,
	// the storm of buyers still pressing the button is answered without
	// asking Postgres again and again.
	sold map[hintKey]soldMark
}

// soldMark is the smallest quantity a range could not serve, and when.
type soldMark struct {
	quantity int
	at       time.Time
}

// soldOutTTL is how long "sold out" is remembered; seats released by
// another process are found at most this late.
const soldOutTTL = 250 * time.Millisecond

func (h *hints) soldOut(k hintKey, quantity int, now time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	e, ok := h.sold[k]
	return ok && now.Sub(e.at) < soldOutTTL && !now.Before(e.at) && quantity >= e.quantity
}

func (h *hints) markSoldOut(k hintKey, quantity int, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.sold) > 10000 {
		clear(h.sold)
	}
	if e, ok := h.sold[k]; ok && now.Sub(e.at) < soldOutTTL && e.quantity < quantity {
		quantity = e.quantity
	}
	h.sold[k] = soldMark{quantity: quantity, at: now}
}

func (h *hints) get(k hintKey, now time.Time) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	e, ok := h.m[k]
	if !ok || now.Sub(e.at) > h.ttl || now.Before(e.at) {
		return 0
	}
	return e.pos
}

func (h *hints) set(k hintKey, pos int, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.m) > 10000 {
		clear(h.m)
	}
	h.m[k] = hint{pos: pos, at: now}
}

// released records that n seats of the event came back. A range found
// sold out for quantities of q and more can now serve at most n more
// seats, so only quantities of q+n and more are still surely sold out:
// smaller requests go to Postgres again, and the storm of larger ones at
// the end of an on-sale is still answered from memory. The allocation
// hints stay: seats released below a hint are found when a scan from the
// hint comes up short, or when the hint lapses (a second at most);
// resetting them on every cancellation would send each next hold wading
// through every seat sold.
func (h *hints) released(event uuid.UUID, n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for k, m := range h.sold {
		if k.event == event {
			m.quantity += n
			h.sold[k] = m
		}
	}
}

type nopObserver struct{}

func (nopObserver) Held(Booking, time.Duration)        {}
func (nopObserver) Refused(apperr.Code, time.Duration) {}
func (nopObserver) Confirmed(Booking)                  {}
func (nopObserver) Cancelled(Booking)                  {}
func (nopObserver) Expired(int)                        {}
