package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/auth"
	"github.com/evently/evently/internal/waitlist"
)

// WaitlistService is the waitlist as the API uses it.
type WaitlistService interface {
	Join(ctx context.Context, eventID uuid.UUID, who auth.Principal, quantity int) (waitlist.Entry, error)
	Mine(ctx context.Context, eventID uuid.UUID, who auth.Principal) (waitlist.Entry, error)
	Leave(ctx context.Context, eventID uuid.UUID, who auth.Principal) error
	List(ctx context.Context, f waitlist.ListFilter) ([]waitlist.Entry, error)
}

type joinWaitlistRequest struct {
	Quantity *int `json:"quantity"`
}

func (req joinWaitlistRequest) Validate() error {
	var v apperr.Validator
	switch {
	case req.Quantity == nil:
		v.Add("quantity", "is required")
	default:
		v.Check(*req.Quantity >= 1, "quantity", "must be at least 1")
	}
	return v.Err()
}

type waitlistEntryResponse struct {
	ID             uuid.UUID       `json:"id"`
	EventID        uuid.UUID       `json:"event_id"`
	UserID         uuid.UUID       `json:"user_id"`
	Quantity       int             `json:"quantity"`
	Status         waitlist.Status `json:"status"`
	Position       *int            `json:"position"`
	OfferBookingID *uuid.UUID      `json:"offer_booking_id"`
	OfferExpiresAt *time.Time      `json:"offer_expires_at"`
	CreatedAt      time.Time       `json:"created_at"`
}

func toWaitlistEntryResponse(e waitlist.Entry) waitlistEntryResponse {
	return waitlistEntryResponse{
		ID: e.ID, EventID: e.EventID, UserID: e.UserID, Quantity: e.Quantity, Status: e.Status,
		Position: e.Position, OfferBookingID: e.OfferBookingID, OfferExpiresAt: utc(e.OfferExpiresAt),
		CreatedAt: e.CreatedAt.UTC(),
	}
}

func waitlistCursorOf(e waitlist.Entry) createdCursor {
	return createdCursor{CreatedAt: e.CreatedAt, ID: e.ID}
}

func (s *Server) joinWaitlist(w http.ResponseWriter, r *http.Request) error {
	id, err := uuidParam(r, "id", "event")
	if err != nil {
		return err
	}
	req, err := decode[joinWaitlistRequest](w, r)
	if err != nil {
		return err
	}
	e, err := s.waitlist.Join(r.Context(), id, principal(r), *req.Quantity)
	if err != nil {
		return err
	}
	return respondCreated(w, "/api/v1/events/"+id.String()+"/waitlist", toWaitlistEntryResponse(e))
}

func (s *Server) getWaitlistEntry(w http.ResponseWriter, r *http.Request) error {
	id, err := uuidParam(r, "id", "event")
	if err != nil {
		return err
	}
	e, err := s.waitlist.Mine(r.Context(), id, principal(r))
	return respond(w, http.StatusOK, e, err, toWaitlistEntryResponse)
}

func (s *Server) leaveWaitlist(w http.ResponseWriter, r *http.Request) error {
	id, err := uuidParam(r, "id", "event")
	if err != nil {
		return err
	}
	return respondNoContent(w, s.waitlist.Leave(r.Context(), id, principal(r)))
}

func (s *Server) listWaitlist(w http.ResponseWriter, r *http.Request) error {
	id, err := uuidParam(r, "id", "event")
	if err != nil {
		return err
	}
	p, err := parsePage[createdCursor](r, maxListLimit)
	if err != nil {
		return err
	}
	f := waitlist.ListFilter{EventID: id, Limit: p.Limit + 1}
	if f.Status, err = queryStatus[waitlist.Status](r, "waiting, offered, fulfilled, expired or left"); err != nil {
		return err
	}
	if p.HasCursor {
		f.After = &waitlist.Cursor{CreatedAt: p.Cursor.CreatedAt, ID: p.Cursor.ID}
	}
	list, err := s.waitlist.List(r.Context(), f)
	return respondList(w, p.Limit, list, err, toWaitlistEntryResponse, waitlistCursorOf)
}
