package notify

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/apperr"
)

// Types lists every webhook type.
var Types = []string{
	TypeBookingHeld, TypeBookingConfirmed, TypeBookingCancelled, TypeBookingExpired,
	TypeWaitlistOffered, TypeEventCancelled, TypeTicketCheckedIn,
}

// AllTypes, as an endpoint's only type, subscribes it to every type,
// those added later included.
const AllTypes = "*"

// Limits of endpoints.
const (
	// MaxEndpoints bounds the endpoints, so that the fan-out of one
	// change stays small.
	MaxEndpoints = 50
	// MaxURLLength and MaxDescriptionLength bound an endpoint's texts.
	MaxURLLength         = 2000
	MaxDescriptionLength = 500
	// DefaultOverlap is how long a rotated-out secret keeps signing next
	// to the new one, unless the rotation says otherwise; MaxOverlap
	// bounds what it may say.
	DefaultOverlap = 24 * time.Hour
	MaxOverlap     = 7 * 24 * time.Hour
)

// Secret is an endpoint's signing key. It prints, logs and marshals as
// "[redacted]"; Reveal gives the key itself, which only signing and the
// answers to creating an endpoint or rotating its secret use.
type Secret string

const redactedSecret = "[redacted]"

// String hides the key from fmt.
func (Secret) String() string { return redactedSecret }

// GoString hides the key from %#v.
func (Secret) GoString() string { return redactedSecret }

// LogValue hides the key from slog.
func (Secret) LogValue() slog.Value { return slog.StringValue(redactedSecret) }

// MarshalText hides the key from encoders.
func (Secret) MarshalText() ([]byte, error) { return []byte(redactedSecret), nil }

// Reveal returns the key.
func (s Secret) Reveal() string { return string(s) }

// NewSecret returns a fresh random key: "whsec_" and 32 random bytes in
// base64url.
func NewSecret() Secret {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return Secret("whsec_" + base64.RawURLEncoding.EncodeToString(b))
}

// Endpoint is a receiver of webhooks.
type Endpoint struct {
	ID          uuid.UUID
	URL         string
	Description string
	// Types are the webhook types it receives ([AllTypes] for every one).
	Types   []string
	Enabled bool
	// Bootstrap marks the endpoint of EVENTLY_WEBHOOK_URL and
	// EVENTLY_WEBHOOK_SECRET: start-up sets it from the environment, and
	// the API does not change it.
	Bootstrap bool
	Secret    Secret
	// PreviousSecret, after a rotation, still signs next to Secret until
	// PreviousExpiresAt, so that receivers can switch keys without losing
	// a webhook.
	PreviousSecret    Secret
	PreviousExpiresAt *time.Time
	CreatedAt         time.Time
	UpdatedAt         time.Time
}

// Receives reports whether the endpoint is subscribed to typ.
func (e Endpoint) Receives(typ string) bool {
	return slices.Contains(e.Types, AllTypes) || slices.Contains(e.Types, typ)
}

// keys returns the keys that sign at now: the secret, and the previous
// one while its overlap lasts.
func (e Endpoint) keys(now time.Time) [][]byte {
	keys := [][]byte{[]byte(e.Secret)}
	if e.PreviousSecret != "" && e.PreviousExpiresAt != nil && now.Before(*e.PreviousExpiresAt) {
		keys = append(keys, []byte(e.PreviousSecret))
	}
	return keys
}

// EndpointInput is a new endpoint.
type EndpointInput struct {
	URL         string
	Description string
	Types       []string
}

// EndpointPatch changes an endpoint; nil members are left alone.
type EndpointPatch struct {
	URL         *string
	Description *string
	Types       []string
	Enabled     *bool
}

// EndpointStore keeps the endpoints.
type EndpointStore interface {
	// CreateEndpoint stores a new endpoint; Conflict when there are
	// MaxEndpoints already.
	CreateEndpoint(ctx context.Context, e Endpoint) error
	// Endpoint returns one endpoint, or NotFound.
	Endpoint(ctx context.Context, id uuid.UUID) (Endpoint, error)
	// Endpoints lists endpoints in creation order, after the given id
	// (uuid.Nil: from the first).
	Endpoints(ctx context.Context, after uuid.UUID, limit int) ([]Endpoint, error)
	// UpdateEndpoint applies p; disabling an endpoint ends its pending
	// deliveries (failed). NotFound when there is no such endpoint.
	UpdateEndpoint(ctx context.Context, id uuid.UUID, p EndpointPatch, now time.Time) (Endpoint, error)
	// DeleteEndpoint deletes an endpoint, ending its pending deliveries
	// (failed); its deliveries stay listed without it. NotFound when
	// there is no such endpoint.
	DeleteEndpoint(ctx context.Context, id uuid.UUID, now time.Time) error
	// RotateSecret makes secret the endpoint's key and the former one its
	// previous key until previousUntil (none when previousUntil is not
	// after now).
	RotateSecret(ctx context.Context, id uuid.UUID, secret Secret, previousUntil, now time.Time) (Endpoint, error)
	// UpsertBootstrap creates or updates the bootstrap endpoint from e
	// (url, secret, types, enabled); a changed secret leaves the former
	// one signing until previousUntil.
	UpsertBootstrap(ctx context.Context, e Endpoint, previousUntil time.Time) (Endpoint, error)
	// DisableBootstrap disables the bootstrap endpoint, if there is one.
	DisableBootstrap(ctx context.Context, now time.Time) error
}

// Endpoints manages the webhook endpoints.
type Endpoints struct {
	store EndpointStore
	now   func() time.Time
}

