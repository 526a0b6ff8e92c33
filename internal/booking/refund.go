package booking

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/auth"
	"github.com/evently/evently/internal/event"
)

// RefundQuote is what cancelling a booking at AsOf would refund.
type RefundQuote struct {
	BookingID uuid.UUID
	Status    Status
	// Cancellable is false when the booking can no longer be cancelled
	// (already ended, or the event has started).
	Cancellable bool
	// Percent of TotalCents refunded, and RefundCents the amount: 0 for a
	// pending hold (nothing was paid) and whatever cannot be cancelled.
	Percent     int
	RefundCents int64
	TotalCents  int64
	Currency    string
	// ValidUntil is when the quote changes (the current tier's deadline);
	// nil when it does not change before the event starts.
	ValidUntil *time.Time
	Policy     event.RefundPolicy
	StartsAt   time.Time
	AsOf       time.Time
}

// Refund is what cancelling b at now refunds under the event's policy:
// confirmed bookings get the percent of the schedule's current tier of
// their total, rounded down; anything else nothing. Owner and admin
// cancellations follow the schedule; an event cancelled by its organiser
// refunds every confirmed booking in full instead (the store does that).
func Refund(b Booking, policy event.RefundPolicy, startsAt, now time.Time) (percent int, cents int64, until *time.Time) {
	if b.Status != StatusConfirmed {
		return 0, 0, nil
	}
	percent, until = policy.PercentAt(startsAt, now)
	return percent, event.RefundCents(b.TotalCents, percent), until
}

// RefundQuote says what cancelling the booking now would refund, to its
// owner or an admin (to anyone else it does not exist). It reads the
// event's schedule as the booking engine knows it (at most a second old).
func (s *Service) RefundQuote(ctx context.Context, id uuid.UUID, who auth.Principal) (RefundQuote, error) {
	now := s.now()
	b, err := s.store.Get(ctx, id, owner(who), now)
	if err != nil {
		return RefundQuote{}, err
	}
	sale, err := s.sale(ctx, b.EventID, now)
	if err != nil {
		return RefundQuote{}, err
	}
	q := RefundQuote{
		BookingID: b.ID, Status: b.Status, TotalCents: b.TotalCents, Currency: b.Currency,
		Policy: sale.RefundPolicy.Or(), StartsAt: sale.StartsAt, AsOf: now,
	}
	lapsed := b.Status == StatusPending && !now.Before(b.ExpiresAt)
	q.Cancellable = (b.Status == StatusPending || b.Status == StatusConfirmed) && !lapsed && now.Before(sale.StartsAt)
	if q.Cancellable {
		q.Percent, q.RefundCents, q.ValidUntil = Refund(b, sale.RefundPolicy, sale.StartsAt, now)
	}
	return q, nil
}
