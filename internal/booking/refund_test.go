package booking_test

import (
	"context"
	"testing"
	"time"

	"github.com/evently/evently/internal/bookingtest"
	"github.com/evently/evently/internal/event"
)

// TestRefundQuoteFollowsTheScheduleStepByStep walks the injected clock
// through every step of a schedule (100% until 7 days before the start,
// 50% until 24 hours before, nothing after) and checks the quote on each
// side of each deadline; then cancels in the 50% step and checks that the
// refund recorded is the one quoted, and that the tickets are void.
func TestRefundQuoteFollowsTheScheduleStepByStep(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	en := newEngine(t, 10*time.Minute, 1, bookingtest.General("Floor", 3333, 10))
	if _, err := en.Pool.Exec(ctx, `UPDATE events SET refund_policy = '[{"until_hours_before_start": 168, "percent": 100},
		{"until_hours_before_start": 24, "percent": 50}]' WHERE id = $1`, en.Event.ID); err != nil {
		t.Fatal(err)
	}
	user := en.Users[0]
	b := en.Hold(t, user, 3)
	q, err := en.Bookings.RefundQuote(ctx, b.ID, user)
	if err != nil || !q.Cancellable || q.RefundCents != 0 {
		t.Fatalf("quote of a pending hold = %+v, %v; want cancellable, nothing refunded", q, err)
	}
	if b, err = en.Bookings.Confirm(ctx, b.ID, user, nil); err != nil {
		t.Fatal(err)
	}
	const total = 3 * 3333
	start := en.Event.StartsAt
	// at moves the clock to start - before (the clock runs on real time
	// plus an offset, so each step leaves a minute of margin).
	at := func(before time.Duration) {
		en.Clock.Set(start.Add(-before))
	}
	steps := []struct {
		name        string
		before      time.Duration
		percent     int
		cents       int64
		cancellable bool
		deadline    time.Duration // 0: none
	}{
		{"30 days before", 30 * 24 * time.Hour, 100, total, true, 168 * time.Hour},
		{"a minute before the 7-day deadline", 168*time.Hour + time.Minute, 100, total, true, 168 * time.Hour},
		{"a minute after the 7-day deadline", 168*time.Hour - time.Minute, 50, total / 2, true, 24 * time.Hour},
		{"a minute before the 24-hour deadline", 24*time.Hour + time.Minute, 50, total / 2, true, 24 * time.Hour},
		{"a minute after the 24-hour deadline", 24*time.Hour - time.Minute, 0, 0, true, 0},
		{"after the start", -time.Minute, 0, 0, false, 0},
	}
	for _, s := range steps {
		at(s.before)
		q, err := en.Bookings.RefundQuote(ctx, b.ID, user)
		if err != nil {
			t.Fatalf("%s: RefundQuote() error = %v", s.name, err)
		}
		if q.Percent != s.percent || q.RefundCents != s.cents || q.Cancellable != s.cancellable || q.TotalCents != total {
			t.Errorf("%s: quote = %d%% %d cents (cancellable %v, total %d), want %d%% %d (cancellable %v, total %d)",
				s.name, q.Percent, q.RefundCents, q.Cancellable, q.TotalCents, s.percent, s.cents, s.cancellable, total)
		}
		switch {
		case s.deadline == 0 && q.ValidUntil != nil:
			t.Errorf("%s: valid_until = %v, want none", s.name, q.ValidUntil)
		case s.deadline != 0 && (q.ValidUntil == nil || !q.ValidUntil.Equal(start.Add(-s.deadline))):
			t.Errorf("%s: valid_until = %v, want %v", s.name, q.ValidUntil, start.Add(-s.deadline))
		}
	}

	at(48 * time.Hour)
	q, err = en.Bookings.RefundQuote(ctx, b.ID, user)
	if err != nil {
		t.Fatal(err)
	}
	cancelled, err := en.Bookings.Cancel(ctx, b.ID, user)
	if err != nil {
		t.Fatal(err)
	}
	if cancelled.RefundCents == nil || *cancelled.RefundCents != q.RefundCents || q.RefundCents != total/2 {
		t.Fatalf("Cancel() refund_cents = %v, want the quoted %d (= %d)", cancelled.RefundCents, q.RefundCents, total/2)
	}
	var stored int64
	var valid, void int
	if err := en.Pool.QueryRow(ctx, `SELECT refund_cents FROM bookings WHERE id = $1`, b.ID).Scan(&stored); err != nil || stored != total/2 {
		t.Fatalf("stored refund_cents = %d, %v; want %d", stored, err, total/2)
	}
	if err := en.Pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE status = 'valid'), count(*) FILTER (WHERE status = 'void')
		FROM tickets WHERE booking_id = $1`, b.ID).Scan(&valid, &void); err != nil || valid != 0 || void != 3 {
		t.Fatalf("tickets after cancel: %d valid, %d void, %v; want 0 and 3", valid, void, err)
	}
	if q, err := en.Bookings.RefundQuote(ctx, b.ID, user); err != nil || q.Cancellable || q.RefundCents != 0 {
		t.Fatalf("quote of a cancelled booking = %+v, %v; want not cancellable, nothing", q, err)
	}
	en.CheckInvariants(t)
}

// TestRefundDefaultsToTheFullAmount: an event without a schedule refunds
// a confirmed booking in full until it starts, as cancelling always did.
func TestRefundDefaultsToTheFullAmount(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	en := newEngine(t, 10*time.Minute, 1, bookingtest.General("Floor", 2500, 10))
	user := en.Users[0]
	b := en.Buy(t, user, 2)
	en.Clock.Set(en.Event.StartsAt.Add(-time.Minute))
	q, err := en.Bookings.RefundQuote(ctx, b.ID, user)
	if err != nil || q.Percent != 100 || q.RefundCents != 5000 || len(q.Policy) != 1 || q.Policy[0] != event.DefaultRefundPolicy[0] {
		t.Fatalf("quote = %+v, %v; want 100%% of 5000 under the default schedule", q, err)
	}
	c, err := en.Bookings.Cancel(ctx, b.ID, user)
	if err != nil || c.RefundCents == nil || *c.RefundCents != 5000 {
		t.Fatalf("Cancel() = %v, %v; want refund_cents 5000", c.RefundCents, err)
	}
}
