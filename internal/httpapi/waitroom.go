package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/auth"
	"github.com/evently/evently/internal/waitroom"
)

// WaitingRoomService is the virtual waiting room as the API uses it.
type WaitingRoomService interface {
	Join(ctx context.Context, eventID, userID uuid.UUID) (waitroom.Ticket, error)
	Status(ctx context.Context, eventID, userID uuid.UUID) (waitroom.Ticket, error)
	Leave(ctx context.Context, eventID, userID uuid.UUID) error
	Stats(ctx context.Context, eventID uuid.UUID) (waitroom.Stats, error)
	RateChanges(ctx context.Context, eventID uuid.UUID, limit int) ([]waitroom.RateChange, error)
}

type ticketResponse struct {
	EventID              uuid.UUID       `json:"event_id"`
	Status               waitroom.Status `json:"status"`
	Position             *int64          `json:"position"`
	EstimatedWaitSeconds int64           `json:"estimated_wait_seconds"`
	JoinedAt             time.Time       `json:"joined_at"`
	AdmittedAt           *time.Time      `json:"admitted_at"`
	AdmittedUntil        *time.Time      `json:"admitted_until"`
	Pass                 *string         `json:"pass"`
	PollAfterMS          int64           `json:"poll_after_ms"`
}

func toTicketResponse(t waitroom.Ticket) ticketResponse {
	r := ticketResponse{
		EventID:              t.EventID,
		Status:               t.Status,
		Position:             t.Position,
		EstimatedWaitSeconds: int64(t.EstimatedWait / time.Second),
		JoinedAt:             t.JoinedAt.UTC(),
		AdmittedAt:           utc(t.AdmittedAt),
		AdmittedUntil:        utc(t.AdmittedUntil),
		PollAfterMS:          t.PollAfter.Milliseconds(),
	}
	if t.Pass != "" {
		r.Pass = &t.Pass
	}
	return r
}

// admissionHeader carries a waiting-room admission pass on POST /bookings.
const admissionHeader = "Evently-Admission"

// writeTicket answers with a ticket, saying when to ask again twice: in
// the body (poll_after_ms) and as Retry-After, in whole seconds rounded
// up.
func writeTicket(w http.ResponseWriter, t ticketResponse) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Retry-After", strconv.FormatInt((t.PollAfterMS+999)/1000, 10))
	writeJSON(w, http.StatusOK, t)
}

type waitingRoomStatsResponse struct {
	Enabled            bool  `json:"enabled"`
	Waiting            int64 `json:"waiting"`
	Active             int64 `json:"active"`
	AdmittedTotal      int64 `json:"admitted_total"`
	AdmittedLastMinute int64 `json:"admitted_last_minute"`
	AdmitPerMinute     int   `json:"admit_per_minute"`
	MaxActive          *int  `json:"max_active"`
	autoRateResponse
}

func (s *Server) joinWaitingRoom(w http.ResponseWriter, r *http.Request) error {
	id, err := uuidParam(r, "id", "event")
	if err != nil {
		return err
	}
	t, err := s.waitingRoom.Join(r.Context(), id, principal(r).UserID)
	if err != nil {
		return err
	}
	writeTicket(w, toTicketResponse(t))
	return nil
}

func (s *Server) getWaitingRoomTicket(w http.ResponseWriter, r *http.Request) error {
	id, err := uuidParam(r, "id", "event")
	if err != nil {
		return err
	}
	body, err := s.waitingRoomStatus(r.Context(), id, principal(r))
	if err != nil {
		return err
	}
	writeTicket(w, body)
	return nil
}

// waitingRoomStatus is the body of GET /events/{id}/waiting-room, which the
// waiting-room stream sends too: whatever this answers, both answer.
func (s *Server) waitingRoomStatus(ctx context.Context, eventID uuid.UUID, who auth.Principal) (ticketResponse, error) {
	t, err := s.waitingRoom.Status(ctx, eventID, who.UserID)
	if err != nil {
		return ticketResponse{}, err
	}
	return toTicketResponse(t), nil
}

func (s *Server) leaveWaitingRoom(w http.ResponseWriter, r *http.Request) error {
	id, err := uuidParam(r, "id", "event")
	if err != nil {
		return err
	}
	if err := s.waitingRoom.Leave(r.Context(), id, principal(r).UserID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) waitingRoomStats(w http.ResponseWriter, r *http.Request) error {
	id, err := uuidParam(r, "id", "event")
	if err != nil {
		return err
	}
	st, err := s.waitingRoom.Stats(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toWaitingRoomStats(st))
	return nil
}

func toWaitingRoomStats(st waitroom.Stats) waitingRoomStatsResponse {
	return waitingRoomStatsResponse{
		Enabled: st.Enabled, Waiting: st.Waiting, Active: st.Active, AdmittedTotal: st.AdmittedTotal,
		AdmittedLastMinute: st.AdmittedLastMinute, AdmitPerMinute: st.AdmitPerMinute, MaxActive: st.MaxActive,
		autoRateResponse: toAutoRateResponse(st),
	}
}
