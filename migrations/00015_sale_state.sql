-- +goose Up

-- sale_state is event.SaleWindow.At in SQL: where an event's sale stands
-- at a moment (open, unpublished, cancelled, started, not_yet_open, ended).
-- Queries that select events by their sale ask it rather than spelling the
-- rule out again; TestSaleStateMatchesGo keeps it and the Go rule the same.
-- A plain SQL function, so the planner inlines it.
CREATE FUNCTION sale_state(status text, starts_at timestamptz, sales_start timestamptz,
                           sales_end timestamptz, at timestamptz)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN status = 'cancelled' THEN 'cancelled'
        WHEN status <> 'published' THEN 'unpublished'
        WHEN at >= starts_at THEN 'started'
        WHEN sales_start IS NOT NULL AND at < sales_start THEN 'not_yet_open'
        WHEN sales_end IS NOT NULL AND at >= sales_end THEN 'ended'
        ELSE 'open'
    END
$$;

-- +goose Down
DROP FUNCTION sale_state(text, timestamptz, timestamptz, timestamptz, timestamptz);
