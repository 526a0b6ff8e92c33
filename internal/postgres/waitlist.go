package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/booking"
	"github.com/evently/evently/internal/event"
	"github.com/evently/evently/internal/notify"
	"github.com/evently/evently/internal/waitlist"
)

// WaitlistStore keeps waitlists and makes offers. An offer is a hold
// allocated and written by the booking engine's own code (booking.Allocate,
// writeHolds), so the row locks and the unique index that keep a seat in
// at most one live booking keep it in at most one offer too.
type WaitlistStore struct {
	pool  *pgxpool.Pool
	hooks outbox
}

var _ waitlist.Store = (*WaitlistStore)(nil)

// NewWaitlistStore returns a store on pool.
func NewWaitlistStore(pool *pgxpool.Pool, opts ...StoreOption) *WaitlistStore {
	return &WaitlistStore{pool: pool, hooks: newOutbox(opts)}
}

// Facts reads an event and counts its free seats (available, or held by a
// lapsed hold) up to $3.
func (s *WaitlistStore) Facts(ctx context.Context, eventID uuid.UUID, now time.Time, upTo int) (_ waitlist.Facts, err error) {
	defer wrap(&err, "waitlist facts event=%s", eventID)
	f := waitlist.Facts{EventID: eventID}
	err = s.pool.QueryRow(ctx, `
		SELECT e.status, e.starts_at, e.sales_start, e.sales_end, e.max_seats_per_booking,
		       (SELECT count(*) FROM (
		            SELECT 1 FROM seats s
		            WHERE s.event_id = e.id AND (s.status = 'available' OR (s.status = 'held' AND s.held_until <= $2))
		            LIMIT $3) free)
		FROM events e WHERE e.id = $1`, eventID, now, upTo).
		Scan(&f.Status, &f.StartsAt, &f.SalesStart, &f.SalesEnd, &f.MaxSeatsPerBooking, &f.Free)
	if errors.Is(err, pgx.ErrNoRows) {
		return f, event.NotFound(eventID)
	}
	if err != nil {
		return f, err
	}
	return f, nil
}

// Insert adds a waiting entry; the partial unique index refuses a second
// active entry of the same user.
func (s *WaitlistStore) Insert(ctx context.Context, e waitlist.Entry) (_ waitlist.Entry, err error) {
	defer wrap(&err, "join waitlist event=%s", e.EventID)
	_, err = s.pool.Exec(ctx, `
		INSERT INTO waitlist_entries (id, event_id, user_id, quantity, status, created_at, updated_at)
		VALUES ($1, $2, $3, $4, 'waiting', $5, $5)`, e.ID, e.EventID, e.UserID, e.Quantity, e.CreatedAt)
	if isCode(err, "23505") {
		return waitlist.Entry{}, apperr.New(apperr.Conflict, "You are already on this event's waitlist.")
	}
	if err != nil {
		return waitlist.Entry{}, err
	}
	return s.Latest(ctx, e.EventID, e.UserID)
}

// entryColumns reads an entry w with its position: the waiting entries of
// its event up to it in queue order (an index range scan).
const entryColumns = `w.id, w.event_id, w.user_id, w.quantity, w.status, w.offer_booking_id, w.offer_expires_at,
	w.created_at,
	CASE WHEN w.status = 'waiting' THEN (
	    SELECT count(*) FROM waitlist_entries o
	    WHERE o.event_id = w.event_id AND o.status = 'waiting' AND (o.created_at, o.id) <= (w.created_at, w.id))
	END`

func scanEntry(row pgx.Row) (waitlist.Entry, error) {
	var (
		e   waitlist.Entry
		pos *int64
	)
	err := row.Scan(&e.ID, &e.EventID, &e.UserID, &e.Quantity, &e.Status, &e.OfferBookingID, &e.OfferExpiresAt,
		&e.CreatedAt, &pos)
	if pos != nil {
		p := int(*pos)
		e.Position = &p
	}
	return e, err
}

