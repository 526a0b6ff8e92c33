package event

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/text/currency"

	"github.com/evently/evently/internal/apperr"
)

// The limits of the REST contract, and the ones it leaves to us.
const (
	MaxNameChars               = 200
	MaxVenueChars              = 200
	MaxCategoryChars           = 100
	MaxDescriptionChars        = 10_000
	MaxSectionNameChars        = 100
	MaxSections                = 100
	MaxSeats                   = 100_000
	MinHoldTTLSeconds          = 60
	MaxHoldTTLSeconds          = 3600
	MaxSeatsPerBookingLimit    = 100
	MaxSeatsPerUserLimit       = 100_000
	MaxAdmitPerMinute          = 100_000
	MaxAdmissionTTLSeconds     = 86_400
	MaxPriceCents              = 1_000_000_000_000
	DefaultCurrency            = "USD"
	DefaultMaxSeatsPerBooking  = 10
	DefaultAdmitPerMinute      = 100
	DefaultAdmissionTTLSeconds = 600
	DefaultTargetP95Ms         = 500
	MinTargetP95Ms             = 10
	MaxTargetP95Ms             = 60_000
)

// Input is an event as an admin submits it (the contract's EventInput).
// Pointers are optional fields; nil takes the default.
type Input struct {
	Name               string
	Description        string
	Venue              string
	Category           string
	StartsAt           time.Time // zero: missing
	EndsAt             *time.Time
	Currency           *string
	MaxSeatsPerBooking *int
	MaxSeatsPerUser    *int
	HoldTTLSeconds     *int
	SalesStart         *time.Time
	SalesEnd           *time.Time
	Status             *Status
	WaitingRoom        *WaitingRoomInput
	Sections           []SectionInput // nil: missing
	// RefundPolicy is the refund schedule; nil: the default one.
	RefundPolicy RefundPolicy
}

// WaitingRoomInput configures a waiting room; nil fields keep their
// default (on create) or current value (on update).
type WaitingRoomInput struct {
	Enabled             *bool
	AdmitPerMinute      *int
	MaxActive           Change[int]
	AdmissionTTLSeconds *int
	AdmitMode           *AdmitMode
	AdmitMinPerMinute   Change[int]
	AdmitMaxPerMinute   Change[int]
	TargetP95Ms         *int
}

// SectionInput is one section as submitted: Name, PriceCents and either
// Rows and SeatsPerRow (numbered) or Capacity (general admission).
type SectionInput struct {
	Name        string
	PriceCents  *int64
	Rows        *int
	SeatsPerRow *int
	Capacity    *int
}

// Change is an update of a nullable field: Set reports that the field was
// given; a nil Value clears it.
type Change[T any] struct {
	Set   bool
	Value *T
}

// Patch is a partial update of an event: nil (or unset) fields are left as
// they are. Sections are added one by one, never patched.
type Patch struct {
	Name               *string
	Description        *string
	Venue              *string
	Category           *string
	StartsAt           *time.Time
	EndsAt             Change[time.Time]
	Currency           *string
	MaxSeatsPerBooking *int
	MaxSeatsPerUser    Change[int]
	HoldTTLSeconds     *int
	SalesStart         Change[time.Time]
	SalesEnd           Change[time.Time]
	Status             *Status
	WaitingRoom        *WaitingRoomInput
	// RefundPolicy replaces the schedule; a nil Value restores the default.
	RefundPolicy Change[RefundPolicy]
}

