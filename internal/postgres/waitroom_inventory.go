package postgres

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/evently/evently/internal/notify"
	"github.com/evently/evently/internal/waitroom"
)

// RoomStock reads an event's inventory for the waiting room's admission
// chain and writes its sold-out notices.
type RoomStock struct {
	pool *pgxpool.Pool
}

var (
	_ waitroom.Stock          = (*RoomStock)(nil)
	_ waitroom.SoldOutNotices = (*RoomStock)(nil)
)

// NewRoomStock returns the store on pool.
func NewRoomStock(pool *pgxpool.Pool) *RoomStock { return &RoomStock{pool: pool} }

// recentBookings is how many of an event's latest bookings give the
// expected booking size.
const recentBookings = 200

// Inventory implements waitroom.Stock in one round trip: the free and held
// seats walk seats_event_status_idx (booked seats are skipped), the users
// served probe bookings_live_by_user_idx, the booking size averages the
// latest bookings through bookings_event_idx, and the overdue admissions
// probe bookings_user_idx for a booking of any state made since.
func (s *RoomStock) Inventory(ctx context.Context, eventID uuid.UUID, users []uuid.UUID, overdue []waitroom.Admission, now time.Time) (_ waitroom.Inventory, err error) {
	defer wrap(&err, "read inventory event=%s", eventID)
	late := make([]uuid.UUID, len(overdue))
	since := make([]time.Time, len(overdue))
	for i, a := range overdue {
		late[i], since[i] = a.UserID, a.At
	}
	var inv waitroom.Inventory
	var mean *float64
	err = s.pool.QueryRow(ctx, `WITH h AS (
		SELECT count(*) FILTER (WHERE held_until <= $2) AS lapsed, count(*) FILTER (WHERE held_until > $2) AS live
		FROM seats WHERE event_id = $1 AND status = 'held')
	SELECT (SELECT count(*) FROM seats WHERE event_id = $1 AND status = 'available') + h.lapsed, h.live,
		(SELECT count(*) FROM unnest($3::uuid[]) AS u(id) WHERE EXISTS (
		    SELECT 1 FROM bookings b WHERE b.event_id = $1 AND b.user_id = u.id
		      AND b.status IN ('pending', 'confirmed') AND (b.status = 'confirmed' OR b.expires_at > $2))),
		(SELECT avg(quantity)::float8 FROM (SELECT quantity FROM bookings WHERE event_id = $1
		    ORDER BY created_at DESC, id DESC LIMIT $4) r),
		(SELECT count(*) FROM unnest($5::uuid[], $6::timestamptz[]) AS u(id, since) WHERE NOT EXISTS (
		    SELECT 1 FROM bookings b WHERE b.user_id = u.id AND b.created_at >= u.since AND b.event_id = $1))
	FROM h`,
		eventID, now, users, recentBookings, late, since).Scan(&inv.Free, &inv.Held, &inv.Served, &mean, &inv.Idle)
	if err != nil {
		return waitroom.Inventory{}, err
	}
	if mean != nil {
		inv.SeatsPerBooking = *mean
	}
	return inv, nil
}

// SoldOut implements waitroom.SoldOutNotices: one notification per user,
// in one statement.
func (s *RoomStock) SoldOut(ctx context.Context, eventID uuid.UUID, users []uuid.UUID, at time.Time) (err error) {
	defer wrap(&err, "write sold-out notices event=%s", eventID)
	_, err = s.pool.Exec(ctx, noteSQL(notify.KindSoldOut, `SELECT u.user_id, 'Sold out' AS title,
        format('%s sold out while you waited. Join the waitlist from the waiting room to keep your place in line.', e.name) AS body,
        jsonb_build_object('event_id', e.id) AS data, $3::timestamptz AS at
        FROM unnest($2::uuid[]) AS u(user_id) JOIN events e ON e.id = $1`), eventID, users, at)
	return err
}
