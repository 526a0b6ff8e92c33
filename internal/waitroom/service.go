package waitroom

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	randv2 "math/rand/v2"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/event"
	"github.com/evently/evently/internal/ttlcache"
)

// Catalogue reads events' waiting-room settings (Postgres).
type Catalogue interface {
	// Room returns the event's room, or NotFound.
	Room(ctx context.Context, eventID uuid.UUID) (Room, error)
	// OpenRooms returns up to limit rooms that are enabled, of published
	// events that have neither started nor ended their sales at now.
	OpenRooms(ctx context.Context, now time.Time, limit int) ([]Room, error)
}

// Queue keeps every room's counters and tickets (Redis). Each method is
// one atomic step; times are the caller's, so the Service's clock is the
// only clock.
//
// A room opens once, in one atomic step, at the first Join, Place or
// Admit told that sales have opened (Arrival.Open, open, Policy.Open): the
// pre-queue, in the order of its members' keys, takes the numbers after
// those already given, and every later join takes the next number. Until
// then, joins enter the pre-queue. Opening is idempotent, so replicas may
// all try.
type Queue interface {
	// Join gives the user a place: in the pre-queue, with the arrival's
	// key, while the room has not opened; otherwise the next number. It
	// keeps the place they hold while they wait or are admitted (a lapsed
	// admission queues them again at the back). While the user waits and no
	// admission chain holds the room, Join hands the room to chain: armed
	// reports that the caller must schedule that chain's first run.
	Join(ctx context.Context, eventID uuid.UUID, a Arrival, chain string) (p Place, armed bool, err error)
	// Place returns the user's ticket; ok is false when they hold none.
	// open says sales have opened at the caller's clock.
	Place(ctx context.Context, eventID, userID uuid.UUID, open bool) (p Place, ok bool, err error)
	// Leave gives up the user's ticket (and admission, freeing its slot)
	// and returns it. An admission still running at now is recorded as
	// revoked until it would have lapsed (see Revoked).
	Leave(ctx context.Context, eventID, userID uuid.UUID, now time.Time) (p Place, ok bool, err error)
	// Admitted reports whether the user's admission runs past now. It is
	// the booking hot path's one call when no pass is sent.
	Admitted(ctx context.Context, eventID, userID uuid.UUID, now time.Time) (bool, error)
	// Revoked returns the admissions of the event revoked by leaving that
	// would still run at now: admission number → when it would lapse.
	Revoked(ctx context.Context, eventID uuid.UUID, now time.Time) (map[int64]time.Time, error)
	// Admit runs one step of an admission chain under policy p: it checks
	// that run is the chain's current step, opens the room if p.Open,
	// drops lapsed admissions, admits the next users in number order within
	// p's limits, and lets go of the room when nobody waits any more.
	Admit(ctx context.Context, run Run, p Policy, now time.Time) (Batch, error)
	// Arm hands the room to chain when someone waits and no chain holds
	// it; true means the caller must schedule the chain's first run.
	Arm(ctx context.Context, eventID uuid.UUID, chain string) (bool, error)
	// Release lets go of the room if chain holds it.
	Release(ctx context.Context, eventID uuid.UUID, chain string) error
	// Counts returns the room's live figures at now.
	Counts(ctx context.Context, eventID uuid.UUID, now time.Time) (Counts, error)
	// ActiveAdmissions returns the admissions that run past now; with
	// when each was given (Admission.At) only if withStart, which costs a
	// read of every admitted user's ticket.
	ActiveAdmissions(ctx context.Context, eventID uuid.UUID, now time.Time, withStart bool) ([]Admission, error)
	// Waiters returns the users still waiting (not yet admitted), in queue
	// order.
	Waiters(ctx context.Context, eventID uuid.UUID) ([]uuid.UUID, error)
	// ToldSoldOut records that the users waiting when the room sold out
	// have been notified.
	ToldSoldOut(ctx context.Context, eventID uuid.UUID) error
}