// Latest returns the user's active entry on the event, else their latest.
func (s *WaitlistStore) Latest(ctx context.Context, eventID, userID uuid.UUID) (_ waitlist.Entry, err error) {
	defer wrap(&err, "waitlist entry event=%s user=%s", eventID, userID)
	e, err := scanEntry(s.pool.QueryRow(ctx, `SELECT `+entryColumns+` FROM waitlist_entries w
		WHERE w.user_id = $2 AND w.event_id = $1
		ORDER BY w.status IN ('waiting', 'offered') DESC, w.created_at DESC LIMIT 1`, eventID, userID))
	if errors.Is(err, pgx.ErrNoRows) {
		return waitlist.Entry{}, apperr.New(apperr.NotFound, "No waitlist entry.")
	}
	if err != nil {
		return waitlist.Entry{}, err
	}
	return e, nil
}

// Leave marks the user's waiting entry left; an offered one is returned
// as it is.
func (s *WaitlistStore) Leave(ctx context.Context, eventID, userID uuid.UUID, now time.Time) (_ waitlist.Entry, err error) {
	defer wrap(&err, "leave waitlist event=%s", eventID)
	tag, err := s.pool.Exec(ctx, `
		UPDATE waitlist_entries SET status = 'left', updated_at = $3
		WHERE event_id = $1 AND user_id = $2 AND status = 'waiting'`, eventID, userID, now)
	if err != nil {
		return waitlist.Entry{}, err
	}
	e, err := s.Latest(ctx, eventID, userID)
	if err != nil {
		return waitlist.Entry{}, err
	}
	if tag.RowsAffected() == 0 && e.Status != waitlist.StatusOffered {
		return waitlist.Entry{}, apperr.New(apperr.NotFound, "No active waitlist entry.")
	}
	return e, nil
}

// Entries lists an event's entries oldest first. Positions come from one
// count of the waiting entries before the page plus a running count
// within it, not one count per row.
func (s *WaitlistStore) Entries(ctx context.Context, f waitlist.ListFilter) (_ []waitlist.Entry, err error) {
	defer wrap(&err, "list waitlist event=%s", f.EventID)
	var (
		status  *string
		afterAt *time.Time
		afterID *uuid.UUID
	)
	if f.Status != nil {
		st := string(*f.Status)
		status = &st
	}
	if f.After != nil {
		afterAt, afterID = &f.After.CreatedAt, &f.After.ID
	}
	rows, err := s.pool.Query(ctx, `
		WITH page AS (
		    SELECT * FROM waitlist_entries w
		    WHERE w.event_id = $1 AND ($2::text IS NULL OR w.status = $2)
		      AND ($3::timestamptz IS NULL OR (w.created_at, w.id) > ($3, $4::uuid))
		    ORDER BY w.created_at, w.id
		    LIMIT $5
		), before AS (
		    SELECT count(*) AS n FROM waitlist_entries o
		    WHERE $3::timestamptz IS NOT NULL AND o.event_id = $1 AND o.status = 'waiting'
		      AND (o.created_at, o.id) <= ($3, $4::uuid)
		)
		SELECT w.id, w.event_id, w.user_id, w.quantity, w.status, w.offer_booking_id, w.offer_expires_at, w.created_at,
		       CASE WHEN w.status = 'waiting' THEN
		           (SELECT n FROM before) + count(*) FILTER (WHERE w.status = 'waiting') OVER (ORDER BY w.created_at, w.id)
		       END
		FROM page w
		ORDER BY w.created_at, w.id`, f.EventID, status, afterAt, afterID, f.Limit)
	return collect(rows, err, scanEntry)
}

// offerLockClass namespaces the advisory locks that serialise the offers
// of one event.
const offerLockClass = 0x77_6c_73 // "wls"

