package httpapi

import (
	"net/http"
	"strings"

	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/auth"
)

// authenticate reads an optional bearer token. A request without one goes
// on anonymously; a request with an invalid or revoked one is refused
// (401), so that a client never silently loses its identity. The caller's
// role is the account's current one, not the one the token was issued
// with (see TokenCheck).
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		if h == "" {
			next.ServeHTTP(w, r)
			return
		}
		scheme, token, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
			writeError(w, r, s.logger, apperr.New(apperr.Unauthorized, "The Authorization header must be 'Bearer <access token>'."))
			return
		}
		s.withToken(w, r, next, strings.TrimSpace(token))
	})
}

// withToken serves next as the principal of an access token, or answers
// 401 (or 503 when revocations cannot be checked).
func (s *Server) withToken(w http.ResponseWriter, r *http.Request, next http.Handler, token string) {
	p, err := s.tokens.Verify(token)
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeError(w, r, s.logger, apperr.New(apperr.Unauthorized, "The access token is invalid or has expired."))
		return
	}
	if s.revoked != nil {
		if p, err = s.revoked.Check(r.Context(), p); err != nil {
			if apperr.Is(err, apperr.Unauthorized) {
				w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			}
			s.writeError(w, r, err)
			return
		}
	}
	next.ServeHTTP(w, r.WithContext(auth.WithPrincipal(r.Context(), p)))
}

// accessTokenParam is the query parameter that carries an access token on
// the stream endpoints.
const accessTokenParam = "access_token"

// queryToken lets the stream endpoints take the access token as
// ?access_token=: a browser's EventSource cannot send an Authorization
// header. Only these routes read it, and no log line shows a query (the
// access log records the path alone). A token given both ways, or twice,
// is refused (400) rather than one of them silently ignored.
func (s *Server) queryToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tokens, given := r.URL.Query()[accessTokenParam]
		if !given {
			next.ServeHTTP(w, r)
			return
		}
		if len(tokens) != 1 || tokens[0] == "" || r.Header.Get("Authorization") != "" {
			writeError(w, r, s.logger, apperr.Invalid(apperr.FieldError{Field: accessTokenParam,
				Message: "give one access token, either here or in the Authorization header"}))
			return
		}
		s.withToken(w, r, next, tokens[0])
	})
}

// requireUser refuses anonymous requests (401).
func (s *Server) requireUser(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := auth.PrincipalFrom(r.Context()); !ok {
			w.Header().Set("WWW-Authenticate", "Bearer")
			writeError(w, r, s.logger, apperr.New(apperr.Unauthorized, "Authentication required."))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// requireAdmin refuses anonymous requests (401) and non-admins (403).
func (s *Server) requireAdmin(next http.Handler) http.Handler {
	return s.requireUser(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p, _ := auth.PrincipalFrom(r.Context()); !p.IsAdmin() {
			writeError(w, r, s.logger, apperr.New(apperr.Forbidden, "Admins only."))
			return
		}
		next.ServeHTTP(w, r)
	}))
}

// principal returns the caller of a request behind requireUser.
func principal(r *http.Request) auth.Principal {
	p, _ := auth.PrincipalFrom(r.Context())
	return p
}
