package httpapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/apperr"
)

// Every list endpoint pages the same way (see API.md, "Lists"):
//
//	?limit=  how many items (default 20; larger than the list's maximum is
//	         clamped to it; anything but a positive integer is a 400)
//	?cursor= where to go on from, exactly as the previous page's
//	         next_cursor gave it (a cursor that does not decode is a 400)
//
// and answers {"data": [...], "next_cursor": "..." | null}. Lists use
// keyset pagination: a cursor holds the sort key of the last item shown
// (type C, chosen by each list, e.g. struct{StartsAt time.Time; ID
// uuid.UUID}), and the next page is the items after it in sort order.
//
// A handler reads the page, asks the domain for one item more than the
// limit (to learn whether a next page exists) and builds the response:
//
//	p, err := parsePage[idCursor](r, maxListLimit)
//	users, err := svc.List(ctx, ..., after: p.Cursor.ID, limit: p.Limit+1)
//	return respondList(w, p.Limit, users, err, toUserResponse, userCursorOf)

// Limits of ?limit=.
const (
	defaultListLimit = 20
	maxListLimit     = 100
)

// idCursor is the cursor of the lists keyed on id alone: the users and
// the webhook endpoints.
type idCursor struct {
	ID uuid.UUID `json:"id"`
}

func (c idCursor) Validate() error {
	if c.ID == uuid.Nil {
		return apperr.New(apperr.ValidationFailed, "empty cursor")
	}
	return nil
}

// createdCursor is the cursor of the lists keyed on (created_at, id): the
// bookings, the waitlist, the inbox and the webhook deliveries.
type createdCursor struct {
	CreatedAt time.Time `json:"t"`
	ID        uuid.UUID `json:"id"`
}

func (c createdCursor) Validate() error {
	if c.ID == uuid.Nil || c.CreatedAt.IsZero() {
		return apperr.New(apperr.ValidationFailed, "bad cursor")
	}
	return nil
}

// page is the paging part of a list request.
type page[C any] struct {
	Limit int
	// Cursor is the decoded ?cursor=, the zero C when there was none.
	Cursor C
	// HasCursor reports whether the request gave a cursor.
	HasCursor bool
}

// parsePage reads ?limit= (clamped to maxLimit) and ?cursor= (decoded into
// a C and, when C implements validator, validated). Errors are 400
// validation_failed naming the parameter.
func parsePage[C any](r *http.Request, maxLimit int) (page[C], error) {
	q := r.URL.Query()
	p := page[C]{}
	var err error
	if p.Limit, err = parseLimit(r, defaultListLimit, maxLimit); err != nil {
		return p, err
	}
	if s := q.Get("cursor"); s != "" {
		c, err := decodeCursor[C](s)
		if err != nil {
			return p, err
		}
		p.Cursor, p.HasCursor = c, true
	}
	return p, nil
}

// parseLimit reads ?limit=: def when absent, clamped to maxLimit, and a
// 400 validation_failed for anything but a positive integer.
func parseLimit(r *http.Request, def, maxLimit int) (int, error) {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil && errors.Is(err, strconv.ErrRange) && s[0] != '-' {
		n, err = maxLimit, nil // a huge number: clamp it like any other
	}
	if err != nil || n < 1 {
		return 0, apperr.Invalid(apperr.FieldError{Field: "limit",
			Message: fmt.Sprintf("must be an integer from 1 to %d", maxLimit)})
	}
	return min(n, maxLimit), nil
}

// listResponse is the body of every list.
type listResponse[T any] struct {
	Data       []T     `json:"data"`
	NextCursor *string `json:"next_cursor"`
}

// newList builds a list response from items fetched with a limit of
// limit+1: when there are more than limit, the extra one only proves that
// a next page exists, and the cursor is taken from the last item shown.
// convert makes each item's DTO; cursorOf its sort key.
func newList[E, T, C any](items []E, limit int, convert func(E) T, cursorOf func(E) C) (listResponse[T], error) {
	resp := listResponse[T]{Data: make([]T, 0, min(len(items), limit))}
	more := len(items) > limit
	if more {
		items = items[:limit]
	}
	for _, it := range items {
		resp.Data = append(resp.Data, convert(it))
	}
	if more && limit > 0 {
		c, err := encodeCursor(cursorOf(items[len(items)-1]))
		if err != nil {
			return resp, err
		}
		resp.NextCursor = &c
	}
	return resp, nil
}

// listWithCursor builds a list response for a page whose next cursor the
// domain worked out (nil on the last page).
func listWithCursor[T, C any](data []T, next *C) (listResponse[T], error) {
	resp := listResponse[T]{Data: data}
	if resp.Data == nil {
		resp.Data = []T{}
	}
	if next != nil {
		c, err := encodeCursor(*next)
		if err != nil {
			return resp, err
		}
		resp.NextCursor = &c
	}
	return resp, nil
}

// encodeCursor makes an opaque cursor of c: unpadded base64url of its JSON.
// Cursors are not secret and need no signature: a forged one only selects
// another page of what its holder may list anyway.
func encodeCursor[C any](c C) (string, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("encode cursor: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// decodeCursor reverses encodeCursor, refusing anything that is not a
// complete, valid C (unknown fields included), or that breaks the input
// rule: a forged cursor is input like any other, so its strings must be
// text Postgres accepts and its integers must fit their columns.
func decodeCursor[C any](s string) (C, error) {
	var c C
	bad := apperr.Invalid(apperr.FieldError{Field: "cursor", Message: "is not a cursor that this list gave"})
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return c, bad
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, bad
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return c, bad
	}
	if checkInput(b, &c) != nil {
		return c, bad
	}
	if v, ok := any(&c).(validator); ok && v.Validate() != nil {
		return c, bad
	}
	return c, nil
}

// statusEnum is an enumeration a list can be filtered by (?status=).
type statusEnum interface {
	~string
	Valid() bool
}

// queryStatus reads the optional ?status= filter of a list: nil when
// absent, a 400 validation_failed listing the statuses (allowed) when it
// is none of them.
func queryStatus[S statusEnum](r *http.Request, allowed string) (*S, error) {
	raw := r.URL.Query().Get("status")
	if raw == "" {
		return nil, nil
	}
	st := S(raw)
	if !st.Valid() {
		return nil, apperr.Invalid(apperr.FieldError{Field: "status", Message: "must be " + allowed})
	}
	return &st, nil
}
