package booking

import (
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/event"
)

// ChangeKind is what a lifecycle change asks for.
type ChangeKind int

// The lifecycle changes a buyer or an admin can ask for.
const (
	// Confirm turns the owner's live hold into a sale.
	Confirm ChangeKind = iota + 1
	// Cancel ends a pending or confirmed booking and frees its seats.
	Cancel
)

// Change asks to confirm or cancel one booking.
type Change struct {
	Kind      ChangeKind
	BookingID uuid.UUID
	// Owner is the user acting; nil means an admin (who may cancel any
	// booking, and confirm none).
	Owner *uuid.UUID
	// PaymentRef is recorded with a confirmation.
	PaymentRef *string
	// PendingOnly cancels only a pending hold (a waitlist offer declined):
	// a booking confirmed meanwhile is left alone.
	PendingOnly bool
}

// BookingState is a booking as a lifecycle batch finds it, under its row
// locks.
type BookingState struct {
	// Found is false when the booking does not exist.
	Found   bool
	Booking Booking
	// StartsAt is when the booking's event starts.
	StartsAt time.Time
	// RefundPolicy is the event's refund schedule (nil: the default).
	RefundPolicy event.RefundPolicy
	// Fenced counts the booking's seats that are still held by it under
	// the hold sequence it took them with (a seat taken over after the
	// hold lapsed is not).
	Fenced int
}

// Verdict is what a lifecycle batch does to a booking.
type Verdict int

// Verdicts. A refusal may come with Expire: the hold had lapsed, and the
// transaction that refuses it also ends it.
const (
	Leave Verdict = iota // change nothing
	DoConfirm
	DoCancel
	DoExpire
)

// Decide rules on one change of a booking in state st at now: what to do,
// and the refusal to answer (nil when the change happens, or when
// confirming a booking that is already confirmed, which answers it
// unchanged).
func Decide(c Change, st BookingState, now time.Time) (Verdict, error) {
	b := st.Booking
	if !st.Found || (c.Owner != nil && *c.Owner != b.UserID) || (c.Kind == Confirm && c.Owner == nil) {
		return Leave, NoSuchBooking()
	}
	lapsed := b.Status == StatusPending && !now.Before(b.ExpiresAt)
	switch c.Kind {
	case Confirm:
		switch {
		case b.Status == StatusConfirmed:
			return Leave, nil
		case b.Status == StatusCancelled:
			return Leave, apperr.New(apperr.InvalidState, "The booking is cancelled.")
		case b.Status == StatusExpired:
			return Leave, HoldLapsed()
		case lapsed || st.Fenced != b.Quantity:
			// Lapsed, or a seat is no longer this hold's: it is over.
			return DoExpire, HoldLapsed()
		}
		return DoConfirm, nil
	case Cancel:
		switch {
		case b.Status == StatusCancelled || b.Status == StatusExpired:
			return Leave, apperr.New(apperr.InvalidState, "The booking is already %s.", b.Status)
		case c.PendingOnly && b.Status == StatusConfirmed:
			return Leave, apperr.New(apperr.InvalidState, "The booking is confirmed.")
		case !now.Before(st.StartsAt):
			return Leave, apperr.New(apperr.InvalidState, "The event has started; the booking can no longer be cancelled.")
		case lapsed:
			return DoExpire, apperr.New(apperr.InvalidState, "The hold has expired; its seats are already released.")
		}
		return DoCancel, nil
	}
	return Leave, apperr.New(apperr.ValidationFailed, "Unknown change.")
}

// ChangeOutcome is the answer to one change of a lifecycle batch.
type ChangeOutcome struct {
	// Booking is the booking after the change (when not refused).
	Booking Booking
	// Verdict is what the batch did.
	Verdict Verdict
	// Err is the refusal, if any.
	Err error
}