// Scheduler runs admission steps later (asynq in production). Scheduling a
// run that is already scheduled is a no-op, so a retried step cannot fork
// its chain.
type Scheduler interface {
	Schedule(ctx context.Context, run Run, delay time.Duration) error
}

// Options tune a Service; zero values take the defaults.
type Options struct {
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Tick is the pause between admission runs while admitting (1s). Each
	// run admits what accrued since the last, so the rate does not depend
	// on it; it sets how smooth admissions are.
	Tick time.Duration
	// IdleTick is the pause between runs while the room is paused (5s).
	IdleTick time.Duration
	// RoomCacheTTL is how long joins and polls reuse an event's settings
	// (1s). Admission runs and admin reads always read them fresh.
	RoomCacheTTL time.Duration
	// PassSecret is the secret admission passes are signed with (the key
	// is derived from it); random per process when empty.
	PassSecret []byte
	// RevocationRefresh is how old a process's list of an event's revoked
	// passes may be when a pass is checked (2s); RevocationTimeout bounds
	// reading it again (250ms).
	RevocationRefresh time.Duration
	RevocationTimeout time.Duration
	// Draw returns a pre-queue key; crypto/rand when nil.
	Draw func() uint64
	// Stock, when set, bounds admissions by the event's inventory and
	// marks a room sold out (see Inventory); without it only the rate and
	// max_active bound them.
	Stock Stock
	// Notices, when set, tell the users waiting in a room that sells out.
	Notices SoldOutNotices
	// Latency and Rates, when both set, let rooms in admit_mode auto tune
	// their own rate (see tune); without them such rooms keep the
	// organiser's rate.
	Latency Latency
	Rates   RateLog
}

// maxOpenRooms bounds how many rooms one re-arm pass or scrape visits.
const maxOpenRooms = 1000

// Service is the waiting room.
type Service struct {
	catalogue Catalogue
	queue     Queue
	runs      Scheduler
	now       func() time.Time
	tick      time.Duration
	idleTick  time.Duration
	rooms     roomCache
	passes    *Passes
	revoked   *revocations
	draw      func() uint64
	stock     Stock
	notices   SoldOutNotices
	latency   Latency
	rates     RateLog
}

// NewService returns the waiting room over the given catalogue, queue and
// scheduler.
func NewService(catalogue Catalogue, queue Queue, runs Scheduler, o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Tick <= 0 {
		o.Tick = time.Second
	}
	if o.IdleTick <= 0 {
		o.IdleTick = 5 * time.Second
	}
	if o.RoomCacheTTL <= 0 {
		o.RoomCacheTTL = time.Second
	}
	if o.RevocationRefresh <= 0 {
		o.RevocationRefresh = 2 * time.Second
	}
	if o.RevocationTimeout <= 0 {
		o.RevocationTimeout = 250 * time.Millisecond
	}
	if o.Draw == nil {
		o.Draw = drawKey
	}
	return &Service{
		catalogue: catalogue,
		queue:     queue,
		runs:      runs,
		now:       o.Now,
		tick:      o.Tick,
		idleTick:  o.IdleTick,
		rooms:     roomCache{ttlcache.New[uuid.UUID, cachedRoom](o.RoomCacheTTL, maxCachedRooms)},
		passes:    NewPasses(o.PassSecret),
		revoked:   newRevocations(o.RevocationRefresh, o.RevocationTimeout, queue.Revoked),
		draw:      o.Draw,
		stock:     o.Stock,
		notices:   o.Notices,
		latency:   o.Latency,
		rates:     o.Rates,
	}
}

// KeyBits is the size of a pre-queue key: a sorted-set score (a double)
// holds integers of up to 53 bits exactly. Two joiners draw the same key
// with a chance of one in 2^53 (ties fall to the user id's order).
const KeyBits = 53

