-- The Postgres writes of one two-seat hold and its confirmation, by primary
-- key, with nothing else around them: the physical limit Evently's booking
-- path is compared with. Two transactions per run, as evently makes.
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
BEGIN;
UPDATE seats s SET status = 'booked', held_until = NULL FROM booking_seats bs
WHERE bs.booking_id = :booking AND s.id = bs.seat_id AND s.booking_id = :booking AND s.hold_seq = bs.hold_seq;
UPDATE bookings SET status = 'confirmed', confirmed_at = now(), updated_at = now() WHERE id = :booking;
END;
