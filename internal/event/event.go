// Package event is Evently's catalogue: events, their sections and the seats
// the booking engine sells. It holds the types, the rules an event must obey
// (validation, what may change once seats have been sold, which status moves
// are allowed) and the Service that applies them through a Store.
package event

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"
)

// Status is an event's lifecycle state.
type Status string

// The event statuses. Only published events are on sale and listed
// publicly; drafts are visible to admins only.
const (
	StatusDraft     Status = "draft"
	StatusPublished Status = "published"
	StatusCancelled Status = "cancelled"
)

// Valid reports whether s is a known status.
func (s Status) Valid() bool {
	return s == StatusDraft || s == StatusPublished || s == StatusCancelled
}

// Event is one event and its sections. Availability is filled in by the
// Service from the seats; it is never stored on the event.
type Event struct {
	ID                 uuid.UUID
	Name               string
	Description        string
	Venue              string
	Category           string
	StartsAt           time.Time
	EndsAt             *time.Time
	Status             Status
	Currency           string
	MaxSeatsPerBooking int
	// MaxSeatsPerUser is the event's own limit of seats per buyer (live
	// holds and confirmed bookings together); nil: MaxSeatsPerBooking.
	MaxSeatsPerUser *int
	HoldTTLSeconds  int
	SalesStart      *time.Time
	SalesEnd        *time.Time
	WaitingRoom     WaitingRoom
	// RefundPolicy is the event's refund schedule; nil: the default one
	// (DefaultRefundPolicy).
	RefundPolicy RefundPolicy
	Sections     []Section
	Availability Availability
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// PurchaseLimit is the most seats one buyer's live bookings of the event
// may hold together.
func (e Event) PurchaseLimit() int {
	if e.MaxSeatsPerUser != nil {
		return *e.MaxSeatsPerUser
	}
	return e.MaxSeatsPerBooking
}

// Capacity is the number of seats of the event.
func (e Event) Capacity() int {
	n := 0
	for _, s := range e.Sections {
		n += s.Capacity
	}
	return n
}

// Section returns the section called name.
func (e Event) Section(name string) (Section, bool) {
	for _, s := range e.Sections {
		if s.Name == name {
			return s, true
		}
	}
	return Section{}, false
}

// WaitingRoom is an event's virtual waiting room configuration.
type WaitingRoom struct {
	Enabled bool
	// AdmitPerMinute is the admission rate; in AdmitAuto mode, the rate the
	// room starts from.
	AdmitPerMinute      int
	MaxActive           *int
	AdmissionTTLSeconds int
	// AdmitMode says who sets the rate: the organiser (AdmitFixed) or the
	// room itself, from what the booking path absorbs (AdmitAuto), within
	// [AdmitMinPerMinute, AdmitMaxPerMinute] and aiming at a booking p95
	// of at most TargetP95Ms.
	AdmitMode         AdmitMode
	AdmitMinPerMinute *int
	AdmitMaxPerMinute *int
	TargetP95Ms       int
}

// AdmitMode is how a waiting room's admission rate is set.
type AdmitMode string

// Admission modes.
const (
	// AdmitFixed: the room admits at the organiser's admit_per_minute.
	AdmitFixed AdmitMode = "fixed"
	// AdmitAuto: the room tunes its own rate within the organiser's bounds.
	AdmitAuto AdmitMode = "auto"
)

// Section is a group of seats sharing a price. A numbered section has Rows
// rows of SeatsPerRow seats; a general-admission one has Rows and
// SeatsPerRow zero and Capacity unnumbered places.
type Section struct {
	ID          uuid.UUID
	Position    int // 1-based order within the event
	Name        string
	PriceCents  int64
	Capacity    int
	Rows        int
	SeatsPerRow int
	// FirstSeat is the seat position just before this section's first seat:
	// its seats hold positions FirstSeat+1 .. FirstSeat+Capacity.
	FirstSeat int
}

// Numbered reports whether the section's seats have rows and numbers.
func (s Section) Numbered() bool { return s.Rows > 0 }

// LastSeat is the position of the section's last seat.
func (s Section) LastSeat() int { return s.FirstSeat + s.Capacity }

// SeatLabel is the label of the section's seat at 0-based index i (in
// position order): "Balcony-C-12" in a numbered section, "Floor-00042" in
// general admission. The store builds the same labels in SQL; a test keeps
// the two equal.
func (s Section) SeatLabel(i int) string {
	if s.Numbered() {
		return s.Name + "-" + RowLabel(i/s.SeatsPerRow) + "-" + strconv.Itoa(i%s.SeatsPerRow+1)
	}
	return fmt.Sprintf("%s-%05d", s.Name, i+1)
}

// RowLabel is the letter label of the 0-based row i: A..Z, then AA, AB, ...,
// AZ, BA, ... (bijective base 26, as spreadsheet columns).
func RowLabel(i int) string {
	var b []byte
	for n := i + 1; n > 0; n = (n - 1) / 26 {
		b = append(b, byte('A'+(n-1)%26))
	}
	for l, r := 0, len(b)-1; l < r; l, r = l+1, r-1 {
		b[l], b[r] = b[r], b[l]
	}
	return string(b)
}

// RowLabels returns the labels of rows 0..n-1.
func RowLabels(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = RowLabel(i)
	}
	return out
}

// Availability counts an event's seats by what a buyer can do with them.
// A seat whose hold has expired is available, whether or not the cleanup
// job has reset it yet.
type Availability struct {
	Available int
	Held      int
	Booked    int
}

// SeatStatus is a seat's state as buyers see it.
type SeatStatus string

// The seat statuses.
const (
	SeatAvailable SeatStatus = "available"
	SeatHeld      SeatStatus = "held"
	SeatBooked    SeatStatus = "booked"
)

// Valid reports whether s is a known seat status.
func (s SeatStatus) Valid() bool {
	return s == SeatAvailable || s == SeatHeld || s == SeatBooked
}

// Seat is one sellable place.
type Seat struct {
	ID         uuid.UUID
	SectionID  uuid.UUID
	Section    string
	Row        string // "" in general admission
	Number     int    // 0 in general admission
	Label      string
	PriceCents int64
	Status     SeatStatus
	Position   int
}

// Cursor is the keyset position of an event in a list sorted by
// (StartsAt, ID).
type Cursor struct {
	StartsAt time.Time
	ID       uuid.UUID
}

// Filter selects events for a list.
type Filter struct {
	// Statuses keeps events in any of these statuses; empty keeps all.
	Statuses []Status
	// From and To keep events with From <= starts_at < To.
	From, To *time.Time
	// Terms keep events whose name, venue or description has a word
	// starting with each term.
	Terms    []string
	Category string // case-insensitive equality
	Venue    string // case-insensitive equality
	After    *Cursor
	Limit    int
}

// SeatFilter selects seats of one event for a list, in position order.
type SeatFilter struct {
	EventID uuid.UUID
	// Positions FirstSeat < position <= LastSeat (a section's range).
	FirstSeat, LastSeat int
	// Status keeps seats in that status as buyers see it ("" keeps all).
	Status SeatStatus
	After  int // keep positions > After
	Limit  int
}

// normalizeTerms splits a free-text query into lower-case words of letters
// and digits (at most 8, each cut at 64 characters), which the store matches
// as word prefixes.
func normalizeTerms(q string) []string {
	words := strings.FieldsFunc(strings.ToLower(q), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
	if len(words) > 8 {
		words = words[:8]
	}
	for i, w := range words {
		if r := []rune(w); len(r) > 64 {
			words[i] = string(r[:64])
		}
	}
	return words
}
