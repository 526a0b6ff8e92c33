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

const roomColumns = `id, status, starts_at, sales_start, sales_end,
	wr_enabled, wr_admit_per_minute, wr_max_active, wr_admission_ttl_seconds`

func scanRoom(row pgx.Row) (waitroom.Room, error) {
	var (
		r         waitroom.Room
		maxActive *int
		ttl       int
	)
	err := row.Scan(&r.EventID, &r.Status, &r.StartsAt, &r.SalesStart, &r.SalesEnd,
		&r.Enabled, &r.AdmitPerMinute, &maxActive, &ttl)
	if err != nil {
		return waitroom.Room{}, err
	}
	if maxActive != nil {
		r.MaxActive = *maxActive
	}
	r.AdmissionTTL = time.Duration(ttl) * time.Second
	return r, nil
}

// Room implements waitroom.Catalogue.
func (s *WaitingRoomStore) Room(ctx context.Context, eventID uuid.UUID) (_ waitroom.Room, err error) {
	defer wrap(&err, "read waiting room event=%s", eventID)
	r, err := scanRoom(s.pool.QueryRow(ctx, `SELECT `+roomColumns+` FROM events WHERE id = $1`, eventID))
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
	rows, err := s.pool.Query(ctx, `SELECT `+roomColumns+` FROM events
		WHERE wr_enabled AND status = 'published' AND starts_at > $1
		  AND sale_state(status, starts_at, sales_start, sales_end, $1) IN ('open', 'not_yet_open')
		ORDER BY starts_at LIMIT $2`, now, limit)
	if err != nil {
		return nil, err
	}
	rooms, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (waitroom.Room, error) { return scanRoom(r) })
	if err != nil {
		return nil, err
	}
	return rooms, nil
}
