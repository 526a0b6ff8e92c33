package httpapi

import (
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/go-chi/cors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/evently/evently/internal/apperr"
)

// Handler returns the API's routes, every one of which is listed in the
// OpenAPI spec (a test keeps the two equal, with MetricsHandler's).
func (s *Server) Handler() http.Handler {
	return s.router()
}

// MetricsHandler serves GET /metrics alone, for a listener of its own
// (EVENTLY_METRICS_ADDR), so that the metrics are not public.
func (s *Server) MetricsHandler() http.Handler {
	return s.metricsRouter()
}

func (s *Server) metricsRouter() chi.Router {
	r := chi.NewRouter()
	r.Use(requestID, recoverer(s.logger))
	s.problemRoutes(r)
	r.Method(http.MethodGet, "/metrics", s.metricsEndpoint())
	return r
}

func (s *Server) metricsEndpoint() http.Handler {
	return promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{})
}

// problemRoutes answers unknown paths and methods with problem documents.
func (s *Server) problemRoutes(r chi.Router) {
	r.NotFound(s.api(func(http.ResponseWriter, *http.Request) error {
		return apperr.New(apperr.NotFound, "No such resource.")
	}))
	r.MethodNotAllowed(s.api(func(http.ResponseWriter, *http.Request) error {
		return apperr.New(apperr.MethodNotAllowed, "Method not allowed on this resource.")
	}))
}

