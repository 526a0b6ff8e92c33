package httpapi

import (
	"net/http"
	"time"

	"github.com/go-chi/chi/v5/middleware"
	"github.com/go-chi/httprate"

	"github.com/evently/evently/internal/apperr"
)

// clientIP puts each request's client address in its context (read it with
// middleware.GetClientIP): the TCP peer's, or, when header names the header
// that a trusted reverse proxy sets, the address the proxy wrote there.
// For X-Forwarded-For that is the right-most entry (the proxy appends the
// address it saw; entries to its left come from the client and prove
// nothing); for other headers (X-Real-IP, CF-Connecting-IP, ...) the last
// value. A request without a usable header keeps its peer address.
func clientIP(header string) func(http.Handler) http.Handler {
	var fromHeader func(http.Handler) http.Handler
	switch {
	case header == "":
	case http.CanonicalHeaderKey(header) == "X-Forwarded-For":
		fromHeader = middleware.ClientIPFromXFFTrustedProxies(1)
	default:
		fromHeader = middleware.ClientIPFromHeader(header)
	}
	return func(next http.Handler) http.Handler {
		if fromHeader != nil {
			next = fromHeader(next)
		}
		return middleware.ClientIPFromRemoteAddr(next)
	}
}

// clientIPKey keys rate limits by client address (IPv6 by its /64, which
// one client usually holds whole).
func clientIPKey(r *http.Request) (string, error) {
	return httprate.CanonicalizeIP(middleware.GetClientIP(r.Context())), nil
}

// authRateLimit limits each client address to perMinute requests a minute
// on each endpoint it guards (sliding window, counted in this process);
// over it, 429 rate_limited with Retry-After. perMinute 0 turns it off.
func (s *Server) authRateLimit(perMinute int) func(http.Handler) http.Handler {
	if perMinute <= 0 {
		return func(next http.Handler) http.Handler { return next }
	}
	limit := httprate.LimitBy(perMinute, time.Minute,
		httprate.JoinKeys(clientIPKey, httprate.KeyByEndpoint),
		httprate.WithLimitHandler(s.api(func(http.ResponseWriter, *http.Request) error {
			return apperr.New(apperr.RateLimited, "Too many requests from this address; try again later.")
		})),
	)
	resolve := clientIP(s.trustedIPHeader)
	return func(next http.Handler) http.Handler { return resolve(limit(next)) }
}
