package httpapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strconv"

	"github.com/evently/evently/internal/apperr"
)

// The list conventions of the contract: ?limit= defaults to 20 and is
// clamped to the endpoint's maximum (100 unless said otherwise).
const (
	defaultListLimit = 20
	maxListLimit     = 100
)

// page is the body of every list response.
type page[T any] struct {
	Data       []T     `json:"data"`
	NextCursor *string `json:"next_cursor"`
}

// newPage builds a list body; next, when not nil, is encoded as the opaque
// cursor of the following page.
func newPage[T any](data []T, next any) page[T] {
	p := page[T]{Data: data}
	if p.Data == nil {
		p.Data = []T{}
	}
	if next != nil {
		c := encodeCursor(next)
		p.NextCursor = &c
	}
	return p
}

// parseLimit reads ?limit=: absent → defaultListLimit, above max → max,
// not a positive integer → 400.
func parseLimit(q url.Values, max int) (int, error) {
	raw := q.Get("limit")
	if raw == "" {
		return min(defaultListLimit, max), nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange && raw[0] != '-' {
			return max, nil // a huge number is still a number: clamp it
		}
		return 0, apperr.Invalid(apperr.FieldError{Field: "limit", Message: "must be an integer"})
	}
	if n < 1 {
		return 0, apperr.Invalid(apperr.FieldError{Field: "limit", Message: "must be at least 1"})
	}
	return min(n, max), nil
}

// encodeCursor makes an opaque cursor of v: base64url of its JSON.
// Clients must not read it; the server may change its content at will.
func encodeCursor(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic("httpapi: unencodable cursor: " + err.Error()) // cursors are plain structs
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor reads ?cursor= (nil when absent). A cursor that does not
// decode into a T, or that valid (when given) refuses, is a 400.
func decodeCursor[T any](q url.Values, valid func(T) bool) (*T, error) {
	raw := q.Get("cursor")
	if raw == "" {
		return nil, nil
	}
	bad := apperr.Invalid(apperr.FieldError{Field: "cursor", Message: "is not a cursor returned by this list"})
	b, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil {
		return nil, bad
	}
	var v T
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return nil, bad
	}
	if valid != nil && !valid(v) {
		return nil, bad
	}
	return &v, nil
}
