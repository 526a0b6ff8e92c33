package booking

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/batch"
	"github.com/evently/evently/internal/event"
)

// HoldRequest asks for a hold: either SeatIDs or Quantity (with an
// optional Section).
type HoldRequest struct {
	EventID  uuid.UUID
	UserID   uuid.UUID
	SeatIDs  []uuid.UUID
	Quantity int
	Section  string
	// Key, when set, records the answer with the hold (see
	// IdempotencyKey).
	Key *IdempotencyKey
	// AdmissionPass is the waiting-room pass the client sent, if any.
	AdmissionPass string
}

// IdempotencyKey ties a hold to a client's Idempotency-Key. When the hold
// is decided in a batch, the store records the answer for the key in the
// batch's own transaction, so a key has its answer committed with its
// hold, or has no hold at all — a retry after any failure either replays
// the answer or holds afresh, never twice.
type IdempotencyKey struct {
	Key  string
	Hash []byte
	// Answer renders the answer recorded for the key: the status and body
	// that answer the hold's outcome.
	Answer func(Booking, error) (status int, body []byte)

	mu       sync.Mutex
	status   int
	body     []byte
	recorded bool
}

// Render renders the answer for an outcome and keeps it: the store calls
// it to get what to record.
func (k *IdempotencyKey) Render(b Booking, err error) (int, []byte) {
	status, body := k.Answer(b, err)
	k.mu.Lock()
	k.status, k.body = status, body
	k.mu.Unlock()
	return status, body
}

// Recorded returns the answer committed for the key with the hold's
// outcome; ok is false when none was (the hold was refused before it
// reached Postgres, or its batch failed).
func (k *IdempotencyKey) Recorded() (status int, body []byte, ok bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.status, k.body, k.recorded
}

func (k *IdempotencyKey) markRecorded() {
	k.mu.Lock()
	k.recorded = true
	k.mu.Unlock()
}

// ErrKeyUsed means the hold's idempotency key already has an answer,
// recorded by an earlier or concurrent request: replay that one.
var ErrKeyUsed = errors.New("idempotency key already answered")

// PendingHold is one validated hold request in a batch.
type PendingHold struct {
	BookingID uuid.UUID
	UserID    uuid.UUID
	// SeatIDs asks for exactly these seats; otherwise Quantity asks for the
	// best seats of Range, in one row when Adjacent and possible.
	SeatIDs  []uuid.UUID
	Quantity int
	Range    Range
	Adjacent bool
	// TTL is the hold time: the hold expires TTL after the batch's Now.
	TTL time.Duration
	Key *IdempotencyKey

	// probe is set on the one request a stale sold-out mark let through
	// to ask Postgres again.
	probe bool
	// queued is true while the request counts in its range's demand (see
	// memo.enqueue); answered clears it, once.
	queued *atomic.Bool
}

// answered takes a best-available hold out of its range's demand, once:
// its batch does so as soon as it is decided — before the batch records
// the seats it left, so that the requests it served are not counted
// against those seats — and the request itself when it never reached a
// batch.
func (s *Service) answered(eventID uuid.UUID, h PendingHold) {
	if h.queued != nil && h.queued.CompareAndSwap(true, false) {
		s.memo.dequeue(eventID, h.Range, h.Quantity)
	}
}

// HoldBatch is the holds of one event that one transaction writes.
type HoldBatch struct {
	EventID uuid.UUID
	Now     time.Time
	Holds   []PendingHold
	// From is where the scan for free seats of each range starts (the
	// allocation hint); seats before it are looked at only when too few
	// are found after it.
	From map[Range]int
	// Limit is the event's limit of seats per buyer, as the store read it
	// in the batch's transaction.
	Limit PurchaseLimit
}

// PurchaseLimit caps the seats each buyer's live bookings of an event (holds
// that have not lapsed, and confirmed bookings) hold together.
type PurchaseLimit struct {
	// Max is the most seats per buyer; 0: no limit.
	Max int
	// Live is the seats each buyer's live bookings hold already.
	Live map[uuid.UUID]int
}

// wants is how many seats h asks for.
func (h PendingHold) wants() int {
	if len(h.SeatIDs) > 0 {
		return len(h.SeatIDs)
	}
	return h.Quantity
}

// Buyers returns the distinct users of the batch's holds.
func (b HoldBatch) Buyers() []uuid.UUID {
	var out []uuid.UUID
	for _, h := range b.Holds {
		if !slices.Contains(out, h.UserID) {
			out = append(out, h.UserID)
		}
	}
	return out
}

// Ranges returns the ranges the batch's best-available holds ask for.
func (b HoldBatch) Ranges() []Range {
	var out []Range
	for _, h := range b.Holds {
		if len(h.SeatIDs) == 0 && !slices.Contains(out, h.Range) {
			out = append(out, h.Range)
		}
	}
	return out
}

