package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/evently/evently/internal/event"
	"github.com/evently/evently/internal/notify"
)

// lockEvent reads an event and its sections under FOR UPDATE. A hold batch
// takes the event row FOR SHARE (to read its status and sales window
// before it locks seats), so it serialises with every admin change made
// through this store, and both take the event before any seat.
func lockEvent(ctx context.Context, tx pgx.Tx, id uuid.UUID) (event.Event, error) {
	e, err := scanEvent(tx.QueryRow(ctx, `SELECT `+eventColumns+` FROM events WHERE id = $1 FOR UPDATE`, id))
	if isNoRows(err) {
		return event.Event{}, event.NotFound(id)
	}
	if err != nil {
		return event.Event{}, err
	}
	if err := loadSections(ctx, tx, []*event.Event{&e}); err != nil {
		return event.Event{}, err
	}
	return e, nil
}

// hadBookings reports whether any seat of the event has ever been held or
// booked: one that is not available now, or whose fencing token shows a
// past hold. Until bookings have a table of their own, this is how an
// event's sales history is known.
func hadBookings(ctx context.Context, tx pgx.Tx, id uuid.UUID) func() (bool, error) {
	return func() (bool, error) {
		var had bool
		err := tx.QueryRow(ctx, `
			SELECT EXISTS (SELECT 1 FROM seats WHERE event_id = $1 AND (status <> 'available' OR hold_seq > 0))`,
			id).Scan(&had)
		if err != nil {
			return false, fmt.Errorf("sales history: %w", err)
		}
		return had, nil
	}
}

// UpdateEvent writes the event's own columns as fn leaves them.
func (s *EventStore) UpdateEvent(ctx context.Context, id uuid.UUID, fn func(e *event.Event, hadBookings func() (bool, error)) error) (_ event.Event, err error) {
	defer wrap(&err, "update event %s", id)
	var e event.Event
	err = inTx(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		if e, err = lockEvent(ctx, tx, id); err != nil {
			return err
		}
		was := e.WaitingRoom
		if err := fn(&e, hadBookings(ctx, tx, id)); err != nil {
			return err
		}
		if w := e.WaitingRoom; w.AdmitPerMinute != was.AdmitPerMinute || w.AdmitMode != was.AdmitMode {
			// A new rate or mode from the organiser: a self-tuning room
			// starts again from their rate.
			if _, err := tx.Exec(ctx, `DELETE FROM admission_rates WHERE event_id = $1`, id); err != nil {
				return err
			}
		}
		err = tx.QueryRow(ctx, `
			UPDATE events SET name = $2, description = $3, venue = $4, category = $5, starts_at = $6,
				ends_at = $7, status = $8, currency = $9, max_seats_per_booking = $10,
				hold_ttl_seconds = $11, sales_start = $12, sales_end = $13, wr_enabled = $14,
				wr_admit_per_minute = $15, wr_max_active = $16, wr_admission_ttl_seconds = $17,
				max_seats_per_user = $18, refund_policy = $19, wr_admit_mode = $20,
				wr_admit_min_per_minute = $21, wr_admit_max_per_minute = $22, wr_target_p95_ms = $23,
				updated_at = now()
			WHERE id = $1
			RETURNING updated_at`,
			e.ID, e.Name, e.Description, e.Venue, e.Category, e.StartsAt, e.EndsAt, string(e.Status),
			e.Currency, e.MaxSeatsPerBooking, e.HoldTTLSeconds, e.SalesStart, e.SalesEnd,
			e.WaitingRoom.Enabled, e.WaitingRoom.AdmitPerMinute, e.WaitingRoom.MaxActive, e.WaitingRoom.AdmissionTTLSeconds,
			e.MaxSeatsPerUser, refundPolicyJSON(e.RefundPolicy), admitMode(e.WaitingRoom),
			e.WaitingRoom.AdmitMinPerMinute, e.WaitingRoom.AdmitMaxPerMinute, targetP95(e.WaitingRoom),
		).Scan(&e.UpdatedAt)
		e.UpdatedAt = e.UpdatedAt.UTC()
		return err
	})
	if err != nil {
		return event.Event{}, err
	}
	return e, nil
}

// AddSection inserts the section fn makes, with its seats.
func (s *EventStore) AddSection(ctx context.Context, id uuid.UUID, fn func(e event.Event) (event.Section, error)) (_ event.Event, err error) {
	defer wrap(&err, "add section to event %s", id)
	var e event.Event
	err = inTx(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		if e, err = lockEvent(ctx, tx, id); err != nil {
			return err
		}
		sec, err := fn(e)
		if err != nil {
			return err
		}
		if err := insertSections(ctx, tx, id, []event.Section{sec}); err != nil {
			return err
		}
		e.Sections = append(e.Sections, sec)
		err = tx.QueryRow(ctx, `UPDATE events SET updated_at = now() WHERE id = $1 RETURNING updated_at`, id).Scan(&e.UpdatedAt)
		e.UpdatedAt = e.UpdatedAt.UTC()
		return err
	})
	if err != nil {
		return event.Event{}, err
	}
	return e, nil
}

