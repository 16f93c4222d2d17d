# Two commands: `make run` (the service with a demo) and `make test` (every test).
# Builds share one target directory outside the clone, so CI and fresh clones reuse it.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/renkei/target
BIN := $(CARGO_TARGET_DIR)/debug

.PHONY: run test bench resilience peers services build schema fmt lint

services:
	@bash scripts/services.sh

build:
	cargo build --workspace --bins

## make run: PostgreSQL + Redis (installed and started if need be), migrations, demo data, the API
## and the worker; prints the GraphiQL address and a token per role.
run: services build
	@bash scripts/run.sh

## make test: the same services, then every test against them.
test: services
	@bash scripts/test.sh

## make bench: the national dataset, then the KPI report through GraphQL next to PostgreSQL alone
## (optimised build; prints a table, see the README's figures).
bench: services
	@bash -c 'source .dev/env && cargo bench -p renkei-tests --bench kpi_report'

## make resilience: the API, two workers, Redis and an SMTP relay as processes on the national
## dataset under a realistic mix, while a worker is killed, PostgreSQL restarts (the local
## cluster, really), Redis stops and the relay refuses mail; checks nothing was lost (~9 min).
resilience: services
	cargo build --release -p renkei-api -p renkei-worker
	@bash -c 'source .dev/env && cargo bench -p renkei-tests --bench resilience'

## make peers: this API next to PostGraphile 5 on the same reads, and the KPI report next to
## pgbench running its SQL, at constant arrival rates (oha); see bench/README.md.
peers: services
	cargo build --release -p renkei-api
	@bash bench/peers.sh

## Regenerate graphql/schema.graphql from the code.
schema: build
	$(BIN)/renkei-api schema > graphql/schema.graphql

fmt:
	cargo fmt --all

lint:
	cargo clippy --workspace --all-targets -- -D warnings