// SeatIDs returns every seat the batch's specific-seat holds ask for.
func (b HoldBatch) SeatIDs() []uuid.UUID {
	var out []uuid.UUID
	for _, h := range b.Holds {
		out = append(out, h.SeatIDs...)
	}
	return out
}

// HoldResults are a hold batch's outcomes.
type HoldResults struct {
	// Bookings made, per hold (zero when refused).
	Bookings []Booking
	// Refusals per hold (nil when held). ErrKeyUsed refuses a hold whose
	// key was answered by another request.
	Refusals []error
	// First is, per range scanned, the position of the first free seat
	// seen: the next batch's hint.
	First map[Range]int
	// Short are the ranges where a best-available hold was refused for
	// want of seats, with the smallest quantity refused.
	Short map[Range]int
	// Free is, per range scanned, how many available seats the batch
	// left (as its reads saw them); ranges with at least FreeCountLimit
	// seats left are not listed.
	Free map[Range]int
}

// FreeCountLimit bounds the count of free seats a hold batch makes per
// range: past it, the exact figure does not matter.
const FreeCountLimit = 1024

// Hold creates a pending booking for the requested seats.
func (s *Service) Hold(ctx context.Context, req HoldRequest) (Booking, error) {
	start := time.Now()
	b, err := s.hold(ctx, req)
	if err != nil {
		s.observe.Refused(req.EventID, apperr.CodeOf(err), time.Since(start))
		return Booking{}, err
	}
	s.observe.Held(b, time.Since(start))
	return b, nil
}

func (s *Service) hold(ctx context.Context, req HoldRequest) (Booking, error) {
	if err := req.Validate(); err != nil {
		return Booking{}, err
	}
	now := s.now()
	sale, err := s.sale(ctx, req.EventID, now)
	if err != nil {
		return Booking{}, err
	}
	if sale.Status == "draft" {
		return Booking{}, event.NotFound(req.EventID)
	}
	if err := validateHold(req, sale); err != nil {
		return Booking{}, err
	}
	if err := sale.OpenAt(now); err != nil {
		return Booking{}, err
	}
	if sale.WaitingRoomEnabled && s.admit != nil {
		if err := s.admit.CheckAdmission(ctx, req.EventID, req.UserID, req.AdmissionPass); err != nil {
			return Booking{}, err
		}
	}
	id, err := uuid.NewV7()
	if err != nil {
		return Booking{}, fmt.Errorf("booking id: %w", err)
	}
	h := PendingHold{BookingID: id, UserID: req.UserID, TTL: sale.HoldTTL, Key: req.Key}
	if len(req.SeatIDs) > 0 {
		if err := s.rationed(ctx, req); err != nil {
			return Booking{}, err
		}
		h.SeatIDs = req.SeatIDs
		return s.holdSeats(ctx, req.EventID, h)
	}
	h.Quantity = req.Quantity
	h.Range, h.Adjacent = sale.rangeOf(req.Section)
	// A range known to be sold out is answered from memory, before the
	// ration is asked: that answer costs no Redis call and holds nothing.
	refuse, probe := s.memo.soldOut(req.EventID, h.Range, h.Quantity, now)
	if refuse {
		return Booking{}, SoldOut(h.Quantity)
	}
	if err := s.rationed(ctx, req); err != nil {
		return Booking{}, err
	}
	if !s.memo.enqueue(req.EventID, h.Range, h.Quantity, now) {
		return Booking{}, SoldOut(h.Quantity)
	}
	h.queued = new(atomic.Bool)
	h.queued.Store(true)
	defer s.answered(req.EventID, h)
	h.probe = probe
	return s.holds.Do(ctx, req.EventID, h)
}

// rangeOf is the position range a best-available hold of section (or of
// the whole event, for "") draws from, and whether adjacency matters
// there.
func (s Sale) rangeOf(section string) (Range, bool) {
	if section != "" {
		sec, _ := s.section(section)
		return Range{sec.First, sec.Last}, sec.Numbered
	}
	if len(s.Sections) == 0 {
		return Range{1, 0}, false
	}
	adjacent := false
	for _, sec := range s.Sections {
		adjacent = adjacent || sec.Numbered
	}
	return Range{s.Sections[0].First, s.Sections[len(s.Sections)-1].Last}, adjacent
}

