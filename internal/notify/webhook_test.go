package notify_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/notify"
)

func TestSignAndVerify(t *testing.T) {
	t.Parallel()
	secret, body := []byte("s3cret"), []byte(`{"id":"x","type":"booking.held"}`)
	at := time.Unix(1_900_000_000, 0)
	sig := notify.Sign(secret, at, body)
	// HMAC-SHA256 keyed "s3cret" of "1900000000." + body, from openssl:
	//   printf '%s' '1900000000.{"id":"x","type":"booking.held"}' | openssl dgst -sha256 -hmac s3cret
	const want = "t=1900000000,v1=849578d6b4f70566eb70688cc945a11310f55637e6063954c921ba8ab7270085"
	if sig != want {
		t.Fatalf("Sign() = %q, want %q", sig, want)
	}
	if err := notify.Verify(secret, sig, body, at.Add(time.Minute), 5*time.Minute); err != nil {
		t.Errorf("Verify(own signature) = %v", err)
	}
	cases := map[string]error{
		"other body":   notify.Verify(secret, sig, append(body, ' '), at, time.Minute),
		"other secret": notify.Verify([]byte("other"), sig, body, at, time.Minute),
		"too old":      notify.Verify(secret, sig, body, at.Add(10*time.Minute), 5*time.Minute),
		"malformed":    notify.Verify(secret, "v1=abc", body, at, time.Minute),
	}
	for name, err := range cases {
		if err == nil {
			t.Errorf("Verify(%s) = nil, want an error", name)
		}
	}
}

// TestSignKeys: during a rotation's overlap a webhook carries one v1 per
// key, and a receiver holding either key verifies it; a third key does
// not.
func TestSignKeys(t *testing.T) {
	t.Parallel()
	body, at := []byte(`{"id":"x"}`), time.Unix(1_900_000_000, 0)
	sig := notify.SignKeys(at, body, []byte("new"), []byte("old"))
	if want := notify.Sign([]byte("new"), at, body) + ",v1="; !strings.HasPrefix(sig, want) || strings.Count(sig, "v1=") != 2 {
		t.Fatalf("SignKeys() = %q, want %q and a second v1", sig, want)
	}
	for _, key := range []string{"new", "old"} {
		if err := notify.Verify([]byte(key), sig, body, at, time.Minute); err != nil {
			t.Errorf("Verify(%s) = %v", key, err)
		}
	}
	if notify.Verify([]byte("other"), sig, body, at, time.Minute) == nil {
		t.Error("Verify(other key) = nil, want an error")
	}
}

type fakeStore struct {
	notify.DeliveryStore
	d        notify.Delivery
	ep       *notify.Endpoint
	missing  bool
	attempts []notify.Attempt
}

func (f *fakeStore) Delivery(context.Context, uuid.UUID) (notify.Delivery, *notify.Endpoint, error) {
	if f.missing {
		return notify.Delivery{}, nil, apperr.New(apperr.NotFound, "no")
	}
	return f.d, f.ep, nil
}

func (f *fakeStore) RecordAttempt(_ context.Context, _ uuid.UUID, a notify.Attempt) error {
	f.attempts = append(f.attempts, a)
	return nil
}

type fakeSender struct {
	status int
	err    error
	sent   []string
}

func (f *fakeSender) Send(_ context.Context, url string, _ uuid.UUID, body []byte, sig string) (int, error) {
	f.sent = append(f.sent, url+" "+sig+" "+string(body))
	return f.status, f.err
}

func TestDeliver(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_900_000_000, 0)
	body := []byte(`{"id":"1"}`)
	later, earlier := now.Add(time.Hour), now.Add(-time.Second)
	cases := []struct {
		name      string
		status    int
		sendErr   error
		final     bool
		notPend   bool
		missing   bool
		deleted   bool
		disabled  bool
		previous  *time.Time
		wantSent  int
		wantErr   bool
		wantError string
		wantOK    bool
		wantKeys  []string
	}{
		{name: "2xx", status: 204, wantSent: 1, wantOK: true},
		{name: "500 retried", status: 500, wantSent: 1, wantErr: true, wantError: "HTTP 500"},
		{name: "500 on the last attempt", status: 500, final: true, wantSent: 1, wantErr: true, wantError: "HTTP 500"},
		{name: "network error", sendErr: errors.New("connection refused"), wantSent: 1, wantErr: true, wantError: "connection refused"},
		{name: "already delivered", notPend: true},
		{name: "never recorded", missing: true},
		{name: "previous secret in its overlap", status: 200, previous: &later, wantSent: 1, wantOK: true, wantKeys: []string{"k", "old"}},
		{name: "previous secret expired", status: 200, previous: &earlier, wantSent: 1, wantOK: true},
		{name: "endpoint deleted", deleted: true, wantError: "endpoint deleted"},
		{name: "endpoint disabled", disabled: true, wantError: "endpoint disabled"},
	}
	for _, c := range cases {
		ep := &notify.Endpoint{ID: uuid.New(), URL: "http://hooks.example/in", Enabled: !c.disabled, Secret: "k"}
		if c.previous != nil {
			ep.PreviousSecret, ep.PreviousExpiresAt = "old", c.previous
		}
		if c.deleted {
			ep = nil
		}
		store := &fakeStore{d: notify.Delivery{ID: uuid.New(), WebhookID: uuid.New(), Body: body, Status: notify.DeliveryPending},
			ep: ep, missing: c.missing}
		if c.notPend {
			store.d.Status = notify.DeliveryDelivered
		}
		sender := &fakeSender{status: c.status, err: c.sendErr}
		w := notify.NewWebhooks(store, sender, nil, notify.WebhookOptions{Now: func() time.Time { return now }})
		err := w.Deliver(context.Background(), store.d.ID, c.final)
		if (err != nil) != c.wantErr || (err != nil && !errors.Is(err, notify.ErrAttemptFailed)) {
			t.Errorf("%s: Deliver() = %v", c.name, err)
		}
		if len(sender.sent) != c.wantSent {
			t.Errorf("%s: sent %d times, want %d", c.name, len(sender.sent), c.wantSent)
			continue
		}
		if c.deleted || c.disabled {
			// No request, and the delivery ends without counting an attempt.
			if a := store.attempts; len(a) != 1 || !a[0].Skipped || !a[0].Final || a[0].Error != c.wantError {
				t.Errorf("%s: recorded %+v", c.name, store.attempts)
			}
			continue
		}
		if c.wantSent == 0 {
			if len(store.attempts) != 0 {
				t.Errorf("%s: recorded %+v", c.name, store.attempts)
			}
			continue
		}
		keys := [][]byte{[]byte("k")}
		if c.wantKeys != nil {
			keys = [][]byte{[]byte("k"), []byte("old")}
		}
		if want := ep.URL + " " + notify.SignKeys(now, body, keys...) + " " + string(body); sender.sent[0] != want {
			t.Errorf("%s: sent %q, want %q", c.name, sender.sent[0], want)
		}
		a := store.attempts[0]
		if len(store.attempts) != 1 || a.OK != c.wantOK || a.Final != c.final || a.Error != c.wantError || !a.At.Equal(now) || a.Skipped {
			t.Errorf("%s: recorded %+v", c.name, store.attempts)
		}
	}
}
