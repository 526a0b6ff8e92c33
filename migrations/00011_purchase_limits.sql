-- +goose Up
-- Limits per buyer. max_seats_per_user caps the seats one user's live
-- bookings (pending holds that have not lapsed, and confirmed bookings) of
-- an event may hold together; NULL means the same as
-- max_seats_per_booking. The hold batch counts a user's live seats through
-- the partial index below, under a transaction-level advisory lock per
-- (event, user), so concurrent holds of one user cannot pass it together.
ALTER TABLE events
    ADD COLUMN max_seats_per_user integer CHECK (max_seats_per_user BETWEEN max_seats_per_booking AND 100000);

CREATE INDEX bookings_live_by_user_idx ON bookings (event_id, user_id)
    INCLUDE (quantity, expires_at)
    WHERE status IN ('pending', 'confirmed');

-- +goose Down
DROP INDEX IF EXISTS bookings_live_by_user_idx;
ALTER TABLE events DROP COLUMN IF EXISTS max_seats_per_user;
