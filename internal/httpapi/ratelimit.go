package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/go-chi/httprate"
	"github.com/prometheus/client_golang/prometheus"

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

// RateLimiter draws on budgets that every instance shares (redis.AuthRate
// is one). Allow takes one request from key's budget and reports whether
// there was room and, if not, how long until there is.
type RateLimiter interface {
	Allow(ctx context.Context, key string) (ok bool, retryAfter time.Duration, err error)
}

// sharedRatePause is how long, after the shared budget failed, this
// process counts on its own before it tries the shared one again: with
// Redis down, requests do not each pay for a failed call.
const sharedRatePause = 5 * time.Second

// sharedRate is the per-address limit of /auth/* as every instance counts
// it, in Redis. When it fails, the limit fails open to each process's own
// counts (logged, and counted in evently_auth_rate_fallbacks_total).
type sharedRate struct {
	limiter   RateLimiter
	logger    *slog.Logger
	fallbacks prometheus.Counter

	mu         sync.Mutex
	pausedTill time.Time
}

func newSharedRate(limiter RateLimiter, reg prometheus.Registerer, logger *slog.Logger) *sharedRate {
	fallbacks := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "evently_auth_rate_fallbacks_total",
		Help: "Requests to /auth/* whose per-address limit this process counted alone, the shared budget (Redis) being unavailable.",
	})
	reg.MustRegister(fallbacks)
	return &sharedRate{limiter: limiter, logger: logger, fallbacks: fallbacks}
}

// allow draws on key's shared budget; decided is false when there is no
// shared budget or it cannot be read, and the caller must count alone.
func (s *sharedRate) allow(ctx context.Context, key string) (ok bool, retryAfter time.Duration, decided bool) {
	if s.limiter == nil {
		return false, 0, false
	}
	s.mu.Lock()
	paused := time.Now().Before(s.pausedTill)
	s.mu.Unlock()
	if !paused {
		ok, retryAfter, err := s.limiter.Allow(ctx, key)
		if err == nil {
			return ok, retryAfter, true
		}
		if ctx.Err() == nil { // not the client giving up
			s.mu.Lock()
			s.pausedTill = time.Now().Add(sharedRatePause)
			s.mu.Unlock()
			s.logger.WarnContext(ctx, "shared auth rate limit unavailable: each process counts on its own for a few seconds",
				"pause", sharedRatePause, "err", err)
		}
	}
	s.fallbacks.Inc()
	return false, 0, false
}

// authRateLimit limits each client address to perMinute requests a minute
// on each endpoint it guards, a budget shared by every instance through
// Redis (or, without Redis, counted in this process: a sliding window);
// over it, 429 rate_limited with Retry-After. perMinute 0 turns it off.
func (s *Server) authRateLimit(perMinute int) func(http.Handler) http.Handler {
	if perMinute <= 0 {
		return func(next http.Handler) http.Handler { return next }
	}
	// No X-RateLimit-* headers: answers are the same with either count.
	local := httprate.NewRateLimiter(perMinute, time.Minute, httprate.WithResponseHeaders(httprate.ResponseHeaders{}))
	resolve := clientIP(ClientAddress{Header: s.trustedIPHeader, Hops: s.trustedHops, CIDRs: s.trustedCIDRs})
	return func(next http.Handler) http.Handler {
		return resolve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			client, _ := clientIPKey(r)
			key := routePattern(r) + ":" + client
			ok, retryAfter, decided := s.sharedRate.allow(r.Context(), key)
			if !decided {
				ok, retryAfter = !local.OnLimit(w, r, key), time.Minute
			}
			if !ok {
				s.logger.InfoContext(r.Context(), "auth rate limit reached", "client", client)
				e := apperr.New(apperr.RateLimited, "Too many requests from this address; try again later.")
				e.RetryAfter = max(retryAfter, time.Second)
				s.writeError(w, r, e)
				return
			}
			next.ServeHTTP(w, r)
		}))
	}
}

// routePattern is the route r matched (bounded, unlike its path).
func routePattern(r *http.Request) string {
	if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
		return rc.RoutePattern()
	}
	return r.URL.Path
}