// drawKey draws a pre-queue key from crypto/rand: nobody, joiner or
// operator, can predict or steer the order it gives.
func drawKey() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics rather)
	return binary.BigEndian.Uint64(b[:]) >> (64 - KeyBits)
}

// Join puts the user in the event's waiting room, or returns the place
// they already hold. The room must be enabled on a published event whose
// sales have not ended (before sales open, joiners queue and admissions
// start when they do). Drafts and unknown events are NotFound; anything
// else is InvalidState.
func (s *Service) Join(ctx context.Context, eventID, userID uuid.UUID) (Ticket, error) {
	now := s.now()
	room, err := s.visibleRoom(ctx, eventID, now)
	if err != nil {
		return Ticket{}, err
	}
	if ph, why := room.phaseAt(now); ph == closed || !room.Enabled {
		return Ticket{}, apperr.New(apperr.InvalidState, "%s", why)
	}
	chain := uuid.NewString()
	a := Arrival{UserID: userID, At: now, Open: room.salesOpen(now), Key: s.draw()}
	p, armed, err := s.queue.Join(ctx, eventID, a, chain)
	if err != nil {
		return Ticket{}, unavailable(err)
	}
	if armed {
		if err := s.start(ctx, Run{EventID: eventID, Chain: chain}); err != nil {
			// The user holds their place; joining again re-arms the chain.
			return Ticket{}, unavailable(err)
		}
	}
	return s.ticket(room, userID, p, now), nil
}

// Status returns the user's ticket, or NotFound when they hold none.
func (s *Service) Status(ctx context.Context, eventID, userID uuid.UUID) (Ticket, error) {
	t, _, err := s.status(ctx, eventID, userID)
	return t, err
}

func (s *Service) status(ctx context.Context, eventID, userID uuid.UUID) (Ticket, Place, error) {
	now := s.now()
	room, err := s.visibleRoom(ctx, eventID, now)
	if err != nil {
		return Ticket{}, Place{}, err
	}
	p, ok, err := s.queue.Place(ctx, eventID, userID, room.salesOpen(now))
	if err != nil {
		return Ticket{}, Place{}, unavailable(err)
	}
	if !ok {
		return Ticket{}, Place{}, apperr.New(apperr.NotFound, "You are not in this event's waiting room.")
	}
	return s.ticket(room, userID, p, now), p, nil
}

// ticket is the Ticket the user sees, with their pass while admitted.
func (s *Service) ticket(room Room, userID uuid.UUID, p Place, now time.Time) Ticket {
	t := room.ticket(p, now, randv2.Float64())
	if t.Status == StatusAdmitted {
		t.Pass = s.passes.Sign(Pass{EventID: room.EventID, UserID: userID, Admission: p.Number, Expires: *p.AdmittedUntil})
	}
	return t
}

// Leave gives up the user's place or admission; leaving without a ticket
// changes nothing. The pass of an admission given up is revoked: at once
// in this process, within RevocationRefresh in the others.
func (s *Service) Leave(ctx context.Context, eventID, userID uuid.UUID) error {
	now := s.now()
	if _, err := s.visibleRoom(ctx, eventID, now); err != nil {
		return err
	}
	p, ok, err := s.queue.Leave(ctx, eventID, userID, now)
	if err != nil {
		return unavailable(err)
	}
	if ok && p.AdmittedUntil != nil && p.AdmittedUntil.After(now) {
		s.revoked.add(eventID, p.Number, *p.AdmittedUntil)
	}
	return nil
}

// Pass refusals: the reason a pass was refused, as the problem document's
// admission_pass member says it.
const (
	PassInvalid    = "invalid"
	PassExpired    = "expired"
	PassOtherEvent = "other_event"
	PassOtherUser  = "other_user"
	PassRevoked    = "revoked"
)

