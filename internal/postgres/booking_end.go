package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/evently/evently/internal/notify"
)

// endBookingsSQL is the one place a live booking ends, with every side
// effect of ending it: it marks the bookings $1 $4 ('expired' or
// 'cancelled') at $3, stops their booking_seats counting as live, ends
// the waitlist offers among them (declined — 'left' — when their owner
// cancelled; 'expired' otherwise), tells their owners (a lapsed hold or
// offer; a cancelled sale), and puts back on sale those of the seats $5
// that they still hold or own. The caller holds the row locks of the seats
// $5 (seats before bookings, as every write locks them). Every table is
// reached by key (= ANY of the ids), so that a plan cached for arrays of
// any size stays an index lookup. $2 says who
// cancels each booking: owner, admin or event (NULL for an expiry); $6
// what each confirmed one cancelled refunds (NULL: its total, as when an
// event is cancelled). The tickets of the confirmed bookings ended are
// voided. Only
// pending bookings expire, and only once their hold has lapsed; pending
// and confirmed ones can be cancelled. It returns the bookings ended.
var endBookingsSQL = `
WITH req AS (
    SELECT * FROM unnest($1::uuid[], $2::text[], $6::bigint[]) AS r(id, by, refund)
), old AS (
    SELECT b.id, b.status AS was, r.by, r.refund FROM bookings b JOIN req r ON r.id = b.id
    WHERE b.id = ANY($1::uuid[]) AND CASE $4::text
          WHEN 'expired' THEN b.status = 'pending' AND b.expires_at <= $3
          WHEN 'cancelled' THEN b.status IN ('pending', 'confirmed')
          END
), b AS (
    UPDATE bookings bk SET status = $4::text, updated_at = $3,
           cancelled_at = CASE WHEN $4::text = 'cancelled' THEN $3 ELSE bk.cancelled_at END,
           refund_cents = CASE WHEN $4::text = 'cancelled' AND old.was = 'confirmed'
                               THEN least(coalesce(old.refund, bk.total_cents), bk.total_cents)
                               ELSE bk.refund_cents END
    FROM old WHERE bk.id = ANY($1::uuid[]) AND bk.id = old.id
    RETURNING bk.id, bk.user_id, bk.event_id, bk.quantity, old.was, old.by
), deactivated AS (
    UPDATE booking_seats SET active = false
    WHERE booking_id = ANY($1::uuid[]) AND booking_id IN (SELECT id FROM b) AND active
), offers AS (
    UPDATE waitlist_entries w SET status = CASE WHEN b.by = 'owner' THEN 'left' ELSE 'expired' END, updated_at = $3
    FROM b WHERE w.offer_booking_id = ANY($1::uuid[]) AND w.offer_booking_id = b.id AND w.status = 'offered'
), expired_notes AS (` + holdExpiredNoteSQL("(SELECT * FROM b WHERE $4::text = 'expired')", "$3") + `
), cancelled_notes AS (` + cancelledNoteSQL("(SELECT * FROM b WHERE $4::text = 'cancelled' AND was = 'confirmed')", "x.by", "$3") + `
), freed AS (
    UPDATE seats SET status = 'available', booking_id = NULL, held_until = NULL
    WHERE id = ANY($5::uuid[]) AND booking_id IN (SELECT id FROM b)
), voided AS (
    UPDATE tickets SET status = 'void', voided_at = $3
    WHERE booking_id = ANY($1::uuid[]) AND booking_id IN (SELECT id FROM b WHERE was = 'confirmed') AND status = 'valid'
)
SELECT id, event_id, user_id FROM b`

// The webhooks of ended bookings. Params: $1 booking ids, $2 now.
var (
	expiredHooksSQL   = bookingHookSQL(notify.TypeBookingExpired, "$2", `b.id = ANY($1::uuid[]) AND b.status = 'expired'`)
	cancelledHooksSQL = bookingHookSQL(notify.TypeBookingCancelled, "$2", `b.id = ANY($1::uuid[]) AND b.status = 'cancelled'`)
)

// Ending is a set of bookings to end in one statement.
type ending struct {
	status string // expired or cancelled
	ids    []uuid.UUID
	by     []*string // who cancels each (nil for expiries)
	// refunds are what each cancelled booking refunds if it was confirmed
	// (nil, or a nil entry: its total).
	refunds []*int64
	// seats are the seats whose row locks the caller holds; those the
	// bookings still hold or own go back on sale.
	seats []uuid.UUID
}

// ended is one booking an ending ended.
type ended struct {
	id, event, user uuid.UUID
}

// queue adds the ending's statements to b: the ending itself and, when
// webhooks are on, their webhooks. read reads their results in the same
// order.
func (e ending) queue(b *pgx.Batch, now time.Time, hooks bool) {
	by := e.by
	if by == nil {
		by = make([]*string, len(e.ids))
	}
	refunds := e.refunds
	if refunds == nil {
		refunds = make([]*int64, len(e.ids))
	}
	b.Queue(endBookingsSQL, e.ids, by, now, e.status, e.seats, refunds)
	if hooks {
		sql := expiredHooksSQL
		if e.status == "cancelled" {
			sql = cancelledHooksSQL
		}
		b.Queue(sql, e.ids, now)
	}
}

// read reads what queue's statements returned: the bookings ended and the
// webhooks recorded.
func (e ending) read(res pgx.BatchResults, hooks bool) ([]ended, []uuid.UUID, error) {
	rows, err := res.Query()
	if err != nil {
		return nil, nil, fmt.Errorf("end bookings (%s): %w", e.status, err)
	}
	ended, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ended, error) {
		var x ended
		err := r.Scan(&x.id, &x.event, &x.user)
		return x, err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("end bookings (%s): %w", e.status, err)
	}
	if !hooks {
		return ended, nil, nil
	}
	ids, err := collectIDs(res.Query())
	if err != nil {
		return nil, nil, fmt.Errorf("record %s webhooks: %w", e.status, err)
	}
	return ended, ids, nil
}

// end runs an ending in tx on its own round trip.
func (e ending) end(ctx context.Context, tx pgx.Tx, now time.Time, hooks bool) ([]ended, []uuid.UUID, error) {
	if len(e.ids) == 0 {
		return nil, nil, nil
	}
	b := &pgx.Batch{}
	e.queue(b, now, hooks)
	res := tx.SendBatch(ctx, b)
	ended, ids, err := e.read(res, hooks)
	if cerr := res.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("end bookings (%s): %w", e.status, cerr)
	}
	return ended, ids, err
}
