-- +goose Up

-- The waiting room's re-arm pass and metrics visit the open rooms: enabled,
-- published, not started. A partial index keeps them one short range scan,
-- however many other events there are.
CREATE INDEX events_waiting_room_idx ON events (starts_at) WHERE wr_enabled AND status = 'published';

-- +goose Down
DROP INDEX events_waiting_room_idx;
