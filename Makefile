# Evently — `make run` starts it, `make test` tests it.
SHELL := /bin/bash
export PATH := $(PATH):/usr/local/go/bin

GO        ?= go
BIN       := bin/evently

# A .env file beside this Makefile (KEY=VALUE lines, as in .env.example) is
# read by every target; the environment wins over it.
ifneq (,$(wildcard .env))
ENV_KEYS := $(shell sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.*/\1/p' .env)
$(foreach k,$(ENV_KEYS),$(if $(filter environment,$(origin $(k))),,$(eval $(k) := $(shell sed -n 's/^$(k)=//p' .env | tail -n 1))))
export $(ENV_KEYS)
endif

# The defaults match docker-compose.yml's Postgres and Valkey, which make run
# starts when nothing answers (a local Postgres with trust auth ignores the
# password).
PORT      ?= 8080
DATABASE_URL ?= postgres://postgres:evently@127.0.0.1:5432/evently?sslmode=disable
REDIS_URL    ?= redis://127.0.0.1:6379/0
export PORT DATABASE_URL REDIS_URL

# The release and commit linked into the binary (internal/version); empty
# outside a git checkout, and the binary then falls back to what Go
# recorded, else "dev".
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS  := -X github.com/evently/evently/internal/version.version=$(VERSION) \
            -X github.com/evently/evently/internal/version.revision=$(REVISION)

.DEFAULT_GOAL := help
.PHONY: help all build run test lint migrate bench docker-up docker-down clean

help: ## List the targets (the default)
	@echo "Evently — make run starts it, make test tests it."
	@awk 'BEGIN {FS = ":[^#]*## "} /^[a-z][a-z-]*:[^#]*## / {printf "  make %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

all: lint test build ## lint, test and build

build: ## Build the static evently binary into bin/
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/evently

run: build ## Start evently against DATABASE_URL / REDIS_URL (starting the compose services if needed)
	@scripts/services.sh run
	@echo "Evently API:  http://localhost:$(PORT)/api/v1"
	@echo "API docs:     http://localhost:$(PORT)/docs"
	@echo "Readiness:    http://localhost:$(PORT)/readyz"
	@echo "Metrics:      http://$${EVENTLY_METRICS_ADDR:-127.0.0.1:9090}/metrics (EVENTLY_METRICS_ADDR)"
	EVENTLY_LOG_FORMAT=$${EVENTLY_LOG_FORMAT:-text} ./$(BIN) serve

test: ## Run every test (race detector on) against real Postgres and Redis
	@scripts/test.sh

lint: ## go vet, gofmt check, staticcheck when it installs, promtool on the alert rules, spec lint + TypeScript client (Node.js) when installed
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@if $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 -version >/dev/null 2>&1; then \
		$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...; \
	else echo "staticcheck unavailable; skipped"; fi
	@if command -v promtool >/dev/null 2>&1; then \
		promtool check rules deploy/prometheus/evently-alerts.yml && \
		promtool test rules deploy/prometheus/evently-alerts.test.yml; \
	else echo "promtool not found (Debian: apt-get install prometheus): alert rules in deploy/prometheus NOT checked"; fi
	@scripts/apilint.sh

bench: ## Short on-sale load test (single, rush, contention, waiting room) with baselines and invariant checks
	@scripts/bench.sh

migrate: build ## Apply pending migrations to DATABASE_URL
	./$(BIN) migrate up

docker-up: ## Start Postgres, Valkey and evently with docker compose
	VERSION=$(VERSION) REVISION=$(REVISION) docker compose up -d --build

docker-down: ## Stop the compose services
	docker compose down

clean: ## Remove bin/
	rm -rf bin
