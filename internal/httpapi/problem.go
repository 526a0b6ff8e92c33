package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/logging"
)

// statusOf maps every error code to its HTTP status. It is the only place
// where domain errors meet status codes.
var statusOf = map[apperr.Code]int{
	apperr.MalformedJSON:        http.StatusBadRequest,
	apperr.ValidationFailed:     http.StatusBadRequest,
	apperr.UnsupportedMediaType: http.StatusUnsupportedMediaType,
	apperr.PayloadTooLarge:      http.StatusRequestEntityTooLarge,
	apperr.Unauthorized:         http.StatusUnauthorized,
	apperr.InvalidCredentials:   http.StatusUnauthorized,
	apperr.Forbidden:            http.StatusForbidden,
	apperr.WrongPassword:        http.StatusForbidden,
	apperr.WaitingRoomRequired:  http.StatusForbidden,
	apperr.NotFound:             http.StatusNotFound,
	apperr.MethodNotAllowed:     http.StatusMethodNotAllowed,
	apperr.EmailTaken:           http.StatusConflict,
	apperr.Conflict:             http.StatusConflict,
	apperr.SeatUnavailable:      http.StatusConflict,
	apperr.SoldOut:              http.StatusConflict,
	apperr.SalesClosed:          http.StatusConflict,
	apperr.HoldExpired:          http.StatusConflict,
	apperr.InvalidState:         http.StatusConflict,
	apperr.SeatsAvailable:       http.StatusConflict,
	apperr.PurchaseLimitReached: http.StatusConflict,
	apperr.InvalidTicket:        http.StatusBadRequest,
	apperr.AlreadyCheckedIn:     http.StatusConflict,
	apperr.TicketVoid:           http.StatusConflict,
	apperr.IdempotencyKeyReused: http.StatusUnprocessableEntity,
	apperr.RateLimited:          http.StatusTooManyRequests,
	apperr.Unavailable:          http.StatusServiceUnavailable,
	apperr.Internal:             http.StatusInternalServerError,
}

// problem is an RFC 9457 problem document.
type problem struct {
	Type      string         `json:"type"`
	Title     string         `json:"title"`
	Status    int            `json:"status"`
	Detail    string         `json:"detail,omitempty"`
	Code      apperr.Code    `json:"code"`
	Errors    []fieldProblem `json:"errors,omitempty"`
	RequestID string         `json:"request_id,omitempty"`
	extra     map[string]any
}

type fieldProblem struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// MarshalJSON flattens the code-specific extra members into the document.
func (p problem) MarshalJSON() ([]byte, error) {
	type plain problem
	b, err := json.Marshal(plain(p))
	if err != nil || len(p.extra) == 0 {
		return b, err
	}
	m := map[string]any{}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for k, v := range p.extra {
		if _, taken := m[k]; !taken {
			m[k] = v
		}
	}
	return json.Marshal(m)
}

// unexpected is what the client is told of an error without a code.
func unexpected() *apperr.Error {
	return &apperr.Error{Code: apperr.Internal, Detail: "An unexpected error occurred."}
}

// newProblem is the problem document of ae, without its field errors and
// code-specific members: its type, title and status follow from its code.
func newProblem(r *http.Request, ae *apperr.Error) problem {
	status, ok := statusOf[ae.Code]
	if !ok {
		status = http.StatusInternalServerError
	}
	return problem{
		Type:      "urn:evently:problem:" + string(ae.Code),
		Title:     http.StatusText(status),
		Status:    status,
		Detail:    ae.Detail,
		Code:      ae.Code,
		RequestID: logging.RequestID(r.Context()),
	}
}

// writeError writes err as a problem document. Errors without a code are
// internal: logged in full, shown to the client as a bare 500.
func writeError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	var ae *apperr.Error
	if !errors.As(err, &ae) {
		if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
			// The client went away; nobody is left to answer.
			logger.InfoContext(r.Context(), "request cancelled by client", "err", err)
		} else {
			logger.ErrorContext(r.Context(), "internal error", "err", err,
				"method", r.Method, "path", r.URL.Path)
		}
		ae = unexpected()
	} else if ae.Code == apperr.Internal || (ae.Code == apperr.Unavailable && ae.Err != nil) {
		logger.ErrorContext(r.Context(), "request failed", "code", ae.Code, "err", err)
	}
	p := newProblem(r, ae)
	p.extra = ae.Extra
	status := p.Status
	for _, f := range ae.Fields {
		p.Errors = append(p.Errors, fieldProblem{Field: f.Field, Message: f.Message})
	}
	retry := ae.RetryAfter
	if status == http.StatusServiceUnavailable && retry <= 0 {
		retry = time.Second // every 503 says when to come back
	}
	if retry > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((retry+time.Second-1)/time.Second)))
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(p)
}

// writeJSON writes v as a JSON response with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
