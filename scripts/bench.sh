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
#   BENCH_SCENARIOS (single,rush,contention,waitroom); add "replicas" to run,
#   after them, three evently processes on the one database and Redis with
#   the load generator's buyers spread over them (-url a,b,c), over the
#   scenarios in BENCH_REPLICAS_SCENARIOS (single,rush,contention,waitroom):
#   it reports each scenario's invariants, the waiting room's peak admission
#   rate against the one set, and how often the cleanup job ran against its
#   schedule slots (BENCH_CLEANUP, @every 5s, for every process).
#   BENCH_REDIS=cluster runs everything on a 3-master Redis Cluster started on
#   loopback ports BENCH_CLUSTER_PORT (17101)..+2 instead of Redis DB 9.
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

scenarios=${BENCH_SCENARIOS:-single,rush,contention,waitroom}
replicas=""
if [[ ",$scenarios," == *,replicas,* ]]; then
  replicas=1
  scenarios=$(echo ",$scenarios," | sed 's/,replicas,/,/g; s/^,//; s/,$//')
fi
pids=()
cluster_dirs=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  for d in "${cluster_dirs[@]}"; do rm -rf "$d"; done
}
trap cleanup EXIT

dropdb --if-exists -h 127.0.0.1 -U postgres "$db" 2>/dev/null || true
export DATABASE_URL="$pg/$db?sslmode=disable"
if [[ "${BENCH_REDIS:-}" == cluster ]]; then
  # Three masters on loopback, as internal/redistest starts them for tests.
  base=${BENCH_CLUSTER_PORT:-17101}
  nodes=()
  for i in 0 1 2; do
    p=$((base + i)) d=$(mktemp -d)
    cluster_dirs+=("$d")
    redis-server --port "$p" --bind 127.0.0.1 --cluster-enabled yes --cluster-config-file "$d/nodes.conf" \
      --dir "$d" --save "" --appendonly no --logfile "$d/redis.log" &
    pids+=($!)
    nodes+=("127.0.0.1:$p")
  done
  for n in "${nodes[@]}"; do
    until redis-cli -p "${n##*:}" ping >/dev/null 2>&1; do sleep 0.1; done
  done
  redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >"$out/cluster-create.txt"
  for n in "${nodes[@]}"; do
    until redis-cli -p "${n##*:}" cluster info | grep -q cluster_state:ok; do sleep 0.1; done
  done
  export REDIS_URL="redis+cluster://$(IFS=,; echo "${nodes[*]}")"
  rcli() { redis-cli -c -p "$base" "$@"; }
else
  redis-cli -n "$redis_db" flushdb >/dev/null
  export REDIS_URL="redis://127.0.0.1:6379/$redis_db"
  rcli() { redis-cli -n "$redis_db" "$@"; }
fi
export PORT=$port
export EVENTLY_ADMIN_EMAIL=$admin_email EVENTLY_ADMIN_PASSWORD=$admin_password
export EVENTLY_JWT_SECRET=bench-secret-bench-secret-bench-secret-0
# Each virtual buyer stands for many people: no per-buyer hold ration.
export EVENTLY_AUTH_RATE_PER_MINUTE=0 EVENTLY_HOLD_RATE_PER_MINUTE=0 EVENTLY_LOG_LEVEL=warn EVENTLY_LOG_FORMAT=text
# The load generator reads the batch-size histogram from the API port.
export EVENTLY_METRICS_ADDR=api
export EVENTLY_CLEANUP_SCHEDULE=${BENCH_CLEANUP:-@every 5s}

# serve PORT LOG: start one evently and wait until it is ready.
serve() {
  PORT=$1 ./bin/evently serve >"$2" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$1/readyz" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "evently on port $1 not ready; see $2" >&2
  return 1
}
serve "$port" "$out/evently.log"

echo "== baselines (physical limits on this machine)"
bench/baseline.sh "${BENCH_BASELINE_SECONDS:-8}" | tee "$out/baseline.txt"

# load URLS SCENARIOS JSON: run the load generator.
load() {
  ./bin/evently-load -url "$1" \
    -admin-email "$admin_email" -admin-password "$admin_password" \
    -database-url "$DATABASE_URL" \
    -buyers "${BENCH_BUYERS:-300}" -seats "${BENCH_SEATS:-6000}" -front-row "${BENCH_FRONT_ROW:-200}" \
    -single-buyers "${BENCH_SINGLE_BUYERS:-500}" -single-seats "${BENCH_SINGLE_SEATS:-6000}" \
    -joiners "${BENCH_JOINERS:-5000}" -admit-per-minute "${BENCH_ADMIT:-6000}" \
    -pre-queue "${BENCH_PREQUEUE:-0.8}" -poll-every "${BENCH_POLL:-0s}" \
    -scenario "$2" -max-duration "${BENCH_MAX:-75s}" -json "$3"
}

if [[ -n "$scenarios" ]]; then
  echo "== evently-load against http://127.0.0.1:$port"
  load "http://127.0.0.1:$port" "$scenarios" "$out/report.json" | tee "$out/report.txt"
fi

if [[ -n "$replicas" ]]; then
  serve $((port + 1)) "$out/evently-2.log"
  serve $((port + 2)) "$out/evently-3.log"
  urls="http://127.0.0.1:$port,http://127.0.0.1:$((port + 1)),http://127.0.0.1:$((port + 2))"
  cleanup_key="asynq:{cleanup}:processed:$(date -u +%Y-%m-%d)"
  cleanups_before=$(rcli get "$cleanup_key")
  started=$(date +%s)
  echo "== three replicas: evently-load against $urls (Redis: $REDIS_URL)"
  load "$urls" "${BENCH_REPLICAS_SCENARIOS:-single,rush,contention,waitroom}" "$out/replicas.json" |
    tee "$out/replicas.txt"
  elapsed=$(($(date +%s) - started))
  cleanups=$(($(rcli get "$cleanup_key") - ${cleanups_before:-0}))
  python3 - "$out/replicas.json" <<'PY' | tee -a "$out/replicas.txt"
import json, sys
for r in json.load(open(sys.argv[1])):
    f = r["figures"]
    line = f"replicas {r['scenario']}: invariants {'checked, hold' if r.get('invariants_checked') and not r.get('invariant_violations') else r.get('invariant_violations')}; 5xx {r.get('server_errors', 0)}"
    if r["scenario"] == "waitroom":
        line += f"; peak admissions {f.get('admitted_per_minute_peak')}/min against {f.get('admit_per_minute_set')}/min set"
    print(line)
PY
  echo "replicas cleanup: ran $cleanups times in ${elapsed}s of '$EVENTLY_CLEANUP_SCHEDULE' slots on 3 processes (+1 possible analytics fold on the same queue)" |
    tee -a "$out/replicas.txt"
fi

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
