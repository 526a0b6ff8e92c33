-- +goose Up

-- Admin analytics read two rollups of the bookings table, kept by triggers
-- on bookings: every change of a booking's analytic state updates them in
-- the same transaction as the change itself, whichever code (or SQL) made
-- it, so they are exactly what aggregating bookings would give, never a
-- counter that drifts. (postgres.AnalyticsStore.RollupDrift proves it
-- against the bookings; Rebuild recomputes them from scratch.)
--
-- A booking counts as
--   a confirmation   when confirmed_at is set and it is confirmed or cancelled
--                    (confirmed now, or cancelled after being confirmed), at
--                    confirmed_at;
--   a cancellation   when it is cancelled and confirmed_at is set, at
--                    cancelled_at.
-- Holds released or lapsed unconfirmed count nowhere.
--
-- No hot row: every rollup key is split over up to 8 shard rows, and a
-- writer takes the first shard that no concurrent transaction has locked
-- (SKIP LOCKED), so simultaneous confirmations never queue on one row.
-- Shards appear only under contention, and a periodic job
-- (AnalyticsStore.FoldShards) merges them back once they are cold, so the
-- rollups stay at about one row per key.

-- analytics_event_sales: per event and currency, the bookings confirmed now
-- (their count, seats and total) and the bookings cancelled after being
-- confirmed. Summary and popular events sum these rows.
CREATE TABLE analytics_event_sales (
    event_id           uuid     NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    currency           text     NOT NULL,
    shard              smallint NOT NULL CHECK (shard BETWEEN 0 AND 7),
    bookings_confirmed bigint   NOT NULL DEFAULT 0,
    tickets_sold       bigint   NOT NULL DEFAULT 0,
    revenue_cents      bigint   NOT NULL DEFAULT 0,
    bookings_cancelled bigint   NOT NULL DEFAULT 0,
    PRIMARY KEY (event_id, currency, shard)
);

-- analytics_sales_slots: per 15-minute UTC slot and currency, every event's
-- confirmations and cancellations in it. Every time zone in use today is a
-- whole number of quarter hours from UTC, so each calendar day of any zone
-- is a whole number of slots, and the daily report of a year reads at most
-- 35,136 slots per currency and shard, whatever the number of bookings.
CREATE TABLE analytics_sales_slots (
    slot            timestamptz NOT NULL CHECK (slot = date_bin('15 minutes', slot, TIMESTAMPTZ '2000-01-01 00:00:00+00')),
    currency        text        NOT NULL,
    shard           smallint    NOT NULL CHECK (shard BETWEEN 0 AND 7),
    confirmed       bigint      NOT NULL DEFAULT 0,
    confirmed_seats bigint      NOT NULL DEFAULT 0,
    confirmed_cents bigint      NOT NULL DEFAULT 0,
    cancelled       bigint      NOT NULL DEFAULT 0,
    cancelled_seats bigint      NOT NULL DEFAULT 0,
    cancelled_cents bigint      NOT NULL DEFAULT 0,
    PRIMARY KEY (slot, currency, shard)
);

