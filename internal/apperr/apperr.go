// Package apperr is Evently's one error vocabulary. Domain code returns
// errors carrying a stable Code; storage translates driver errors into them
// at its edge; the HTTP layer alone maps codes to status codes.
package apperr

import (
	"errors"
	"fmt"
	"time"
)

// Code is the stable, machine-readable kind of an error. Clients see it as
// the problem document's "code".
type Code string

// The codes of the REST contract.
const (
	MalformedJSON        Code = "malformed_json"
	ValidationFailed     Code = "validation_failed"
	UnsupportedMediaType Code = "unsupported_media_type"
	PayloadTooLarge      Code = "payload_too_large"
	Unauthorized         Code = "unauthorized"
	InvalidCredentials   Code = "invalid_credentials"
	WrongPassword        Code = "wrong_password"
	Forbidden            Code = "forbidden"
	NotFound             Code = "not_found"
	MethodNotAllowed     Code = "method_not_allowed"
	EmailTaken           Code = "email_taken"
	Conflict             Code = "conflict"
	SeatUnavailable      Code = "seat_unavailable"
	SoldOut              Code = "sold_out"
	SalesClosed          Code = "sales_closed"
	HoldExpired          Code = "hold_expired"
	InvalidState         Code = "invalid_state"
	WaitingRoomRequired  Code = "waiting_room_required"
	SeatsAvailable       Code = "seats_available"
	PurchaseLimitReached Code = "purchase_limit_reached"
	InvalidTicket        Code = "invalid_ticket"
	AlreadyCheckedIn     Code = "already_checked_in"
	TicketVoid           Code = "ticket_void"
	IdempotencyKeyReused Code = "idempotency_key_reused"
	RateLimited          Code = "rate_limited"
	Unavailable          Code = "unavailable"
	Internal             Code = "internal"
)

// FieldError names one invalid input field.
type FieldError struct {
	Field   string
	Message string
}

// Error is an error with a Code, a human-readable detail and, for some codes,
// more structured information.
type Error struct {
	Code   Code
	Detail string
	// Fields lists the invalid fields of a validation failure.
	Fields []FieldError
	// Extra holds additional members of the problem document (e.g. the
	// seat_ids of seat_unavailable).
	Extra map[string]any
	// RetryAfter, when positive, is how long the client should wait before
	// trying again (the Retry-After of a rate_limited answer).
	RetryAfter time.Duration
	// Err is the underlying cause, if any; it is logged, never shown.
	Err error
}

func (e *Error) Error() string {
	msg := string(e.Code)
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// New returns an Error with the given code and formatted detail.
func New(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Detail: fmt.Sprintf(format, args...)}
}

// Wrap returns an Error with the given code whose cause is err.
func Wrap(err error, code Code, detail string) *Error {
	return &Error{Code: code, Detail: detail, Err: err}
}

// Invalid returns a validation failure listing the given fields.
func Invalid(fields ...FieldError) *Error {
	detail := "The request has invalid fields."
	if len(fields) == 1 {
		detail = fields[0].Field + ": " + fields[0].Message
	}
	return &Error{Code: ValidationFailed, Detail: detail, Fields: fields}
}

// With adds an extra member to the problem document and returns e.
func (e *Error) With(key string, value any) *Error {
	if e.Extra == nil {
		e.Extra = map[string]any{}
	}
	e.Extra[key] = value
	return e
}

// CodeOf returns the Code of the first *Error in err's chain, or Internal.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// Is reports whether err carries the given code.
func Is(err error, code Code) bool {
	return err != nil && CodeOf(err) == code
}

// Validator collects field errors while checking an input.
type Validator struct {
	fields []FieldError
}

// Check records msg for field unless ok.
func (v *Validator) Check(ok bool, field, msg string) {
	if !ok {
		v.fields = append(v.fields, FieldError{Field: field, Message: msg})
	}
}

// Add records msg for field.
func (v *Validator) Add(field, msg string) {
	v.fields = append(v.fields, FieldError{Field: field, Message: msg})
}

// Err returns the collected failures as one validation error, or nil.
func (v *Validator) Err() error {
	if len(v.fields) == 0 {
		return nil
	}
	return Invalid(v.fields...)
}