// NewEndpoints returns the endpoint manager over store; now is its clock.
func NewEndpoints(store EndpointStore, now func() time.Time) *Endpoints {
	if now == nil {
		now = time.Now
	}
	return &Endpoints{store: store, now: now}
}

// Create makes an endpoint with a fresh secret, enabled. The answer is the
// only time the secret is shown.
func (s *Endpoints) Create(ctx context.Context, in EndpointInput) (Endpoint, error) {
	var v apperr.Validator
	checkURL(&v, in.URL)
	checkDescription(&v, in.Description)
	types := checkTypes(&v, in.Types)
	if err := v.Err(); err != nil {
		return Endpoint{}, err
	}
	now := s.now().UTC()
	e := Endpoint{ID: uuid.Must(uuid.NewV7()), URL: in.URL, Description: in.Description, Types: types,
		Enabled: true, Secret: NewSecret(), CreatedAt: now, UpdatedAt: now}
	if err := s.store.CreateEndpoint(ctx, e); err != nil {
		return Endpoint{}, err
	}
	return e, nil
}

// Get returns one endpoint.
func (s *Endpoints) Get(ctx context.Context, id uuid.UUID) (Endpoint, error) {
	return s.store.Endpoint(ctx, id)
}

// List returns endpoints in creation order.
func (s *Endpoints) List(ctx context.Context, after uuid.UUID, limit int) ([]Endpoint, error) {
	return s.store.Endpoints(ctx, after, limit)
}

// Update changes an endpoint other than the bootstrap one.
func (s *Endpoints) Update(ctx context.Context, id uuid.UUID, p EndpointPatch) (Endpoint, error) {
	var v apperr.Validator
	if p.URL != nil {
		checkURL(&v, *p.URL)
	}
	if p.Description != nil {
		checkDescription(&v, *p.Description)
	}
	if p.Types != nil {
		p.Types = checkTypes(&v, p.Types)
	}
	if err := v.Err(); err != nil {
		return Endpoint{}, err
	}
	if err := s.changeable(ctx, id); err != nil {
		return Endpoint{}, err
	}
	return s.store.UpdateEndpoint(ctx, id, p, s.now().UTC())
}

// Delete deletes an endpoint other than the bootstrap one.
func (s *Endpoints) Delete(ctx context.Context, id uuid.UUID) error {
	if err := s.changeable(ctx, id); err != nil {
		return err
	}
	return s.store.DeleteEndpoint(ctx, id, s.now().UTC())
}

// RotateSecret gives an endpoint other than the bootstrap one a fresh
// secret; the former one keeps signing next to it for overlap (0: it
// stops at once). The answer is the only time the new secret is shown.
func (s *Endpoints) RotateSecret(ctx context.Context, id uuid.UUID, overlap time.Duration) (Endpoint, error) {
	if overlap < 0 || overlap > MaxOverlap {
		return Endpoint{}, apperr.Invalid(apperr.FieldError{Field: "overlap_seconds",
			Message: "must be from 0 to 604800 (7 days)"})
	}
	if err := s.changeable(ctx, id); err != nil {
		return Endpoint{}, err
	}
	now := s.now().UTC()
	return s.store.RotateSecret(ctx, id, NewSecret(), now.Add(overlap), now)
}

// Bootstrap makes the environment's endpoint (url and secret) receive
// every type, or disables it when url is empty. A secret changed since
// the last start keeps the former one signing for DefaultOverlap, as a
// rotation would.
func (s *Endpoints) Bootstrap(ctx context.Context, url, secret string) error {
	now := s.now().UTC()
	if url == "" {
		return s.store.DisableBootstrap(ctx, now)
	}
	e := Endpoint{ID: uuid.Must(uuid.NewV7()), URL: url, Description: "EVENTLY_WEBHOOK_URL",
		Types: []string{AllTypes}, Enabled: true, Bootstrap: true, Secret: Secret(secret),
		CreatedAt: now, UpdatedAt: now}
	_, err := s.store.UpsertBootstrap(ctx, e, now.Add(DefaultOverlap))
	return err
}

// changeable refuses changes to the bootstrap endpoint: the environment
// sets it at every start, and would undo them.
func (s *Endpoints) changeable(ctx context.Context, id uuid.UUID) error {
	e, err := s.store.Endpoint(ctx, id)
	if err != nil {
		return err
	}
	if e.Bootstrap {
		return apperr.New(apperr.Conflict, "This endpoint is set by EVENTLY_WEBHOOK_URL and EVENTLY_WEBHOOK_SECRET at start-up; change those instead.")
	}
	return nil
}

func checkURL(v *apperr.Validator, raw string) {
	if raw == "" {
		v.Add("url", "is required")
		return
	}
	if len(raw) > MaxURLLength {
		v.Add("url", "must be at most 2000 characters")
		return
	}
	u, err := url.Parse(raw)
	// The parse error quotes the URL, which may carry a token: not shown.
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.Add("url", "must be an absolute http or https URL")
	}
}

func checkDescription(v *apperr.Validator, d string) {
	v.Check(utf8.RuneCountInString(d) <= MaxDescriptionLength, "description", "must be at most 500 characters")
}

// checkTypes validates the types of an endpoint and returns them without
// duplicates.
func checkTypes(v *apperr.Validator, types []string) []string {
	if len(types) == 0 {
		v.Add("types", `must list at least one webhook type, or "*" for every type`)
		return nil
	}
	var out []string
	for _, t := range types {
		if t != AllTypes && !slices.Contains(Types, t) {
			v.Add("types", "unknown webhook type "+strconv.Quote(truncate(t, 50)))
			return nil
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	if slices.Contains(out, AllTypes) && len(out) > 1 {
		v.Add("types", `"*" (every type) stands alone`)
		return nil
	}
	return out
}