// holdSeats locks specific seats in Redis (all or none; a taken seat is
// refused there, without touching Postgres), then holds them in a batch.
func (s *Service) holdSeats(ctx context.Context, eventID uuid.UUID, h PendingHold) (Booking, error) {
	locked := false
	if s.breaker.closed() {
		lctx, cancel := context.WithTimeout(ctx, lockTimeout)
		taken, err := s.locks.Acquire(lctx, eventID, h.SeatIDs, h.BookingID, h.TTL)
		cancel()
		switch {
		case err != nil:
			// Redis is a filter, not the truth: without it the hold goes
			// on, and Postgres's row locks and unique index still make a
			// double sale impossible.
			s.breaker.trip(err)
		case len(taken) > 0:
			return Booking{}, SeatsTaken(taken)
		default:
			locked = true
		}
	}
	b, err := s.holds.Do(ctx, eventID, h)
	if err != nil && locked && ctx.Err() == nil {
		// Not held (refused, or the batch failed): give the locks back,
		// the seats may be someone else's to take now.
		s.releaseLocks(ctx, eventID, h.SeatIDs, h.BookingID)
	}
	return b, err
}

// runHolds is a hold batch of one event: one transaction for every hold
// queued, then the batch's after-effects.
//
// Requests that queued while an earlier batch found their range sold out
// are refused here, from the memo, without waiting for Postgres: when an
// on-sale ends, the wave of buyers behind the batch that sold the last
// seat is answered at once.
func (s *Service) runHolds(ctx context.Context, eventID uuid.UUID, holds []PendingHold) []batch.Result[Booking] {
	start := time.Now()
	now := s.now()
	out := make([]batch.Result[Booking], len(holds))
	var (
		keep []PendingHold
		idx  []int // keep[j] is holds[idx[j]]
	)
	for i, h := range holds {
		if len(h.SeatIDs) == 0 && !h.probe {
			if refuse, _ := s.memo.soldOut(eventID, h.Range, h.Quantity, now); refuse {
				out[i].Err = SoldOut(h.Quantity)
				s.answered(eventID, h)
				continue
			}
		}
		keep, idx = append(keep, h), append(idx, i)
	}
	if len(keep) == 0 {
		return out
	}
	b := HoldBatch{EventID: eventID, Now: now, Holds: keep}
	b.From = s.memo.from(eventID, b.Ranges(), b.Now)
	epoch := s.memo.epoch(eventID)
	var got []batch.Result[Booking]
	res, err := s.store.Hold(ctx, b)
	for _, h := range keep {
		s.answered(eventID, h)
	}
	if err != nil {
		got = s.retryHolds(ctx, b, err)
	} else {
		s.observe.Batched("hold", len(keep), time.Since(start))
		s.afterHolds(ctx, b, res, epoch)
		got = make([]batch.Result[Booking], len(keep))
		for j := range keep {
			got[j] = batch.Result[Booking]{Value: res.Bookings[j], Err: res.Refusals[j]}
		}
	}
	for j, i := range idx {
		out[i] = got[j]
	}
	return out
}

// retryHolds answers the holds of a batch that failed: a hold whose
// booking exists after all (the commit went through but its answer was
// lost) is answered with it; every other hold is tried again on its own,
// once, so that a hold that breaks its batch fails alone. A retry reuses
// the hold's booking id, so it can never make a second booking.
func (s *Service) retryHolds(ctx context.Context, b HoldBatch, batchErr error) []batch.Result[Booking] {
	out := make([]batch.Result[Booking], len(b.Holds))
	for i, h := range b.Holds {
		if made, err := s.store.Get(ctx, h.BookingID, nil, b.Now); err == nil {
			if h.Key != nil {
				out[i].Err = ErrKeyUsed // its answer is recorded: replay it
				continue
			}
			out[i].Value = made
			continue
		}
		if len(b.Holds) == 1 {
			out[i].Err = batchErr
			continue
		}
		start := time.Now()
		one := HoldBatch{EventID: b.EventID, Now: s.now(), Holds: []PendingHold{h}, From: b.From}
		epoch := s.memo.epoch(b.EventID)
		res, err := s.store.Hold(ctx, one)
		if err != nil {
			out[i].Err = err
			continue
		}
		s.observe.Batched("hold", 1, time.Since(start))
		s.afterHolds(ctx, one, res, epoch)
		out[i] = batch.Result[Booking]{Value: res.Bookings[0], Err: res.Refusals[0]}
	}
	return out
}

