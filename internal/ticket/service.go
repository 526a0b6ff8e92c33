package ticket

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	qrcode "github.com/skip2/go-qrcode"

	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/auth"
)

// Status is a ticket's state: valid until its booking ends, then void.
type Status string

// Ticket statuses.
const (
	StatusValid Status = "valid"
	StatusVoid  Status = "void"
)

// Ticket is the right of entry for one seat of a confirmed booking.
type Ticket struct {
	ID         uuid.UUID
	EventID    uuid.UUID
	BookingID  uuid.UUID
	SeatID     uuid.UUID
	Section    string
	SeatLabel  string
	HolderName string
	Status     Status
	IssuedAt   time.Time
	VoidedAt   *time.Time
	// CheckedInAt and CheckedInBy (a staff member or admin, and their
	// name) are set by the first accepted scan.
	CheckedInAt     *time.Time
	CheckedInBy     *uuid.UUID
	CheckedInByName *string
	// Code is the signed code a scanner reads (filled in by the Service).
	Code string
}

// Stats are an event's check-in figures.
type Stats struct {
	EventID uuid.UUID
	// Issued counts valid tickets; CheckedIn those of them scanned in.
	Issued    int64
	CheckedIn int64
	Sections  []SectionStats
	AsOf      time.Time
}

// SectionStats are one section's check-in figures.
type SectionStats struct {
	Section   string
	Issued    int64
	CheckedIn int64
}

// Store keeps tickets in Postgres. Tickets are issued and voided by the
// booking store, in the transactions that confirm and end bookings.
type Store interface {
	// BookingTickets lists a booking's tickets in seat order: NotFound
	// when there is no such booking, or userID is set and not its owner.
	BookingTickets(ctx context.Context, bookingID uuid.UUID, userID *uuid.UUID) ([]Ticket, error)
	// Ticket returns one ticket (NotFound when userID is set and not the
	// owner of its booking).
	Ticket(ctx context.Context, id uuid.UUID, userID *uuid.UUID) (Ticket, error)
	// CheckIn checks the valid ticket id of event eventID in at now by
	// staff, if no one has: one conditional write, so that of concurrent
	// scans exactly one succeeds (done true). Otherwise it returns the
	// ticket as it stands (done false), or NotFound when the event has no
	// such ticket.
	CheckIn(ctx context.Context, eventID, id, staff uuid.UUID, now time.Time) (t Ticket, done bool, err error)
	// Stats counts the event's valid tickets and check-ins per section
	// (NotFound for no such event).
	Stats(ctx context.Context, eventID uuid.UUID) ([]SectionStats, error)
}

// Service issues codes for tickets and checks them in.
type Service struct {
	store  Store
	signer *Signer
	now    func() time.Time
}

// NewService returns the ticket service over store, signing with signer;
// now is the clock (time.Now when nil).
func NewService(store Store, signer *Signer, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{store: store, signer: signer,
		now: func() time.Time { return now().UTC().Truncate(time.Microsecond) }}
}

// Signer is the key the service signs codes with.
func (s *Service) Signer() *Signer { return s.signer }

// owner is the user whose tickets a principal may see: nil for an admin.
func owner(who auth.Principal) *uuid.UUID {
	if who.IsAdmin() {
		return nil
	}
	return &who.UserID
}

// ForBooking lists a booking's tickets, with their codes, to its owner or
// an admin (to anyone else the booking does not exist).
func (s *Service) ForBooking(ctx context.Context, bookingID uuid.UUID, who auth.Principal) ([]Ticket, error) {
	list, err := s.store.BookingTickets(ctx, bookingID, owner(who))
	if err != nil {
		return nil, err
	}
	for i := range list {
		if err := s.sign(&list[i]); err != nil {
			return nil, err
		}
	}
	return list, nil
}

// QRSize is the side of a ticket's QR image, in pixels.
const QRSize = 384

// QR renders a ticket's code as a PNG QR image (medium error correction),
// for the owner of its booking or an admin. A void ticket has no image
// (InvalidState): it would not get anyone in.
func (s *Service) QR(ctx context.Context, id uuid.UUID, who auth.Principal) ([]byte, error) {
	t, err := s.store.Ticket(ctx, id, owner(who))
	if err != nil {
		return nil, err
	}
	if t.Status == StatusVoid {
		return nil, apperr.New(apperr.InvalidState, "The ticket is void: its booking was cancelled.")
	}
	if err := s.sign(&t); err != nil {
		return nil, err
	}
	png, err := qrcode.Encode(t.Code, qrcode.Medium, QRSize)
	if err != nil {
		return nil, fmt.Errorf("render QR of ticket %s: %w", id, err)
	}
	return png, nil
}

func (s *Service) sign(t *Ticket) error {
	code, err := s.signer.Sign(Payload{EventID: t.EventID, TicketID: t.ID, SeatLabel: t.SeatLabel})
	if err != nil {
		return err
	}
	t.Code = code
	return nil
}

// InvalidTicket is the refusal of a code that is not a ticket of the
// event: forged, damaged, another event's, or unknown.
func InvalidTicket() error {
	return apperr.New(apperr.InvalidTicket, "The code is not a valid ticket for this event.")
}

// CheckIn admits the holder of code at the door of event eventID: the
// first scan of a valid ticket checks it in; a second is refused with
// AlreadyCheckedIn (saying when and by whom), a void ticket with
// TicketVoid, and a code that is not a ticket of this event with
// InvalidTicket. The signature is checked before the database is asked.
func (s *Service) CheckIn(ctx context.Context, eventID uuid.UUID, code string, who auth.Principal) (Ticket, error) {
	if !who.CanScan() {
		return Ticket{}, apperr.New(apperr.Forbidden, "Staff only.")
	}
	p, err := Verify(s.signer.PublicKey(), code)
	if err != nil || p.EventID != eventID {
		return Ticket{}, InvalidTicket()
	}
	t, done, err := s.store.CheckIn(ctx, eventID, p.TicketID, who.UserID, s.now())
	if apperr.Is(err, apperr.NotFound) {
		return Ticket{}, InvalidTicket()
	}
	if err != nil {
		return Ticket{}, err
	}
	switch {
	case done:
		return t, nil
	case t.Status == StatusVoid:
		return t, apperr.New(apperr.TicketVoid, "The ticket is void: its booking was cancelled.")
	case t.CheckedInAt != nil:
		return t, apperr.New(apperr.AlreadyCheckedIn, "The ticket was already checked in at %s.",
			t.CheckedInAt.UTC().Format(time.RFC3339)).
			With("ticket_id", t.ID).With("seat", t.SeatLabel).With("checked_in_at", t.CheckedInAt.UTC()).
			With("checked_in_by", map[string]any{"id": t.CheckedInBy, "name": t.CheckedInByName})
	}
	return Ticket{}, fmt.Errorf("check in ticket %s: neither checked in nor refused", t.ID)
}

// Stats are the event's check-in figures as of now (NotFound for no such
// event).
func (s *Service) Stats(ctx context.Context, eventID uuid.UUID) (Stats, error) {
	now := s.now()
	sections, err := s.store.Stats(ctx, eventID)
	if err != nil {
		return Stats{}, err
	}
	st := Stats{EventID: eventID, Sections: sections, AsOf: now}
	for _, sec := range sections {
		st.Issued += sec.Issued
		st.CheckedIn += sec.CheckedIn
	}
	return st, nil
}
