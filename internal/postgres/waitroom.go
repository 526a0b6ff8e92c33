package postgres

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/evently/evently/internal/event"
	"github.com/evently/evently/internal/waitroom"
)

// WaitingRoomStore reads events' waiting-room settings.
type WaitingRoomStore struct {
	pool *pgxpool.Pool
}

var _ waitroom.Catalogue = (*WaitingRoomStore)(nil)

// NewWaitingRoomStore returns a store on pool.
func NewWaitingRoomStore(pool *pgxpool.Pool) *WaitingRoomStore { return &WaitingRoomStore{pool: pool} }

// roomColumns are a room's columns of events e and admission_rates a
// (LEFT JOINed on the event).
const roomColumns = `e.id, e.status, e.starts_at, e.sales_start, e.sales_end,
	e.wr_enabled, e.wr_admit_per_minute, e.wr_max_active, e.wr_admission_ttl_seconds,
	e.wr_admit_mode, e.wr_admit_min_per_minute, e.wr_admit_max_per_minute, e.wr_target_p95_ms,
	e.updated_at, a.per_minute, a.base_per_minute, a.changed_at`

const roomFrom = ` FROM events e LEFT JOIN admission_rates a ON a.event_id = e.id`

func scanRoom(row pgx.Row) (waitroom.Room, error) {
	var (
		r                 waitroom.Room
		maxActive, lo, hi *int
		ttl, targetMs     int
		mode              string
		rate, base        *int
		updatedAt         time.Time
		changedAt         *time.Time
	)
	err := row.Scan(&r.EventID, &r.Status, &r.StartsAt, &r.SalesStart, &r.SalesEnd,
		&r.Enabled, &r.AdmitPerMinute, &maxActive, &ttl, &mode, &lo, &hi, &targetMs,
		&updatedAt, &rate, &base, &changedAt)
	if err != nil {
		return waitroom.Room{}, err
	}
	if maxActive != nil {
		r.MaxActive = *maxActive
	}
	r.AdmissionTTL = time.Duration(ttl) * time.Second
	r.BasePerMinute = r.AdmitPerMinute
	r.TargetP95 = time.Duration(targetMs) * time.Millisecond
	if lo != nil && hi != nil {
		r.MinPerMinute, r.MaxPerMinute = *lo, *hi
	}
	if event.AdmitMode(mode) == event.AdmitAuto && lo != nil && hi != nil {
		r.Auto = true
		updatedAt = updatedAt.UTC()
		r.SettingsChangedAt = &updatedAt
		// The room's own rate holds while the organiser's is the one it
		// was tuned from; within the bounds as they are now.
		if rate != nil && *base == r.BasePerMinute {
			r.AdmitPerMinute, r.RateChangedAt = min(*hi, max(*lo, *rate)), changedAt
		}
	}
	return r, nil
}

// Room implements waitroom.Catalogue.
func (s *WaitingRoomStore) Room(ctx context.Context, eventID uuid.UUID) (_ waitroom.Room, err error) {
	defer wrap(&err, "read waiting room event=%s", eventID)
	r, err := scanRoom(s.pool.QueryRow(ctx, `SELECT `+roomColumns+roomFrom+` WHERE e.id = $1`, eventID))
	if isNoRows(err) {
		return waitroom.Room{}, event.NotFound(eventID)
	}
	if err != nil {
		return waitroom.Room{}, err
	}
	return r, nil
}

// OpenRooms implements waitroom.Catalogue: the rooms of events whose sale
// is not over (sale_state, the SQL twin of event.SaleWindow), walking
// events_waiting_room_idx (its predicate and the starts_at range restate
// part of the rule so that the index serves).
func (s *WaitingRoomStore) OpenRooms(ctx context.Context, now time.Time, limit int) (_ []waitroom.Room, err error) {
	defer wrap(&err, "list open waiting rooms")
	rows, err := s.pool.Query(ctx, `SELECT `+roomColumns+roomFrom+`
		WHERE e.wr_enabled AND e.status = 'published' AND e.starts_at > $1
		  AND sale_state(e.status, e.starts_at, e.sales_start, e.sales_end, $1) IN ('open', 'not_yet_open')
		ORDER BY e.starts_at LIMIT $2`, now, limit)
	if err != nil {
		return nil, err
	}
	rooms, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (waitroom.Room, error) { return scanRoom(r) })
	if err != nil {
		return nil, err
	}
	return rooms, nil
}

// SetRate implements waitroom.RateLog: the room's rate and the record of
// its change in one statement, made only while the change still stands on
// what it was decided from: the room in auto mode with the organiser's
// rate c.Base, and its own rate last changed at c.Prev (or none valid).
// A change decided on settings the organiser has since replaced is
// dropped, recorded nowhere.
func (s *WaitingRoomStore) SetRate(ctx context.Context, c waitroom.RateChange) (err error) {
	defer wrap(&err, "set admission rate event=%s", c.EventID)
	var p95 *int64
	if c.BookingP95 != nil {
		ms := c.BookingP95.Milliseconds()
		p95 = &ms
	}
	_, err = s.pool.Exec(ctx, `WITH cur AS (
		SELECT id FROM events WHERE id = $1 AND wr_admit_mode = 'auto' AND wr_admit_per_minute = $3),
	rate AS (
		INSERT INTO admission_rates (event_id, per_minute, base_per_minute, changed_at)
		SELECT id, $2, $3, $4 FROM cur
		ON CONFLICT (event_id) DO UPDATE
		SET per_minute = EXCLUDED.per_minute, base_per_minute = EXCLUDED.base_per_minute,
		    changed_at = EXCLUDED.changed_at
		WHERE admission_rates.base_per_minute <> EXCLUDED.base_per_minute
		   OR admission_rates.changed_at IS NOT DISTINCT FROM $11::timestamptz
		RETURNING event_id)
	INSERT INTO admission_rate_changes (event_id, at, from_per_minute, to_per_minute, reason,
		booking_p95_ms, samples, idle, overdue)
	SELECT event_id, $4, $5, $2, $6, $7, $8, $9, $10 FROM rate`,
		c.EventID, c.To, c.Base, c.At, c.From, c.Reason, p95, c.Samples, c.Idle, c.Overdue, c.Prev)
	return err
}

// RateChanges implements waitroom.RateLog, through
// admission_rate_changes_event_idx.
func (s *WaitingRoomStore) RateChanges(ctx context.Context, eventID uuid.UUID, limit int) (_ []waitroom.RateChange, err error) {
	defer wrap(&err, "list admission rate changes event=%s", eventID)
	rows, err := s.pool.Query(ctx, `SELECT c.at, c.from_per_minute, c.to_per_minute, c.reason, c.booking_p95_ms,
		c.samples, c.idle, c.overdue
	FROM admission_rate_changes c WHERE c.event_id = $1 ORDER BY c.at DESC, c.id DESC LIMIT $2`, eventID, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (waitroom.RateChange, error) {
		c := waitroom.RateChange{EventID: eventID}
		var p95 *int64
		err := r.Scan(&c.At, &c.From, &c.To, &c.Reason, &p95, &c.Samples, &c.Idle, &c.Overdue)
		if p95 != nil {
			d := time.Duration(*p95) * time.Millisecond
			c.BookingP95 = &d
		}
		c.At = c.At.UTC()
		return c, err
	})
}
