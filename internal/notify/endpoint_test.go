package notify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/notify"
)

// TestSecretStaysHidden: a secret prints, logs and marshals as
// "[redacted]", wherever it hides; only Reveal gives it.
func TestSecretStaysHidden(t *testing.T) {
	t.Parallel()
	s := notify.NewSecret()
	if !strings.HasPrefix(s.Reveal(), "whsec_") || len(s.Reveal()) != 6+43 || s.Reveal() == notify.NewSecret().Reveal() {
		t.Fatalf("NewSecret() = %d characters, want whsec_ and 43 random ones", len(s.Reveal()))
	}
	e := notify.Endpoint{ID: uuid.New(), Secret: s, PreviousSecret: notify.NewSecret()}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("endpoint", "secret", s, "endpoint", e)
	marshalled, _ := json.Marshal(e)
	for what, out := range map[string]string{
		"%v": fmt.Sprintf("%v", e), "%+v": fmt.Sprintf("%+v", e), "%#v": fmt.Sprintf("%#v", e), "%s %q": fmt.Sprintf("%s %q", s, s),
		"slog": logged.String(), "json": string(marshalled),
	} {
		if strings.Contains(out, s.Reveal()) || strings.Contains(out, e.PreviousSecret.Reveal()) || !strings.Contains(out, "[redacted]") {
			t.Errorf("%s shows the secret: %s", what, out)
		}
	}
}

type fakeEndpoints struct {
	notify.EndpointStore
	e       notify.Endpoint
	created []notify.Endpoint
	rotated []time.Time
}

func (f *fakeEndpoints) CreateEndpoint(_ context.Context, e notify.Endpoint) error {
	f.created = append(f.created, e)
	return nil
}

func (f *fakeEndpoints) Endpoint(context.Context, uuid.UUID) (notify.Endpoint, error) {
	return f.e, nil
}

func (f *fakeEndpoints) UpdateEndpoint(context.Context, uuid.UUID, notify.EndpointPatch, time.Time) (notify.Endpoint, error) {
	return f.e, nil
}

func (f *fakeEndpoints) DeleteEndpoint(context.Context, uuid.UUID, time.Time) error { return nil }

func (f *fakeEndpoints) RotateSecret(_ context.Context, _ uuid.UUID, _ notify.Secret, until, _ time.Time) (notify.Endpoint, error) {
	f.rotated = append(f.rotated, until)
	return f.e, nil
}

// TestEndpointInput: what an endpoint may be made of, field by field.
func TestEndpointInput(t *testing.T) {
	t.Parallel()
	ok := notify.EndpointInput{URL: "https://hooks.example.com/evently?token=x", Types: []string{"booking.held"}}
	cases := []struct {
		name      string
		change    func(in *notify.EndpointInput)
		field     string
		wantTypes []string
	}{
		{name: "valid", change: func(*notify.EndpointInput) {}, wantTypes: []string{"booking.held"}},
		{name: "every type", change: func(in *notify.EndpointInput) { in.Types = []string{"*"} }, wantTypes: []string{"*"}},
		{name: "duplicates dropped", change: func(in *notify.EndpointInput) {
			in.Types = []string{"event.cancelled", "booking.held", "event.cancelled"}
		}, wantTypes: []string{"event.cancelled", "booking.held"}},
		{name: "no url", change: func(in *notify.EndpointInput) { in.URL = "" }, field: "url"},
		{name: "relative url", change: func(in *notify.EndpointInput) { in.URL = "/hooks" }, field: "url"},
		{name: "ftp url", change: func(in *notify.EndpointInput) { in.URL = "ftp://example.com/x" }, field: "url"},
		{name: "long url", change: func(in *notify.EndpointInput) { in.URL = "https://e.com/" + strings.Repeat("a", 2000) }, field: "url"},
		{name: "no types", change: func(in *notify.EndpointInput) { in.Types = nil }, field: "types"},
		{name: "unknown type", change: func(in *notify.EndpointInput) { in.Types = []string{"booking.paid"} }, field: "types"},
		{name: "* with others", change: func(in *notify.EndpointInput) { in.Types = []string{"*", "booking.held"} }, field: "types"},
		{name: "long description", change: func(in *notify.EndpointInput) { in.Description = strings.Repeat("é", 501) }, field: "description"},
	}
	for _, c := range cases {
		store := &fakeEndpoints{}
		in := ok
		c.change(&in)
		e, err := notify.NewEndpoints(store, nil).Create(context.Background(), in)
		if c.field != "" {
			var ae *apperr.Error
			if !apperr.Is(err, apperr.ValidationFailed) || !errors.As(err, &ae) || ae.Fields[0].Field != c.field {
				t.Errorf("%s: Create() = %v, want validation_failed on %s", c.name, err, c.field)
			}
			if len(store.created) != 0 {
				t.Errorf("%s: stored an invalid endpoint", c.name)
			}
			continue
		}
		if err != nil || len(store.created) != 1 {
			t.Fatalf("%s: Create() = %v", c.name, err)
		}
		if !e.Enabled || e.Bootstrap || e.Secret == "" || fmt.Sprint(e.Types) != fmt.Sprint(c.wantTypes) || e.ID.Version() != 7 {
			t.Errorf("%s: created %+v, want enabled, with a secret and types %v", c.name, e, c.wantTypes)
		}
	}
}

// TestBootstrapEndpointIsTheEnvironments: the API changes neither the
// endpoint of EVENTLY_WEBHOOK_URL nor its secret; others it rotates with
// the overlap asked for.
func TestBootstrapEndpointIsTheEnvironments(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Unix(1_900_000_000, 0).UTC()
	clock := func() time.Time { return now }
	boot := &fakeEndpoints{e: notify.Endpoint{ID: uuid.New(), Bootstrap: true}}
	s := notify.NewEndpoints(boot, clock)
	enabled := false
	for name, err := range map[string]error{
		"update": func() error { _, err := s.Update(ctx, boot.e.ID, notify.EndpointPatch{Enabled: &enabled}); return err }(),
		"delete": s.Delete(ctx, boot.e.ID),
		"rotate": func() error { _, err := s.RotateSecret(ctx, boot.e.ID, time.Hour); return err }(),
	} {
		if !apperr.Is(err, apperr.Conflict) {
			t.Errorf("%s of the bootstrap endpoint = %v, want conflict", name, err)
		}
	}
	other := &fakeEndpoints{e: notify.Endpoint{ID: uuid.New()}}
	s = notify.NewEndpoints(other, clock)
	for _, overlap := range []time.Duration{0, time.Hour, notify.MaxOverlap} {
		if _, err := s.RotateSecret(ctx, other.e.ID, overlap); err != nil {
			t.Fatalf("RotateSecret(%v) = %v", overlap, err)
		}
	}
	if want := []time.Time{now, now.Add(time.Hour), now.Add(notify.MaxOverlap)}; fmt.Sprint(other.rotated) != fmt.Sprint(want) {
		t.Errorf("previous secret kept until %v, want %v", other.rotated, want)
	}
	for _, overlap := range []time.Duration{-time.Second, notify.MaxOverlap + time.Second} {
		if _, err := s.RotateSecret(ctx, other.e.ID, overlap); !apperr.Is(err, apperr.ValidationFailed) {
			t.Errorf("RotateSecret(%v) = %v, want validation_failed", overlap, err)
		}
	}
}
