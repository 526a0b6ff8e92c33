package event

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/ttlcache"
)

// Store persists events, sections and seats. The methods that take a
// function run it inside one transaction that holds the event's row lock
// (SELECT ... FOR UPDATE), so that the rules it checks still hold when the
// change is written; a function's error aborts the change and is returned
// as it is.
type Store interface {
	// CreateEvent inserts e with its sections and every seat of them, and
	// sets e's CreatedAt and UpdatedAt. An existing id is a Conflict.
	CreateEvent(ctx context.Context, e *Event) error
	// Event returns an event with its sections (NotFound when missing).
	Event(ctx context.Context, id uuid.UUID) (Event, error)
	// Events returns up to f.Limit events with their sections, sorted by
	// (StartsAt, ID).
	Events(ctx context.Context, f Filter) ([]Event, error)
	// Availability counts the held (hold not expired) and booked seats of
	// each event; events with neither may be missing from the map.
	Availability(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]Availability, error)
	// SectionAvailability counts the held (hold not expired) and booked
	// seats of each section of an event, in section order (empty for an
	// unknown event).
	SectionAvailability(ctx context.Context, id uuid.UUID) ([]SectionAvailability, error)
	// Seats returns up to f.Limit seats in position order, with the status
	// a buyer sees (an expired hold is available). Section names and prices
	// are left for the caller to fill in.
	Seats(ctx context.Context, f SeatFilter) ([]Seat, error)
	// UpdateEvent lets fn change the event's own fields (not its sections)
	// and writes them. hadBookings reports whether any seat of the event
	// has ever been held or booked.
	UpdateEvent(ctx context.Context, id uuid.UUID, fn func(e *Event, hadBookings func() (bool, error)) error) (Event, error)
	// AddSection inserts the section fn returns, with its seats, and
	// returns the event with it.
	AddSection(ctx context.Context, id uuid.UUID, fn func(e Event) (Section, error)) (Event, error)
	// CancelEvent marks the event cancelled (unchanged when it already is).
	// Its transaction is where the booking engine cancels the event's
	// bookings, so that no hold can slip in between.
	CancelEvent(ctx context.Context, id uuid.UUID) (Event, error)
	// DeleteEvent deletes the event, its sections and seats once fn allows.
	DeleteEvent(ctx context.Context, id uuid.UUID, fn func(e Event, hadBookings func() (bool, error)) error) error
}

// Service applies the catalogue's rules.
type Service struct {
	store          Store
	now            func() time.Time
	defaultHoldTTL int
	availability   *ttlcache.Cache[uuid.UUID, Availability]
	released       SeatsListener
}

// SeatsListener is told, after the fact, about a change that may put seats
// of an event on sale (the waitlist listens).
type SeatsListener interface {
	SeatsReleased(ctx context.Context, eventID uuid.UUID)
}

func (s *Service) seatsMayBeFree(ctx context.Context, id uuid.UUID) {
	if s.released != nil {
		s.released.SeatsReleased(context.WithoutCancel(ctx), id)
	}
}

// Options adjust a Service.
type Options struct {
	// HoldTTL is the hold time of events that give no hold_ttl_seconds
	// (EVENTLY_HOLD_TTL). It is used as it is, even outside the 60–3600 s
	// an admin may choose, so that tests can run with short holds.
	HoldTTL time.Duration
	// Released, when set, is told about every new section and every change
	// of an event's sale (a re-opened sales window): seats may be free.
	Released SeatsListener
}

// AvailabilityTTL is how long the public views of an event reuse its seat
// counts. Admins always see fresh counts.
const AvailabilityTTL = time.Second

// NewService returns a Service storing into store; now is its clock.
func NewService(store Store, now func() time.Time, o Options) *Service {
	ttl := int(math.Ceil(o.HoldTTL.Seconds()))
	if ttl < 1 {
		ttl = 600
	}
	return &Service{
		store:          store,
		now:            now,
		defaultHoldTTL: ttl,
		released:       o.Released,
		availability:   ttlcache.New[uuid.UUID, Availability](AvailabilityTTL, maxCachedEvents),
	}
}

