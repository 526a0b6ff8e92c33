-- +goose Up

-- bookings: a hold (pending) or a sale of seats of one event. A pending
-- booking whose expires_at has passed is expired in substance; the cleanup
-- job, a confirm attempt or a buyer taking over its seats marks it so.
CREATE TABLE bookings (
    id                uuid PRIMARY KEY,
    event_id          uuid        NOT NULL REFERENCES events (id) ON DELETE RESTRICT,
    user_id           uuid        NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    status            text        NOT NULL CHECK (status IN ('pending', 'confirmed', 'cancelled', 'expired')),
    quantity          integer     NOT NULL CHECK (quantity >= 1),
    total_cents       bigint      NOT NULL CHECK (total_cents >= 0),
    currency          text        NOT NULL,
    expires_at        timestamptz NOT NULL,
    payment_reference text,
    created_at        timestamptz NOT NULL,
    confirmed_at      timestamptz,
    cancelled_at      timestamptz,
    updated_at        timestamptz NOT NULL,
    CHECK (status <> 'confirmed' OR confirmed_at IS NOT NULL),
    CHECK (status <> 'cancelled' OR cancelled_at IS NOT NULL)
);

-- Newest-first lists per user and per event (keyset on created_at, id).
CREATE INDEX bookings_user_idx ON bookings (user_id, created_at DESC, id DESC);
CREATE INDEX bookings_event_idx ON bookings (event_id, created_at DESC, id DESC);
-- The cleanup job's scan for lapsed holds.
CREATE INDEX bookings_pending_expiry_idx ON bookings (expires_at) WHERE status = 'pending';

-- booking_seats: the seats of each booking, with the hold sequence (fencing
-- token) each seat had when this booking took it and the price paid.
-- active is true while the booking is pending or confirmed; the partial
-- unique index makes a seat in two live bookings impossible, whatever the
-- application does.
CREATE TABLE booking_seats (
    booking_id  uuid    NOT NULL REFERENCES bookings (id) ON DELETE CASCADE,
    seat_id     uuid    NOT NULL REFERENCES seats (id) ON DELETE CASCADE,
    hold_seq    bigint  NOT NULL,
    price_cents bigint  NOT NULL CHECK (price_cents >= 0),
    active      boolean NOT NULL DEFAULT true,
    PRIMARY KEY (booking_id, seat_id)
);
CREATE UNIQUE INDEX booking_seats_live_seat_idx ON booking_seats (seat_id) WHERE active;

-- Confirm and cancel find a booking's seats; cleanup finds lapsed holds.
CREATE INDEX seats_booking_idx ON seats (booking_id) WHERE booking_id IS NOT NULL;
CREATE INDEX seats_held_until_idx ON seats (held_until) WHERE status = 'held';

-- idempotency_keys: the recorded answer to each (user, Idempotency-Key) of
-- POST /bookings, kept at least 24 hours. A row without status_code is a
-- request still running.
CREATE TABLE idempotency_keys (
    user_id       uuid        NOT NULL,
    key           text        NOT NULL,
    request_hash  bytea       NOT NULL,
    status_code   integer,
    response_body bytea,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

-- +goose Down
DROP TABLE idempotency_keys;
DROP INDEX seats_held_until_idx;
DROP INDEX seats_booking_idx;
DROP TABLE booking_seats;
DROP TABLE bookings;