// CheckAdmission decides whether the user may book the event now; it
// implements booking.Admission. With a pass (the Evently-Admission header)
// it checks the pass alone, without Redis: the signature, the event, the
// user, the expiry, and this process's list of revoked admissions (read
// again at most every RevocationRefresh; when Redis cannot be read, the
// list last read). Without one, it asks Redis (one ZSCORE). A refusal is
// WaitingRoomRequired; Redis failing is Unavailable.
func (s *Service) CheckAdmission(ctx context.Context, eventID, userID uuid.UUID, pass string) error {
	now := s.now()
	if pass == "" {
		ok, err := s.queue.Admitted(ctx, eventID, userID, now)
		if err != nil {
			return apperr.Wrap(err, apperr.Unavailable, "The waiting room cannot be checked right now; try again, or send your admission pass.")
		}
		if !ok {
			return apperr.New(apperr.WaitingRoomRequired, "This event has a waiting room: join it and book once admitted.")
		}
		return nil
	}
	p, err := s.passes.Verify(pass)
	switch {
	case err != nil:
		return passRefused(PassInvalid, "The admission pass is not valid.")
	case p.EventID != eventID:
		return passRefused(PassOtherEvent, "The admission pass is for another event.")
	case p.UserID != userID:
		return passRefused(PassOtherUser, "The admission pass is someone else's.")
	case !now.Before(p.Expires):
		return passRefused(PassExpired, "The admission pass has expired: join the waiting room again.")
	case s.revoked.revoked(ctx, eventID, p.Admission, now):
		return passRefused(PassRevoked, "The admission pass was given up by leaving the waiting room: join it again.")
	}
	return nil
}

func passRefused(reason, detail string) error {
	return apperr.New(apperr.WaitingRoomRequired, "%s", detail).With("admission_pass", reason)
}

// Stats returns an event's room configuration and live figures (for
// admins: every event status, fresh settings).
func (s *Service) Stats(ctx context.Context, eventID uuid.UUID) (Stats, error) {
	room, err := s.catalogue.Room(ctx, eventID)
	if err != nil {
		return Stats{}, err
	}
	c, err := s.queue.Counts(ctx, eventID, s.now())
	if err != nil {
		return Stats{}, unavailable(err)
	}
	return statsOf(room, c), nil
}

// OpenRoomStats returns the stats of every open room (for metrics).
func (s *Service) OpenRoomStats(ctx context.Context) ([]Stats, error) {
	now := s.now()
	rooms, err := s.catalogue.OpenRooms(ctx, now, maxOpenRooms)
	if err != nil {
		return nil, err
	}
	out := make([]Stats, 0, len(rooms))
	for _, r := range rooms {
		c, err := s.queue.Counts(ctx, r.EventID, now)
		if err != nil {
			return out, fmt.Errorf("waiting room counts event=%s: %w", r.EventID, err)
		}
		out = append(out, statsOf(r, c))
	}
	return out, nil
}