// build checks in and returns the event it describes, with defaults
// applied, or a validation error listing every invalid field.
func (in Input) build(now time.Time, defaultHoldTTL int) (Event, error) {
	var v apperr.Validator
	e := Event{
		Name:               strings.TrimSpace(in.Name),
		Description:        strings.TrimSpace(in.Description),
		Venue:              strings.TrimSpace(in.Venue),
		Category:           strings.TrimSpace(in.Category),
		StartsAt:           normTime(in.StartsAt),
		EndsAt:             normTimePtr(in.EndsAt),
		Status:             StatusDraft,
		Currency:           DefaultCurrency,
		MaxSeatsPerBooking: DefaultMaxSeatsPerBooking,
		HoldTTLSeconds:     defaultHoldTTL,
		SalesStart:         normTimePtr(in.SalesStart),
		SalesEnd:           normTimePtr(in.SalesEnd),
		WaitingRoom: WaitingRoom{
			AdmitPerMinute:      DefaultAdmitPerMinute,
			AdmissionTTLSeconds: DefaultAdmissionTTLSeconds,
			AdmitMode:           AdmitFixed,
			TargetP95Ms:         DefaultTargetP95Ms,
		},
	}
	checkRequiredText(&v, "name", e.Name, MaxNameChars)
	checkRequiredText(&v, "venue", e.Venue, MaxVenueChars)
	checkText(&v, "description", e.Description, MaxDescriptionChars)
	checkText(&v, "category", e.Category, MaxCategoryChars)
	if in.StartsAt.IsZero() {
		v.Add("starts_at", "is required")
	} else {
		v.Check(e.StartsAt.After(now), "starts_at", "must be in the future")
	}
	if in.Currency != nil {
		e.Currency = *in.Currency
		checkCurrency(&v, e.Currency)
	}
	if in.MaxSeatsPerBooking != nil {
		e.MaxSeatsPerBooking = *in.MaxSeatsPerBooking
		checkMaxSeats(&v, e.MaxSeatsPerBooking)
	}
	e.MaxSeatsPerUser = in.MaxSeatsPerUser
	checkMaxSeatsPerUser(&v, &e)
	if in.HoldTTLSeconds != nil {
		e.HoldTTLSeconds = *in.HoldTTLSeconds
		checkHoldTTL(&v, e.HoldTTLSeconds)
	}
	if in.Status != nil {
		e.Status = *in.Status
		checkInputStatus(&v, e.Status)
	}
	if in.WaitingRoom != nil {
		in.WaitingRoom.apply(&v, &e.WaitingRoom)
	}
	e.RefundPolicy = in.RefundPolicy
	e.RefundPolicy.check(&v)
	checkOrder(&v, &e)
	switch {
	case in.Sections == nil:
		v.Add("sections", "is required")
	case len(in.Sections) == 0 || len(in.Sections) > MaxSections:
		v.Add("sections", fmt.Sprintf("must hold 1 to %d sections", MaxSections))
	default:
		e.Sections = buildSections(&v, in.Sections)
	}
	if err := v.Err(); err != nil {
		return Event{}, err
	}
	return e, nil
}

// buildSections checks the sections of a new event and lays their seats
// out one after another.
func buildSections(v *apperr.Validator, in []SectionInput) []Section {
	out := make([]Section, 0, len(in))
	seen := make(map[string]bool, len(in))
	total := 0
	for i, si := range in {
		path := fmt.Sprintf("sections[%d]", i)
		s, ok := si.build(v, path+".")
		if !ok {
			continue
		}
		if seen[s.Name] {
			v.Add(path+".name", "is already the name of another section of this event")
			continue
		}
		seen[s.Name] = true
		s.Position = len(out) + 1
		s.FirstSeat = total
		total += s.Capacity
		out = append(out, s)
	}
	v.Check(total <= MaxSeats, "sections", fmt.Sprintf("must hold at most %d seats in total, not %d", MaxSeats, total))
	return out
}

// build checks one section; prefix is prepended to its field names.
func (in SectionInput) build(v *apperr.Validator, prefix string) (Section, bool) {
	ok := true
	fail := func(field, msg string) {
		v.Add(prefix+field, msg)
		ok = false
	}
	count := func(field string, n *int) int {
		switch {
		case n == nil:
			fail(field, "is required")
		case *n < 1 || *n > MaxSeats:
			fail(field, fmt.Sprintf("must be between 1 and %d", MaxSeats))
		default:
			return *n
		}
		return 0
	}
	s := Section{Name: strings.TrimSpace(in.Name)}
	switch {
	case s.Name == "":
		fail("name", "is required")
	case !utf8.ValidString(s.Name) || utf8.RuneCountInString(s.Name) > MaxSectionNameChars:
		fail("name", fmt.Sprintf("must be at most %d characters", MaxSectionNameChars))
	}
	switch {
	case in.PriceCents == nil:
		fail("price_cents", "is required")
	case *in.PriceCents < 0 || *in.PriceCents > MaxPriceCents:
		fail("price_cents", fmt.Sprintf("must be between 0 and %d", int64(MaxPriceCents)))
	default:
		s.PriceCents = *in.PriceCents
	}
	numbered := in.Rows != nil || in.SeatsPerRow != nil
	switch {
	case numbered && in.Capacity != nil:
		fail("capacity", "give either rows and seats_per_row (numbered seats) or capacity (general admission), not both")
	case numbered:
		s.Rows = count("rows", in.Rows)
		s.SeatsPerRow = count("seats_per_row", in.SeatsPerRow)
		if s.Capacity = s.Rows * s.SeatsPerRow; s.Capacity > MaxSeats {
			fail("rows", fmt.Sprintf("rows × seats_per_row must be at most %d", MaxSeats))
		}
	case in.Capacity != nil:
		s.Capacity = count("capacity", in.Capacity)
	default:
		fail("capacity", "give either rows and seats_per_row (numbered seats) or capacity (general admission)")
	}
	return s, ok
}

