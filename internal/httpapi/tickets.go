package httpapi

import (
	"context"
	"encoding/base64"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/auth"
	"github.com/evently/evently/internal/booking"
	"github.com/evently/evently/internal/event"
	"github.com/evently/evently/internal/ticket"
)

// TicketService is what the API needs of tickets (ticket.Service).
type TicketService interface {
	ForBooking(ctx context.Context, bookingID uuid.UUID, who auth.Principal) ([]ticket.Ticket, error)
	QR(ctx context.Context, id uuid.UUID, who auth.Principal) ([]byte, error)
	CheckIn(ctx context.Context, eventID uuid.UUID, code string, who auth.Principal) (ticket.Ticket, error)
	Stats(ctx context.Context, eventID uuid.UUID) (ticket.Stats, error)
	Signer() *ticket.Signer
}

// requireStaff lets staff and admins through: the check-in routes.
func (s *Server) requireStaff(next http.Handler) http.Handler {
	return s.requireUser(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p, _ := auth.PrincipalFrom(r.Context()); !p.CanScan() {
			s.writeError(w, r, apperr.New(apperr.Forbidden, "Staff and admins only."))
			return
		}
		next.ServeHTTP(w, r)
	}))
}

type checkedInByResponse struct {
	ID   *uuid.UUID `json:"id"`
	Name *string    `json:"name"`
}

type issuedTicketResponse struct {
	ID          uuid.UUID            `json:"id"`
	EventID     uuid.UUID            `json:"event_id"`
	BookingID   uuid.UUID            `json:"booking_id"`
	SeatID      uuid.UUID            `json:"seat_id"`
	Section     string               `json:"section"`
	Seat        string               `json:"seat"`
	HolderName  string               `json:"holder_name"`
	Status      ticket.Status        `json:"status"`
	Code        string               `json:"code"`
	IssuedAt    time.Time            `json:"issued_at"`
	VoidedAt    *time.Time           `json:"voided_at"`
	CheckedInAt *time.Time           `json:"checked_in_at"`
	CheckedInBy *checkedInByResponse `json:"checked_in_by"`
}

func toIssuedTicketResponse(t ticket.Ticket) issuedTicketResponse {
	out := issuedTicketResponse{
		ID: t.ID, EventID: t.EventID, BookingID: t.BookingID, SeatID: t.SeatID, Section: t.Section,
		Seat: t.SeatLabel, HolderName: t.HolderName, Status: t.Status, Code: t.Code, IssuedAt: t.IssuedAt.UTC(),
		VoidedAt: utc(t.VoidedAt), CheckedInAt: utc(t.CheckedInAt),
	}
	if t.CheckedInAt != nil {
		out.CheckedInBy = &checkedInByResponse{ID: t.CheckedInBy, Name: t.CheckedInByName}
	}
	return out
}

type ticketListResponse struct {
	BookingID uuid.UUID              `json:"booking_id"`
	Tickets   []issuedTicketResponse `json:"tickets"`
}

