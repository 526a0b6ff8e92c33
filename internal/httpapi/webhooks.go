package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/logging"
	"github.com/evently/evently/internal/notify"
)

// WebhookEndpoints manages where webhooks go (notify.Endpoints).
type WebhookEndpoints interface {
	Create(ctx context.Context, in notify.EndpointInput) (notify.Endpoint, error)
	Get(ctx context.Context, id uuid.UUID) (notify.Endpoint, error)
	List(ctx context.Context, after uuid.UUID, limit int) ([]notify.Endpoint, error)
	Update(ctx context.Context, id uuid.UUID, p notify.EndpointPatch) (notify.Endpoint, error)
	Delete(ctx context.Context, id uuid.UUID) error
	RotateSecret(ctx context.Context, id uuid.UUID, overlap time.Duration) (notify.Endpoint, error)
}

// webhookEndpointResponse is an endpoint as admins read it: never with
// its secret (webhookEndpointSecretResponse, the answer to creating it and
// rotating its secret, is the only one), and with its URL redacted as
// every printed URL is.
type webhookEndpointResponse struct {
	ID                      uuid.UUID  `json:"id"`
	URL                     string     `json:"url"`
	Description             string     `json:"description"`
	Types                   []string   `json:"types"`
	Enabled                 bool       `json:"enabled"`
	Bootstrap               bool       `json:"bootstrap"`
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at"`
	CreatedAt               time.Time  `json:"created_at"`
	UpdatedAt               time.Time  `json:"updated_at"`
}

type webhookEndpointSecretResponse struct {
	webhookEndpointResponse
	Secret string `json:"secret"`
}

func toWebhookEndpointResponse(e notify.Endpoint) webhookEndpointResponse {
	var previous *time.Time
	if e.PreviousSecret != "" {
		previous = utc(e.PreviousExpiresAt)
	}
	return webhookEndpointResponse{ID: e.ID, URL: logging.RedactURL(e.URL), Description: e.Description,
		Types: e.Types, Enabled: e.Enabled, Bootstrap: e.Bootstrap, PreviousSecretExpiresAt: previous,
		CreatedAt: e.CreatedAt.UTC(), UpdatedAt: e.UpdatedAt.UTC()}
}

func toWebhookEndpointSecretResponse(e notify.Endpoint) webhookEndpointSecretResponse {
	return webhookEndpointSecretResponse{webhookEndpointResponse: toWebhookEndpointResponse(e), Secret: e.Secret.Reveal()}
}

type createWebhookEndpointRequest struct {
	URL         string   `json:"url"`
	Types       []string `json:"types"`
	Description string   `json:"description"`
}

type patchWebhookEndpointRequest struct {
	URL         *string   `json:"url"`
	Types       *[]string `json:"types"`
	Description *string   `json:"description"`
	Enabled     *bool     `json:"enabled"`
}

type rotateSecretRequest struct {
	// OverlapSeconds is how long the former secret keeps signing
	// (default notify.DefaultOverlap).
	OverlapSeconds *int `json:"overlap_seconds"`
}

func (s *Server) createWebhookEndpoint(w http.ResponseWriter, r *http.Request) error {
	req, err := decode[createWebhookEndpointRequest](w, r)
	if err != nil {
		return err
	}
	e, err := s.endpoints.Create(r.Context(), notify.EndpointInput{URL: req.URL, Types: req.Types, Description: req.Description})
	if err != nil {
		return err
	}
	return respondCreated(w, "/api/v1/admin/webhooks/"+e.ID.String(), toWebhookEndpointSecretResponse(e))
}

func (s *Server) listWebhookEndpoints(w http.ResponseWriter, r *http.Request) error {
	p, err := parsePage[idCursor](r, maxListLimit)
	if err != nil {
		return err
	}
	list, err := s.endpoints.List(r.Context(), p.Cursor.ID, p.Limit+1)
	return respondList(w, p.Limit, list, err, toWebhookEndpointResponse, func(e notify.Endpoint) idCursor {
		return idCursor{ID: e.ID}
	})
}

func (s *Server) getWebhookEndpoint(w http.ResponseWriter, r *http.Request) error {
	return respondByID(w, r, "webhook endpoint", http.StatusOK, s.endpoints.Get, toWebhookEndpointResponse)
}

func (s *Server) patchWebhookEndpoint(w http.ResponseWriter, r *http.Request) error {
	id, err := uuidParam(r, "id", "webhook endpoint")
	if err != nil {
		return err
	}
	req, err := decode[patchWebhookEndpointRequest](w, r)
	if err != nil {
		return err
	}
	p := notify.EndpointPatch{URL: req.URL, Description: req.Description, Enabled: req.Enabled}
	if req.Types != nil {
		p.Types = *req.Types
	}
	e, err := s.endpoints.Update(r.Context(), id, p)
	return respond(w, http.StatusOK, e, err, toWebhookEndpointResponse)
}

func (s *Server) deleteWebhookEndpoint(w http.ResponseWriter, r *http.Request) error {
	return deleteByID(w, r, "webhook endpoint", s.endpoints.Delete)
}

func (s *Server) rotateWebhookSecret(w http.ResponseWriter, r *http.Request) error {
	id, err := uuidParam(r, "id", "webhook endpoint")
	if err != nil {
		return err
	}
	req, err := decodeOptional[rotateSecretRequest](w, r)
	if err != nil {
		return err
	}
	overlap := notify.DefaultOverlap
	if req.OverlapSeconds != nil {
		overlap = time.Duration(*req.OverlapSeconds) * time.Second
	}
	e, err := s.endpoints.RotateSecret(r.Context(), id, overlap)
	return respond(w, http.StatusOK, e, err, toWebhookEndpointSecretResponse)
}

func (s *Server) redeliverWebhook(w http.ResponseWriter, r *http.Request) error {
	return respondByID(w, r, "webhook delivery", http.StatusAccepted, s.webhooks.Redeliver, toWebhookDeliveryResponse)
}
