package postgres

import (
	"context"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/evently/evently/internal/event"
)

// SectionAvailability counts the held (hold not expired) and booked seats
// of each section of an event in one statement. Each section is a position
// range, so its counts are two index-only range scans of
// seats_event_status_idx (status, then position; held_until is included):
// the cost is what the section has sold, not its size.
func (s *EventStore) SectionAvailability(ctx context.Context, id uuid.UUID) (_ []event.SectionAvailability, err error) {
	defer wrap(&err, "count seats per section of event %s", id)
	rows, err := s.pool.Query(ctx, sectionAvailabilitySQL, id)
	return collect(rows, err, func(r pgx.Row) (event.SectionAvailability, error) {
		var a event.SectionAvailability
		err := r.Scan(&a.Section, &a.Capacity, &a.Held, &a.Booked)
		return a, err
	})
}

const sectionAvailabilitySQL = `
		SELECT sec.name, sec.capacity, c.held, c.booked
		FROM sections sec
		CROSS JOIN LATERAL (
			SELECT count(*) FILTER (WHERE st.status = 'held' AND st.held_until >= now()) AS held,
				count(*) FILTER (WHERE st.status = 'booked') AS booked
			FROM seats st
			WHERE st.event_id = sec.event_id AND st.status IN ('held', 'booked')
				AND st.position > sec.first_seat AND st.position <= sec.first_seat + sec.capacity
		) c
		WHERE sec.event_id = $1
		ORDER BY sec.position`