// afterHolds follows a committed hold batch: idempotency answers are
// marked recorded, the allocation hints and the sold-out memo learn what
// the batch saw, and the seats given to best-available holds are locked
// in Redis (one call for the batch) so that buyers of those exact seats
// are refused fast.
func (s *Service) afterHolds(ctx context.Context, b HoldBatch, res HoldResults, epoch int) {
	var locks []SeatLock
	var until time.Time
	for i, h := range b.Holds {
		if h.Key != nil && !errors.Is(res.Refusals[i], ErrKeyUsed) {
			h.Key.markRecorded()
		}
		if res.Refusals[i] != nil || len(h.SeatIDs) > 0 {
			continue
		}
		bk := res.Bookings[i]
		s.memo.served(b.EventID, h.Range, h.Quantity)
		for _, seat := range bk.Seats {
			locks = append(locks, SeatLock{Seat: seat.ID, Booking: bk.ID})
		}
		until = bk.ExpiresAt
	}
	for r, first := range res.First {
		s.memo.hint(b.EventID, r, first, b.Now)
	}
	for r, q := range res.Short {
		s.memo.markSoldOut(b.EventID, r, q, b.Now, epoch)
	}
	for _, r := range b.Ranges() {
		n, ok := res.Free[r]
		if !ok {
			n = -1
		}
		s.memo.setFree(b.EventID, r, n, b.Now, epoch)
	}
	if len(locks) > 0 && s.breaker.closed() {
		lctx, cancel := context.WithTimeout(ctx, lockTimeout)
		// The seats are already the holds' in Postgres; the locks only make
		// buyers of these exact seats fail fast, so a failure is harmless.
		// The locks lapse with the holds, not a hold time after now.
		if err := s.locks.Set(lctx, b.EventID, locks, until.Sub(s.now())); err != nil {
			s.breaker.trip(err)
		}
		cancel()
	}
}

// rationed takes the hold from the buyer's budget for the event, or
// refuses it (429 rate_limited, saying when to come back). The budget is
// kept in Redis: while Redis fails, holds go on unrationed, as they go on
// without seat locks.
func (s *Service) rationed(ctx context.Context, req HoldRequest) error {
	if s.rate == nil || !s.breaker.closed() {
		return nil
	}
	rctx, cancel := context.WithTimeout(ctx, lockTimeout)
	ok, wait, err := s.rate.AllowHold(rctx, req.EventID, req.UserID)
	cancel()
	switch {
	case err != nil:
		if ctx.Err() == nil {
			s.breaker.trip(err)
		}
		return nil
	case !ok:
		secs := max(1, int((wait+time.Second-1)/time.Second))
		e := apperr.New(apperr.RateLimited, "Too many holds for this event; try again in %d s.", secs)
		e.RetryAfter = wait
		return e
	}
	return nil
}

// Validate checks what a hold request says on its own: which seats it
// asks for, and how. What depends on the event — its limit per booking,
// its sections — is checked against the event's sale facts (validateHold).
func (r HoldRequest) Validate() error {
	var v apperr.Validator
	v.Check(r.EventID != uuid.Nil, "event_id", "is required")
	switch {
	case len(r.SeatIDs) > 0 && r.Quantity != 0:
		v.Add("seat_ids", "give either seat_ids or quantity, not both")
	case len(r.SeatIDs) == 0 && r.Quantity == 0:
		v.Add("quantity", "give seat_ids, or a quantity of at least 1")
	case len(r.SeatIDs) > 0:
		v.Check(r.Section == "", "section", "section goes with quantity, not seat_ids")
		sorted := slices.Clone(r.SeatIDs)
		slices.SortFunc(sorted, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })
		v.Check(len(slices.Compact(sorted)) == len(r.SeatIDs), "seat_ids", "must not repeat a seat")
	default:
		v.Check(r.Quantity >= 1, "quantity", "must be at least 1")
	}
	return v.Err()
}

// validateHold checks a valid request against the event's sale facts.
func validateHold(req HoldRequest, sale Sale) error {
	var v apperr.Validator
	if len(req.SeatIDs) > 0 {
		v.Check(len(req.SeatIDs) <= sale.MaxSeatsPerBooking, "seat_ids",
			fmt.Sprintf("at most %d seats per booking", sale.MaxSeatsPerBooking))
	} else {
		v.Check(req.Quantity <= sale.MaxSeatsPerBooking, "quantity",
			fmt.Sprintf("at most %d seats per booking", sale.MaxSeatsPerBooking))
		if req.Section != "" {
			_, ok := sale.section(req.Section)
			v.Check(ok, "section", "no such section in this event")
		}
	}
	return v.Err()
}

// lockTimeout bounds each seat-lock call, so that an unreachable Redis
// costs a hold at most this long (and then, for a while, nothing).
const lockTimeout = 300 * time.Millisecond

// releaseLocks deletes a booking's seat locks, best effort.
func (s *Service) releaseLocks(ctx context.Context, eventID uuid.UUID, seats []uuid.UUID, bookingID uuid.UUID) {
	if len(seats) == 0 || !s.breaker.closed() {
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
	now      func() time.Time
}

func (b *breaker) closed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.now().After(b.openTill)
}

func (b *breaker) trip(err error) {
	b.mu.Lock()
	b.openTill = b.now().Add(b.pause)
	b.mu.Unlock()
	if b.onTrip != nil {
		b.onTrip(err)
	}
}
