// Package httpapi is Evently's REST API: the chi router, handlers, request
// and response DTOs, middleware, and the one mapping from error codes to
// HTTP statuses.
package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/evently/evently/internal/auth"
	"github.com/evently/evently/internal/event"

	"github.com/prometheus/client_golang/prometheus"
)

// Check reports whether one dependency answers.
type Check struct {
	Name string
	Ping func(ctx context.Context) error
	// Optional: the instance still serves bookings without it, degraded
	// (/readyz answers 200 "degraded"); without a required one, it cannot
	// (503).
	Optional bool
}

// Options are the dependencies of the API.
type Options struct {
	Logger *slog.Logger
	// Checks are the dependencies /readyz reports on.
	Checks []Check
	// Registry receives the API's metrics; /metrics serves everything in it.
	Registry *prometheus.Registry
	// MetricsOnAPI serves /metrics on the API's routes (Handler); without
	// it, only MetricsHandler serves it.
	MetricsOnAPI bool
	// Spec is the OpenAPI document served at /openapi.yaml, which the
	// reference at /docs renders.
	Spec []byte
	// StorefrontURL is where the waiting-room page sends an admitted
	// buyer, with the event id and the admission pass; empty: the page
	// shows the pass.
	StorefrontURL string
	// Tokens verifies the bearer tokens of authenticated requests.
	Tokens *auth.Tokens
	// Revocations, when set, refuses verified tokens that a change to their
	// account revoked, and gives the others the account's current role.
	Revocations TokenCheck
	// CORSOrigins lists the browser origins allowed to call the API; empty
	// disables CORS, "*" allows any origin.
	CORSOrigins []string
	// Accounts serves /auth/*, /me and /admin/users.
	Accounts AccountService
	// AuthRatePerMinute limits each client address on /auth/*; 0 = off.
	AuthRatePerMinute int
	// AuthRateLimiter, when set, keeps that limit in a budget every
	// instance shares; without it, or while it fails, each process counts
	// on its own.
	AuthRateLimiter RateLimiter
	// TrustedIPHeader names the header a trusted proxy sets to the client
	// address (e.g. X-Forwarded-For); empty: the peer address is the client.
	TrustedIPHeader string
	// TrustedProxyHops and TrustedProxyCIDRs say which entry of that header
	// is the client's (see ClientAddress).
	TrustedProxyHops  int
	TrustedProxyCIDRs []netip.Prefix
	// Events is the catalogue: events, sections and seats.
	Events *event.Service
	// Bookings is the booking engine.
	Bookings BookingService
	// Idempotency records answers to POST /bookings retried with an
	// Idempotency-Key.
	Idempotency Idempotency
	// WaitingRoom is the virtual waiting room.
	WaitingRoom WaitingRoomService
	// Waitlist serves /events/{id}/waitlist and its admin list.
	Waitlist WaitlistService
	// Notifications serves /me/notifications.
	Notifications NotificationService
	// Webhooks lists webhook deliveries for operators and redelivers them.
	Webhooks WebhookDeliveries
	// WebhookEndpoints serves /admin/webhooks: where webhooks go.
	WebhookEndpoints WebhookEndpoints
	// Analytics answers the admin reports.
	Analytics AnalyticsService
	// Funnel answers events' on-sale funnels.
	Funnel FunnelService
	// Tickets serves tickets, their QR images and key, and check-in.
	Tickets TicketService
	// Feed, when set, serves the live streams (server-sent events); without
	// it they answer 503.
	Feed Feed
	// StreamHeartbeat is the pause between a stream's heartbeats (15s);
	// StreamWriteTimeout how long one write to a stream may block before
	// its client is dropped as too slow (10s).
	StreamHeartbeat    time.Duration
	StreamWriteTimeout time.Duration
}

// TokenCheck decides whether a verified access token still stands
// (account.Revocations is one): it returns the principal with the
// account's current role, or an Unauthorized error.
type TokenCheck interface {
	Check(ctx context.Context, p auth.Principal) (auth.Principal, error)
}

