package postgres

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
)

// invariants are the booking rules the database must satisfy whatever
// happened. Each query counts the rows that break one, for one event ($1)
// or, with $1 NULL, for all.
var invariants = []struct{ name, sql string }{
	{"a seat is in two live bookings", `
		SELECT count(*) FROM (
		    SELECT bs.seat_id FROM booking_seats bs JOIN bookings b ON b.id = bs.booking_id
		    WHERE b.status IN ('pending', 'confirmed') AND ($1::uuid IS NULL OR b.event_id = $1)
		    GROUP BY bs.seat_id HAVING count(*) > 1) x`},
	{"booking_seats.active disagrees with its booking's status", `
		SELECT count(*) FROM booking_seats bs JOIN bookings b ON b.id = bs.booking_id
		WHERE bs.active <> (b.status IN ('pending', 'confirmed')) AND ($1::uuid IS NULL OR b.event_id = $1)`},
	{"a booked seat is not a seat of a confirmed booking", `
		SELECT count(*) FROM seats s
		LEFT JOIN bookings b ON b.id = s.booking_id
		LEFT JOIN booking_seats bs ON bs.booking_id = s.booking_id AND bs.seat_id = s.id AND bs.active
		WHERE s.status = 'booked' AND (b.status IS DISTINCT FROM 'confirmed' OR bs.seat_id IS NULL)
		  AND ($1::uuid IS NULL OR s.event_id = $1)`},
	{"a held seat is not a seat of a pending booking", `
		SELECT count(*) FROM seats s
		LEFT JOIN bookings b ON b.id = s.booking_id
		LEFT JOIN booking_seats bs ON bs.booking_id = s.booking_id AND bs.seat_id = s.id
		WHERE s.status = 'held' AND (bs.seat_id IS NULL OR (b.status = 'pending') <> bs.active
		      OR b.status NOT IN ('pending', 'expired'))
		  AND ($1::uuid IS NULL OR s.event_id = $1)`},
	{"an available seat names a booking", `
		SELECT count(*) FROM seats s
		WHERE s.status = 'available' AND (s.booking_id IS NOT NULL OR s.held_until IS NOT NULL)
		  AND ($1::uuid IS NULL OR s.event_id = $1)`},
	{"a live booking's seat is not held or booked by it", `
		SELECT count(*) FROM booking_seats bs
		JOIN bookings b ON b.id = bs.booking_id
		JOIN seats s ON s.id = bs.seat_id
		WHERE bs.active AND (s.booking_id IS DISTINCT FROM b.id
		      OR (b.status = 'confirmed' AND s.status <> 'booked')
		      OR (b.status = 'pending' AND s.status <> 'held'))
		  AND ($1::uuid IS NULL OR b.event_id = $1)`},
	{"a booking's quantity or total disagrees with its seats", `
		SELECT count(*) FROM bookings b
		LEFT JOIN LATERAL (SELECT count(*) AS n, coalesce(sum(price_cents), 0) AS total
		                   FROM booking_seats WHERE booking_id = b.id) bs ON true
		WHERE (bs.n <> b.quantity OR bs.total <> b.total_cents) AND ($1::uuid IS NULL OR b.event_id = $1)`},
	{"a booked seat has no valid ticket of its booking", `
		SELECT count(*) FROM seats s
		WHERE s.status = 'booked' AND ($1::uuid IS NULL OR s.event_id = $1)
		  AND NOT EXISTS (SELECT 1 FROM tickets t WHERE t.seat_id = s.id AND t.status = 'valid' AND t.booking_id = s.booking_id)`},
	{"a valid ticket is not a seat of a confirmed booking", `
		SELECT count(*) FROM tickets t
		LEFT JOIN bookings b ON b.id = t.booking_id
		LEFT JOIN seats s ON s.id = t.seat_id
		WHERE t.status = 'valid' AND (b.status IS DISTINCT FROM 'confirmed' OR s.booking_id IS DISTINCT FROM t.booking_id)
		  AND ($1::uuid IS NULL OR t.event_id = $1)`},
	{"booked seats differ from the seats of confirmed bookings", `
		SELECT abs((SELECT count(*) FROM seats WHERE status = 'booked' AND ($1::uuid IS NULL OR event_id = $1))
		         - (SELECT coalesce(sum(quantity), 0) FROM bookings WHERE status = 'confirmed' AND ($1::uuid IS NULL OR event_id = $1)))`},
}

// Violation is one broken invariant and how many rows break it.
type Violation struct {
	Rule string
	Rows int64
}

// CheckInvariants reads the booking rules straight from the database for
// one event (or all, with uuid.Nil) and returns those that do not hold.
func CheckInvariants(ctx context.Context, pool *pgxpool.Pool, eventID uuid.UUID) ([]Violation, error) {
	var event *uuid.UUID
	if eventID != uuid.Nil {
		event = &eventID
	}
	var out []Violation
	for _, inv := range invariants {
		var n int64
		if err := pool.QueryRow(ctx, inv.sql, event).Scan(&n); err != nil {
			return nil, fmt.Errorf("check %q: %w", inv.name, err)
		}
		if n != 0 {
			out = append(out, Violation{Rule: inv.name, Rows: n})
		}
	}
	return out, nil
}

// EventBuyers counts an event's buyers straight from the bookings table:
// those with any booking of it, and those with a booking that was
// confirmed (even if cancelled since). Load runs check the funnel with it.
func EventBuyers(ctx context.Context, pool *pgxpool.Pool, eventID uuid.UUID) (held, confirmed int64, err error) {
	err = pool.QueryRow(ctx, `SELECT count(DISTINCT user_id), count(DISTINCT user_id) FILTER (WHERE confirmed_at IS NOT NULL)
		FROM bookings WHERE event_id = $1`, eventID).Scan(&held, &confirmed)
	if err != nil {
		return 0, 0, fmt.Errorf("count buyers event=%s: %w", eventID, err)
	}
	return held, confirmed, nil
}
