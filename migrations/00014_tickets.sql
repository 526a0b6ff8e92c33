-- +goose Up

-- After the sale: tickets, check-in at the door, refund policies.

-- staff: may scan tickets at the door (check-ins), nothing else an admin
-- may do.
ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check CHECK (role IN ('user', 'staff', 'admin'));

-- refund_policy: the event's refund schedule, a JSON array of
-- {"until_hours_before_start": h, "percent": p} in strictly decreasing h
-- (validated by the application). NULL is the default schedule: 100%
-- until the event starts (what cancelling has always meant).
ALTER TABLE events ADD COLUMN refund_policy jsonb CHECK (refund_policy IS NULL OR jsonb_typeof(refund_policy) = 'array');

-- refund_cents: what cancelling a confirmed booking refunded (set in the
-- statement that cancels it). NULL on a booking never confirmed, on a
-- confirmed one, and on those cancelled before this column existed, which
-- were refunded in full: every figure reads NULL on a cancelled booking as
-- its total_cents.
ALTER TABLE bookings ADD COLUMN refund_cents bigint CHECK (refund_cents BETWEEN 0 AND total_cents);

-- tickets: one per seat of a confirmed booking, issued in the transaction
-- that confirms it and voided in the one that ends it. The code a scanner
-- reads is not stored: it is the ticket's payload (event, ticket, seat
-- label) signed with the server's Ed25519 key, and Ed25519 signatures are
-- deterministic, so it is the same every time it is rendered.
-- checked_in_at is set once, by a conditional UPDATE (WHERE checked_in_at
-- IS NULL): of concurrent scans of one ticket exactly one succeeds.
CREATE TABLE tickets (
    id            uuid        PRIMARY KEY,
    event_id      uuid        NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    booking_id    uuid        NOT NULL REFERENCES bookings (id) ON DELETE CASCADE,
    seat_id       uuid        NOT NULL REFERENCES seats (id) ON DELETE CASCADE,
    section       text        NOT NULL,
    seat_label    text        NOT NULL,
    position      integer     NOT NULL,
    status        text        NOT NULL DEFAULT 'valid' CHECK (status IN ('valid', 'void')),
    issued_at     timestamptz NOT NULL,
    voided_at     timestamptz,
    checked_in_at timestamptz,
    checked_in_by uuid        REFERENCES users (id) ON DELETE SET NULL,
    CHECK ((status = 'void') = (voided_at IS NOT NULL))
);
-- A seat has at most one valid ticket, whatever the application does.
CREATE UNIQUE INDEX tickets_valid_seat_idx ON tickets (seat_id) WHERE status = 'valid';
-- A booking's tickets (list, void).
CREATE INDEX tickets_booking_idx ON tickets (booking_id, position);
-- Check-in statistics per section, without a heap visit once vacuumed.
CREATE INDEX tickets_event_section_idx ON tickets (event_id, section) INCLUDE (status, checked_in_at);

-- An event's sales by day count the money kept from bookings cancelled
-- with a partial refund, found through this index.
CREATE INDEX bookings_event_kept_idx ON bookings (event_id, confirmed_at)
    INCLUDE (total_cents, refund_cents) WHERE status = 'cancelled' AND refund_cents < total_cents;

