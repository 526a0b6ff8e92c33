package notify_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/notify"
)

type attemptLog []string

func (l *attemptLog) Attempted(n int, o notify.AttemptOutcome) {
	*l = append(*l, fmt.Sprintf("%d %s", n, o))
}

// TestObserveAttempts: each attempt made is reported with its number (one
// more than the attempts recorded before it) and its outcome; a delivery
// that is no longer pending makes no attempt and reports none.
func TestObserveAttempts(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		before   int
		status   int
		sendErr  error
		final    bool
		notPend  bool
		wantSeen []string
	}{
		{name: "first attempt delivered", status: 200, wantSeen: []string{"1 delivered"}},
		{name: "third attempt refused", before: 2, status: 503, wantSeen: []string{"3 retried"}},
		{name: "network error", sendErr: errors.New("connection refused"), wantSeen: []string{"1 retried"}},
		{name: "last attempt refused", before: 14, status: 500, final: true, wantSeen: []string{"15 failed"}},
		{name: "already delivered", before: 1, notPend: true},
	}
	for _, c := range cases {
		ep := &notify.Endpoint{ID: uuid.New(), URL: "https://hooks.example.com/x", Types: []string{notify.AllTypes},
			Enabled: true, Secret: notify.Secret("whsec_k")}
		store := &fakeStore{d: notify.Delivery{ID: uuid.New(), EndpointID: &ep.ID, Body: []byte(`{}`),
			Status: notify.DeliveryPending, Attempts: c.before}, ep: ep}
		if c.notPend {
			store.d.Status = notify.DeliveryDelivered
		}
		var seen attemptLog
		w := notify.NewWebhooks(store, &fakeSender{status: c.status, err: c.sendErr}, nil, notify.WebhookOptions{Observer: &seen})
		_ = w.Deliver(context.Background(), store.d.ID, c.final)
		if !slices.Equal(seen, c.wantSeen) {
			t.Errorf("%s: observed %q, want %q", c.name, seen, c.wantSeen)
		}
	}
}