// Create validates in and stores the event it describes with all its seats.
func (s *Service) Create(ctx context.Context, in Input) (Event, error) {
	return s.CreateWithID(ctx, uuid.Must(uuid.NewV7()), in)
}

// CreateWithID is Create with a chosen id; an id already taken is a
// Conflict. Seeding uses it to stay idempotent.
func (s *Service) CreateWithID(ctx context.Context, id uuid.UUID, in Input) (Event, error) {
	e, err := in.build(s.now(), s.defaultHoldTTL)
	if err != nil {
		return Event{}, err
	}
	e.ID = id
	for i := range e.Sections {
		e.Sections[i].ID = uuid.Must(uuid.NewV7())
	}
	if err := s.store.CreateEvent(ctx, &e); err != nil {
		return Event{}, err
	}
	e.Availability = Availability{Available: e.Capacity()}
	return e, nil
}

// Get returns an event with its availability. Drafts exist for admins only.
func (s *Service) Get(ctx context.Context, id uuid.UUID, admin bool) (Event, error) {
	e, err := s.store.Event(ctx, id)
	if err != nil {
		return Event{}, err
	}
	if e.Status == StatusDraft && !admin {
		return Event{}, NotFound(id)
	}
	return s.withAvailability(ctx, e, admin)
}

// ListQuery is what a client asks of an event list.
type ListQuery struct {
	Status   Status // admin lists only; "" keeps every status
	From, To *time.Time
	Q        string
	Category string
	Venue    string
	After    *Cursor
	Limit    int
}

// Page is one page of events and the cursor of the next, if any.
type Page struct {
	Events []Event
	Next   *Cursor
}

// ListPublished lists published events starting at or after q.From (now
// when unset) and before q.To.
func (s *Service) ListPublished(ctx context.Context, q ListQuery) (Page, error) {
	if q.From == nil {
		now := s.now()
		q.From = &now
	}
	return s.list(ctx, q, []Status{StatusPublished}, false)
}

// ListAll lists events of every status (or q.Status), for admins. Unlike
// the public list it has no default lower bound on starts_at: admins look
// after past events too.
func (s *Service) ListAll(ctx context.Context, q ListQuery) (Page, error) {
	var statuses []Status
	if q.Status != "" {
		if !q.Status.Valid() {
			return Page{}, apperr.Invalid(apperr.FieldError{Field: "status", Message: `must be "draft", "published" or "cancelled"`})
		}
		statuses = []Status{q.Status}
	}
	return s.list(ctx, q, statuses, true)
}

func (s *Service) list(ctx context.Context, q ListQuery, statuses []Status, admin bool) (Page, error) {
	if q.From != nil && q.To != nil && !q.To.After(*q.From) {
		return Page{}, apperr.Invalid(apperr.FieldError{Field: "to", Message: "must be after from"})
	}
	limit := max(q.Limit, 1)
	events, err := s.store.Events(ctx, Filter{
		Statuses: statuses,
		From:     q.From,
		To:       q.To,
		Terms:    normalizeTerms(q.Q),
		Category: q.Category,
		Venue:    q.Venue,
		After:    q.After,
		Limit:    limit + 1,
	})
	if err != nil {
		return Page{}, err
	}
	var page Page
	if len(events) > limit {
		events = events[:limit]
		last := events[limit-1]
		page.Next = &Cursor{StartsAt: last.StartsAt, ID: last.ID}
	}
	ptrs := make([]*Event, len(events))
	for i := range events {
		ptrs[i] = &events[i]
	}
	if err := s.fillAvailability(ctx, ptrs, admin); err != nil {
		return Page{}, err
	}
	page.Events = events
	return page, nil
}

// SeatQuery is what a client asks of a seat list.
type SeatQuery struct {
	Section string // a section name; "" for every section
	Status  SeatStatus
	After   int // the position of the last seat of the previous page
	Limit   int
}

