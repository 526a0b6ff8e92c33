package httpapi

import (
	"context"
	"net/http"

	"github.com/google/uuid"
)

// Most handlers end the same way: one call to a service, whose error goes
// back to api (a problem response) and whose result is written in its
// response DTO. These finish such a handler, so that each one says only
// what it reads and which call it makes:
//
//	b, err := s.bookings.Cancel(r.Context(), id, principal(r))
//	return respond(w, http.StatusOK, b, err, toBookingResponse)

// respond writes to(v) as JSON with status, or returns err.
func respond[T, R any](w http.ResponseWriter, status int, v T, err error, to func(T) R) error {
	if err != nil {
		return err
	}
	writeJSON(w, status, to(v))
	return nil
}

// respondCreated answers 201 Created with body, the new resource, and its
// location.
func respondCreated(w http.ResponseWriter, location string, body any) error {
	w.Header().Set("Location", location)
	writeJSON(w, http.StatusCreated, body)
	return nil
}

// respondNoContent answers 204 No Content, or returns err.
func respondNoContent(w http.ResponseWriter, err error) error {
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// respondByID serves a request that names one resource by its path {id}
// (what it is, for the 404 of an id that is no UUID) and needs nothing
// else: call gets the id, and its result is written with status.
func respondByID[T, R any](w http.ResponseWriter, r *http.Request, what string, status int,
	call func(context.Context, uuid.UUID) (T, error), to func(T) R) error {
	id, err := uuidParam(r, "id", what)
	if err != nil {
		return err
	}
	v, err := call(r.Context(), id)
	return respond(w, status, v, err, to)
}

// deleteByID serves a DELETE of the resource named by its path {id}.
func deleteByID(w http.ResponseWriter, r *http.Request, what string, del func(context.Context, uuid.UUID) error) error {
	id, err := uuidParam(r, "id", what)
	if err != nil {
		return err
	}
	return respondNoContent(w, del(r.Context(), id))
}

// respondList writes one page of a list (see newList): items were fetched
// with a limit of limit+1.
func respondList[E, T, C any](w http.ResponseWriter, limit int, items []E, err error, convert func(E) T, cursorOf func(E) C) error {
	if err != nil {
		return err
	}
	resp, err := newList(items, limit, convert, cursorOf)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}
