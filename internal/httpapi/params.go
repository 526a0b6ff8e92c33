package httpapi

import (
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/evently/evently/internal/apperr"
)

// uuidParam returns the path parameter name as a UUID. Anything else names
// no resource: 404 not_found ("No such <what>."), like an unknown id.
func uuidParam(r *http.Request, name, what string) (uuid.UUID, error) {
	id, err := uuid.Parse(chi.URLParam(r, name))
	if err != nil {
		return uuid.Nil, apperr.New(apperr.NotFound, "No such %s.", what)
	}
	return id, nil
}
