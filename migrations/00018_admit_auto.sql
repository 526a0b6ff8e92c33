-- +goose Up

-- A waiting room may tune its own admission rate (admit_mode 'auto'):
-- within the organiser's bounds, aiming at a booking p95 of at most
-- wr_target_p95_ms. wr_admit_per_minute stays the organiser's rate, the
-- one an auto room starts from.
ALTER TABLE events
    ADD COLUMN wr_admit_mode text NOT NULL DEFAULT 'fixed' CHECK (wr_admit_mode IN ('fixed', 'auto')),
    ADD COLUMN wr_admit_min_per_minute integer CHECK (wr_admit_min_per_minute BETWEEN 1 AND 100000),
    ADD COLUMN wr_admit_max_per_minute integer CHECK (wr_admit_max_per_minute BETWEEN 1 AND 100000),
    ADD COLUMN wr_target_p95_ms integer NOT NULL DEFAULT 500 CHECK (wr_target_p95_ms BETWEEN 10 AND 60000),
    ADD CONSTRAINT events_wr_auto_bounds CHECK (wr_admit_mode = 'fixed' OR (
        wr_admit_min_per_minute IS NOT NULL AND wr_admit_max_per_minute IS NOT NULL
        AND wr_admit_min_per_minute <= wr_admit_per_minute AND wr_admit_per_minute <= wr_admit_max_per_minute));

-- The rate an auto room runs at now. base_per_minute is the organiser's
-- rate it was tuned from: when the organiser sets another, the room starts
-- again from theirs.
CREATE TABLE admission_rates (
    event_id        uuid PRIMARY KEY REFERENCES events (id) ON DELETE CASCADE,
    per_minute      integer NOT NULL CHECK (per_minute BETWEEN 1 AND 100000),
    base_per_minute integer NOT NULL,
    changed_at      timestamptz NOT NULL
);

-- Every change of an auto room's rate, with its reason and the figures it
-- was decided on.
CREATE TABLE admission_rate_changes (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id        uuid NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    at              timestamptz NOT NULL,
    from_per_minute integer NOT NULL,
    to_per_minute   integer NOT NULL,
    reason          text NOT NULL,
    booking_p95_ms  integer,
    samples         integer NOT NULL,
    idle            integer NOT NULL,
    overdue         integer NOT NULL
);
CREATE INDEX admission_rate_changes_event_idx ON admission_rate_changes (event_id, at DESC, id DESC);

-- +goose Down
DROP TABLE admission_rate_changes;
DROP TABLE admission_rates;
ALTER TABLE events DROP CONSTRAINT events_wr_auto_bounds,
    DROP COLUMN wr_target_p95_ms, DROP COLUMN wr_admit_max_per_minute,
    DROP COLUMN wr_admit_min_per_minute, DROP COLUMN wr_admit_mode;