// RunAdmission is one step of an event's admission chain (the body of the
// asynq task). It reads the room's settings afresh, so that a change
// applies from the next step, admits the next batch, and schedules the
// following step while anyone waits. A closed room ends its chain; a
// paused one idles. A stale step ends without a successor, so that one
// chain at most runs each room however many replicas schedule it.
func (s *Service) RunAdmission(ctx context.Context, run Run) error {
	room, err := s.catalogue.Room(ctx, run.EventID)
	if apperr.Is(err, apperr.NotFound) {
		return s.queue.Release(ctx, run.EventID, run.Chain)
	}
	if err != nil {
		return fmt.Errorf("admission run event=%s: %w", run.EventID, err)
	}
	now := s.now()
	ph, _ := room.phaseAt(now)
	if ph == closed {
		return s.queue.Release(ctx, run.EventID, run.Chain)
	}
	p, sig, err := s.inventoryPolicy(ctx, room, room.policy(ph == paused, now), now)
	if err != nil {
		return fmt.Errorf("admission run event=%s: %w", run.EventID, err)
	}
	b, err := s.queue.Admit(ctx, run, p, now)
	if err != nil {
		return fmt.Errorf("admission run event=%s: %w", run.EventID, err)
	}
	if b.Outcome == Stale || b.Released {
		return nil
	}
	// Tuning the rate is the run's last concern: if it fails, admissions
	// go on at the rate as it is (the successor is scheduled first) and
	// the error is reported, so that the task is retried (a retry of a
	// run that ran only schedules its successor again, a no-op).
	var tuneErr error
	if b.Outcome == Ran && !p.Paused {
		tuneErr = s.tune(ctx, room, p, b, sig, now)
	}
	if b.SoldOutAt != nil && !b.Told {
		if err := s.tellSoldOut(ctx, run.EventID, *b.SoldOutAt); err != nil {
			return fmt.Errorf("admission run event=%s: %w", run.EventID, err)
		}
	}
	delay := s.tick
	if p.Paused || b.SoldOutAt != nil {
		delay = s.idleTick
		if !p.Open {
			// Run at the opening itself, so that the room opens and admits
			// on time even if nobody polls then.
			delay = min(delay, room.SalesStart.Sub(now))
		}
	}
	if err := s.runs.Schedule(ctx, run.next(), delay); err != nil {
		return fmt.Errorf("schedule admission run event=%s: %w", run.EventID, err)
	}
	if tuneErr != nil {
		return fmt.Errorf("admission run event=%s: %w", run.EventID, tuneErr)
	}
	return nil
}

// Rearm starts an admission chain for every open room where someone waits
// and none runs (after a crash lost one). The cleanup job calls it; joins
// re-arm their room on their own. It returns how many chains it started.
func (s *Service) Rearm(ctx context.Context) (int, error) {
	rooms, err := s.catalogue.OpenRooms(ctx, s.now(), maxOpenRooms)
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, r := range rooms {
		chain := uuid.NewString()
		armed, err := s.queue.Arm(ctx, r.EventID, chain)
		if err == nil && armed {
			err = s.start(ctx, Run{EventID: r.EventID, Chain: chain})
			if err == nil {
				n++
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("re-arm waiting room event=%s: %w", r.EventID, err))
		}
	}
	return n, errors.Join(errs...)
}

// start schedules the first run of a chain that has just been handed a
// room, or hands the room back if it cannot.
func (s *Service) start(ctx context.Context, run Run) error {
	err := s.runs.Schedule(ctx, run, 0)
	if err != nil {
		relCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = s.queue.Release(relCtx, run.EventID, run.Chain)
	}
	return err
}

// visibleRoom returns the room of an event a user can see (not a draft),
// from the cache.
func (s *Service) visibleRoom(ctx context.Context, eventID uuid.UUID, now time.Time) (Room, error) {
	room, err := s.rooms.get(ctx, eventID, now, s.catalogue.Room)
	if err != nil {
		return Room{}, err
	}
	if room.Status == "draft" {
		return Room{}, event.NotFound(eventID)
	}
	return room, nil
}

func unavailable(err error) error {
	return apperr.Wrap(err, apperr.Unavailable, "The waiting room is unavailable right now; try again.")
}

// roomCache keeps events' settings briefly: a crowd polling one room costs
// one settings read per second per process. Unknown events are cached too.
type roomCache struct {
	*ttlcache.Cache[uuid.UUID, cachedRoom]
}

type cachedRoom struct {
	room Room
	err  error
}

// maxCachedRooms bounds the cache.
const maxCachedRooms = 10_000

func (c roomCache) get(ctx context.Context, id uuid.UUID, now time.Time, load func(context.Context, uuid.UUID) (Room, error)) (Room, error) {
	if e, ok := c.Get(id, now); ok {
		return e.room, e.err
	}
	room, err := load(ctx, id)
	if err != nil && !apperr.Is(err, apperr.NotFound) {
		return Room{}, err
	}
	c.Put(id, cachedRoom{room: room, err: err}, now)
	return room, err
}