// nextEntrySQL picks the oldest waiting entry of event $1 whose quantity
// fits the available seats (counted up to the largest quantity there can
// be) and its owner's limit of seats per buyer at $2, and locks it.
const nextEntrySQL = `
SELECT w.id, w.user_id, w.quantity
FROM waitlist_entries w
WHERE w.event_id = $1 AND w.status = 'waiting'
  AND w.quantity <= (SELECT count(*) FROM (
          SELECT 1 FROM seats WHERE event_id = $1 AND status = 'available' LIMIT 100) free)
  AND w.quantity + (SELECT coalesce(sum(b.quantity), 0) FROM bookings b
          WHERE b.event_id = $1 AND b.user_id = w.user_id AND b.status IN ('pending', 'confirmed')
            AND (b.status = 'confirmed' OR b.expires_at > $2))
      <= (SELECT coalesce(max_seats_per_user, max_seats_per_booking) FROM events WHERE id = $1)
ORDER BY w.created_at, w.id
LIMIT 1
FOR UPDATE OF w`

// offeredSQL marks entry $1 offered booking $2 until $3 and tells its
// user. Params: $1 entry, $2 booking, $3 expires, $4 now.
var offeredSQL = `
WITH w AS (
    UPDATE waitlist_entries SET status = 'offered', offer_booking_id = $2, offer_expires_at = $3, updated_at = $4
    WHERE id = $1 AND status = 'waiting'
    RETURNING id, event_id, user_id, quantity, created_at
), note AS (` + noteSQL(notify.KindWaitlistOffer, `SELECT w.user_id, 'Seats offered from the waitlist' AS title,
        format('%s seat(s) for %s are held for you until %s. Confirm the booking to keep them.',
               w.quantity, e.name, to_char($3::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"')) AS body,
        jsonb_build_object('booking_id', $2::uuid, 'expires_at', `+sqlTime("$3::timestamptz")+`,
                           'event_id', w.event_id, 'waitlist_entry_id', w.id, 'quantity', w.quantity) AS data,
        $4::timestamptz AS at
        FROM w JOIN events e ON e.id = w.event_id`) + `
)
SELECT created_at FROM w`

// offerHookSQL records waitlist.offered for entry $1. Params: $1 entry, $2
// now.
var offerHookSQL = hookSQL(notify.TypeWaitlistOffered, `SELECT gen_uuid_v7() AS id, w.id AS subject,
    $2::timestamptz AS at, `+entryJSON()+` AS data FROM waitlist_entries w WHERE w.id = $1`)

// Offer makes one offer on an event, in one transaction that holds the
// event's offer lock: it locks the event (a share lock, before anything
// else, as holds do: event cancellation waits for it), then the oldest
// fitting waiting entry, then a window of free seats with SKIP LOCKED (so
// it never waits on a seat a buyer is taking), lets the booking engine's
// allocator pick the best block, writes the hold with the engine's own
// write, marks the entry offered and notifies the user. The engine's
// writes lock seats, then bookings, then entries, and never wait on an
// entry an offer holds while holding a seat the offer would wait for.
func (s *WaitlistStore) Offer(ctx context.Context, r waitlist.OfferRequest) (_ waitlist.Offer, _ bool, err error) {
	defer wrap(&err, "offer event=%s", r.EventID)
	var (
		offer *waitlist.Offer
		hooks []uuid.UUID
	)
	err = inTx(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		offer, hooks, err = s.offer(ctx, tx, r)
		return err
	})
	if err != nil {
		return waitlist.Offer{}, false, err
	}
	s.hooks.sent(ctx, hooks)
	if offer == nil {
		return waitlist.Offer{}, false, nil
	}
	return *offer, true, nil
}

