#!/usr/bin/env bash
# Checks that the services Evently needs answer.
#   services.sh run   — for `make run`: DATABASE_URL / REDIS_URL must answer;
#                       if they do not and Docker works, start the compose services.
#   services.sh test  — for `make test`: print export lines for the local
#                       services that answer.
set -euo pipefail

# answers HOST PORT: true when something accepts TCP connections there.
answers() { timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }

# hostport URL DEFAULT_PORT: prints "host port" of a postgres:// or redis:// URL.
hostport() {
  local rest=${1#*://}; rest=${rest#*@}; rest=${rest%%/*}; rest=${rest%%\?*}
  local host=${rest%%:*} port=$2
  [[ $rest == *:* ]] && port=${rest##*:}
  echo "${host:-127.0.0.1} $port"
}

docker_works() { command -v docker >/dev/null && docker info >/dev/null 2>&1; }

case "${1:-}" in
run)
  read -r pg_host pg_port < <(hostport "$DATABASE_URL" 5432)
  read -r rd_host rd_port < <(hostport "$REDIS_URL" 6379)
  if answers "$pg_host" "$pg_port" && answers "$rd_host" "$rd_port"; then exit 0; fi
  if docker_works; then
    echo "Postgres or Redis does not answer; starting them with docker compose..."
    docker compose up -d --wait postgres valkey
    exit 0
  fi
  echo "Postgres ($pg_host:$pg_port) or Redis ($rd_host:$rd_port) does not answer, and Docker is not available." >&2
  echo "Start them (or point DATABASE_URL / REDIS_URL at running ones) and try again." >&2
  exit 1
  ;;
test)
  if [[ -z "${EVENTLY_TEST_DATABASE_URL:-}" ]] && answers 127.0.0.1 5432; then
    echo "export EVENTLY_TEST_DATABASE_URL='postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable'"
  fi
  if [[ -z "${EVENTLY_TEST_REDIS_URL:-}" ]] && answers 127.0.0.1 6379; then
    echo "export EVENTLY_TEST_REDIS_URL='redis://127.0.0.1:6379'"
  fi
  ;;
*)
  echo "usage: $0 run|test" >&2; exit 2 ;;
esac