// apply merges a waiting-room input into w, checking each given field.
func (in WaitingRoomInput) apply(v *apperr.Validator, w *WaitingRoom) {
	if in.Enabled != nil {
		w.Enabled = *in.Enabled
	}
	if in.AdmitPerMinute != nil {
		w.AdmitPerMinute = *in.AdmitPerMinute
		v.Check(w.AdmitPerMinute >= 1 && w.AdmitPerMinute <= MaxAdmitPerMinute,
			"waiting_room.admit_per_minute", fmt.Sprintf("must be between 1 and %d", MaxAdmitPerMinute))
	}
	if in.MaxActive.Set {
		w.MaxActive = in.MaxActive.Value
		v.Check(w.MaxActive == nil || *w.MaxActive >= 1, "waiting_room.max_active", "must be at least 1")
	}
	if in.AdmissionTTLSeconds != nil {
		w.AdmissionTTLSeconds = *in.AdmissionTTLSeconds
		v.Check(w.AdmissionTTLSeconds >= 1 && w.AdmissionTTLSeconds <= MaxAdmissionTTLSeconds,
			"waiting_room.admission_ttl_seconds", fmt.Sprintf("must be between 1 and %d", MaxAdmissionTTLSeconds))
	}
	if in.AdmitMode != nil {
		w.AdmitMode = *in.AdmitMode
		v.Check(w.AdmitMode == AdmitFixed || w.AdmitMode == AdmitAuto, "waiting_room.admit_mode", "must be fixed or auto")
	}
	bound := func(field string, c Change[int], dst **int) {
		if !c.Set {
			return
		}
		*dst = c.Value
		v.Check(c.Value == nil || (*c.Value >= 1 && *c.Value <= MaxAdmitPerMinute),
			"waiting_room."+field, fmt.Sprintf("must be between 1 and %d", MaxAdmitPerMinute))
	}
	bound("admit_min_per_minute", in.AdmitMinPerMinute, &w.AdmitMinPerMinute)
	bound("admit_max_per_minute", in.AdmitMaxPerMinute, &w.AdmitMaxPerMinute)
	if in.TargetP95Ms != nil {
		w.TargetP95Ms = *in.TargetP95Ms
		v.Check(w.TargetP95Ms >= MinTargetP95Ms && w.TargetP95Ms <= MaxTargetP95Ms,
			"waiting_room.target_p95_ms", fmt.Sprintf("must be between %d and %d", MinTargetP95Ms, MaxTargetP95Ms))
	}
	if v.Err() == nil && w.AdmitMode == AdmitAuto {
		w.checkAuto(v)
	}
}

// checkAuto checks the bounds of a self-tuning room: both set, and the
// starting rate between them.
func (w WaitingRoom) checkAuto(v *apperr.Validator) {
	lo, hi := w.AdmitMinPerMinute, w.AdmitMaxPerMinute
	v.Check(lo != nil, "waiting_room.admit_min_per_minute", "is required when admit_mode is auto")
	v.Check(hi != nil, "waiting_room.admit_max_per_minute", "is required when admit_mode is auto")
	if lo == nil || hi == nil {
		return
	}
	if *lo > *hi {
		v.Add("waiting_room.admit_max_per_minute", "must be at least admit_min_per_minute")
		return
	}
	v.Check(w.AdmitPerMinute >= *lo && w.AdmitPerMinute <= *hi, "waiting_room.admit_per_minute",
		"must be between admit_min_per_minute and admit_max_per_minute when admit_mode is auto (it is the rate the room starts from)")
}