-- Analytics are net of refunds. A booking counts as before (see 00005),
-- except for money:
--   revenue_cents (per event)    the money kept: total_cents of a confirmed
--                                booking, total_cents - refund_cents of one
--                                cancelled after being confirmed;
--   confirmed_cents (per slot)   total_cents, at confirmed_at;
--   cancelled_cents (per slot)   the refund, at cancelled_at;
-- so a day's revenue (confirmed - cancelled cents) is net of that day's
-- refunds and the days add up to the events' revenue.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION analytics_apply(n bookings[], o bookings[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF cardinality(n) = 0 AND cardinality(o) = 0 THEN
        RETURN;
    END IF;
    PERFORM analytics_add_event(k.event_id, k.currency, k.d_confirmed, k.d_tickets, k.d_revenue, k.d_cancelled)
    FROM (
        SELECT r.event_id, r.currency,
               sum(r.sign * (r.status = 'confirmed')::int)::bigint AS d_confirmed,
               sum(r.sign * CASE WHEN r.status = 'confirmed' THEN r.quantity ELSE 0 END)::bigint AS d_tickets,
               sum(r.sign * CASE WHEN r.status = 'confirmed' THEN r.total_cents
                                 ELSE r.total_cents - coalesce(r.refund_cents, r.total_cents) END)::bigint AS d_revenue,
               sum(r.sign * (r.status = 'cancelled')::int)::bigint AS d_cancelled
        FROM (SELECT x.*, 1 AS sign FROM unnest(n) x UNION ALL SELECT x.*, -1 FROM unnest(o) x) r
        WHERE r.confirmed_at IS NOT NULL AND r.status IN ('confirmed', 'cancelled')
        GROUP BY r.event_id, r.currency
        ORDER BY r.event_id, r.currency
    ) k
    WHERE (k.d_confirmed, k.d_tickets, k.d_revenue, k.d_cancelled) <> (0, 0, 0, 0);

    PERFORM analytics_add_slot(k.slot, k.currency, k.d_confirmed, k.d_confirmed_seats, k.d_confirmed_cents,
                               k.d_cancelled, k.d_cancelled_seats, k.d_cancelled_cents)
    FROM (
        SELECT c.slot, c.currency,
               sum(c.confirmed)::bigint AS d_confirmed, sum(c.confirmed_seats)::bigint AS d_confirmed_seats,
               sum(c.confirmed_cents)::bigint AS d_confirmed_cents, sum(c.cancelled)::bigint AS d_cancelled,
               sum(c.cancelled_seats)::bigint AS d_cancelled_seats, sum(c.cancelled_cents)::bigint AS d_cancelled_cents
        FROM (
            SELECT analytics_slot(r.confirmed_at) AS slot, r.currency,
                   r.sign AS confirmed, r.sign * r.quantity AS confirmed_seats, r.sign * r.total_cents AS confirmed_cents,
                   0 AS cancelled, 0 AS cancelled_seats, 0::bigint AS cancelled_cents
            FROM (SELECT x.*, 1 AS sign FROM unnest(n) x UNION ALL SELECT x.*, -1 FROM unnest(o) x) r
            WHERE r.confirmed_at IS NOT NULL AND r.status IN ('confirmed', 'cancelled')
            UNION ALL
            SELECT analytics_slot(r.cancelled_at), r.currency, 0, 0, 0,
                   r.sign, r.sign * r.quantity, r.sign * coalesce(r.refund_cents, r.total_cents)
            FROM (SELECT x.*, 1 AS sign FROM unnest(n) x UNION ALL SELECT x.*, -1 FROM unnest(o) x) r
            WHERE r.confirmed_at IS NOT NULL AND r.status = 'cancelled'
        ) c
        GROUP BY c.slot, c.currency
        ORDER BY c.slot, c.currency
    ) k
    WHERE (k.d_confirmed, k.d_confirmed_seats, k.d_confirmed_cents, k.d_cancelled, k.d_cancelled_seats, k.d_cancelled_cents)
          <> (0, 0, 0, 0, 0, 0);
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION analytics_rebuild() RETURNS void
LANGUAGE sql AS $$
DELETE FROM analytics_event_sales;
DELETE FROM analytics_sales_slots;
INSERT INTO analytics_event_sales (event_id, currency, shard, bookings_confirmed, tickets_sold, revenue_cents, bookings_cancelled)
SELECT event_id, currency, 0,
       count(*) FILTER (WHERE status = 'confirmed'),
       coalesce(sum(quantity) FILTER (WHERE status = 'confirmed'), 0),
       coalesce(sum(CASE WHEN status = 'confirmed' THEN total_cents
                         ELSE total_cents - coalesce(refund_cents, total_cents) END), 0),
       count(*) FILTER (WHERE status = 'cancelled')
FROM bookings
WHERE confirmed_at IS NOT NULL AND status IN ('confirmed', 'cancelled')
GROUP BY event_id, currency;

INSERT INTO analytics_sales_slots (slot, currency, shard, confirmed, confirmed_seats, confirmed_cents,
                                   cancelled, cancelled_seats, cancelled_cents)
SELECT slot, currency, 0, sum(confirmed), sum(confirmed_seats), sum(confirmed_cents),
       sum(cancelled), sum(cancelled_seats), sum(cancelled_cents)
FROM (
    SELECT analytics_slot(confirmed_at) AS slot, currency,
           1 AS confirmed, quantity AS confirmed_seats, total_cents AS confirmed_cents,
           0 AS cancelled, 0 AS cancelled_seats, 0 AS cancelled_cents
    FROM bookings WHERE confirmed_at IS NOT NULL AND status IN ('confirmed', 'cancelled')
    UNION ALL
    SELECT analytics_slot(cancelled_at), currency, 0, 0, 0, 1, quantity, coalesce(refund_cents, total_cents)
    FROM bookings WHERE confirmed_at IS NOT NULL AND status = 'cancelled'
) changes
GROUP BY slot, currency;
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION analytics_rebuild() RETURNS void
LANGUAGE sql AS $$
DELETE FROM analytics_event_sales;
DELETE FROM analytics_sales_slots;
INSERT INTO analytics_event_sales (event_id, currency, shard, bookings_confirmed, tickets_sold, revenue_cents, bookings_cancelled)
SELECT event_id, currency, 0,
       count(*) FILTER (WHERE status = 'confirmed'),
       coalesce(sum(quantity) FILTER (WHERE status = 'confirmed'), 0),
       coalesce(sum(total_cents) FILTER (WHERE status = 'confirmed'), 0),
       count(*) FILTER (WHERE status = 'cancelled')
