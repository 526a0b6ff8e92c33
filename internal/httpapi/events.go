package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/event"
)

// maxSeatListLimit is the largest ?limit= of a seat list (a seat map is
// drawn from a few pages).
const maxSeatListLimit = 1000

// --- Handlers ---

func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) error {
	q, err := eventListQuery(r)
	if err != nil {
		return err
	}
	p, err := s.events.ListPublished(r.Context(), q)
	if err != nil {
		return err
	}
	resp, err := toEventPage(p)
	if err != nil {
		return err
	}
	return writeCachedJSON(w, r, cacheScope(r, cacheEventList), resp)
}

func (s *Server) listAdminEvents(w http.ResponseWriter, r *http.Request) error {
	q, err := eventListQuery(r)
	if err != nil {
		return err
	}
	q.Status = event.Status(r.URL.Query().Get("status"))
	p, err := s.events.ListAll(r.Context(), q)
	if err != nil {
		return err
	}
	resp, err := toEventPage(p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func (s *Server) getEvent(w http.ResponseWriter, r *http.Request) error {
	id, err := uuidParam(r, "id", "event")
	if err != nil {
		return err
	}
	e, err := s.events.Get(r.Context(), id, principal(r).IsAdmin())
	if err != nil {
		return err
	}
	return writeCachedJSON(w, r, cacheScope(r, cacheEvent), toEventResponse(e))
}

func (s *Server) listSeats(w http.ResponseWriter, r *http.Request) error {
	id, err := uuidParam(r, "id", "event")
	if err != nil {
		return err
	}
	qv := r.URL.Query()
	p, err := parsePage[seatCursor](r, maxSeatListLimit)
	if err != nil {
		return err
	}
	q := event.SeatQuery{Section: qv.Get("section"), Status: event.SeatStatus(qv.Get("status")), Limit: p.Limit}
	if p.HasCursor {
		q.After = p.Cursor.Position
	}
	seats, next, err := s.events.Seats(r.Context(), id, q, principal(r).IsAdmin())
	if err != nil {
		return err
	}
	out := make([]seatResponse, len(seats))
	for i, st := range seats {
		out[i] = toSeatResponse(st)
	}
	var nextCursor *seatCursor
	if next != nil {
		nextCursor = &seatCursor{Position: *next}
	}
	resp, err := listWithCursor(out, nextCursor)
	if err != nil {
		return err
	}
	return writeCachedJSON(w, r, cacheScope(r, cacheSeats), resp)
}

func (s *Server) createEvent(w http.ResponseWriter, r *http.Request) error {
	body, err := decode[eventInput](w, r)
	if err != nil {
		return err
	}
	in, err := body.toInput()
	if err != nil {
		return err
	}
	e, err := s.events.Create(r.Context(), in)
	if err != nil {
		return err
	}
	return respondCreated(w, "/api/v1/events/"+e.ID.String(), toEventResponse(e))
}

func (s *Server) patchEvent(w http.ResponseWriter, r *http.Request) error {
	id, err := uuidParam(r, "id", "event")
	if err != nil {
		return err
	}
	body, err := decode[eventInput](w, r)
	if err != nil {
		return err
	}
	p, err := body.toPatch()
	if err != nil {
		return err
	}
	e, err := s.events.Update(r.Context(), id, p)
	return respond(w, http.StatusOK, e, err, toEventResponse)
}

func (s *Server) addSection(w http.ResponseWriter, r *http.Request) error {
	id, err := uuidParam(r, "id", "event")
	if err != nil {
		return err
	}
	body, err := decode[sectionInput](w, r)
	if err != nil {
		return err
	}
	e, err := s.events.AddSection(r.Context(), id, body.toInput())
	return respond(w, http.StatusCreated, e, err, toEventResponse)
}

func (s *Server) publishEvent(w http.ResponseWriter, r *http.Request) error {
	return respondByID(w, r, "event", http.StatusOK, s.events.Publish, toEventResponse)
}

func (s *Server) cancelEvent(w http.ResponseWriter, r *http.Request) error {
	return respondByID(w, r, "event", http.StatusOK, s.events.Cancel, toEventResponse)
}

func (s *Server) deleteEvent(w http.ResponseWriter, r *http.Request) error {
	return deleteByID(w, r, "event", s.events.Delete)
}

// eventListQuery reads the query parameters shared by the event lists.
func eventListQuery(r *http.Request) (event.ListQuery, error) {
	var (
		q  event.ListQuery
		v  apperr.Validator
		qv = r.URL.Query()
	)
	p, err := parsePage[eventCursor](r, maxListLimit)
	if err != nil {
		return q, err
	}
	q.Limit = p.Limit
	if p.HasCursor {
		q.After = &event.Cursor{StartsAt: p.Cursor.StartsAt, ID: p.Cursor.ID}
	}
	q.From = queryTime(&v, qv, "from")
	q.To = queryTime(&v, qv, "to")
	q.Q = qv.Get("q")
	q.Category = qv.Get("category")
	q.Venue = qv.Get("venue")
	return q, v.Err()
}

// queryTime reads an optional RFC 3339 time or YYYY-MM-DD date (midnight
// UTC) from the query.
func queryTime(v *apperr.Validator, qv url.Values, name string) *time.Time {
	raw := qv.Get(name)
	if raw == "" {
		return nil
	}
	for _, layout := range []string{time.RFC3339Nano, time.DateOnly} {
		if t, err := time.Parse(layout, raw); err == nil {
			t = t.UTC()
			return &t
		}
	}
	v.Add(name, "must be an RFC 3339 time (2026-05-01T19:30:00Z) or a date (2026-05-01)")
	return nil
}

// --- Cursors ---

// eventCursor is the keyset position in an event list.
type eventCursor struct {
	StartsAt time.Time `json:"s"`
	ID       uuid.UUID `json:"i"`
}

// Validate implements validator: a decoded cursor must be complete.
func (c eventCursor) Validate() error {
	if c.ID == uuid.Nil || c.StartsAt.IsZero() {
		return apperr.New(apperr.ValidationFailed, "incomplete cursor")
	}
	return nil
}

// seatCursor is the keyset position in a seat list.
type seatCursor struct {
	Position int `json:"p"`
}

// Validate implements validator: positions start at 1.
func (c seatCursor) Validate() error {
	if c.Position < 1 {
		return apperr.New(apperr.ValidationFailed, "bad cursor")
	}
	return nil
}

// --- Requests ---

// eventInput is the EventInput of POST /admin/events and PATCH
// /admin/events/{id}. Times are read as strings so that a bad one is
// reported with its field name.
type eventInput struct {
	Name               *string           `json:"name"`
	Description        nullable[string]  `json:"description"`
	Venue              *string           `json:"venue"`
	Category           nullable[string]  `json:"category"`
	StartsAt           *string           `json:"starts_at"`
	EndsAt             nullable[string]  `json:"ends_at"`
	Currency           *string           `json:"currency"`
	MaxSeatsPerBooking *int              `json:"max_seats_per_booking"`
	MaxSeatsPerUser    nullable[int]     `json:"max_seats_per_user"`
	HoldTTLSeconds     *int              `json:"hold_ttl_seconds"`
	SalesStart         nullable[string]  `json:"sales_start"`
	SalesEnd           nullable[string]  `json:"sales_end"`
	Status             *string           `json:"status"`
	WaitingRoom        *waitingRoomInput `json:"waiting_room"`
	Sections           *[]sectionInput   `json:"sections"`
	// RefundPolicy: absent or null is the default schedule.
	RefundPolicy nullable[[]refundTierDTO] `json:"refund_policy"`
}

type waitingRoomInput struct {
	Enabled             *bool         `json:"enabled"`
	AdmitPerMinute      *int          `json:"admit_per_minute"`
	MaxActive           nullable[int] `json:"max_active"`
	AdmissionTTLSeconds *int          `json:"admission_ttl_seconds"`
	AdmitMode           *string       `json:"admit_mode"`
	AdmitMinPerMinute   nullable[int] `json:"admit_min_per_minute"`
	AdmitMaxPerMinute   nullable[int] `json:"admit_max_per_minute"`
	TargetP95Ms         *int          `json:"target_p95_ms"`
}

type sectionInput struct {
	Name        *string `json:"name"`
	PriceCents  *int64  `json:"price_cents"`
	Rows        *int    `json:"rows"`
	SeatsPerRow *int    `json:"seats_per_row"`
	Capacity    *int    `json:"capacity"`
}

// nullable is a JSON member that remembers whether it was present and
// whether it was null, which a PATCH needs to tell "leave" from "clear".
type nullable[T any] struct {
	Set   bool
	Null  bool
	Value T
}

// UnmarshalJSON records presence; encoding/json calls it only for members
// that are present.
func (n *nullable[T]) UnmarshalJSON(b []byte) error {
	n.Set = true
	if string(b) == "null" {
		n.Null = true
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(&n.Value)
}

func (n nullable[T]) ptr() *T {
	if !n.Set || n.Null {
		return nil
	}
	v := n.Value
	return &v
}

// toInput converts a creation body. Defaults and rules are the domain's.
func (in eventInput) toInput() (event.Input, error) {
	var v apperr.Validator
	out := event.Input{
		Name:               deref(in.Name),
		Description:        in.Description.Value,
		Venue:              deref(in.Venue),
		Category:           in.Category.Value,
		EndsAt:             parseTime(&v, "ends_at", in.EndsAt.ptr()),
		Currency:           in.Currency,
		MaxSeatsPerBooking: in.MaxSeatsPerBooking,
		MaxSeatsPerUser:    in.MaxSeatsPerUser.ptr(),
		HoldTTLSeconds:     in.HoldTTLSeconds,
		SalesStart:         parseTime(&v, "sales_start", in.SalesStart.ptr()),
		SalesEnd:           parseTime(&v, "sales_end", in.SalesEnd.ptr()),
		Status:             (*event.Status)(in.Status),
		WaitingRoom:        in.WaitingRoom.toInput(),
	}
	if p := in.RefundPolicy.ptr(); p != nil {
		out.RefundPolicy = fromRefundPolicyDTO(*p)
	}
	if t := parseTime(&v, "starts_at", in.StartsAt); t != nil {
		out.StartsAt = *t
	}
	if in.Sections != nil {
		out.Sections = make([]event.SectionInput, len(*in.Sections))
		for i, s := range *in.Sections {
			out.Sections[i] = s.toInput()
		}
	}
	return out, v.Err()
}

// toPatch converts a PATCH body: absent members are left alone, null
// clears the optional ones (description, category, ends_at, sales window,
// waiting_room.max_active).
func (in eventInput) toPatch() (event.Patch, error) {
	var v apperr.Validator
	if in.Sections != nil {
		v.Add("sections", "cannot be patched; add a section with POST /admin/events/{id}/sections")
	}
	out := event.Patch{
		Name:               in.Name,
		Venue:              in.Venue,
		Currency:           in.Currency,
		MaxSeatsPerBooking: in.MaxSeatsPerBooking,
		MaxSeatsPerUser:    event.Change[int]{Set: in.MaxSeatsPerUser.Set, Value: in.MaxSeatsPerUser.ptr()},
		HoldTTLSeconds:     in.HoldTTLSeconds,
		Status:             (*event.Status)(in.Status),
		WaitingRoom:        in.WaitingRoom.toInput(),
		StartsAt:           parseTime(&v, "starts_at", in.StartsAt),
		EndsAt:             timeChange(&v, "ends_at", in.EndsAt),
		SalesStart:         timeChange(&v, "sales_start", in.SalesStart),
		SalesEnd:           timeChange(&v, "sales_end", in.SalesEnd),
	}
	if in.RefundPolicy.Set {
		out.RefundPolicy.Set = true
		if p := in.RefundPolicy.ptr(); p != nil {
			policy := fromRefundPolicyDTO(*p)
			out.RefundPolicy.Value = &policy
		}
	}
	if in.Description.Set {
		out.Description = &in.Description.Value
	}
	if in.Category.Set {
		out.Category = &in.Category.Value
	}
	return out, v.Err()
}

func (in *waitingRoomInput) toInput() *event.WaitingRoomInput {
	if in == nil {
		return nil
	}
	return &event.WaitingRoomInput{
		Enabled:             in.Enabled,
		AdmitPerMinute:      in.AdmitPerMinute,
		MaxActive:           event.Change[int]{Set: in.MaxActive.Set, Value: in.MaxActive.ptr()},
		AdmissionTTLSeconds: in.AdmissionTTLSeconds,
		AdmitMode:           (*event.AdmitMode)(in.AdmitMode),
		AdmitMinPerMinute:   event.Change[int]{Set: in.AdmitMinPerMinute.Set, Value: in.AdmitMinPerMinute.ptr()},
		AdmitMaxPerMinute:   event.Change[int]{Set: in.AdmitMaxPerMinute.Set, Value: in.AdmitMaxPerMinute.ptr()},
		TargetP95Ms:         in.TargetP95Ms,
	}
}

func (in sectionInput) toInput() event.SectionInput {
	return event.SectionInput{
		Name:        deref(in.Name),
		PriceCents:  in.PriceCents,
		Rows:        in.Rows,
		SeatsPerRow: in.SeatsPerRow,
		Capacity:    in.Capacity,
	}
}

func parseTime(v *apperr.Validator, field string, raw *string) *time.Time {
	if raw == nil {
		return nil
	}
	t, err := time.Parse(time.RFC3339Nano, *raw)
	if err != nil {
		v.Add(field, "must be an RFC 3339 time such as 2026-05-01T19:30:00Z")
		return nil
	}
	return &t
}

func timeChange(v *apperr.Validator, field string, n nullable[string]) event.Change[time.Time] {
	if !n.Set {
		return event.Change[time.Time]{}
	}
	return event.Change[time.Time]{Set: true, Value: parseTime(v, field, n.ptr())}
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// --- Responses ---

type eventResponse struct {
	ID                 uuid.UUID            `json:"id"`
	Name               string               `json:"name"`
	Description        string               `json:"description"`
	Venue              string               `json:"venue"`
	Category           string               `json:"category"`
	StartsAt           time.Time            `json:"starts_at"`
	EndsAt             *time.Time           `json:"ends_at"`
	Status             string               `json:"status"`
	Currency           string               `json:"currency"`
	Capacity           int                  `json:"capacity"`
	MaxSeatsPerBooking int                  `json:"max_seats_per_booking"`
	MaxSeatsPerUser    int                  `json:"max_seats_per_user"`
	HoldTTLSeconds     int                  `json:"hold_ttl_seconds"`
	SalesStart         *time.Time           `json:"sales_start"`
	SalesEnd           *time.Time           `json:"sales_end"`
	Sections           []sectionResponse    `json:"sections"`
	Availability       availabilityResponse `json:"availability"`
	WaitingRoom        waitingRoomResponse  `json:"waiting_room"`
	RefundPolicy       []refundTierDTO      `json:"refund_policy"`
	CreatedAt          time.Time            `json:"created_at"`
	UpdatedAt          time.Time            `json:"updated_at"`
}

type sectionResponse struct {
	Name        string `json:"name"`
	PriceCents  int64  `json:"price_cents"`
	Capacity    int    `json:"capacity"`
	Rows        *int   `json:"rows,omitempty"`
	SeatsPerRow *int   `json:"seats_per_row,omitempty"`
}

type availabilityResponse struct {
	Available int `json:"available"`
	Held      int `json:"held"`
	Booked    int `json:"booked"`
}

type waitingRoomResponse struct {
	Enabled             bool   `json:"enabled"`
	AdmitPerMinute      int    `json:"admit_per_minute"`
	MaxActive           *int   `json:"max_active"`
	AdmissionTTLSeconds int    `json:"admission_ttl_seconds"`
	AdmitMode           string `json:"admit_mode"`
	AdmitMinPerMinute   *int   `json:"admit_min_per_minute"`
	AdmitMaxPerMinute   *int   `json:"admit_max_per_minute"`
	TargetP95Ms         int    `json:"target_p95_ms"`
}

// seatResponse is a Seat: in a seat list, and in a booking.
type seatResponse struct {
	ID         uuid.UUID `json:"id"`
	Section    string    `json:"section"`
	Row        *string   `json:"row"`
	Number     *int      `json:"number"`
	Label      string    `json:"label"`
	PriceCents int64     `json:"price_cents"`
	Status     string    `json:"status"`
}

func toEventResponse(e event.Event) eventResponse {
	out := eventResponse{
		ID:                 e.ID,
		Name:               e.Name,
		Description:        e.Description,
		Venue:              e.Venue,
		Category:           e.Category,
		StartsAt:           e.StartsAt,
		EndsAt:             e.EndsAt,
		Status:             string(e.Status),
		Currency:           e.Currency,
		Capacity:           e.Capacity(),
		MaxSeatsPerBooking: e.MaxSeatsPerBooking,
		MaxSeatsPerUser:    e.PurchaseLimit(),
		HoldTTLSeconds:     e.HoldTTLSeconds,
		SalesStart:         e.SalesStart,
		SalesEnd:           e.SalesEnd,
		Sections:           make([]sectionResponse, len(e.Sections)),
		Availability: availabilityResponse{
			Available: e.Availability.Available,
			Held:      e.Availability.Held,
			Booked:    e.Availability.Booked,
		},
		WaitingRoom: waitingRoomResponse{
			Enabled:             e.WaitingRoom.Enabled,
			AdmitPerMinute:      e.WaitingRoom.AdmitPerMinute,
			MaxActive:           e.WaitingRoom.MaxActive,
			AdmissionTTLSeconds: e.WaitingRoom.AdmissionTTLSeconds,
			AdmitMode:           string(e.WaitingRoom.AdmitMode),
			AdmitMinPerMinute:   e.WaitingRoom.AdmitMinPerMinute,
			AdmitMaxPerMinute:   e.WaitingRoom.AdmitMaxPerMinute,
			TargetP95Ms:         e.WaitingRoom.TargetP95Ms,
		},
		RefundPolicy: toRefundPolicyDTO(e.RefundPolicy.Or()),
		CreatedAt:    e.CreatedAt,
		UpdatedAt:    e.UpdatedAt,
	}
	for i, sec := range e.Sections {
		out.Sections[i] = sectionResponse{Name: sec.Name, PriceCents: sec.PriceCents, Capacity: sec.Capacity}
		if sec.Numbered() {
			rows, perRow := sec.Rows, sec.SeatsPerRow
			out.Sections[i].Rows, out.Sections[i].SeatsPerRow = &rows, &perRow
		}
	}
	return out
}

func toEventPage(p event.Page) (listResponse[eventResponse], error) {
	out := make([]eventResponse, len(p.Events))
	for i, e := range p.Events {
		out[i] = toEventResponse(e)
	}
	var next *eventCursor
	if p.Next != nil {
		next = &eventCursor{StartsAt: p.Next.StartsAt, ID: p.Next.ID}
	}
	return listWithCursor(out, next)
}

func toSeatResponse(st event.Seat) seatResponse {
	out := seatResponse{
		ID:         st.ID,
		Section:    st.Section,
		Label:      st.Label,
		PriceCents: st.PriceCents,
		Status:     string(st.Status),
	}
	if st.Row != "" {
		row, number := st.Row, st.Number
		out.Row, out.Number = &row, &number
	}
	return out
}
