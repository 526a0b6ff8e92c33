#!/usr/bin/env bash
# make test: run every test against real Postgres and Redis. Services come
# from EVENTLY_TEST_DATABASE_URL / EVENTLY_TEST_REDIS_URL; when unset they
# are the local services if those answer, otherwise the tests start them
# with testcontainers-go (Docker), or fail saying what to do.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/services.sh test)"
echo "test services: postgres=${EVENTLY_TEST_DATABASE_URL:-(testcontainers)} redis=${EVENTLY_TEST_REDIS_URL:-(testcontainers)}"
exec go test -race -count=1 -timeout 20m ${GOTESTFLAGS:-} ./...
