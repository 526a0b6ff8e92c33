package notify_test

import (
	"context"
	"errors"
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

type fakeStore struct {
	d        notify.Delivery
	missing  bool
	attempts []notify.Attempt
}

func (f *fakeStore) Delivery(context.Context, uuid.UUID) (notify.Delivery, error) {
	if f.missing {
		return notify.Delivery{}, apperr.New(apperr.NotFound, "no")
	}
	return f.d, nil
}

func (f *fakeStore) RecordAttempt(_ context.Context, _ uuid.UUID, a notify.Attempt) error {
	f.attempts = append(f.attempts, a)
	return nil
}

func (f *fakeStore) Deliveries(context.Context, notify.DeliveryFilter) ([]notify.Delivery, error) {
	return nil, nil
}

func (f *fakeStore) Stalled(context.Context, time.Time, int) ([]uuid.UUID, error) { return nil, nil }

type fakeSender struct {
	status int
	err    error
	sent   []string
}

func (f *fakeSender) Send(_ context.Context, _ uuid.UUID, body []byte, sig string) (int, error) {
	f.sent = append(f.sent, sig+" "+string(body))
	return f.status, f.err
}

func TestDeliver(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_900_000_000, 0)
	body := []byte(`{"id":"1"}`)
	cases := []struct {
		name      string
		status    int
		sendErr   error
		final     bool
		notPend   bool
		missing   bool
		wantSent  int
		wantErr   bool
		wantError string
		wantOK    bool
	}{
		{name: "2xx", status: 204, wantSent: 1, wantOK: true},
		{name: "500 retried", status: 500, wantSent: 1, wantErr: true, wantError: "HTTP 500"},
		{name: "500 on the last attempt", status: 500, final: true, wantSent: 1, wantErr: true, wantError: "HTTP 500"},
		{name: "network error", sendErr: errors.New("connection refused"), wantSent: 1, wantErr: true, wantError: "connection refused"},
		{name: "already delivered", notPend: true},
		{name: "never recorded", missing: true},
	}
	for _, c := range cases {
		store := &fakeStore{d: notify.Delivery{ID: uuid.New(), Body: body, Status: notify.DeliveryPending}, missing: c.missing}
		if c.notPend {
			store.d.Status = notify.DeliveryDelivered
		}
		sender := &fakeSender{status: c.status, err: c.sendErr}
		w := notify.NewWebhooks(store, sender, []byte("k"), func() time.Time { return now })
		err := w.Deliver(context.Background(), store.d.ID, c.final)
		if (err != nil) != c.wantErr || (err != nil && !errors.Is(err, notify.ErrAttemptFailed)) {
			t.Errorf("%s: Deliver() = %v", c.name, err)
		}
		if len(sender.sent) != c.wantSent {
			t.Errorf("%s: sent %d times, want %d", c.name, len(sender.sent), c.wantSent)
			continue
		}
		if c.wantSent == 0 {
			if len(store.attempts) != 0 {
				t.Errorf("%s: recorded %+v", c.name, store.attempts)
			}
			continue
		}
		if want := notify.Sign([]byte("k"), now, body) + " " + string(body); sender.sent[0] != want {
			t.Errorf("%s: sent %q, want %q", c.name, sender.sent[0], want)
		}
		a := store.attempts[0]
		if len(store.attempts) != 1 || a.OK != c.wantOK || a.Final != c.final || a.Error != c.wantError || !a.At.Equal(now) {
			t.Errorf("%s: recorded %+v", c.name, store.attempts)
		}
	}
}