FROM bookings
WHERE confirmed_at IS NOT NULL AND status IN ('confirmed', 'cancelled')
GROUP BY event_id, currency;

INSERT INTO analytics_sales_slots (slot, currency, shard, confirmed, confirmed_seats, confirmed_cents,
                                   cancelled, cancelled_seats, cancelled_cents)
SELECT slot, currency, 0, sum(confirmed), sum(confirmed_seats), sum(confirmed_cents),
       sum(cancelled), sum(cancelled_seats), sum(cancelled_cents)
FROM (
    SELECT analytics_slot(confirmed_at) AS slot, currency,
           1 AS confirmed, quantity AS confirmed_seats, total_cents AS confirmed_cents,
           0 AS cancelled, 0 AS cancelled_seats, 0 AS cancelled_cents
    FROM bookings WHERE confirmed_at IS NOT NULL AND status IN ('confirmed', 'cancelled')
    UNION ALL
    SELECT analytics_slot(cancelled_at), currency, 0, 0, 0, 1, quantity, total_cents
    FROM bookings WHERE confirmed_at IS NOT NULL AND status = 'cancelled'
) changes
GROUP BY slot, currency;
$$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION analytics_apply(n bookings[], o bookings[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF cardinality(n) = 0 AND cardinality(o) = 0 THEN
        RETURN;
    END IF;
    PERFORM analytics_add_event(k.event_id, k.currency, k.d_confirmed, k.d_tickets, k.d_revenue, k.d_cancelled)
    FROM (
        SELECT r.event_id, r.currency,
               sum(r.sign * (r.status = 'confirmed')::int)::bigint AS d_confirmed,
               sum(r.sign * CASE WHEN r.status = 'confirmed' THEN r.quantity ELSE 0 END)::bigint AS d_tickets,
               sum(r.sign * CASE WHEN r.status = 'confirmed' THEN r.total_cents ELSE 0 END)::bigint AS d_revenue,
               sum(r.sign * (r.status = 'cancelled')::int)::bigint AS d_cancelled
        FROM (SELECT x.*, 1 AS sign FROM unnest(n) x UNION ALL SELECT x.*, -1 FROM unnest(o) x) r
        WHERE r.confirmed_at IS NOT NULL AND r.status IN ('confirmed', 'cancelled')
        GROUP BY r.event_id, r.currency
        ORDER BY r.event_id, r.currency
    ) k
    WHERE (k.d_confirmed, k.d_tickets, k.d_revenue, k.d_cancelled) <> (0, 0, 0, 0);

    PERFORM analytics_add_slot(k.slot, k.currency, k.d_confirmed, k.d_confirmed_seats, k.d_confirmed_cents,
                               k.d_cancelled, k.d_cancelled_seats, k.d_cancelled_cents)
    FROM (
        SELECT c.slot, c.currency,
               sum(c.confirmed)::bigint AS d_confirmed, sum(c.confirmed_seats)::bigint AS d_confirmed_seats,
               sum(c.confirmed_cents)::bigint AS d_confirmed_cents, sum(c.cancelled)::bigint AS d_cancelled,
               sum(c.cancelled_seats)::bigint AS d_cancelled_seats, sum(c.cancelled_cents)::bigint AS d_cancelled_cents
        FROM (
            SELECT analytics_slot(r.confirmed_at) AS slot, r.currency,
                   r.sign AS confirmed, r.sign * r.quantity AS confirmed_seats, r.sign * r.total_cents AS confirmed_cents,
                   0 AS cancelled, 0 AS cancelled_seats, 0::bigint AS cancelled_cents
            FROM (SELECT x.*, 1 AS sign FROM unnest(n) x UNION ALL SELECT x.*, -1 FROM unnest(o) x) r
            WHERE r.confirmed_at IS NOT NULL AND r.status IN ('confirmed', 'cancelled')
            UNION ALL
            SELECT analytics_slot(r.cancelled_at), r.currency, 0, 0, 0,
                   r.sign, r.sign * r.quantity, r.sign * r.total_cents
            FROM (SELECT x.*, 1 AS sign FROM unnest(n) x UNION ALL SELECT x.*, -1 FROM unnest(o) x) r
            WHERE r.confirmed_at IS NOT NULL AND r.status = 'cancelled'
        ) c
        GROUP BY c.slot, c.currency
        ORDER BY c.slot, c.currency
    ) k
    WHERE (k.d_confirmed, k.d_confirmed_seats, k.d_confirmed_cents, k.d_cancelled, k.d_cancelled_seats, k.d_cancelled_cents)
          <> (0, 0, 0, 0, 0, 0);
END
$$;
-- +goose StatementEnd
DROP INDEX bookings_event_kept_idx;
DROP TABLE tickets;
ALTER TABLE bookings DROP COLUMN refund_cents;
ALTER TABLE events DROP COLUMN refund_policy;
UPDATE users SET role = 'user' WHERE role = 'staff';
ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check CHECK (role IN ('user', 'admin'));
SELECT analytics_rebuild();
