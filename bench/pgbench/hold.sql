-- The Postgres writes of one two-seat hold by primary key (insert the
-- booking, mark two seats held, insert their booking_seats rows): the
-- physical limit of a hold on this machine.
-- Run with -M prepared (variables are bound as parameters). Variables (pgbench -D): event (uuid), user (uuid), seats (count).
\set p random(1, :seats - 1)
BEGIN;
INSERT INTO bookings (id, event_id, user_id, status, quantity, total_cents, currency, expires_at, created_at, updated_at)
VALUES (gen_random_uuid(), :event, :user, 'pending', 2, 10000, 'USD', now() + interval '10 minutes', now(), now())
RETURNING id AS booking \gset
UPDATE seats SET status = 'held', booking_id = :booking, held_until = now() + interval '10 minutes', hold_seq = hold_seq + 1
WHERE event_id = :event AND position IN (:p, :p + 1);
INSERT INTO booking_seats (booking_id, seat_id, hold_seq, price_cents)
SELECT :booking, id, hold_seq, 5000 FROM seats WHERE event_id = :event AND position IN (:p, :p + 1)
ON CONFLICT DO NOTHING;
END;
