# fkapi — `make run` to try it, `make test` to check it. Settings come from
# the environment or a .env file (see README.md).
-include .env
export

DATABASE_URL ?= postgres://postgres:postgres@127.0.0.1:5432/fkapi
REDIS_URL ?= redis://127.0.0.1:6379
SCALE ?= medium
CARGO ?= cargo
FKAPI_RELEASE := target/release/fkapi

.PHONY: run services build release migrate seed test fmt fmt-check lint openapi openapi-check clean-test-dbs help

help:
	@echo "make run       services + migrations + demo data ($(SCALE)) + server on $${FKAPI_BIND:-127.0.0.1:8080}"
	@echo "make test      services + the whole test suite (fmt, clippy, unit and black-box tests, fuzz)"
	@echo "make fuzz      schemathesis against a live server (scripts/fuzz.sh)"
	@echo "make cluster   a local 3-master Redis Cluster + two instances on it (make cluster-stop)"
	@echo "make migrate | seed [SCALE=small|medium|large] | fmt | lint | openapi | build"

services:
	@bash scripts/services.sh

# A local Redis Cluster (3 masters + 3 replicas) and two fkapi instances on
# it (scripts/cluster.sh; README "Running several instances").
.PHONY: cluster cluster-stop
cluster:
	@bash scripts/cluster.sh start

cluster-stop:
	@bash scripts/cluster.sh stop

release:
	$(CARGO) build --release -p fkapi-api

build:
	$(CARGO) build --workspace --all-targets

migrate: services release
	$(FKAPI_RELEASE) migrate

seed: migrate
	$(FKAPI_RELEASE) seed --scale $(SCALE)

run: migrate
	$(FKAPI_RELEASE) seed --scale $(SCALE) --if-empty
	$(FKAPI_RELEASE) serve

# Tests copy a migrated, seeded template database per test and use their own
# Redis namespace, so they run in parallel; most of their time is waiting on
# I/O, hence more threads than cores. The scale-out tests run the `fkapi` binary
# as `cargo build -p fkapi-api` makes it (other features than the test build's):
# it is built first, so that compile does not run beside timed tests.
test: services fmt-check lint
	$(CARGO) build -q -p fkapi-api --bin fkapi
	RUST_TEST_THREADS=$${RUST_TEST_THREADS:-6} $(CARGO) test --workspace --all-targets
	bash scripts/fuzz.sh

# schemathesis against the live OpenAPI document (scripts/fuzz.sh): no 5xx,
# every response as documented. Also the last step of `make test`.
.PHONY: fuzz
fuzz: services
	bash scripts/fuzz.sh

fmt:
	$(CARGO) fmt --all

fmt-check:
	$(CARGO) fmt --all -- --check

lint:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# Regenerates the committed OpenAPI document (a test fails when it is stale).
openapi:
	$(CARGO) run -q -p fkapi-api -- openapi > openapi/openapi.json

# The tests' own rule picks the server (FKAPI_TEST_DATABASE_URL, else
# DATABASE_URL's server), so this cleans where the tests wrote.
clean-test-dbs: services
	$(CARGO) run -q -p fkapi-tests --bin clean-test-dbs

# Benchmarks (bench/, BENCHMARKS.md). `make bench` seeds the large scale into
# the fkapi_bench database once and writes BENCHMARKS.md and
# bench/results/latest.json; `make bench-quick` is the < 2 minute version
# (small scale in fkapi_bench_quick) writing under bench/results/.
.PHONY: bench bench-quick bench-feed bench-build
bench-build: services
	$(CARGO) build --release -p fkapi-api --features bench
	cp target/release/fkapi target/release/fkapi-bench-server.tmp && mv -f target/release/fkapi-bench-server.tmp target/release/fkapi-bench-server
	$(CARGO) build --release -p fkapi-bench

bench: bench-build
	bash bench/run.sh full

bench-quick: bench-build
	bash bench/run.sh quick

# Only the change-feed workloads (rolling restart, feed lag under 1,000
# changes/s) on the small catalogue: bench/results/BENCHMARKS-feed.md.
bench-feed: bench-build
	bash bench/run.sh feed
