#!/usr/bin/env bash
# Physical-limit baselines on this machine, for the load report to compare
# Evently with: pgbench running the same SQL writes a hold (and a hold plus
# its confirmation) make, on Evently's own schema, and redis-benchmark
# running the seat-lock script.
#   bench/baseline.sh [seconds]     (prints "name value" lines; needs pgbench, redis-benchmark)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
pg=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
db=evently_pgbench
redis_host=${BENCH_REDIS_HOST:-127.0.0.1}
seats=200000
clients=${BENCH_CLIENTS:-16}

dropdb --if-exists -h 127.0.0.1 -U postgres "$db" >/dev/null
DATABASE_URL="$pg/$db?sslmode=disable" ./bin/evently migrate up >/dev/null
event=00000000-0000-7000-8000-0000000000e1
user=00000000-0000-7000-8000-000000000001
psql -qAt "$pg/$db" >/dev/null <<SQL
INSERT INTO users (id, email, name, password_hash, role) VALUES ('$user', 'pgbench@evently.test', 'pgbench', 'x', 'user');
INSERT INTO events (id, name, venue, starts_at, status, hold_ttl_seconds) VALUES ('$event', 'pgbench', 'Arena', now() + interval '30 days', 'published', 600);
INSERT INTO sections (id, event_id, position, name, price_cents, capacity, first_seat) VALUES ('00000000-0000-7000-8000-0000000000a1', '$event', 1, 'Floor', 5000, $seats, 0);
INSERT INTO seats (id, event_id, section_id, position, label)
SELECT gen_random_uuid(), '$event', '00000000-0000-7000-8000-0000000000a1', n, 'Floor-' || lpad(n::text, 6, '0')
FROM generate_series(1, $seats) n;
SQL
psql -qAt "$pg/$db" -c "VACUUM ANALYZE" >/dev/null
vars=(-D "event=$event" -D "user=$user" -D "seats=$seats")
tps() { grep -oP 'tps = \K[0-9.]+(?= \(without)' ; }
hold=$(pgbench -n -M prepared -c "$clients" -j 2 -T "$secs" "${vars[@]}" -f bench/pgbench/hold.sql "$pg/$db" 2>/dev/null | tps)
pair=$(pgbench -n -M prepared -c "$clients" -j 2 -T "$secs" "${vars[@]}" -f bench/pgbench/hold_confirm.sql "$pg/$db" 2>/dev/null | tps)
dropdb --if-exists -h 127.0.0.1 -U postgres "$db" >/dev/null

# The seat-lock script of a two-seat hold (internal/redis/seatlock.go).
lock='local t={} for i,k in ipairs(KEYS) do if redis.call("EXISTS",k)==1 then t[#t+1]=i end end if #t>0 then return t end for _,k in ipairs(KEYS) do redis.call("SET",k,ARGV[1],"PX",ARGV[2]) end return t'
locks=$(redis-benchmark -h "$redis_host" -n 200000 -c 50 -r 100000000 -q --csv \
  EVAL "$lock" 2 'seat:{bench}:__rand_int__' 'seat:{bench}:__rand_int__' booking 60000 2>/dev/null | tail -1 | rev | cut -d, -f7 | rev | tr -d '"')
redis-cli -h "$redis_host" --scan --pattern 'seat:{bench}:*' | xargs -r -n 1000 redis-cli -h "$redis_host" del >/dev/null

echo "pgbench_hold_tps $hold"
echo "pgbench_hold_confirm_pairs_per_s $pair"
echo "redis_seat_lock_script_per_s $locks"