// apply checks p and merges it into e. Cross-field rules (ends_at after
// starts_at, sales_end after sales_start) are checked on the result.
// Which changes the event's state allows is the Service's business.
func (p Patch) apply(e *Event, now time.Time) error {
	var v apperr.Validator
	if p.Name != nil {
		e.Name = strings.TrimSpace(*p.Name)
		checkRequiredText(&v, "name", e.Name, MaxNameChars)
	}
	if p.Venue != nil {
		e.Venue = strings.TrimSpace(*p.Venue)
		checkRequiredText(&v, "venue", e.Venue, MaxVenueChars)
	}
	if p.Description != nil {
		e.Description = strings.TrimSpace(*p.Description)
		checkText(&v, "description", e.Description, MaxDescriptionChars)
	}
	if p.Category != nil {
		e.Category = strings.TrimSpace(*p.Category)
		checkText(&v, "category", e.Category, MaxCategoryChars)
	}
	if p.StartsAt != nil {
		e.StartsAt = normTime(*p.StartsAt)
		v.Check(e.StartsAt.After(now), "starts_at", "must be in the future")
	}
	if p.EndsAt.Set {
		e.EndsAt = normTimePtr(p.EndsAt.Value)
	}
	if p.SalesStart.Set {
		e.SalesStart = normTimePtr(p.SalesStart.Value)
	}
	if p.SalesEnd.Set {
		e.SalesEnd = normTimePtr(p.SalesEnd.Value)
	}
	if p.Currency != nil {
		e.Currency = *p.Currency
		checkCurrency(&v, e.Currency)
	}
	if p.MaxSeatsPerBooking != nil {
		e.MaxSeatsPerBooking = *p.MaxSeatsPerBooking
		checkMaxSeats(&v, e.MaxSeatsPerBooking)
	}
	if p.MaxSeatsPerUser.Set {
		e.MaxSeatsPerUser = p.MaxSeatsPerUser.Value
	}
	if p.MaxSeatsPerBooking != nil || p.MaxSeatsPerUser.Set {
		checkMaxSeatsPerUser(&v, e)
	}
	if p.HoldTTLSeconds != nil {
		e.HoldTTLSeconds = *p.HoldTTLSeconds
		checkHoldTTL(&v, e.HoldTTLSeconds)
	}
	if p.Status != nil {
		checkInputStatus(&v, *p.Status)
	}
	if p.WaitingRoom != nil {
		p.WaitingRoom.apply(&v, &e.WaitingRoom)
	}
	if p.RefundPolicy.Set {
		e.RefundPolicy = nil
		if p.RefundPolicy.Value != nil {
			e.RefundPolicy = *p.RefundPolicy.Value
		}
		e.RefundPolicy.check(&v)
	}
	if p.StartsAt != nil || p.EndsAt.Set || p.SalesStart.Set || p.SalesEnd.Set {
		checkOrder(&v, e)
	}
	return v.Err()
}

// checkOrder checks that ends_at follows starts_at and sales_end follows
// sales_start.
func checkOrder(v *apperr.Validator, e *Event) {
	if e.EndsAt != nil && !e.StartsAt.IsZero() {
		v.Check(e.EndsAt.After(e.StartsAt), "ends_at", "must be after starts_at")
	}
	if e.SalesStart != nil && e.SalesEnd != nil {
		v.Check(e.SalesEnd.After(*e.SalesStart), "sales_end", "must be after sales_start")
	}
}

func checkRequiredText(v *apperr.Validator, field, s string, max int) {
	if s == "" {
		v.Add(field, "is required")
		return
	}
	checkText(v, field, s, max)
}

// checkText counts characters, not bytes, as the contract says.
func checkText(v *apperr.Validator, field, s string, max int) {
	switch {
	case !utf8.ValidString(s):
		v.Add(field, "must be valid UTF-8")
	case utf8.RuneCountInString(s) > max:
		v.Add(field, fmt.Sprintf("must be at most %d characters", max))
	}
}

// checkCurrency accepts upper-case ISO 4217 codes.
func checkCurrency(v *apperr.Validator, c string) {
	ok := len(c) == 3 && strings.ToUpper(c) == c
	if ok {
		_, err := currency.ParseISO(c)
		ok = err == nil
	}
	v.Check(ok, "currency", "must be an upper-case ISO 4217 currency code such as USD")
}

func checkMaxSeats(v *apperr.Validator, n int) {
	v.Check(n >= 1 && n <= MaxSeatsPerBookingLimit, "max_seats_per_booking",
		fmt.Sprintf("must be between 1 and %d", MaxSeatsPerBookingLimit))
}

// checkMaxSeatsPerUser checks an event's limit per buyer, when it has one
// of its own: no lower than a booking may hold, and at most
// MaxSeatsPerUserLimit.
func checkMaxSeatsPerUser(v *apperr.Validator, e *Event) {
	if e.MaxSeatsPerUser == nil {
		return
	}
	n := *e.MaxSeatsPerUser
	v.Check(n >= e.MaxSeatsPerBooking && n <= MaxSeatsPerUserLimit, "max_seats_per_user",
		fmt.Sprintf("must be between max_seats_per_booking (%d) and %d", e.MaxSeatsPerBooking, MaxSeatsPerUserLimit))
}

func checkHoldTTL(v *apperr.Validator, n int) {
	v.Check(n >= MinHoldTTLSeconds && n <= MaxHoldTTLSeconds, "hold_ttl_seconds",
		fmt.Sprintf("must be between %d and %d", MinHoldTTLSeconds, MaxHoldTTLSeconds))
}

// checkInputStatus accepts the statuses an admin may set directly; an event
// is cancelled through its own operation.
func checkInputStatus(v *apperr.Validator, s Status) {
	v.Check(s == StatusDraft || s == StatusPublished, "status", `must be "draft" or "published"`)
}

// normTime stores times as Postgres does (UTC, microseconds), so that what
// an admin sent, what is stored and what a cursor carries compare equal.
func normTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func normTimePtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	n := normTime(*t)
	return &n
}