// bookingTickets lists a booking's tickets with their codes.
func (s *Server) bookingTickets(w http.ResponseWriter, r *http.Request) error {
	id, err := uuidParam(r, "id", "booking")
	if err != nil {
		return err
	}
	list, err := s.tickets.ForBooking(r.Context(), id, principal(r))
	if err != nil {
		return err
	}
	out := ticketListResponse{BookingID: id, Tickets: make([]issuedTicketResponse, len(list))}
	for i, t := range list {
		out.Tickets[i] = toIssuedTicketResponse(t)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// ticketQR renders a ticket's code as a PNG QR image.
func (s *Server) ticketQR(w http.ResponseWriter, r *http.Request) error {
	id, err := uuidParam(r, "id", "ticket")
	if err != nil {
		return err
	}
	png, err := s.tickets.QR(r.Context(), id, principal(r))
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Content-Length", strconv.Itoa(len(png)))
	w.Header().Set("Cache-Control", "private, no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(png)
	return nil
}

type ticketKeyResponse struct {
	EventID   uuid.UUID `json:"event_id"`
	Algorithm string    `json:"algorithm"`
	KeyID     string    `json:"key_id"`
	PublicKey string    `json:"public_key"`
	Format    string    `json:"format"`
}

// ticketCodeFormat describes a code for scanner makers.
const ticketCodeFormat = "base64url (no padding) of: version byte 0x01 | event id (16 bytes) | ticket id (16 bytes) | " +
	"seat label length n (1 byte) | seat label (n bytes, UTF-8) | Ed25519 signature (64 bytes) of every byte before it"

// ticketKey answers the public key that verifies the event's ticket
// codes, for scanners that work offline.
func (s *Server) ticketKey(w http.ResponseWriter, r *http.Request) error {
	id, err := uuidParam(r, "id", "event")
	if err != nil {
		return err
	}
	if _, err := s.events.Get(r.Context(), id, principal(r).IsAdmin()); err != nil {
		return err
	}
	signer := s.tickets.Signer()
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSON(w, http.StatusOK, ticketKeyResponse{
		EventID: id, Algorithm: "Ed25519", KeyID: signer.KeyID(),
		PublicKey: base64.RawURLEncoding.EncodeToString(signer.PublicKey()), Format: ticketCodeFormat,
	})
	return nil
}

type checkInRequest struct {
	Code string `json:"code"`
}

func (req checkInRequest) Validate() error {
	var v apperr.Validator
	v.Check(req.Code != "", "code", "is required")
	v.Check(len(req.Code) <= ticket.MaxCodeLen, "code", "is too long to be a ticket code")
	return v.Err()
}

type checkInResponse struct {
	Status      string              `json:"status"`
	TicketID    uuid.UUID           `json:"ticket_id"`
	EventID     uuid.UUID           `json:"event_id"`
	BookingID   uuid.UUID           `json:"booking_id"`
	Section     string              `json:"section"`
	Seat        string              `json:"seat"`
	HolderName  string              `json:"holder_name"`
	CheckedInAt time.Time           `json:"checked_in_at"`
	CheckedInBy checkedInByResponse `json:"checked_in_by"`
}

// checkIn scans a code at the door of an event.
func (s *Server) checkIn(w http.ResponseWriter, r *http.Request) error {
	eventID, err := uuidParam(r, "id", "event")
	if err != nil {
		return err
	}
	req, err := decode[checkInRequest](w, r)
	if err != nil {
		return err
	}
	t, err := s.tickets.CheckIn(r.Context(), eventID, req.Code, principal(r))
	return respond(w, http.StatusOK, t, err, toCheckInResponse)
}

func toCheckInResponse(t ticket.Ticket) checkInResponse {
	return checkInResponse{
		Status: "checked_in", TicketID: t.ID, EventID: t.EventID, BookingID: t.BookingID, Section: t.Section,
		Seat: t.SeatLabel, HolderName: t.HolderName, CheckedInAt: t.CheckedInAt.UTC(),
		CheckedInBy: checkedInByResponse{ID: t.CheckedInBy, Name: t.CheckedInByName},
	}
}

type checkInSectionResponse struct {
	Section   string `json:"section"`
	Issued    int64  `json:"issued"`
	CheckedIn int64  `json:"checked_in"`
}

type checkInStatsResponse struct {
	EventID   uuid.UUID                `json:"event_id"`
	Issued    int64                    `json:"issued"`
	CheckedIn int64                    `json:"checked_in"`
	Sections  []checkInSectionResponse `json:"sections"`
	AsOf      time.Time                `json:"as_of"`
}

// checkInStats reports an event's check-ins as they stand (so never
// cached, like every problem).
func (s *Server) checkInStats(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "no-store")
	return respondByID(w, r, "event", http.StatusOK, s.tickets.Stats, toCheckInStatsResponse)
}

func toCheckInStatsResponse(st ticket.Stats) checkInStatsResponse {
	out := checkInStatsResponse{EventID: st.EventID, Issued: st.Issued, CheckedIn: st.CheckedIn,
		Sections: make([]checkInSectionResponse, len(st.Sections)), AsOf: st.AsOf.UTC()}
	for i, sec := range st.Sections {
		out.Sections[i] = checkInSectionResponse{Section: sec.Section, Issued: sec.Issued, CheckedIn: sec.CheckedIn}
	}
	return out
}

type refundTierDTO struct {
	UntilHoursBeforeStart int `json:"until_hours_before_start"`
	Percent               int `json:"percent"`
}

func toRefundPolicyDTO(p event.RefundPolicy) []refundTierDTO {
	out := make([]refundTierDTO, len(p))
	for i, t := range p {
		out[i] = refundTierDTO(t)
	}
	return out
}

func fromRefundPolicyDTO(p []refundTierDTO) event.RefundPolicy {
	if p == nil {
		return nil
	}
	out := make(event.RefundPolicy, len(p))
	for i, t := range p {
		out[i] = event.RefundTier(t)
	}
	return out
}

type refundQuoteResponse struct {
	BookingID    uuid.UUID       `json:"booking_id"`
	Status       booking.Status  `json:"status"`
	Cancellable  bool            `json:"cancellable"`
	Percent      int             `json:"refund_percent"`
	RefundCents  int64           `json:"refund_cents"`
	TotalCents   int64           `json:"total_cents"`
	Currency     string          `json:"currency"`
	ValidUntil   *time.Time      `json:"valid_until"`
	StartsAt     time.Time       `json:"event_starts_at"`
	RefundPolicy []refundTierDTO `json:"refund_policy"`
	AsOf         time.Time       `json:"as_of"`
}

// refundQuote says what cancelling a booking now would refund.
func (s *Server) refundQuote(w http.ResponseWriter, r *http.Request) error {
	id, err := uuidParam(r, "id", "booking")
	if err != nil {
		return err
	}
	// A quote holds only for now (so never cached, like every problem).
	w.Header().Set("Cache-Control", "no-store")
	q, err := s.bookings.RefundQuote(r.Context(), id, principal(r))
	return respond(w, http.StatusOK, q, err, toRefundQuoteResponse)
}

func toRefundQuoteResponse(q booking.RefundQuote) refundQuoteResponse {
	return refundQuoteResponse{
		BookingID: q.BookingID, Status: q.Status, Cancellable: q.Cancellable, Percent: q.Percent,
		RefundCents: q.RefundCents, TotalCents: q.TotalCents, Currency: q.Currency, ValidUntil: utc(q.ValidUntil),
		StartsAt: q.StartsAt.UTC(), RefundPolicy: toRefundPolicyDTO(q.Policy), AsOf: q.AsOf.UTC(),
	}
}
