package postgres

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/evently/evently/internal/event"
	"github.com/evently/evently/internal/funnel"
)

// FunnelStore reads the booking side of an event's funnel from the
// bookings and seats the booking path writes anyway: nothing is counted
// on the way.
type FunnelStore struct {
	pool *pgxpool.Pool
}

var _ funnel.Bookings = (*FunnelStore)(nil)

// NewFunnelStore returns the store on pool.
func NewFunnelStore(pool *pgxpool.Pool) *FunnelStore { return &FunnelStore{pool: pool} }

// funnelTotalsSQL: $1 event, $2 from, $3 to, $4 now, $5 forecast window.
// The bookings made in the range walk bookings_event_idx; the recent
// confirmations bookings_event_confirmed_idx; the seats left
// seats_event_status_idx.
const funnelTotalsSQL = `
WITH b AS (
    SELECT user_id, status, quantity, created_at, confirmed_at, expires_at
    FROM bookings WHERE event_id = $1 AND created_at >= $2 AND created_at < $3
)
SELECT EXISTS (SELECT 1 FROM events WHERE id = $1),
    (SELECT count(DISTINCT user_id) FROM b),
    (SELECT count(DISTINCT user_id) FROM b WHERE confirmed_at IS NOT NULL),
    (SELECT count(*) FROM b),
    (SELECT count(*) FROM b WHERE status = 'cancelled'),
    (SELECT count(*) FROM b WHERE status = 'expired' OR (status = 'pending' AND expires_at <= $4)),
    (SELECT percentile_disc(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY (extract(epoch FROM confirmed_at - created_at) * 1000)::bigint)
        FROM b WHERE confirmed_at IS NOT NULL),
    (SELECT count(*) FROM seats WHERE event_id = $1 AND status IN ('available', 'held')),
    (SELECT coalesce(sum(quantity), 0) FROM bookings
        WHERE event_id = $1 AND confirmed_at > $4::timestamptz - $5::interval AND confirmed_at <= $4)`

// funnelSeriesSQL counts, per minute of [$2, $3), the event's bookings
// made, confirmed, cancelled and expired then ($4 now).
const funnelSeriesSQL = `
SELECT date_trunc('minute', at) AS m, kind, count(*)
FROM (
    SELECT created_at AS at, 'held' AS kind FROM bookings
        WHERE event_id = $1 AND created_at >= $2 AND created_at < $3
    UNION ALL
    SELECT confirmed_at, 'confirmed' FROM bookings
        WHERE event_id = $1 AND confirmed_at >= $2 AND confirmed_at < $3
    UNION ALL
    SELECT cancelled_at, 'cancelled' FROM bookings
        WHERE event_id = $1 AND status = 'cancelled' AND cancelled_at >= $2 AND cancelled_at < $3
    UNION ALL
    SELECT expires_at, 'expired' FROM bookings
        WHERE event_id = $1 AND (status = 'expired' OR (status = 'pending' AND expires_at <= $4))
          AND expires_at >= $2 AND expires_at < $3
) x
GROUP BY 1, 2`

// admissionToHoldSQL: $1 event, $2 users, $3 admitted at, $4 until. The
// event's bookings (bookings_event_idx) hash-joined to the admissions on
// the user: per admission, the user's first booking of the event made
// while it ran; the time to it in microseconds (exact: timestamptz keeps
// microseconds).
const admissionToHoldSQL = `
WITH a AS (SELECT * FROM unnest($2::uuid[], $3::timestamptz[], $4::timestamptz[]) AS a(user_id, at, until)),
first AS (
    SELECT a.at, min(b.created_at) AS held_at
    FROM a JOIN bookings b ON b.user_id = a.user_id AND b.created_at >= a.at AND b.created_at < a.until
    WHERE b.event_id = $1
    GROUP BY a.user_id, a.at)
SELECT percentile_disc(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY (extract(epoch FROM held_at - at) * 1000000)::bigint)
FROM first`

// AdmissionToHold implements funnel.Bookings in one query, however many
// admissions.
func (s *FunnelStore) AdmissionToHold(ctx context.Context, eventID uuid.UUID, admissions []funnel.Admission) (p50, p90 *time.Duration, err error) {
	defer wrap(&err, "read admission to hold event=%s", eventID)
	users := make([]uuid.UUID, len(admissions))
	at := make([]time.Time, len(admissions))
	until := make([]time.Time, len(admissions))
	for i, a := range admissions {
		users[i], at[i], until[i] = a.UserID, a.At, a.Until
	}
	var pcts []int64
	if err := s.pool.QueryRow(ctx, admissionToHoldSQL, eventID, users, at, until).Scan(&pcts); err != nil {
		return nil, nil, err
	}
	if len(pcts) != 2 {
		return nil, nil, nil
	}
	a, b := time.Duration(pcts[0])*time.Microsecond, time.Duration(pcts[1])*time.Microsecond
	return &a, &b, nil
}

// Figures implements funnel.Bookings.
func (s *FunnelStore) Figures(ctx context.Context, eventID uuid.UUID, from, to, now time.Time) (_ funnel.BookingFigures, err error) {
	defer wrap(&err, "read funnel event=%s", eventID)
	var (
		f      funnel.BookingFigures
		exists bool
		pcts   []int64
	)
	err = s.pool.QueryRow(ctx, funnelTotalsSQL, eventID, from, to, now, funnel.ForecastWindow).Scan(&exists,
		&f.HeldBuyers, &f.ConfirmedBuyers, &f.Holds, &f.Cancelled, &f.Expired, &pcts, &f.SeatsLeft, &f.SeatsRecent)
	if err != nil {
		return funnel.BookingFigures{}, err
	}
	if !exists {
		return funnel.BookingFigures{}, event.NotFound(eventID)
	}
	if len(pcts) == 2 {
		p50, p90 := time.Duration(pcts[0])*time.Millisecond, time.Duration(pcts[1])*time.Millisecond
		f.HoldToConfirmP50, f.HoldToConfirmP90 = &p50, &p90
	}
	f.Held, f.Confirmed, f.CancelledAt, f.ExpiredAt = map[time.Time]int64{}, map[time.Time]int64{}, map[time.Time]int64{}, map[time.Time]int64{}
	rows, err := s.pool.Query(ctx, funnelSeriesSQL, eventID, from, to, now)
	if err != nil {
		return funnel.BookingFigures{}, err
	}
	byKind := map[string]map[time.Time]int64{"held": f.Held, "confirmed": f.Confirmed, "cancelled": f.CancelledAt, "expired": f.ExpiredAt}
	var (
		m    time.Time
		kind string
		n    int64
	)
	_, err = pgx.ForEachRow(rows, []any{&m, &kind, &n}, func() error {
		byKind[kind][m.UTC()] = n
		return nil
	})
	if err != nil {
		return funnel.BookingFigures{}, err
	}
	return f, nil
}