// offer makes Offer's changes in tx: the offer made (nil for none) and the
// webhooks recorded.
func (s *WaitlistStore) offer(ctx context.Context, tx pgx.Tx, r waitlist.OfferRequest) (*waitlist.Offer, []uuid.UUID, error) {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1::integer, hashtext($2::text))`,
		offerLockClass, r.EventID.String()); err != nil {
		return nil, nil, fmt.Errorf("offer lock: %w", err)
	}
	var sale lockedSale
	err := tx.QueryRow(ctx, saleLockSQL, r.EventID).Scan(&sale.Status, &sale.StartsAt, &sale.SalesStart, &sale.SalesEnd,
		&sale.currency, &sale.limit.Max)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("lock event: %w", err)
	}
	if sale.OpenAt(r.Now) != nil {
		return nil, nil, nil
	}
	var (
		entryID, userID uuid.UUID
		quantity        int
	)
	err = tx.QueryRow(ctx, nextEntrySQL, r.EventID, r.Now).Scan(&entryID, &userID, &quantity)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("next entry: %w", err)
	}
	b := booking.HoldBatch{EventID: r.EventID, Now: r.Now, Holds: []booking.PendingHold{{
		BookingID: r.BookingID, UserID: userID, Quantity: quantity, Range: booking.Range{Lo: 1, Hi: math.MaxInt32},
		Adjacent: true, TTL: r.ExpiresAt.Sub(r.Now)}}}
	// The buyer's limit, counted under their lock as a hold batch does.
	lb := &pgx.Batch{}
	lb.Queue(lockBuyersSQL, r.EventID, b.Buyers(), buyerLockClass)
	lb.Queue(liveSeatsSQL, r.EventID, b.Buyers(), r.Now)
	lres := tx.SendBatch(ctx, lb)
	live, err := lockBuyers(lres)
	if cerr := lres.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, nil, err
	}
	b.Limit = booking.PurchaseLimit{Max: sale.limit.Max, Live: live}
	rows, err := tx.Query(ctx, freeWindowSQL, r.EventID, 1, math.MaxInt32, quantity+booking.AdjacencySlack)
	if err != nil {
		return nil, nil, fmt.Errorf("lock free seats: %w", err)
	}
	pool, err := pgx.CollectRows(rows, scanLockedSeat)
	if err != nil {
		return nil, nil, fmt.Errorf("lock free seats: %w", err)
	}
	alloc := booking.Allocate(b, nil, pool)
	if alloc.Refusals[0] != nil {
		// Buyers are taking the seats right now, or the buyer has just
		// reached their limit: no offer this time (the cleanup's sweep
		// looks again).
		return nil, nil, nil
	}
	w := newHoldWrite(b, sale.currency, alloc)
	hooksOn := s.hooks.on()
	res := tx.SendBatch(ctx, w.queue(hooksOn))
	hooks, err := w.read(res, hooksOn)
	if cerr := res.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, nil, fmt.Errorf("hold seats: %w", err)
	}
	var created time.Time
	if err := tx.QueryRow(ctx, offeredSQL, entryID, r.BookingID, r.ExpiresAt, r.Now).Scan(&created); err != nil {
		return nil, nil, fmt.Errorf("mark offered: %w", err)
	}
	if hooksOn {
		more, err := collectIDs(tx.Query(ctx, offerHookSQL, entryID, r.Now))
		if err != nil {
			return nil, nil, fmt.Errorf("record offer: %w", err)
		}
		hooks = append(hooks, more...)
	}
	bookingID, expires := r.BookingID, r.ExpiresAt
	return &waitlist.Offer{BookingID: r.BookingID, ExpiresAt: r.ExpiresAt, Entry: waitlist.Entry{
		ID: entryID, EventID: r.EventID, UserID: userID, Quantity: quantity, Status: waitlist.StatusOffered,
		OfferBookingID: &bookingID, OfferExpiresAt: &expires, CreatedAt: created}}, hooks, nil
}

// Stalled returns events where the smallest waiting quantity fits the
// available seats.
func (s *WaitlistStore) Stalled(ctx context.Context, limit int) (_ []uuid.UUID, err error) {
	defer wrap(&err, "stalled waitlists")
	rows, err := s.pool.Query(ctx, `
		SELECT q.event_id FROM (
		    SELECT event_id, min(quantity) AS need FROM waitlist_entries
		    WHERE status = 'waiting' GROUP BY event_id) q
		WHERE q.need <= (SELECT count(*) FROM (
		          SELECT 1 FROM seats s WHERE s.event_id = q.event_id AND s.status = 'available' LIMIT q.need) free)
		LIMIT $1`, limit)
	if err != nil {
		return nil, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, err
	}
	return ids, nil
}
