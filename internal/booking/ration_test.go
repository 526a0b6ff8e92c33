package booking

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/apperr"
)

type limiterFunc func() (bool, time.Duration, error)

func (f limiterFunc) AllowHold(context.Context, uuid.UUID, uuid.UUID) (bool, time.Duration, error) {
	return f()
}

// TestRationed: a spent budget is 429 rate_limited saying when to come
// back (in whole seconds, at least one); a limiter that fails lets the
// hold through and trips the Redis breaker, so that the next holds do not
// wait for it.
func TestRationed(t *testing.T) {
	t.Parallel()
	req := HoldRequest{EventID: uuid.New(), UserID: uuid.New(), Quantity: 1}

	spent := NewService(nil, nil, Options{Rate: limiterFunc(func() (bool, time.Duration, error) {
		return false, 1500 * time.Millisecond, nil
	})})
	err := spent.rationed(context.Background(), req)
	var ae *apperr.Error
	if !errors.As(err, &ae) || ae.Code != apperr.RateLimited || ae.RetryAfter != 1500*time.Millisecond {
		t.Errorf("spent budget = %v, want rate_limited with RetryAfter 1.5s", err)
	}

	calls, tripped := 0, 0
	down := NewService(nil, nil, Options{
		LocksDown: func(error) { tripped++ },
		Rate: limiterFunc(func() (bool, time.Duration, error) {
			calls++
			return false, 0, errors.New("connection refused")
		}),
	})
	for range 3 {
		if err := down.rationed(context.Background(), req); err != nil {
			t.Fatalf("limiter failing = %v, want the hold let through", err)
		}
	}
	if calls != 1 || tripped != 1 {
		t.Errorf("limiter asked %d times, breaker tripped %d times; want 1 and 1 (skipped while the breaker is open)", calls, tripped)
	}

	allowed := NewService(nil, nil, Options{Rate: limiterFunc(func() (bool, time.Duration, error) { return true, 0, nil })})
	if err := allowed.rationed(context.Background(), req); err != nil {
		t.Errorf("budget left = %v, want nil", err)
	}
}

// saleStore serves one event's sale facts.
type saleStore struct {
	Store
	sale Sale
}

func (s saleStore) Sale(context.Context, uuid.UUID) (Sale, error) { return s.sale, nil }

// TestSoldOutAnswersCostNoRation: a best-available request for a range this
// process knows to be sold out is answered from memory without asking the
// ration (no Redis call, nothing taken from the buyer's budget).
func TestSoldOutAnswersCostNoRation(t *testing.T) {
	t.Parallel()
	ev := uuid.New()
	sale := Sale{EventID: ev, Status: "published", StartsAt: time.Now().Add(24 * time.Hour), MaxSeatsPerBooking: 4,
		HoldTTL: time.Minute, Sections: []Section{{ID: uuid.New(), Name: "Floor", First: 1, Last: 10}}}
	asked := 0
	s := NewService(saleStore{sale: sale}, nil, Options{Rate: limiterFunc(func() (bool, time.Duration, error) {
		asked++
		return true, 0, nil
	})})
	now := time.Now()
	s.memo.markSoldOut(ev, Range{1, 10}, 1, now, s.memo.epoch(ev))
	for range 5 {
		if _, err := s.Hold(context.Background(), HoldRequest{EventID: ev, UserID: uuid.New(), Quantity: 2}); !apperr.Is(err, apperr.SoldOut) {
			t.Fatalf("hold on a range known sold out = %v, want sold_out", err)
		}
	}
	if asked != 0 {
		t.Errorf("the ration was asked %d times for sold-out answers, want 0", asked)
	}
}
