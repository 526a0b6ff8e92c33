package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/notify"
)

// NotificationService is the inbox as the API uses it.
type NotificationService interface {
	List(ctx context.Context, f notify.ListFilter) ([]notify.Notification, error)
	MarkRead(ctx context.Context, id, userID uuid.UUID) error
}

// WebhookDeliveries lists webhook deliveries for operators, and sends a
// webhook again (notify.Webhooks).
type WebhookDeliveries interface {
	Deliveries(ctx context.Context, f notify.DeliveryFilter) ([]notify.Delivery, error)
	Redeliver(ctx context.Context, id uuid.UUID) (notify.Delivery, error)
}

type notificationResponse struct {
	ID        uuid.UUID       `json:"id"`
	Kind      notify.Kind     `json:"kind"`
	Title     string          `json:"title"`
	Body      string          `json:"body"`
	Data      json.RawMessage `json:"data"`
	CreatedAt time.Time       `json:"created_at"`
	ReadAt    *time.Time      `json:"read_at"`
}

func toNotificationResponse(n notify.Notification) notificationResponse {
	data := n.Data
	if len(data) == 0 {
		data = json.RawMessage(`{}`)
	}
	return notificationResponse{ID: n.ID, Kind: n.Kind, Title: n.Title, Body: n.Body, Data: data,
		CreatedAt: n.CreatedAt.UTC(), ReadAt: utc(n.ReadAt)}
}

func (s *Server) listNotifications(w http.ResponseWriter, r *http.Request) error {
	p, err := parsePage[createdCursor](r, maxListLimit)
	if err != nil {
		return err
	}
	f := notify.ListFilter{UserID: principal(r).UserID, Limit: p.Limit + 1}
	switch r.URL.Query().Get("unread") {
	case "", "false":
	case "true":
		f.UnreadOnly = true
	default:
		return apperr.Invalid(apperr.FieldError{Field: "unread", Message: "must be true or false"})
	}
	if p.HasCursor {
		f.After = &notify.Cursor{CreatedAt: p.Cursor.CreatedAt, ID: p.Cursor.ID}
	}
	list, err := s.notifications.List(r.Context(), f)
	return respondList(w, p.Limit, list, err, toNotificationResponse, func(n notify.Notification) createdCursor {
		return createdCursor{CreatedAt: n.CreatedAt, ID: n.ID}
	})
}

func (s *Server) markNotificationRead(w http.ResponseWriter, r *http.Request) error {
	id, err := uuidParam(r, "id", "notification")
	if err != nil {
		return err
	}
	return respondNoContent(w, s.notifications.MarkRead(r.Context(), id, principal(r).UserID))
}

type webhookDeliveryResponse struct {
	ID           uuid.UUID             `json:"id"`
	WebhookID    uuid.UUID             `json:"webhook_id"`
	EndpointID   *uuid.UUID            `json:"endpoint_id"`
	RedeliveryOf *uuid.UUID            `json:"redelivery_of"`
	Type         string                `json:"type"`
	SubjectID    uuid.UUID             `json:"subject_id"`
	Status       notify.DeliveryStatus `json:"status"`
	Attempts     int                   `json:"attempts"`
	LastError    *string               `json:"last_error"`
	Payload      json.RawMessage       `json:"payload"`
	CreatedAt    time.Time             `json:"created_at"`
	UpdatedAt    time.Time             `json:"updated_at"`
	DeliveredAt  *time.Time            `json:"delivered_at"`
}

func toWebhookDeliveryResponse(d notify.Delivery) webhookDeliveryResponse {
	return webhookDeliveryResponse{ID: d.ID, WebhookID: d.WebhookID, EndpointID: d.EndpointID,
		RedeliveryOf: d.RedeliveryOf, Type: d.Type, SubjectID: d.SubjectID, Status: d.Status,
		Attempts: d.Attempts, LastError: d.LastError, Payload: json.RawMessage(d.Body),
		CreatedAt: d.CreatedAt.UTC(), UpdatedAt: d.UpdatedAt.UTC(), DeliveredAt: utc(d.DeliveredAt)}
}

func (s *Server) listWebhookDeliveries(w http.ResponseWriter, r *http.Request) error {
	p, err := parsePage[createdCursor](r, maxListLimit)
	if err != nil {
		return err
	}
	f := notify.DeliveryFilter{Limit: p.Limit + 1}
	if f.Status, err = queryStatus[notify.DeliveryStatus](r, "pending, delivered or failed"); err != nil {
		return err
	}
	if raw := r.URL.Query().Get("endpoint_id"); raw != "" {
		id, err := uuid.Parse(raw)
		if err != nil {
			return apperr.Invalid(apperr.FieldError{Field: "endpoint_id", Message: "must be a UUID"})
		}
		f.EndpointID = &id
	}
	if p.HasCursor {
		f.After = &notify.Cursor{CreatedAt: p.Cursor.CreatedAt, ID: p.Cursor.ID}
	}
	list, err := s.webhooks.Deliveries(r.Context(), f)
	return respondList(w, p.Limit, list, err, toWebhookDeliveryResponse, func(d notify.Delivery) createdCursor {
		return createdCursor{CreatedAt: d.CreatedAt, ID: d.ID}
	})
}
