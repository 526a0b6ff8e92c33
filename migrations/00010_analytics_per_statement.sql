-- +goose Up

-- The rollups of 00005 are kept per statement instead of per row: a
-- statement that confirms or cancels a batch of bookings adds each key's
-- summed change once (one shard upsert per event and currency, and per
-- slot and currency), instead of once per booking. What is counted is
-- unchanged (see 00005); the transition tables hold every row the
-- statement changed, whoever wrote it.

-- analytics_apply adds, per rollup key, what the bookings rows n count for
-- minus what the rows o counted for (keys in order, so that concurrent
-- writers meet the shard rows in one order).
-- +goose StatementBegin
CREATE FUNCTION analytics_apply(n bookings[], o bookings[]) RETURNS void
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

-- analytics_bookings_statement hands a statement's changed rows to
-- analytics_apply (only rows ever confirmed can count for anything).
-- +goose StatementBegin
CREATE FUNCTION analytics_bookings_statement() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM analytics_apply(ARRAY(SELECT ROW(r.*)::bookings FROM new_rows r WHERE r.confirmed_at IS NOT NULL), '{}'::bookings[]);
    ELSIF TG_OP = 'UPDATE' THEN
        PERFORM analytics_apply(ARRAY(SELECT ROW(r.*)::bookings FROM new_rows r WHERE r.confirmed_at IS NOT NULL),
                                ARRAY(SELECT ROW(r.*)::bookings FROM old_rows r WHERE r.confirmed_at IS NOT NULL));
    ELSE
        PERFORM analytics_apply('{}'::bookings[], ARRAY(SELECT ROW(r.*)::bookings FROM old_rows r WHERE r.confirmed_at IS NOT NULL));
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

DROP TRIGGER analytics_bookings_insert ON bookings;
DROP TRIGGER analytics_bookings_update ON bookings;
DROP TRIGGER analytics_bookings_delete ON bookings;
CREATE TRIGGER analytics_bookings_insert AFTER INSERT ON bookings
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION analytics_bookings_statement();
CREATE TRIGGER analytics_bookings_update AFTER UPDATE ON bookings
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION analytics_bookings_statement();
CREATE TRIGGER analytics_bookings_delete AFTER DELETE ON bookings
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION analytics_bookings_statement();

-- +goose Down
DROP TRIGGER analytics_bookings_insert ON bookings;
DROP TRIGGER analytics_bookings_update ON bookings;
DROP TRIGGER analytics_bookings_delete ON bookings;
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
DROP FUNCTION analytics_bookings_statement();
DROP FUNCTION analytics_apply(bookings[], bookings[]);