// Server holds the API's dependencies; Handler returns its routes.
type Server struct {
	logger   *slog.Logger
	checks   []Check
	registry *prometheus.Registry
	metrics  *httpMetrics
	// metricsOnAPI: /metrics is one of the API's routes.
	metricsOnAPI bool
	docsFiles    docsFiles
	gzip         *gzipPool
	waitPageDoc  pageDoc
	livePageDoc  pageDoc
	cors         []string
	tokens       *auth.Tokens
	revoked      TokenCheck

	accounts        AccountService
	authRate        int
	sharedRate      *sharedRate
	trustedIPHeader string
	trustedHops     int
	trustedCIDRs    []netip.Prefix
	events          *event.Service
	bookings        BookingService
	idempotency     Idempotency
	waitingRoom     WaitingRoomService
	waitlist        WaitlistService
	notifications   NotificationService
	webhooks        WebhookDeliveries
	endpoints       WebhookEndpoints
	analytics       AnalyticsService
	funnel          FunnelService
	tickets         TicketService

	feed               Feed
	heartbeat          time.Duration
	streamWriteTimeout time.Duration
	streams            *streamMetrics

	// shuttingDown makes /readyz answer 503 (BeginShutdown).
	shuttingDown atomic.Bool
}

// New validates the options and prepares the API.
func New(opts Options) (*Server, error) {
	if opts.Logger == nil || opts.Registry == nil || len(opts.Spec) == 0 || opts.Tokens == nil {
		return nil, errors.New("httpapi: Logger, Registry, Spec and Tokens are required")
	}
	if opts.Accounts == nil {
		return nil, errors.New("httpapi: Accounts is required")
	}
	return &Server{
		logger:   opts.Logger,
		checks:   opts.Checks,
		registry: opts.Registry,
		metrics:  newHTTPMetrics(opts.Registry),

		metricsOnAPI: opts.MetricsOnAPI,
		docsFiles:    newDocsFiles(opts.Spec),
		gzip:         newGzipPool(),
		waitPageDoc:  newWaitPage(opts.StorefrontURL),
		livePageDoc:  newLivePage(),
		cors:         opts.CORSOrigins,
		tokens:       opts.Tokens,
		revoked:      opts.Revocations,

		accounts:        opts.Accounts,
		authRate:        opts.AuthRatePerMinute,
		sharedRate:      newSharedRate(opts.AuthRateLimiter, opts.Registry, opts.Logger),
		trustedIPHeader: opts.TrustedIPHeader,
		trustedHops:     opts.TrustedProxyHops,
		trustedCIDRs:    opts.TrustedProxyCIDRs,
		events:          opts.Events,
		bookings:        opts.Bookings,
		idempotency:     opts.Idempotency,
		waitingRoom:     opts.WaitingRoom,
		waitlist:        opts.Waitlist,
		notifications:   opts.Notifications,
		webhooks:        opts.Webhooks,
		endpoints:       opts.WebhookEndpoints,
		analytics:       opts.Analytics,
		funnel:          opts.Funnel,
		tickets:         opts.Tickets,

		feed:               opts.Feed,
		heartbeat:          orDefault(opts.StreamHeartbeat, defaultHeartbeat),
		streamWriteTimeout: orDefault(opts.StreamWriteTimeout, defaultStreamWriteTimeout),
		streams:            newStreamMetrics(opts.Registry),
	}, nil
}

// writeError writes err as a problem document. (The storage has already
// said, with the error's kind, when the database could not answer.)
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	writeError(w, r, s.logger, err)
}

// apiFunc is a handler that returns its error instead of writing it.
type apiFunc func(w http.ResponseWriter, r *http.Request) error

// api adapts an apiFunc: a returned error becomes a problem response.
func (s *Server) api(fn apiFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			s.writeError(w, r, err)
		}
	}
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