// CancelEvent marks the event cancelled under its row lock. The booking
// engine extends this transaction to cancel every pending and confirmed
// booking of the event (and queue their notifications) atomically with it.
func (s *EventStore) CancelEvent(ctx context.Context, id uuid.UUID) (_ event.Event, err error) {
	defer wrap(&err, "cancel event %s", id)
	var (
		e     event.Event
		hooks []uuid.UUID
	)
	err = inTx(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		if e, err = lockEvent(ctx, tx, id); err != nil {
			return err
		}
		if e.Status == event.StatusCancelled {
			return nil
		}
		e.Status = event.StatusCancelled
		err = tx.QueryRow(ctx, `
			UPDATE events SET status = 'cancelled', updated_at = now() WHERE id = $1 RETURNING updated_at`,
			id).Scan(&e.UpdatedAt)
		e.UpdatedAt = e.UpdatedAt.UTC()
		if err != nil {
			return err
		}
		hooks, err = s.cancelEventBookings(ctx, tx, id)
		return err
	})
	if err != nil {
		return event.Event{}, err
	}
	s.hooks.sent(ctx, hooks)
	return e, nil
}

// eventLiveBookingsSQL locks the live bookings of event $1 (in id order,
// after its seats) and says, for each, whether its owner is to hear that
// the event was cancelled: a sale, or a hold still running at $2.
const eventLiveBookingsSQL = `
SELECT id, status = 'confirmed' OR expires_at > $2 FROM bookings
WHERE event_id = $1 AND status IN ('pending', 'confirmed')
ORDER BY id
FOR UPDATE`

// eventCancelledSQL finishes an event's cancellation once its bookings
// ended: the waitlist ends, the users $3 are told, and every seat still
// held (by holds that lapsed earlier) is back to available. Params: $1
// event, $2 now, $3 users.
var eventCancelledSQL = `
WITH entries AS (
    UPDATE waitlist_entries SET status = 'expired', updated_at = $2
    WHERE event_id = $1 AND status IN ('waiting', 'offered')
), event_notes AS (` + noteSQL(notify.KindEventCancelled, `SELECT u.user_id, 'Event cancelled' AS title,
        format('%s on %s has been cancelled; your bookings for it are cancelled.', e.name,
               to_char(e.starts_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"')) AS body,
        jsonb_build_object('event_id', e.id) AS data, $2::timestamptz AS at
        FROM (SELECT DISTINCT unnest($3::uuid[]) AS user_id) u
        JOIN events e ON e.id = $1`) + `
)
UPDATE seats SET status = 'available', booking_id = NULL, held_until = NULL
WHERE event_id = $1 AND status <> 'available'`

// eventCancelledHookSQL records event.cancelled for event $1 at $2.
var eventCancelledHookSQL = hookSQL(notify.TypeEventCancelled, `SELECT gen_uuid_v7() AS id, e.id AS subject,
        $2::timestamptz AS at, `+eventJSON("$2::timestamptz")+` AS data FROM events e WHERE e.id = $1`)

// cancelEventBookings cancels every pending and confirmed booking of an
// event being cancelled (with every side effect of a cancellation: the
// booking store's one ending) and puts its seats back. It first locks
// every seat of the event: holds lock the event's row before its seats, so
// holds in flight have committed by now (their bookings are seen) and
// later ones find the event cancelled. Lock order: event, seats, bookings,
// as every write. It returns the ids of the webhooks recorded.
func (s *EventStore) cancelEventBookings(ctx context.Context, tx pgx.Tx, id uuid.UUID) ([]uuid.UUID, error) {
	now := time.Now().UTC().Truncate(time.Microsecond)
	seats, err := collectIDs(tx.Query(ctx, `SELECT id FROM seats WHERE event_id = $1 ORDER BY id FOR UPDATE`, id))
	if err != nil {
		return nil, fmt.Errorf("lock seats: %w", err)
	}
	rows, err := tx.Query(ctx, eventLiveBookingsSQL, id, now)
	if err != nil {
		return nil, fmt.Errorf("lock bookings: %w", err)
	}
	end := ending{status: "cancelled", seats: seats}
	var tell []uuid.UUID
	byEvent := "event"
	for rows.Next() {
		var (
			b      uuid.UUID
			notify bool
		)
		if err := rows.Scan(&b, &notify); err != nil {
			rows.Close()
			return nil, fmt.Errorf("lock bookings: %w", err)
		}
		end.ids, end.by = append(end.ids, b), append(end.by, &byEvent)
		if notify {
			tell = append(tell, b)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("lock bookings: %w", err)
	}
	hooksOn := s.hooks.on()
	ended, hooks, err := end.end(ctx, tx, now, hooksOn)
	if err != nil {
		return nil, err
	}
	users := map[uuid.UUID]uuid.UUID{}
	for _, e := range ended {
		users[e.id] = e.user
	}
	var told []uuid.UUID
	for _, b := range tell {
		told = append(told, users[b])
	}
	if _, err := tx.Exec(ctx, eventCancelledSQL, id, now, told); err != nil {
		return nil, fmt.Errorf("cancel event: %w", err)
	}
	if !hooksOn {
		return nil, nil
	}
	more, err := collectIDs(tx.Query(ctx, eventCancelledHookSQL, id, now))
	if err != nil {
		return nil, fmt.Errorf("record event cancellation: %w", err)
	}
	return append(more, hooks...), nil
}

// DeleteEvent deletes the event's seats (through the (event_id, position)
// index, in one statement), then the event and, by cascade, its sections.
func (s *EventStore) DeleteEvent(ctx context.Context, id uuid.UUID, fn func(e event.Event, hadBookings func() (bool, error)) error) (err error) {
	defer wrap(&err, "delete event %s", id)
	err = inTx(ctx, s.pool, func(tx pgx.Tx) error {
		e, err := lockEvent(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := fn(e, hadBookings(ctx, tx, id)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM seats WHERE event_id = $1`, id); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM events WHERE id = $1`, id)
		return err
	})
	if err != nil {
		return err
	}
	return nil
}
