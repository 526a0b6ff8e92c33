package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/auth"
	"github.com/evently/evently/internal/booking"
)

// BookingService is the booking engine as the API uses it.
type BookingService interface {
	Hold(ctx context.Context, req booking.HoldRequest) (booking.Booking, error)
	Confirm(ctx context.Context, id uuid.UUID, who auth.Principal, paymentRef *string) (booking.Booking, error)
	Cancel(ctx context.Context, id uuid.UUID, who auth.Principal) (booking.Booking, error)
	Get(ctx context.Context, id uuid.UUID, who auth.Principal) (booking.Booking, error)
	List(ctx context.Context, f booking.ListFilter) ([]booking.Booking, error)
	RefundQuote(ctx context.Context, id uuid.UUID, who auth.Principal) (booking.RefundQuote, error)
}

// Idempotency keeps the answers to POST /bookings requests sent with an
// Idempotency-Key (see postgres.IdempotencyStore). Holds decided in
// Postgres record theirs in their own transaction (booking.IdempotencyKey);
// Record is for answers given without a hold.
type Idempotency interface {
	Lookup(ctx context.Context, userID uuid.UUID, key string) (hash []byte, status int, body []byte, found bool, err error)
	Record(ctx context.Context, userID uuid.UUID, key string, hash []byte, status int, body []byte) (bool, error)
}

type createBookingRequest struct {
	EventID  uuid.UUID   `json:"event_id"`
	SeatIDs  []uuid.UUID `json:"seat_ids"`
	Quantity *int        `json:"quantity"`
	Section  *string     `json:"section"`
}

// Validate checks what only the JSON shows — members present but empty,
// or present together; the booking engine checks the request itself
// (booking.HoldRequest.Validate).
func (req createBookingRequest) Validate() error {
	var v apperr.Validator
	v.Check(len(req.SeatIDs) == 0 || req.Quantity == nil, "seat_ids", "give either seat_ids or quantity, not both")
	if req.Section != nil && *req.Section == "" {
		v.Add("section", "must not be empty")
	}
	return v.Err()
}

type confirmBookingRequest struct {
	PaymentReference *string `json:"payment_reference"`
}

func (req confirmBookingRequest) Validate() error {
	var v apperr.Validator
	if req.PaymentReference != nil {
		v.Check(len([]rune(*req.PaymentReference)) <= 200, "payment_reference", "must be at most 200 characters")
	}
	return v.Err()
}

type bookingResponse struct {
	ID               uuid.UUID      `json:"id"`
	EventID          uuid.UUID      `json:"event_id"`
	UserID           uuid.UUID      `json:"user_id"`
	Status           booking.Status `json:"status"`
	Seats            []seatResponse `json:"seats"`
	Quantity         int            `json:"quantity"`
	TotalCents       int64          `json:"total_cents"`
	Currency         string         `json:"currency"`
	ExpiresAt        time.Time      `json:"expires_at"`
	PaymentReference *string        `json:"payment_reference"`
	CreatedAt        time.Time      `json:"created_at"`
	ConfirmedAt      *time.Time     `json:"confirmed_at"`
	CancelledAt      *time.Time     `json:"cancelled_at"`
	RefundCents      *int64         `json:"refund_cents"`
}

