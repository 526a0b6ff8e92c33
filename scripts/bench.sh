#!/usr/bin/env bash
# make bench: start a fresh evently against the local Postgres and Redis,
# run a short version of the four on-sale scenarios through its HTTP API,
# check the booking invariants in Postgres, and print the report next to
# the physical-limit baselines (pgbench, redis-benchmark). A few minutes
# on a 2-core machine. Sizes can be raised through the environment:
#   BENCH_BUYERS (300) BENCH_SEATS (6000) BENCH_FRONT_ROW (200)
#   BENCH_SINGLE_BUYERS (500) BENCH_SINGLE_SEATS (6000), for single only
#   BENCH_JOINERS (5000) BENCH_ADMIT (6000) BENCH_PREQUEUE (0.8: share of the
#   joiners who join before sales open) BENCH_POLL (0s: as the server paces;
#   or a fixed interval) BENCH_MAX (75s)
#   BENCH_SCENARIOS (single,rush,contention,waitroom)
# The full-size run of docs/performance.md:
#   BENCH_BUYERS=1000 BENCH_SEATS=20000 BENCH_JOINERS=50000 BENCH_ADMIT=60000 \
#   BENCH_MAX=180s make bench
set -euo pipefail
cd "$(dirname "$0")/.."

pg=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
db=evently_bench
port=${BENCH_PORT:-18090}
redis_db=${BENCH_REDIS_DB:-9}
admin_email=bench-admin@evently.test
admin_password=bench-admin-password
out=${BENCH_OUT:-bench/last-run}
mkdir -p "$out"

make -s build
go build -o bin/evently-load ./cmd/evently-load

dropdb --if-exists -h 127.0.0.1 -U postgres "$db" 2>/dev/null || true
redis-cli -n "$redis_db" flushdb >/dev/null

export DATABASE_URL="$pg/$db?sslmode=disable"
export REDIS_URL="redis://127.0.0.1:6379/$redis_db"
export PORT=$port
export EVENTLY_ADMIN_EMAIL=$admin_email EVENTLY_ADMIN_PASSWORD=$admin_password
export EVENTLY_JWT_SECRET=bench-secret-bench-secret-bench-secret-0
# Each virtual buyer stands for many people: no per-buyer hold ration.
export EVENTLY_AUTH_RATE_PER_MINUTE=0 EVENTLY_HOLD_RATE_PER_MINUTE=0 EVENTLY_LOG_LEVEL=warn EVENTLY_LOG_FORMAT=text
# The load generator reads the batch-size histogram from the API port.
export EVENTLY_METRICS_ADDR=api

./bin/evently serve >"$out/evently.log" 2>&1 &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done

echo "== baselines (physical limits on this machine)"
bench/baseline.sh "${BENCH_BASELINE_SECONDS:-8}" | tee "$out/baseline.txt"

echo "== evently-load against http://127.0.0.1:$port"
./bin/evently-load -url "http://127.0.0.1:$port" \
  -admin-email "$admin_email" -admin-password "$admin_password" \
  -database-url "$DATABASE_URL" \
  -buyers "${BENCH_BUYERS:-300}" -seats "${BENCH_SEATS:-6000}" -front-row "${BENCH_FRONT_ROW:-200}" \
  -single-buyers "${BENCH_SINGLE_BUYERS:-500}" -single-seats "${BENCH_SINGLE_SEATS:-6000}" \
  -joiners "${BENCH_JOINERS:-5000}" -admit-per-minute "${BENCH_ADMIT:-6000}" \
  -pre-queue "${BENCH_PREQUEUE:-0.8}" -poll-every "${BENCH_POLL:-0s}" \
  -scenario "${BENCH_SCENARIOS:-single,rush,contention,waitroom}" -max-duration "${BENCH_MAX:-75s}" \
  -json "$out/report.json" | tee "$out/report.txt"

# figure SCENARIO NAME: one figure of the JSON report, empty when absent.
figure() {
  python3 -c 'import json,sys; r=[x for x in json.load(open(sys.argv[1])) if x["scenario"]==sys.argv[2]]; print(r[0]["figures"].get(sys.argv[3], "") if r else "")' \
    "$out/report.json" "$1" "$2" 2>/dev/null || true
}
hold=$(awk '/^pgbench_hold_tps/ {print $2}' "$out/baseline.txt")
pair=$(awk '/^pgbench_hold_confirm_pairs_per_s/ {print $2}' "$out/baseline.txt")
rush=$(figure rush holds_per_second)
single=$(figure single bookings_per_second)
echo
if [[ -n "$hold" && -n "$rush" ]]; then
  awk -v r="$rush" -v h="$hold" 'BEGIN { printf "rush holds/s %.0f = %.0f%% of pgbench hold TPS %.0f\n", r, 100*r/h, h }'
fi
if [[ -n "$pair" && -n "$single" ]]; then
  awk -v s="$single" -v p="$pair" 'BEGIN { if (p > 0) printf "single bookings/s %.0f = %.1fx pgbench hold+confirm pairs/s %.0f\n", s, s/p, p }'
fi