func (s *Server) router() chi.Router {
	r := chi.NewRouter()
	// Every GET answers HEAD too; JSON and pages are gzipped when asked.
	r.Use(requestID, recoverer(s.logger), accessLog(s.logger, s.metrics), s.gzip.compress, middleware.GetHead)
	if len(s.cors) > 0 {
		r.Use(cors.Handler(cors.Options{
			AllowedOrigins:   s.cors,
			AllowedMethods:   []string{"GET", "HEAD", "POST", "PATCH", "PUT", "DELETE", "OPTIONS"},
			AllowedHeaders:   []string{"Authorization", "Content-Type", "Idempotency-Key", admissionHeader, requestIDHeader, "If-None-Match"},
			ExposedHeaders:   []string{requestIDHeader, "Retry-After", "Location", "ETag"},
			AllowCredentials: false,
			MaxAge:           600,
		}))
	}
	s.problemRoutes(r)

	// Operations.
	r.Get("/healthz", s.healthz)
	r.Get("/readyz", s.readyz)
	if s.metricsOnAPI {
		r.Method(http.MethodGet, "/metrics", s.metricsEndpoint())
	}
	r.Get("/openapi.yaml", s.openapi)
	r.Get("/docs", s.docs)
	r.Get("/docs/redoc.standalone.js", s.docsScript)
	// The waiting-room page buyers wait on.
	r.Get("/wait/{event_id}", s.waitPage)
	// The organiser's live on-sale view.
	r.Get("/admin/live/{event_id}", s.livePage)

	r.Route("/api/v1", func(r chi.Router) {
		r.Use(s.authenticate, s.checkRequestText)

		// Accounts.
		r.Group(func(r chi.Router) {
			r.Use(s.authRateLimit(s.authRate))
			r.Post("/auth/register", s.api(s.register))
			r.Post("/auth/login", s.api(s.login))
			r.Post("/auth/refresh", s.api(s.refresh))
			r.Post("/auth/logout", s.api(s.logout))
			r.With(s.requireUser).Post("/auth/logout-all", s.api(s.logoutAll))
			r.With(s.requireUser).Post("/me/password", s.api(s.changePassword))
		})
		r.With(s.requireUser).Get("/me", s.api(s.me))
		r.With(s.requireAdmin).Get("/admin/users", s.api(s.listUsers))
		r.With(s.requireAdmin).Patch("/admin/users/{id}", s.api(s.setUserRole))
		// Events and seats.
		r.Get("/events", s.api(s.listEvents))
		r.Get("/events/{id}", s.api(s.getEvent))
		r.Get("/events/{id}/seats", s.api(s.listSeats))
		r.Group(func(r chi.Router) {
			r.Use(s.requireAdmin)
			r.Get("/admin/events", s.api(s.listAdminEvents))
			r.Post("/admin/events", s.api(s.createEvent))
			r.Patch("/admin/events/{id}", s.api(s.patchEvent))
			r.Delete("/admin/events/{id}", s.api(s.deleteEvent))
			r.Post("/admin/events/{id}/sections", s.api(s.addSection))
			r.Post("/admin/events/{id}/publish", s.api(s.publishEvent))
			r.Post("/admin/events/{id}/cancel", s.api(s.cancelEvent))
			r.Get("/admin/events/{id}/bookings", s.api(s.listEventBookings))
		})

		// Bookings.
		r.Group(func(r chi.Router) {
			r.Use(s.requireUser)
			r.Post("/bookings", s.api(s.createBooking))
			r.Get("/bookings/{id}", s.api(s.getBooking))
			r.Post("/bookings/{id}/confirm", s.api(s.confirmBooking))
			r.Post("/bookings/{id}/cancel", s.api(s.cancelBooking))
			r.Get("/bookings/{id}/refund-quote", s.api(s.refundQuote))
			r.Get("/me/bookings", s.api(s.listMyBookings))
		})

		// Tickets and check-in at the door.
		r.Get("/events/{id}/ticket-key", s.api(s.ticketKey))
		r.With(s.requireUser).Get("/bookings/{id}/tickets", s.api(s.bookingTickets))
		r.With(s.requireUser).Get("/tickets/{id}/qr.png", s.api(s.ticketQR))
		r.Group(func(r chi.Router) {
			r.Use(s.requireStaff)
			r.Post("/admin/events/{id}/check-ins", s.api(s.checkIn))
			r.Get("/admin/events/{id}/check-ins/stats", s.api(s.checkInStats))
		})

		// Virtual waiting room.
		r.Group(func(r chi.Router) {
			r.Use(s.requireUser)
			r.Post("/events/{id}/waiting-room", s.api(s.joinWaitingRoom))
			r.Get("/events/{id}/waiting-room", s.api(s.getWaitingRoomTicket))
			r.Delete("/events/{id}/waiting-room", s.api(s.leaveWaitingRoom))
		})
		r.With(s.requireAdmin).Get("/admin/events/{id}/waiting-room", s.api(s.waitingRoomStats))
		r.With(s.requireAdmin).Get("/admin/events/{id}/waiting-room/rate-changes", s.api(s.admissionRateChanges))
		// Live streams (server-sent events); they also take ?access_token=.
		r.With(s.queryToken).Get("/events/{id}/availability/stream", s.api(s.availabilityStream))
		r.With(s.queryToken, s.requireUser).Get("/events/{id}/waiting-room/stream", s.api(s.waitingRoomStream))
		r.With(s.queryToken, s.requireAdmin).Get("/admin/analytics/events/{id}/funnel/stream", s.api(s.funnelStream))
		// Waitlist.
		r.Group(func(r chi.Router) {
			r.Use(s.requireUser)
			r.Post("/events/{id}/waitlist", s.api(s.joinWaitlist))
			r.Get("/events/{id}/waitlist", s.api(s.getWaitlistEntry))
			r.Delete("/events/{id}/waitlist", s.api(s.leaveWaitlist))
		})
		r.With(s.requireAdmin).Get("/admin/events/{id}/waitlist", s.api(s.listWaitlist))

		// Notifications.
		r.With(s.requireUser).Get("/me/notifications", s.api(s.listNotifications))
		r.With(s.requireUser).Post("/me/notifications/{id}/read", s.api(s.markNotificationRead))
		// Webhook endpoints and deliveries.
		r.Group(func(r chi.Router) {
			r.Use(s.requireAdmin)
			r.Get("/admin/webhooks", s.api(s.listWebhookEndpoints))
			r.Post("/admin/webhooks", s.api(s.createWebhookEndpoint))
			r.Get("/admin/webhooks/{id}", s.api(s.getWebhookEndpoint))
			r.Patch("/admin/webhooks/{id}", s.api(s.patchWebhookEndpoint))
			r.Delete("/admin/webhooks/{id}", s.api(s.deleteWebhookEndpoint))
			r.Post("/admin/webhooks/{id}/rotate-secret", s.api(s.rotateWebhookSecret))
			r.Get("/admin/webhooks/deliveries", s.api(s.listWebhookDeliveries))
			r.Post("/admin/webhooks/deliveries/{id}/redeliver", s.api(s.redeliverWebhook))
		})
		// Analytics.
		r.Group(func(r chi.Router) {
			r.Use(s.requireAdmin)
			r.Get("/admin/analytics/summary", s.api(s.analyticsSummary))
			r.Get("/admin/analytics/events/popular", s.api(s.analyticsPopular))
			r.Get("/admin/analytics/daily", s.api(s.analyticsDaily))
			r.Get("/admin/analytics/events/{id}", s.api(s.analyticsEvent))
			r.Get("/admin/analytics/events/{id}/funnel", s.api(s.analyticsFunnel))
		})
	})
	return r
}
