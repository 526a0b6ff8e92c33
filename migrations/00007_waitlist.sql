-- +goose Up

-- gen_uuid_v7 returns a version 7 UUID (time-ordered) for rows created in
-- SQL, such as the notifications a cleanup batch writes. Postgres 18 has
-- uuidv7(); this serves the versions before it.
-- +goose StatementBegin
CREATE FUNCTION gen_uuid_v7() RETURNS uuid
LANGUAGE sql VOLATILE PARALLEL SAFE AS $$
    SELECT encode(
        set_bit(set_bit(
            overlay(uuid_send(gen_random_uuid())
                    PLACING substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
                    FROM 1 FOR 6),
            52, 1), 53, 1),
        'hex')::uuid
$$;
-- +goose StatementEnd

-- waitlist_entries: users waiting for seats of a sold-out event. An entry
-- waits, is offered seats (a pending booking made for the user, which it
-- names until that booking is settled), and ends fulfilled (the offer was
-- confirmed), expired (the offer lapsed, or the event was cancelled) or
-- left (the user left the list or declined the offer).
CREATE TABLE waitlist_entries (
    id               uuid        PRIMARY KEY,
    event_id         uuid        NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    user_id          uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    quantity         integer     NOT NULL CHECK (quantity BETWEEN 1 AND 100),
    status           text        NOT NULL CHECK (status IN ('waiting', 'offered', 'fulfilled', 'expired', 'left')),
    offer_booking_id uuid        REFERENCES bookings (id) ON DELETE SET NULL,
    offer_expires_at timestamptz,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    CHECK (status <> 'offered' OR (offer_booking_id IS NOT NULL AND offer_expires_at IS NOT NULL))
);

-- One active entry per user and event.
CREATE UNIQUE INDEX waitlist_entries_active_idx ON waitlist_entries (event_id, user_id)
    WHERE status IN ('waiting', 'offered');
-- The queue: waiting entries oldest first (offers, positions).
CREATE INDEX waitlist_entries_queue_idx ON waitlist_entries (event_id, created_at, id)
    WHERE status = 'waiting';
-- The admin list (every status) and a user's latest entry.
CREATE INDEX waitlist_entries_event_idx ON waitlist_entries (event_id, created_at, id);
CREATE INDEX waitlist_entries_user_idx ON waitlist_entries (user_id, event_id, created_at DESC);
-- Confirming, cancelling or expiring a booking settles the entry it was
-- offered to.
CREATE UNIQUE INDEX waitlist_entries_offer_idx ON waitlist_entries (offer_booking_id)
    WHERE offer_booking_id IS NOT NULL;

-- notifications: the in-app inbox. Each row is written in the transaction
-- of the change it reports.
CREATE TABLE notifications (
    id         uuid        PRIMARY KEY,
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind       text        NOT NULL CHECK (kind IN ('booking_confirmed', 'booking_cancelled', 'hold_expired',
                                                    'waitlist_offer', 'event_cancelled')),
    title      text        NOT NULL,
    body       text        NOT NULL,
    data       jsonb       NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL,
    read_at    timestamptz
);

-- The inbox, newest first, and its unread view.
CREATE INDEX notifications_inbox_idx ON notifications (user_id, created_at DESC, id DESC);
CREATE INDEX notifications_unread_idx ON notifications (user_id, created_at DESC, id DESC)
    WHERE read_at IS NULL;

-- webhook_deliveries: the webhook outbox. A row is written, with the exact
-- body to send, in the transaction of the change it reports, and only when
-- a webhook URL is configured; asynq tasks deliver it after the commit and
-- record each attempt here. id is the webhook's id, the same on every
-- attempt. A subject (booking, waitlist entry, event) has at most one
-- webhook of each type: every type is a one-way transition.
CREATE TABLE webhook_deliveries (
    id           uuid        PRIMARY KEY,
    type         text        NOT NULL,
    subject_id   uuid        NOT NULL,
    body         text        NOT NULL,
    status       text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts     integer     NOT NULL DEFAULT 0,
    last_error   text,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    delivered_at timestamptz,
    UNIQUE (subject_id, type)
);

-- The operator's list (newest first, by status) and the sweep that
-- re-enqueues pending deliveries whose task was lost.
CREATE INDEX webhook_deliveries_status_idx ON webhook_deliveries (status, created_at DESC, id DESC);

-- +goose Down
DROP TABLE webhook_deliveries;
DROP TABLE notifications;
DROP TABLE waitlist_entries;
DROP FUNCTION gen_uuid_v7();
