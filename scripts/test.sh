#!/usr/bin/env bash
# make test: run every test against real Postgres and Redis, then the Redis
# code's, the booking races', the waiting room's and the webhooks' tests
# again on a Redis Cluster, then every fuzz target briefly. Services come from EVENTLY_TEST_DATABASE_URL /
# EVENTLY_TEST_REDIS_URL; when unset they are the local services if those
# answer, otherwise the tests start them with testcontainers-go (Docker), or
# fail saying what to do.
#
# FUZZ_EXECS (default 5000) is each fuzz target's budget, in executions;
# 0 skips fuzzing. The budget is a count, not a -fuzztime duration: Go 1.26's
# fuzz coordinator can fail a duration-bounded run with a bare "context
# deadline exceeded" when the deadline falls while a worker is busy
# (golang/go#75804), which a loaded machine makes likely. To fuzz one
# target for longer:
#   go test -run '^$' -fuzz FuzzDecode -fuzztime 5m ./internal/httpapi/
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/services.sh test)"
echo "test services: postgres=${EVENTLY_TEST_DATABASE_URL:-(testcontainers)} redis=${EVENTLY_TEST_REDIS_URL:-(testcontainers)}"
go test -race -count=1 -timeout 20m ${GOTESTFLAGS:-} ./...

# The Redis Cluster pass: the same tests of the Redis code, the worker (cron
# de-duplication included), the booking races, the waiting room, the
# webhooks and the three replicas, each on a 3-master Redis Cluster that
# internal/redistest starts on loopback ports (redis-server
# --cluster-enabled yes, redis-cli --cluster create). Where redis-server is
# not installed these tests skip, saying so.
if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
	echo "redis-server/redis-cli not found: the Redis Cluster tests will SKIP (Debian: apt-get install redis-server)"
fi
cluster_tests='^(TestRace|TestEventCancelRacesHolds|TestWaitingRoom|TestWebhook|TestNoWebhooksWithoutURL|TestThreeReplicas)'
echo "Redis Cluster pass: ./internal/redistest ./internal/redis ./internal/worker, and $cluster_tests in ./internal/httpapi"
EVENTLY_TEST_REDIS_CLUSTER=true go test -race -count=1 -timeout 10m ${GOTESTFLAGS:-} \
	./internal/redistest/ ./internal/redis/ ./internal/worker/
EVENTLY_TEST_REDIS_CLUSTER=true go test -race -count=1 -timeout 10m ${GOTESTFLAGS:-} \
	-run "$cluster_tests" ./internal/httpapi/

fuzz_execs=${FUZZ_EXECS:-5000}
if [[ "$fuzz_execs" == 0 ]]; then
	exit 0
fi
while IFS= read -r file; do
	dir=./$(dirname "$file")
	for target in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$file" | cut -c6-); do
		echo "fuzz $dir $target ($fuzz_execs executions)"
		go test -run '^$' -fuzz "^${target}\$" -fuzztime "${fuzz_execs}x" "$dir"
	done
done < <(git ls-files -co --exclude-standard '*_test.go' | xargs -r grep -l '^func Fuzz' | sort)
