package postgres

import (
	"context"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/evently/evently/internal/notify"
)

// Dispatch is told the ids of webhooks once the transaction that recorded
// them has committed (the worker fans each out to the endpoints that
// receive its type). It must not block for long: it runs on the request's
// path.
type Dispatch func(ctx context.Context, ids []uuid.UUID)

// outbox records webhooks in the transactions of the changes they report.
// The zero outbox is off, and so is one whose recording says no endpoint
// is enabled: no webhook is recorded, and the hot paths run exactly the
// statements they run without webhooks. A store asks on() once per
// transaction, so that the statements it queues and the results it reads
// agree.
type outbox struct {
	dispatch  Dispatch
	recording func() bool
}

// Webhooks makes a store record webhooks (see outbox) in the transactions
// of the changes they report, while recording says an endpoint is
// enabled, and hand their ids to dispatch once committed. A store made
// without it records none.
func Webhooks(dispatch Dispatch, recording func() bool) StoreOption {
	return func(o *outbox) { *o = outbox{dispatch: dispatch, recording: recording} }
}

// StoreOption adjusts a store at construction (Webhooks).
type StoreOption func(*outbox)

func newOutbox(opts []StoreOption) outbox {
	var o outbox
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

func (o outbox) on() bool { return o.dispatch != nil && (o.recording == nil || o.recording()) }

// sent hands committed webhook ids to the dispatcher.
func (o outbox) sent(ctx context.Context, ids []uuid.UUID) {
	if o.dispatch != nil && len(ids) > 0 {
		o.dispatch(context.WithoutCancel(ctx), ids)
	}
}

// The JSON renderings of the API's resources, for webhook bodies. They
// read the tables as the statement sees them, so the statements that use
// them run after the change in the same transaction, and the body is a
// snapshot of the resource at the time of the change, whatever happens to
// it before delivery. Field names and formats are those of
// api/openapi.yaml (a test compares a delivered booking with GET
// /bookings/{id}).

// sqlTime renders a timestamptz expression as RFC 3339 in UTC (null stays
// null).
func sqlTime(expr string) string {
	return `to_jsonb(to_char(` + expr + ` AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))`
}

// bookingJSON renders the bookings row b as a Booking; now decides
// whether a held seat's hold has lapsed.
func bookingJSON(now string) string {
	return `jsonb_build_object(
    'id', b.id, 'event_id', b.event_id, 'user_id', b.user_id, 'status', b.status,
    'seats', coalesce((
        SELECT jsonb_agg(jsonb_build_object(
            'id', s.id, 'section', sec.name, 'row', s.row_label, 'number', s.number, 'label', s.label,
            'price_cents', bs.price_cents,
            'status', CASE WHEN s.status = 'held' AND s.held_until <= ` + now + ` THEN 'available' ELSE s.status END)
            ORDER BY s.position)
        FROM booking_seats bs JOIN seats s ON s.id = bs.seat_id JOIN sections sec ON sec.id = s.section_id
        WHERE bs.booking_id = b.id), '[]'::jsonb),
    'quantity', b.quantity, 'total_cents', b.total_cents, 'currency', b.currency,
    'expires_at', ` + sqlTime("b.expires_at") + `, 'payment_reference', b.payment_reference,
    'created_at', ` + sqlTime("b.created_at") + `, 'confirmed_at', ` + sqlTime("b.confirmed_at") + `,
    'cancelled_at', ` + sqlTime("b.cancelled_at") + `, 'refund_cents', b.refund_cents)`
}

// entryJSON renders the waitlist_entries row w as the WaitlistEntry of an
// entry that is not waiting (so without a position).
func entryJSON() string {
	return `jsonb_build_object(
    'id', w.id, 'event_id', w.event_id, 'user_id', w.user_id, 'quantity', w.quantity, 'status', w.status,
    'position', NULL::integer, 'offer_booking_id', w.offer_booking_id,
    'offer_expires_at', ` + sqlTime("w.offer_expires_at") + `, 'created_at', ` + sqlTime("w.created_at") + `)`
}

// eventJSON renders the events row e as an Event, with its availability
// as of now.
func eventJSON(now string) string {
	return `jsonb_build_object(
    'id', e.id, 'name', e.name, 'description', e.description, 'venue', e.venue, 'category', e.category,
    'starts_at', ` + sqlTime("e.starts_at") + `, 'ends_at', ` + sqlTime("e.ends_at") + `,
    'status', e.status, 'currency', e.currency,
    'capacity', (SELECT coalesce(sum(capacity), 0) FROM sections WHERE event_id = e.id),
    'max_seats_per_booking', e.max_seats_per_booking,
    'max_seats_per_user', coalesce(e.max_seats_per_user, e.max_seats_per_booking), 'hold_ttl_seconds', e.hold_ttl_seconds,
    'sales_start', ` + sqlTime("e.sales_start") + `, 'sales_end', ` + sqlTime("e.sales_end") + `,
    'sections', coalesce((
        SELECT jsonb_agg(jsonb_strip_nulls(jsonb_build_object('name', name, 'price_cents', price_cents,
            'capacity', capacity, 'rows', rows, 'seats_per_row', seats_per_row)) ORDER BY position)
        FROM sections WHERE event_id = e.id), '[]'::jsonb),
    'availability', (
        SELECT jsonb_build_object(
            'available', count(*) FILTER (WHERE status = 'available' OR (status = 'held' AND held_until <= ` + now + `)),
            'held', count(*) FILTER (WHERE status = 'held' AND held_until > ` + now + `),
            'booked', count(*) FILTER (WHERE status = 'booked'))
        FROM seats WHERE event_id = e.id),
    'waiting_room', jsonb_build_object('enabled', e.wr_enabled, 'admit_per_minute', e.wr_admit_per_minute,
        'max_active', e.wr_max_active, 'admission_ttl_seconds', e.wr_admission_ttl_seconds,
        'admit_mode', e.wr_admit_mode, 'admit_min_per_minute', e.wr_admit_min_per_minute,
        'admit_max_per_minute', e.wr_admit_max_per_minute, 'target_p95_ms', e.wr_target_p95_ms),
    'refund_policy', coalesce(e.refund_policy, '[{"until_hours_before_start": 0, "percent": 100}]'::jsonb),
    'created_at', ` + sqlTime("e.created_at") + `, 'updated_at', ` + sqlTime("e.updated_at") + `)`
}

// hookSQL records one webhook of type typ per row of source, a query whose
// rows have the columns id (the webhook's id), subject (what it is about),
// at (when it happened) and data (the resource), when an enabled endpoint
// receives that type (a look at the few rows of webhook_endpoints, once
// per statement). A subject has at most one webhook of each type, so
// recording one twice is a no-op. It returns the ids recorded. The
// deliveries, one per endpoint, are made after the commit (FanOut), not
// here.
func hookSQL(typ, source string) string {
	return `
INSERT INTO webhooks (id, type, subject_id, body, created_at)
SELECT h.id, '` + typ + `', h.subject,
       jsonb_build_object('id', h.id, 'type', '` + typ + `'::text, 'created_at', ` + sqlTime("h.at") + `, 'data', h.data)::text,
       h.at
FROM (` + source + `) h
WHERE EXISTS (SELECT 1 FROM webhook_endpoints WHERE enabled AND types && ARRAY['` + typ + `', '*'])
ON CONFLICT (subject_id, type) DO NOTHING
RETURNING id`
}

// bookingHookSQL records a webhook of type typ for each booking b that
// where selects; at is the parameter holding the time of the change.
func bookingHookSQL(typ, at, where string) string {
	return hookSQL(typ, `SELECT gen_uuid_v7() AS id, b.id AS subject, `+at+`::timestamptz AS at, `+
		bookingJSON(at+`::timestamptz`)+` AS data FROM bookings b WHERE `+where)
}

// collectIDs reads the ids a hook statement returned.
func collectIDs(rows pgx.Rows, err error) ([]uuid.UUID, error) {
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
}

// noteSQL writes one notification of kind per row of source, a query with
// the columns user_id, title, body, data and at.
func noteSQL(kind notify.Kind, source string) string {
	return `INSERT INTO notifications (id, user_id, kind, title, body, data, created_at)
    SELECT gen_uuid_v7(), n.user_id, '` + string(kind) + `', n.title, n.body, n.data, n.at FROM (` + source + `) n`
}

// holdExpiredNoteSQL tells the owner of each booking of src (columns id,
// user_id, event_id, quantity) that their hold, or waitlist offer, lapsed.
func holdExpiredNoteSQL(src, at string) string {
	return noteSQL(notify.KindHoldExpired, `SELECT x.user_id,
        CASE WHEN w.id IS NULL THEN 'Hold expired' ELSE 'Waitlist offer expired' END AS title,
        CASE WHEN w.id IS NULL
             THEN format('Your hold on %s seat(s) for %s lapsed before it was confirmed; the seats are back on sale.', x.quantity, e.name)
             ELSE format('Your waitlist offer of %s seat(s) for %s lapsed before it was confirmed; the seats go to the next in line.', x.quantity, e.name)
        END AS body,
        jsonb_strip_nulls(jsonb_build_object('booking_id', x.id, 'event_id', x.event_id, 'waitlist_entry_id', w.id)) AS data,
        `+at+`::timestamptz AS at
        FROM `+src+` x JOIN events e ON e.id = x.event_id
        LEFT JOIN waitlist_entries w ON w.offer_booking_id = x.id`)
}

// cancelledNoteSQL tells the owner of each booking of src (columns id,
// user_id, event_id, quantity) that it was cancelled, by whom (by: owner,
// admin or event).
func cancelledNoteSQL(src, by, at string) string {
	return noteSQL(notify.KindBookingCancelled, `SELECT x.user_id, 'Booking cancelled' AS title,
        format('Your booking of %s seat(s) for %s was cancelled%s.', x.quantity, e.name,
               CASE `+by+` WHEN 'admin' THEN ' by an organiser' WHEN 'event' THEN ' because the event was cancelled' ELSE '' END) AS body,
        jsonb_build_object('booking_id', x.id, 'event_id', x.event_id, 'cancelled_by', `+by+`::text) AS data,
        `+at+`::timestamptz AS at
        FROM `+src+` x JOIN events e ON e.id = x.event_id`)
}
