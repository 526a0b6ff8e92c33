package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/booking"
	"github.com/evently/evently/internal/event"
)

// BookingStore keeps bookings. Its writes come in stages, one file each:
// holds (booking_hold.go), confirmations, cancellations and expiry
// (booking_lifecycle.go), and the one statement that ends a booking with
// all its side effects (booking_end.go). Every write locks the event (when
// it does) before seats and seats before bookings (and bookings before
// waitlist entries), seats in id order, so that holds, confirmations,
// cancellations, offers, event cancellation and the cleanup job never wait
// on each other in a cycle. The notifications a change causes are written
// in its transaction, and so are its webhook deliveries when webhooks are
// on.
type BookingStore struct {
	pool  *pgxpool.Pool
	hooks outbox
}

var _ booking.Store = (*BookingStore)(nil)

// NewBookingStore returns a store on pool.
func NewBookingStore(pool *pgxpool.Pool, opts ...StoreOption) *BookingStore {
	return &BookingStore{pool: pool, hooks: newOutbox(opts)}
}

// Sale reads an event's sale facts and its sections in one round trip.
func (s *BookingStore) Sale(ctx context.Context, eventID uuid.UUID) (_ booking.Sale, err error) {
	defer wrap(&err, "read sale event=%s", eventID)
	b := &pgx.Batch{}
	b.Queue(`SELECT status, starts_at, sales_start, sales_end, max_seats_per_booking,
		hold_ttl_seconds, currency, wr_enabled, refund_policy FROM events WHERE id = $1`, eventID)
	b.Queue(`SELECT id, name, first_seat + 1, first_seat + capacity, rows IS NOT NULL
		FROM sections WHERE event_id = $1 ORDER BY position`, eventID)
	res := s.pool.SendBatch(ctx, b)
	defer res.Close()

	sale := booking.Sale{EventID: eventID}
	var ttl int
	err = res.QueryRow().Scan(&sale.Status, &sale.StartsAt, &sale.SalesStart, &sale.SalesEnd,
		&sale.MaxSeatsPerBooking, &ttl, &sale.Currency, &sale.WaitingRoomEnabled, refundPolicyColumn{&sale.RefundPolicy})
	if errors.Is(err, pgx.ErrNoRows) {
		return booking.Sale{}, event.NotFound(eventID)
	}
	if err != nil {
		return booking.Sale{}, err
	}
	sale.HoldTTL = time.Duration(ttl) * time.Second
	rows, err := res.Query()
	if err != nil {
		return booking.Sale{}, fmt.Errorf("read sections event=%s: %w", eventID, err)
	}
	sale.Sections, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (booking.Section, error) {
		var sec booking.Section
		err := r.Scan(&sec.ID, &sec.Name, &sec.First, &sec.Last, &sec.Numbered)
		return sec, err
	})
	if err != nil {
		return booking.Sale{}, fmt.Errorf("read sections event=%s: %w", eventID, err)
	}
	return sale, nil
}

const bookingColumns = `b.id, b.event_id, b.user_id, b.status, b.quantity, b.total_cents, b.currency,
	b.expires_at, b.payment_reference, b.created_at, b.confirmed_at, b.cancelled_at, b.refund_cents`

func scanBooking(row pgx.Row, b *booking.Booking) error {
	return row.Scan(&b.ID, &b.EventID, &b.UserID, &b.Status, &b.Quantity, &b.TotalCents, &b.Currency,
		&b.ExpiresAt, &b.PaymentReference, &b.CreatedAt, &b.ConfirmedAt, &b.CancelledAt, &b.RefundCents)
}

// Get returns one booking with its seats.
func (s *BookingStore) Get(ctx context.Context, id uuid.UUID, owner *uuid.UUID, now time.Time) (_ booking.Booking, err error) {
	defer wrap(&err, "get booking=%s", id)
	var b booking.Booking
	err = scanBooking(s.pool.QueryRow(ctx, `SELECT `+bookingColumns+` FROM bookings b WHERE b.id = $1`, id), &b)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && owner != nil && *owner != b.UserID) {
		return booking.Booking{}, apperr.New(apperr.NotFound, "No such booking.")
	}
	if err != nil {
		return booking.Booking{}, err
	}
	list := []booking.Booking{b}
	if err := s.attachSeats(ctx, list, now); err != nil {
		return booking.Booking{}, err
	}
	return list[0], nil
}

// List returns bookings newest first, with their seats.
func (s *BookingStore) List(ctx context.Context, f booking.ListFilter, now time.Time) (_ []booking.Booking, err error) {
	defer wrap(&err, "list bookings")
	var (
		afterAt *time.Time
		afterID *uuid.UUID
		status  *string
	)
	if f.After != nil {
		afterAt, afterID = &f.After.CreatedAt, &f.After.ID
	}
	if f.Status != nil {
		st := string(*f.Status)
		status = &st
	}
	rows, err := s.pool.Query(ctx, `SELECT `+bookingColumns+` FROM bookings b
		WHERE ($1::uuid IS NULL OR b.user_id = $1)
		  AND ($2::uuid IS NULL OR b.event_id = $2)
		  AND ($3::text IS NULL OR b.status = $3)
		  AND ($4::timestamptz IS NULL OR (b.created_at, b.id) < ($4, $5::uuid))
		ORDER BY b.created_at DESC, b.id DESC
		LIMIT $6`, f.UserID, f.EventID, status, afterAt, afterID, f.Limit)
	list, err := collect(rows, err, func(r pgx.Row) (booking.Booking, error) {
		var b booking.Booking
		err := scanBooking(r, &b)
		return b, err
	})
	if err != nil {
		return nil, err
	}
	if err := s.attachSeats(ctx, list, now); err != nil {
		return nil, err
	}
	return list, nil
}

// attachSeats loads the seats of the given bookings in one query.
func (s *BookingStore) attachSeats(ctx context.Context, list []booking.Booking, now time.Time) error {
	if len(list) == 0 {
		return nil
	}
	ids := make([]uuid.UUID, len(list))
	index := make(map[uuid.UUID]int, len(list))
	for i, b := range list {
		ids[i] = b.ID
		index[b.ID] = i
	}
	rows, err := s.pool.Query(ctx, `
		SELECT bs.booking_id, s.id, sec.name, s.row_label, s.number, s.label, bs.price_cents,
		       CASE WHEN s.status = 'held' AND s.held_until <= $2 THEN 'available' ELSE s.status END
		FROM booking_seats bs
		JOIN seats s ON s.id = bs.seat_id
		JOIN sections sec ON sec.id = s.section_id
		WHERE bs.booking_id = ANY($1::uuid[])
		ORDER BY s.position`, ids, now)
	if err != nil {
		return fmt.Errorf("booking seats: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			bookingID uuid.UUID
			seat      booking.Seat
		)
		if err := rows.Scan(&bookingID, &seat.ID, &seat.Section, &seat.Row, &seat.Number, &seat.Label,
			&seat.PriceCents, &seat.Status); err != nil {
			return fmt.Errorf("booking seats: %w", err)
		}
		b := &list[index[bookingID]]
		b.Seats = append(b.Seats, seat)
	}
	return rows.Err()
}