-- An event's sales by day are read from the bookings still confirmed
-- (bounded by the event's size), in confirmation order, without a heap
-- visit.
CREATE INDEX bookings_event_confirmed_idx ON bookings (event_id, confirmed_at)
    INCLUDE (quantity, total_cents) WHERE status = 'confirmed';

-- analytics_slot is the 15-minute UTC slot holding ts.
-- +goose StatementBegin
CREATE FUNCTION analytics_slot(ts timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT date_bin('15 minutes', ts, TIMESTAMPTZ '2000-01-01 00:00:00+00')
$$;
-- +goose StatementEnd

-- analytics_add_event adds deltas to one shard row of an event's sales:
-- the first one that no other transaction has locked; when every existing
-- one is locked, a new one (up to 8); when all 8 are locked, a random one,
-- waiting for it. One statement in the common case. (The shard is picked
-- by an uncorrelated subquery, evaluated once: as a joined relation, SKIP
-- LOCKED could pick a different row at each rescan.)
-- +goose StatementBegin
CREATE FUNCTION analytics_add_event(p_event uuid, p_currency text,
    d_confirmed bigint, d_tickets bigint, d_revenue bigint, d_cancelled bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    busy smallint := floor(random() * 8);
BEGIN
    UPDATE analytics_event_sales a SET
        bookings_confirmed = a.bookings_confirmed + d_confirmed,
        tickets_sold = a.tickets_sold + d_tickets,
        revenue_cents = a.revenue_cents + d_revenue,
        bookings_cancelled = a.bookings_cancelled + d_cancelled
    WHERE a.event_id = p_event AND a.currency = p_currency
      AND a.shard = (SELECT shard FROM analytics_event_sales
                     WHERE event_id = p_event AND currency = p_currency
                     ORDER BY shard LIMIT 1 FOR UPDATE SKIP LOCKED);
    IF FOUND THEN
        RETURN;
    END IF;
    INSERT INTO analytics_event_sales AS a
        (event_id, currency, shard, bookings_confirmed, tickets_sold, revenue_cents, bookings_cancelled)
    SELECT p_event, p_currency, s, d_confirmed, d_tickets, d_revenue, d_cancelled
    FROM generate_series(0, 7) s
    WHERE NOT EXISTS (SELECT 1 FROM analytics_event_sales
                      WHERE event_id = p_event AND currency = p_currency AND shard = s)
    ORDER BY s LIMIT 1
    ON CONFLICT (event_id, currency, shard) DO UPDATE SET
        bookings_confirmed = a.bookings_confirmed + EXCLUDED.bookings_confirmed,
        tickets_sold = a.tickets_sold + EXCLUDED.tickets_sold,
        revenue_cents = a.revenue_cents + EXCLUDED.revenue_cents,
        bookings_cancelled = a.bookings_cancelled + EXCLUDED.bookings_cancelled;
    IF FOUND THEN
        RETURN;
    END IF;
    -- Every shard is busy: wait for a random one. An upsert, because the
    -- fold job may have merged that shard away since this snapshot.
    INSERT INTO analytics_event_sales AS a
        (event_id, currency, shard, bookings_confirmed, tickets_sold, revenue_cents, bookings_cancelled)
    VALUES (p_event, p_currency, busy, d_confirmed, d_tickets, d_revenue, d_cancelled)
    ON CONFLICT (event_id, currency, shard) DO UPDATE SET
        bookings_confirmed = a.bookings_confirmed + EXCLUDED.bookings_confirmed,
        tickets_sold = a.tickets_sold + EXCLUDED.tickets_sold,
        revenue_cents = a.revenue_cents + EXCLUDED.revenue_cents,
        bookings_cancelled = a.bookings_cancelled + EXCLUDED.bookings_cancelled;
END
$$;
-- +goose StatementEnd

-- analytics_add_slot is analytics_add_event for a slot's confirmations and
-- cancellations.
-- +goose StatementBegin
CREATE FUNCTION analytics_add_slot(p_slot timestamptz, p_currency text,
    d_confirmed bigint, d_confirmed_seats bigint, d_confirmed_cents bigint,
    d_cancelled bigint, d_cancelled_seats bigint, d_cancelled_cents bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    busy smallint := floor(random() * 8);
BEGIN
    UPDATE analytics_sales_slots a SET
        confirmed = a.confirmed + d_confirmed,
        confirmed_seats = a.confirmed_seats + d_confirmed_seats,
        confirmed_cents = a.confirmed_cents + d_confirmed_cents,
        cancelled = a.cancelled + d_cancelled,
        cancelled_seats = a.cancelled_seats + d_cancelled_seats,
        cancelled_cents = a.cancelled_cents + d_cancelled_cents
    WHERE a.slot = p_slot AND a.currency = p_currency
      AND a.shard = (SELECT shard FROM analytics_sales_slots
                     WHERE slot = p_slot AND currency = p_currency
                     ORDER BY shard LIMIT 1 FOR UPDATE SKIP LOCKED);
    IF FOUND THEN
        RETURN;
    END IF;
    INSERT INTO analytics_sales_slots AS a
        (slot, currency, shard, confirmed, confirmed_seats, confirmed_cents,
         cancelled, cancelled_seats, cancelled_cents)
    SELECT p_slot, p_currency, s, d_confirmed, d_confirmed_seats, d_confirmed_cents,
           d_cancelled, d_cancelled_seats, d_cancelled_cents
    FROM generate_series(0, 7) s
    WHERE NOT EXISTS (SELECT 1 FROM analytics_sales_slots
                      WHERE slot = p_slot AND currency = p_currency AND shard = s)
    ORDER BY s LIMIT 1
    ON CONFLICT (slot, currency, shard) DO UPDATE SET
        confirmed = a.confirmed + EXCLUDED.confirmed,
        confirmed_seats = a.confirmed_seats + EXCLUDED.confirmed_seats,
        confirmed_cents = a.confirmed_cents + EXCLUDED.confirmed_cents,
        cancelled = a.cancelled + EXCLUDED.cancelled,
        cancelled_seats = a.cancelled_seats + EXCLUDED.cancelled_seats,
        cancelled_cents = a.cancelled_cents + EXCLUDED.cancelled_cents;
    IF FOUND THEN
        RETURN;
    END IF;
    -- Every shard is busy: wait for a random one (an upsert: the fold job
    -- may have merged it away since this snapshot).
    INSERT INTO analytics_sales_slots AS a
        (slot, currency, shard, confirmed, confirmed_seats, confirmed_cents,
         cancelled, cancelled_seats, cancelled_cents)
    VALUES (p_slot, p_currency, busy, d_confirmed, d_confirmed_seats, d_confirmed_cents,
            d_cancelled, d_cancelled_seats, d_cancelled_cents)
    ON CONFLICT (slot, currency, shard) DO UPDATE SET
        confirmed = a.confirmed + EXCLUDED.confirmed,
        confirmed_seats = a.confirmed_seats + EXCLUDED.confirmed_seats,
        confirmed_cents = a.confirmed_cents + EXCLUDED.confirmed_cents,
        cancelled = a.cancelled + EXCLUDED.cancelled,
        cancelled_seats = a.cancelled_seats + EXCLUDED.cancelled_seats,
        cancelled_cents = a.cancelled_cents + EXCLUDED.cancelled_cents;
END
$$;
-- +goose StatementEnd

-- analytics_bookings_changed moves a booking's contribution from what it
-- was (OLD) to what it is (NEW). Only what changed is written: a
-- confirmation touches its event and its confirmation slot, a cancellation
-- its event and its cancellation slot.
-- +goose StatementBegin
CREATE FUNCTION analytics_bookings_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    o_conf boolean := false; -- OLD counts as a confirmation
    o_canc boolean := false; -- OLD counts as a cancellation
    o_now  boolean := false; -- OLD is confirmed now
    n_conf boolean := false;
    n_canc boolean := false;
    n_now  boolean := false;
    same_key boolean;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        o_conf := OLD.confirmed_at IS NOT NULL AND OLD.status IN ('confirmed', 'cancelled');
        o_canc := OLD.confirmed_at IS NOT NULL AND OLD.status = 'cancelled';
        o_now := OLD.status = 'confirmed';
    END IF;
    IF TG_OP <> 'DELETE' THEN
        n_conf := NEW.confirmed_at IS NOT NULL AND NEW.status IN ('confirmed', 'cancelled');
        n_canc := NEW.confirmed_at IS NOT NULL AND NEW.status = 'cancelled';
        n_now := NEW.status = 'confirmed';
    END IF;

    -- The event's figures.
    same_key := TG_OP = 'UPDATE' AND OLD.event_id = NEW.event_id AND OLD.currency = NEW.currency;
    IF same_key THEN
        IF (o_now, o_canc, OLD.quantity, OLD.total_cents) IS DISTINCT FROM (n_now, n_canc, NEW.quantity, NEW.total_cents) THEN
            PERFORM analytics_add_event(NEW.event_id, NEW.currency,
                n_now::int - o_now::int,
                CASE WHEN n_now THEN NEW.quantity ELSE 0 END - CASE WHEN o_now THEN OLD.quantity ELSE 0 END,
                CASE WHEN n_now THEN NEW.total_cents ELSE 0 END - CASE WHEN o_now THEN OLD.total_cents ELSE 0 END,
                n_canc::int - o_canc::int);
        END IF;
    ELSE
        IF o_now OR o_canc THEN
            PERFORM analytics_add_event(OLD.event_id, OLD.currency, -o_now::int,
                CASE WHEN o_now THEN -OLD.quantity ELSE 0 END,
                CASE WHEN o_now THEN -OLD.total_cents ELSE 0 END, -o_canc::int);
        END IF;
        IF n_now OR n_canc THEN
            PERFORM analytics_add_event(NEW.event_id, NEW.currency, n_now::int,
                CASE WHEN n_now THEN NEW.quantity ELSE 0 END,
                CASE WHEN n_now THEN NEW.total_cents ELSE 0 END, n_canc::int);
        END IF;
    END IF;

    -- The confirmation, in its slot.
    IF o_conf AND NOT (n_conf AND (analytics_slot(OLD.confirmed_at), OLD.currency, OLD.quantity, OLD.total_cents)
                                 = (analytics_slot(NEW.confirmed_at), NEW.currency, NEW.quantity, NEW.total_cents)) THEN
        PERFORM analytics_add_slot(analytics_slot(OLD.confirmed_at), OLD.currency,
            -1, -OLD.quantity, -OLD.total_cents, 0, 0, 0);
        o_conf := false;
    END IF;
    IF n_conf AND NOT o_conf THEN
        PERFORM analytics_add_slot(analytics_slot(NEW.confirmed_at), NEW.currency,
            1, NEW.quantity, NEW.total_cents, 0, 0, 0);
    END IF;

    -- The cancellation, in its slot.
    IF o_canc AND NOT (n_canc AND (analytics_slot(OLD.cancelled_at), OLD.currency, OLD.quantity, OLD.total_cents)
                                 = (analytics_slot(NEW.cancelled_at), NEW.currency, NEW.quantity, NEW.total_cents)) THEN
        PERFORM analytics_add_slot(analytics_slot(OLD.cancelled_at), OLD.currency,
            0, 0, 0, -1, -OLD.quantity, -OLD.total_cents);
        o_canc := false;
    END IF;
    IF n_canc AND NOT o_canc THEN
        PERFORM analytics_add_slot(analytics_slot(NEW.cancelled_at), NEW.currency,
            0, 0, 0, 1, NEW.quantity, NEW.total_cents);
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION analytics_bookings_truncated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM analytics_event_sales;
    DELETE FROM analytics_sales_slots;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- Writers must wait while the rollups are filled from the bookings already
-- there (the triggers take over from the moment this commits).
LOCK TABLE bookings IN SHARE ROW EXCLUSIVE MODE;

-- The WHEN clauses keep the triggers off the hot path: a hold inserts a
-- pending booking and an expiry changes a booking never confirmed, and
-- neither calls the function at all.
CREATE TRIGGER analytics_bookings_insert AFTER INSERT ON bookings
    FOR EACH ROW WHEN (NEW.confirmed_at IS NOT NULL)
    EXECUTE FUNCTION analytics_bookings_changed();
CREATE TRIGGER analytics_bookings_update AFTER UPDATE ON bookings
    FOR EACH ROW WHEN ((OLD.confirmed_at IS NOT NULL OR NEW.confirmed_at IS NOT NULL)
        AND (OLD.event_id, OLD.status, OLD.quantity, OLD.total_cents, OLD.currency, OLD.confirmed_at, OLD.cancelled_at)
            IS DISTINCT FROM
            (NEW.event_id, NEW.status, NEW.quantity, NEW.total_cents, NEW.currency, NEW.confirmed_at, NEW.cancelled_at))
    EXECUTE FUNCTION analytics_bookings_changed();
CREATE TRIGGER analytics_bookings_delete AFTER DELETE ON bookings
    FOR EACH ROW WHEN (OLD.confirmed_at IS NOT NULL)
    EXECUTE FUNCTION analytics_bookings_changed();
CREATE TRIGGER analytics_bookings_truncate AFTER TRUNCATE ON bookings
    FOR EACH STATEMENT EXECUTE FUNCTION analytics_bookings_truncated();

-- analytics_rebuild recomputes both rollups from the bookings, one row per
-- key: the backfill below, and AnalyticsStore.Rebuild.
-- +goose StatementBegin
CREATE FUNCTION analytics_rebuild() RETURNS void
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

-- The bookings made before this migration.
SELECT analytics_rebuild();

-- +goose Down
DROP TRIGGER analytics_bookings_truncate ON bookings;
DROP TRIGGER analytics_bookings_delete ON bookings;
DROP TRIGGER analytics_bookings_update ON bookings;
DROP TRIGGER analytics_bookings_insert ON bookings;
DROP FUNCTION analytics_rebuild();
DROP FUNCTION analytics_bookings_truncated();
DROP FUNCTION analytics_bookings_changed();
DROP FUNCTION analytics_add_slot(timestamptz, text, bigint, bigint, bigint, bigint, bigint, bigint);
DROP FUNCTION analytics_add_event(uuid, text, bigint, bigint, bigint, bigint);
DROP FUNCTION analytics_slot(timestamptz);
DROP INDEX bookings_event_confirmed_idx;
DROP TABLE analytics_sales_slots;
DROP TABLE analytics_event_sales;
