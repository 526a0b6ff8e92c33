package httpapi

import (
	"net/http"
	"net/netip"
	"time"

	"github.com/go-chi/chi/v5/middleware"
	"github.com/go-chi/httprate"

	"github.com/evently/evently/internal/apperr"
)

// ClientAddress says where a request's client address comes from: the TCP
// peer's, or, when Header names the header that trusted reverse proxies
// set, the address they wrote there.
type ClientAddress struct {
	// Header is the trusted header (X-Forwarded-For, X-Real-IP, ...);
	// empty: the peer is the client.
	Header string
	// Hops is, for X-Forwarded-For, the position of the client's entry
	// counted from the right: each proxy appends the address it saw, so
	// behind n proxies the client is n entries from the right, and the
	// entries to its left, written by the client, prove nothing. 0 means 1.
	Hops int
	// CIDRs, when set, are the proxies' addresses: the header is read only
	// from a peer among them, and X-Forwarded-For is walked from the right
	// past their entries; the first address outside them is the client.
	CIDRs []netip.Prefix
}

// clientIP puts each request's client address in its context (read it with
// middleware.GetClientIP), as from says. A request without a usable header
// (missing, malformed, fewer X-Forwarded-For entries than hops) keeps its
// peer address.
func clientIP(from ClientAddress) func(http.Handler) http.Handler {
	var cidrs []string
	for _, p := range from.CIDRs {
		cidrs = append(cidrs, p.String())
	}
	var fromHeader func(http.Handler) http.Handler
	switch {
	case from.Header == "":
	case http.CanonicalHeaderKey(from.Header) == "X-Forwarded-For" && len(cidrs) > 0:
		fromHeader = middleware.ClientIPFromXFF(cidrs...)
	case http.CanonicalHeaderKey(from.Header) == "X-Forwarded-For":
		fromHeader = middleware.ClientIPFromXFFTrustedProxies(max(from.Hops, 1))
	default:
		fromHeader = middleware.ClientIPFromHeader(from.Header, cidrs...)
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
		httprate.WithLimitHandler(s.api(func(_ http.ResponseWriter, r *http.Request) error {
			client, _ := clientIPKey(r)
			s.logger.InfoContext(r.Context(), "auth rate limit reached", "client", client)
			return apperr.New(apperr.RateLimited, "Too many requests from this address; try again later.")
		})),
	)
	resolve := clientIP(ClientAddress{Header: s.trustedIPHeader, Hops: s.trustedHops, CIDRs: s.trustedCIDRs})
	return func(next http.Handler) http.Handler { return resolve(limit(next)) }
}