// Seats lists an event's seats in position order and returns the cursor
// (a position) of the next page, if any. Drafts exist for admins only.
func (s *Service) Seats(ctx context.Context, eventID uuid.UUID, q SeatQuery, admin bool) ([]Seat, *int, error) {
	e, err := s.store.Event(ctx, eventID)
	if err != nil {
		return nil, nil, err
	}
	if e.Status == StatusDraft && !admin {
		return nil, nil, NotFound(eventID)
	}
	if q.Status != "" && !q.Status.Valid() {
		return nil, nil, apperr.Invalid(apperr.FieldError{Field: "status", Message: `must be "available", "held" or "booked"`})
	}
	f := SeatFilter{EventID: eventID, FirstSeat: 0, LastSeat: e.Capacity(), Status: q.Status, After: q.After, Limit: max(q.Limit, 1) + 1}
	if q.Section != "" {
		sec, ok := e.Section(q.Section)
		if !ok {
			return nil, nil, apperr.Invalid(apperr.FieldError{Field: "section", Message: "is not a section of this event"})
		}
		f.FirstSeat, f.LastSeat = sec.FirstSeat, sec.LastSeat()
	}
	seats, err := s.store.Seats(ctx, f)
	if err != nil {
		return nil, nil, err
	}
	var next *int
	if len(seats) > f.Limit-1 {
		seats = seats[:f.Limit-1]
		pos := seats[len(seats)-1].Position
		next = &pos
	}
	byID := make(map[uuid.UUID]Section, len(e.Sections))
	for _, sec := range e.Sections {
		byID[sec.ID] = sec
	}
	for i := range seats {
		sec := byID[seats[i].SectionID]
		seats[i].Section = sec.Name
		seats[i].PriceCents = sec.PriceCents
	}
	return seats, next, nil
}

// Update applies a partial update. A cancelled event is frozen. Once any
// seat has been held or booked the currency is fixed (prices and booking
// totals are in it) and a published event cannot go back to draft (its
// buyers would lose sight of it). Names, texts, venue, schedule, limits,
// hold time, sales window and waiting room may always change (a venue move
// or a new date happens); they apply to holds made from then on.
func (s *Service) Update(ctx context.Context, id uuid.UUID, p Patch) (Event, error) {
	now := s.now()
	e, err := s.store.UpdateEvent(ctx, id, func(e *Event, hadBookings func() (bool, error)) error {
		if e.Status == StatusCancelled {
			return apperr.New(apperr.InvalidState, "A cancelled event cannot be changed.")
		}
		before := *e
		if err := p.apply(e, now); err != nil {
			return err
		}
		if p.Status != nil && *p.Status != before.Status {
			if *p.Status == StatusPublished {
				if err := checkPublishable(before.Status, e.StartsAt, now); err != nil {
					return err
				}
			}
			e.Status = *p.Status
		}
		needHistory := e.Currency != before.Currency ||
			(before.Status == StatusPublished && e.Status == StatusDraft)
		if !needHistory {
			return nil
		}
		had, err := hadBookings()
		if err != nil {
			return err
		}
		if had && e.Currency != before.Currency {
			return apperr.New(apperr.Conflict, "The currency cannot change: seats of this event have been held or booked.")
		}
		if had && e.Status == StatusDraft {
			return apperr.New(apperr.Conflict, "The event cannot go back to draft: seats of it have been held or booked.")
		}
		return nil
	})
	if err != nil {
		return Event{}, err
	}
	s.seatsMayBeFree(ctx, id)
	return s.withAvailability(ctx, e, true)
}

