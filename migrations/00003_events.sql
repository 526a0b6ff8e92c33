-- +goose Up

-- events: one row per event. Nothing here changes when a seat is held or
-- booked (no availability counter: that one row would serialise an
-- on-sale); availability is counted from seats.
CREATE TABLE events (
    id                       uuid PRIMARY KEY,
    name                     text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    description              text        NOT NULL DEFAULT '',
    venue                    text        NOT NULL CHECK (venue <> ''),
    category                 text        NOT NULL DEFAULT '',
    starts_at                timestamptz NOT NULL,
    ends_at                  timestamptz CHECK (ends_at > starts_at),
    status                   text        NOT NULL DEFAULT 'draft'
                                         CHECK (status IN ('draft', 'published', 'cancelled')),
    currency                 text        NOT NULL DEFAULT 'USD' CHECK (currency ~ '^[A-Z]{3}$'),
    max_seats_per_booking    integer     NOT NULL DEFAULT 10 CHECK (max_seats_per_booking BETWEEN 1 AND 100),
    -- Admins choose 60-3600 s; the default (EVENTLY_HOLD_TTL) is used as
    -- configured, which tests set to a few seconds.
    hold_ttl_seconds         integer     NOT NULL CHECK (hold_ttl_seconds >= 1),
    sales_start              timestamptz,
    sales_end                timestamptz CHECK (sales_end > sales_start),
    wr_enabled               boolean     NOT NULL DEFAULT false,
    wr_admit_per_minute      integer     NOT NULL DEFAULT 100 CHECK (wr_admit_per_minute BETWEEN 1 AND 100000),
    wr_max_active            integer     CHECK (wr_max_active >= 1),
    wr_admission_ttl_seconds integer     NOT NULL DEFAULT 600 CHECK (wr_admission_ttl_seconds >= 1),
    created_at               timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now(),
    -- search backs ?q= (prefix matching over words of every language, so
    -- the 'simple' configuration: no stemming, no stop words).
    search                   tsvector    GENERATED ALWAYS AS (
                                 setweight(to_tsvector('simple', name), 'A') ||
                                 setweight(to_tsvector('simple', venue), 'B') ||
                                 setweight(to_tsvector('simple', description), 'C')) STORED
);

-- Lists are keyset-paginated on (starts_at, id): the public list and the
-- admin ?status= list walk the first index, the unfiltered admin list the
-- second.
CREATE INDEX events_status_starts_idx ON events (status, starts_at, id);
CREATE INDEX events_starts_idx ON events (starts_at, id);
CREATE INDEX events_search_idx ON events USING gin (search);

-- sections: an event's seats in groups. A numbered section has rows and
-- seats_per_row (capacity = rows * seats_per_row); a general-admission one
-- only capacity. Its seats hold the positions first_seat+1 ..
-- first_seat+capacity, so a section is a position range of the seats index.
CREATE TABLE sections (
    id            uuid    PRIMARY KEY,
    event_id      uuid    NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    position      integer NOT NULL,
    name          text    NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    price_cents   bigint  NOT NULL CHECK (price_cents >= 0),
    capacity      integer NOT NULL CHECK (capacity >= 1),
    rows          integer CHECK (rows >= 1),
    seats_per_row integer CHECK (seats_per_row >= 1),
    first_seat    integer NOT NULL CHECK (first_seat >= 0),
    CHECK ((rows IS NULL) = (seats_per_row IS NULL)),
    CHECK (rows IS NULL OR capacity = rows * seats_per_row),
    UNIQUE (event_id, name),
    UNIQUE (event_id, position),
    UNIQUE (id, event_id)
);

-- seats: one row per sellable place, which the booking engine locks and
-- allocates from. position orders an event's seats as a buyer would pick
-- them (section order, then row, then number) and is unique per event.
-- A held seat whose held_until has passed is free, whether or not the
-- cleanup has reset it yet. hold_seq is a fencing token: every hold
-- increments it, so a stale writer can be told apart from the current one.
CREATE TABLE seats (
    id          uuid    PRIMARY KEY,
    event_id    uuid    NOT NULL,
    section_id  uuid    NOT NULL,
    position    integer NOT NULL,
    row_label   text,
    number      integer,
    label       text    NOT NULL,
    status      text    NOT NULL DEFAULT 'available'
                        CHECK (status IN ('available', 'held', 'booked')),
    booking_id  uuid,
    held_until  timestamptz,
    hold_seq    bigint  NOT NULL DEFAULT 0,
    CHECK (status <> 'held' OR held_until IS NOT NULL),
    FOREIGN KEY (section_id, event_id) REFERENCES sections (id, event_id) ON DELETE CASCADE
);

-- Seat maps and keyset pages walk (event_id, position).
CREATE UNIQUE INDEX seats_event_position_idx ON seats (event_id, position);
-- Availability counts, ?status= seat lists and best-available allocation
-- (status = 'available' in position order, optionally within a section's
-- position range) walk (event_id, status, position); held_until is included
-- so that counting live holds needs no heap visit.
CREATE INDEX seats_event_status_idx ON seats (event_id, status, position) INCLUDE (held_until);

-- +goose Down
DROP TABLE seats;
DROP TABLE sections;
DROP TABLE events;