func toBookingResponse(b booking.Booking) bookingResponse {
	seats := make([]seatResponse, len(b.Seats))
	for i, s := range b.Seats {
		seats[i] = seatResponse{ID: s.ID, Section: s.Section, Row: s.Row, Number: s.Number,
			Label: s.Label, PriceCents: s.PriceCents, Status: s.Status}
	}
	return bookingResponse{
		ID: b.ID, EventID: b.EventID, UserID: b.UserID, Status: b.Status, Seats: seats,
		Quantity: b.Quantity, TotalCents: b.TotalCents, Currency: b.Currency,
		ExpiresAt: b.ExpiresAt.UTC(), PaymentReference: b.PaymentReference, CreatedAt: b.CreatedAt.UTC(),
		ConfirmedAt: utc(b.ConfirmedAt), CancelledAt: utc(b.CancelledAt), RefundCents: b.RefundCents,
	}
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func bookingCursorOf(b booking.Booking) createdCursor {
	return createdCursor{CreatedAt: b.CreatedAt, ID: b.ID}
}

// createBooking holds seats. With an Idempotency-Key, the first answer for
// the key is recorded and replayed to every retry of the same request: a
// hold's answer is committed with the hold itself, so a key either has its
// answer or no hold at all.
func (s *Server) createBooking(w http.ResponseWriter, r *http.Request) error {
	key := r.Header.Get("Idempotency-Key")
	if key == "" {
		return s.holdBooking(w, r, nil)
	}
	if !validIdempotencyKey(key) {
		return apperr.Invalid(apperr.FieldError{Field: "Idempotency-Key", Message: "must be 1 to 255 printable ASCII characters"})
	}
	if err := checkContentType(r.Header.Get("Content-Type")); err != nil {
		return err
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		return tooLarge()
	}
	who := principal(r)
	sum := sha256.Sum256(body)
	if done, err := s.replay(r.Context(), w, who.UserID, key, sum[:]); done || err != nil {
		return err
	}

	r.Body = io.NopCloser(bytes.NewReader(body))
	k := &booking.IdempotencyKey{Key: key, Hash: sum[:], Answer: s.holdAnswer(r)}
	rec := &recorder{header: http.Header{}}
	err = s.holdBooking(rec, r, k)
	if errors.Is(err, booking.ErrKeyUsed) {
		// Another request with this key was answered first: its answer
		// stands.
		if done, err := s.replay(r.Context(), w, who.UserID, key, sum[:]); done || err != nil {
			return err
		}
		return apperr.New(apperr.Conflict, "A request with this Idempotency-Key was answered meanwhile; retry to get its answer.")
	}
	if status, saved, ok := k.Recorded(); ok {
		// Committed with the hold: send exactly what was recorded.
		writeAnswer(w, status, saved)
		return nil
	}
	if err != nil {
		s.writeError(rec, r, err)
	}
	if rec.status < 500 {
		ctx := context.WithoutCancel(r.Context())
		recorded, err := s.idempotency.Record(ctx, who.UserID, key, sum[:], rec.status, rec.body.Bytes())
		if err != nil {
			return err
		}
		if !recorded {
			if done, err := s.replay(ctx, w, who.UserID, key, sum[:]); done || err != nil {
				return err
			}
		}
	}
	for k, v := range rec.header {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.status)
	_, _ = w.Write(rec.body.Bytes())
	return nil
}

// replay sends the answer recorded for the caller's key, when there is
// one (done), or refuses a key used for another request.
func (s *Server) replay(ctx context.Context, w http.ResponseWriter, userID uuid.UUID, key string, hash []byte) (done bool, err error) {
	prev, status, body, found, err := s.idempotency.Lookup(ctx, userID, key)
	switch {
	case err != nil:
		return false, err
	case !found:
		return false, nil
	case !bytes.Equal(prev, hash):
		return false, apperr.New(apperr.IdempotencyKeyReused, "This Idempotency-Key was used for a different request.")
	}
	w.Header().Set("Idempotent-Replayed", "true")
	writeAnswer(w, status, body)
	return true, nil
}

// holdAnswer renders the answer to a hold request as r would be answered
// (what the store records with the hold).
func (s *Server) holdAnswer(r *http.Request) func(booking.Booking, error) (int, []byte) {
	return func(b booking.Booking, err error) (int, []byte) {
		rec := &recorder{header: http.Header{}}
		if err != nil {
			s.writeError(rec, r, err)
		} else {
			writeJSON(rec, http.StatusCreated, toBookingResponse(b))
		}
		return rec.status, rec.body.Bytes()
	}
}

func (s *Server) holdBooking(w http.ResponseWriter, r *http.Request, key *booking.IdempotencyKey) error {
	req, err := decode[createBookingRequest](w, r)
	if err != nil {
		return err
	}
	hold := booking.HoldRequest{EventID: req.EventID, UserID: principal(r).UserID, SeatIDs: req.SeatIDs, Key: key,
		AdmissionPass: r.Header.Get(admissionHeader)}
	if req.Quantity != nil {
		hold.Quantity = *req.Quantity
	}
	if req.Section != nil {
		hold.Section = *req.Section
	}
	b, err := s.bookings.Hold(r.Context(), hold)
	if err != nil {
		return err
	}
	return respondCreated(w, bookingLocation(b.ID), toBookingResponse(b))
}

func bookingLocation(id uuid.UUID) string { return "/api/v1/bookings/" + id.String() }

func validIdempotencyKey(k string) bool {
	if len(k) > 255 {
		return false
	}
	for _, c := range []byte(k) {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

func (s *Server) confirmBooking(w http.ResponseWriter, r *http.Request) error {
	id, err := uuidParam(r, "id", "booking")
	if err != nil {
		return err
	}
	req, err := decodeOptional[confirmBookingRequest](w, r)
	if err != nil {
		return err
	}
	b, err := s.bookings.Confirm(r.Context(), id, principal(r), req.PaymentReference)
	return respond(w, http.StatusOK, b, err, toBookingResponse)
}

func (s *Server) cancelBooking(w http.ResponseWriter, r *http.Request) error {
	id, err := uuidParam(r, "id", "booking")
	if err != nil {
		return err
	}
	b, err := s.bookings.Cancel(r.Context(), id, principal(r))
	return respond(w, http.StatusOK, b, err, toBookingResponse)
}

func (s *Server) getBooking(w http.ResponseWriter, r *http.Request) error {
	id, err := uuidParam(r, "id", "booking")
	if err != nil {
		return err
	}
	b, err := s.bookings.Get(r.Context(), id, principal(r))
	return respond(w, http.StatusOK, b, err, toBookingResponse)
}

func (s *Server) listMyBookings(w http.ResponseWriter, r *http.Request) error {
	who := principal(r)
	return s.listBookings(w, r, booking.ListFilter{UserID: &who.UserID})
}

func (s *Server) listEventBookings(w http.ResponseWriter, r *http.Request) error {
	id, err := uuidParam(r, "id", "event")
	if err != nil {
		return err
	}
	return s.listBookings(w, r, booking.ListFilter{EventID: &id})
}

func (s *Server) listBookings(w http.ResponseWriter, r *http.Request, f booking.ListFilter) error {
	p, err := parsePage[createdCursor](r, maxListLimit)
	if err != nil {
		return err
	}
	if f.Status, err = queryStatus[booking.Status](r, "pending, confirmed, cancelled or expired"); err != nil {
		return err
	}
	if p.HasCursor {
		f.After = &booking.Cursor{CreatedAt: p.Cursor.CreatedAt, ID: p.Cursor.ID}
	}
	f.Limit = p.Limit + 1
	list, err := s.bookings.List(r.Context(), f)
	return respondList(w, p.Limit, list, err, toBookingResponse, bookingCursorOf)
}

// recorder captures a response so that it can be stored before it is sent.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}

// writeAnswer sends a recorded answer: a booking (with its Location) or a
// problem.
func writeAnswer(w http.ResponseWriter, status int, body []byte) {
	ct := "application/json"
	if status >= 400 {
		ct = "application/problem+json"
	}
	if status == http.StatusCreated {
		var b struct {
			ID uuid.UUID `json:"id"`
		}
		if json.Unmarshal(body, &b) == nil && b.ID != uuid.Nil {
			w.Header().Set("Location", bookingLocation(b.ID))
		}
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