// AddSection adds one section (and its seats) to an event that is not
// cancelled, within the same limits as a new event's.
func (s *Service) AddSection(ctx context.Context, id uuid.UUID, in SectionInput) (Event, error) {
	e, err := s.store.AddSection(ctx, id, func(e Event) (Section, error) {
		if e.Status == StatusCancelled {
			return Section{}, apperr.New(apperr.InvalidState, "A cancelled event cannot get new sections.")
		}
		var v apperr.Validator
		sec, ok := in.build(&v, "")
		if ok {
			if _, taken := e.Section(sec.Name); taken {
				v.Add("name", "is already the name of another section of this event")
			}
			v.Check(len(e.Sections) < MaxSections, "name",
				fmt.Sprintf("the event already has the maximum of %d sections", MaxSections))
			if total := e.Capacity() + sec.Capacity; total > MaxSeats {
				field := "capacity"
				if sec.Numbered() {
					field = "rows"
				}
				v.Add(field, fmt.Sprintf("the event would have %d seats; at most %d are allowed", total, MaxSeats))
			}
		}
		if err := v.Err(); err != nil {
			return Section{}, err
		}
		sec.ID = uuid.Must(uuid.NewV7())
		sec.Position = len(e.Sections) + 1
		if n := len(e.Sections); n > 0 {
			sec.Position = e.Sections[n-1].Position + 1
		}
		sec.FirstSeat = e.Capacity()
		return sec, nil
	})
	if err != nil {
		return Event{}, err
	}
	s.availability.Forget(id)
	s.seatsMayBeFree(ctx, id)
	return s.withAvailability(ctx, e, true)
}

// Publish puts a draft on sale. Only drafts that have not started yet can
// be published.
func (s *Service) Publish(ctx context.Context, id uuid.UUID) (Event, error) {
	now := s.now()
	e, err := s.store.UpdateEvent(ctx, id, func(e *Event, _ func() (bool, error)) error {
		if err := checkPublishable(e.Status, e.StartsAt, now); err != nil {
			return err
		}
		e.Status = StatusPublished
		return nil
	})
	if err != nil {
		return Event{}, err
	}
	return s.withAvailability(ctx, e, true)
}

func checkPublishable(status Status, startsAt, now time.Time) error {
	if status != StatusDraft {
		return apperr.New(apperr.InvalidState, "Only a draft can be published; this event is %s.", status)
	}
	if !startsAt.After(now) {
		return apperr.New(apperr.InvalidState, "The event has already started.")
	}
	return nil
}

// Cancel cancels an event (of any status; cancelling again changes
// nothing).
func (s *Service) Cancel(ctx context.Context, id uuid.UUID) (Event, error) {
	e, err := s.store.CancelEvent(ctx, id)
	if err != nil {
		return Event{}, err
	}
	return s.withAvailability(ctx, e, true)
}

// Delete removes an event that never had a booking; one that had must be
// cancelled instead, so that its bookings keep their history.
func (s *Service) Delete(ctx context.Context, id uuid.UUID) error {
	err := s.store.DeleteEvent(ctx, id, func(_ Event, hadBookings func() (bool, error)) error {
		had, err := hadBookings()
		if err != nil {
			return err
		}
		if had {
			return apperr.New(apperr.Conflict, "The event has had bookings: cancel it instead of deleting it.")
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.availability.Forget(id)
	return nil
}

// withAvailability returns e with its availability set (fillAvailability);
// the answer to a change asks for it fresh.
func (s *Service) withAvailability(ctx context.Context, e Event, fresh bool) (Event, error) {
	if err := s.fillAvailability(ctx, []*Event{&e}, fresh); err != nil {
		return Event{}, err
	}
	return e, nil
}

// fillAvailability sets the availability of each event, from the cache
// unless fresh is asked for.
func (s *Service) fillAvailability(ctx context.Context, events []*Event, fresh bool) error {
	var missing []uuid.UUID
	for _, e := range events {
		if a, ok := s.availability.Get(e.ID, s.now()); ok && !fresh {
			e.Availability = a
			continue
		}
		missing = append(missing, e.ID)
	}
	if len(missing) == 0 {
		return nil
	}
	counts, err := s.store.Availability(ctx, missing)
	if err != nil {
		return err
	}
	for _, e := range events {
		if !slices.Contains(missing, e.ID) {
			continue
		}
		c := counts[e.ID]
		c.Available = max(e.Capacity()-c.Held-c.Booked, 0)
		e.Availability = c
		s.availability.Put(e.ID, c, s.now())
	}
	return nil
}

// NotFound is the one answer for an event that does not exist for the
// asker (a draft, for a buyer: its existence is not disclosed).
func NotFound(id uuid.UUID) error {
	return apperr.New(apperr.NotFound, "No event %s.", id)
}
