-- +goose Up

-- A waiting room whose event sells out tells everyone still in line
-- (kind sold_out): the line has become the way onto the waitlist.
ALTER TABLE notifications DROP CONSTRAINT notifications_kind_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_kind_check
    CHECK (kind IN ('booking_confirmed', 'booking_cancelled', 'hold_expired',
                    'waitlist_offer', 'event_cancelled', 'sold_out'));

-- +goose Down
DELETE FROM notifications WHERE kind = 'sold_out';
ALTER TABLE notifications DROP CONSTRAINT notifications_kind_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_kind_check
    CHECK (kind IN ('booking_confirmed', 'booking_cancelled', 'hold_expired',
                    'waitlist_offer', 'event_cancelled'));
