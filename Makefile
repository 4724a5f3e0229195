# Day-to-day recipes. Each is a thin call of the retort CLI or of scripts/.
#
#   make demo                         build, then tour the offline commands on versions/
#   make test                         fmt + clippy + every test against a throwaway PostgreSQL
#   make bench                        benchmarks with ratios (scripts/bench.sh)
#   make local-start / local-stop     a throwaway local PostgreSQL (scripts/pg-local.sh)
#   make db/new_migration MESSAGE=... a new empty revision in versions/
#   make db/migrate                   retort upgrade (DATABASE_URL, .env or retort.toml; ENV=prod)
#   make db/schema OUTFILE=schema.sql retort dump-schema of the database
#   make db/dump OUTFILE=prod.dump    pg_dump -Fc of DATABASE_URL (e.g. production)
#   make db/local/load-schema INFILE=prod.dump
#                                     restore a dump into the local server's `local` database
#   make db/test_migration            retort test-migration --each on a scratch database
#                                     (INFILE=prod.dump: on a restored dump; LOCAL=1: on the
#                                     database loaded by db/local/load-schema)

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
CARGO ?= cargo
RETORT_DEBUG := target/debug/retort

.PHONY: deps build demo test lint bench local-start local-stop db/new_migration db/migrate db/schema \
	db/dump db/local/load-schema db/test_migration check-docker

# Building needs libclang besides Rust (for the pg_query parser); installed when missing.
deps:
	@scripts/build-deps.sh

build: deps
	$(CARGO) build --quiet

lint: deps
	$(CARGO) fmt --check
	$(CARGO) clippy --quiet --all-targets -- -D warnings

# The database tests need TEST_DATABASE_URL: start a private server, run everything,
# and stop the server whatever the outcome.
test: lint
	@url="$$(scripts/pg-local.sh start)"; \
	trap 'scripts/pg-local.sh stop' EXIT; \
	export TEST_PG_CA="$$(scripts/pg-local.sh ca)"; \
	if $(CARGO) nextest --version >/dev/null 2>&1; then \
		TEST_DATABASE_URL="$$url" $(CARGO) nextest run --no-fail-fast; \
	else \
		echo "cargo-nextest not found; using cargo test" >&2; \
		TEST_DATABASE_URL="$$url" $(CARGO) test --no-fail-fast; \
	fi

demo: build
	scripts/demo.sh $(RETORT_DEBUG)

bench: deps
	scripts/bench.sh

local-start:
	@scripts/pg-local.sh start

local-stop:
	@scripts/pg-local.sh stop

db/new_migration: build
	@test -n "$(MESSAGE)" || { echo 'usage: make db/new_migration MESSAGE="add user email"' >&2; exit 2; }
	$(RETORT_DEBUG) new-migration -m "$(MESSAGE)"

db/migrate: build
	$(RETORT_DEBUG) $(if $(ENV),--env $(ENV)) upgrade

db/schema: build
	$(RETORT_DEBUG) $(if $(ENV),--env $(ENV)) dump-schema $(if $(OUTFILE),-o $(OUTFILE))

db/dump:
	@test -n "$(OUTFILE)" || { echo 'usage: make db/dump OUTFILE=prod.dump' >&2; exit 2; }
	scripts/db-dump.sh "$(OUTFILE)"

# The local server's `local` database: recreated, then the dump restored into it.
db/local/load-schema: build
	@test -n "$(INFILE)" || { echo 'usage: make db/local/load-schema INFILE=prod.dump' >&2; exit 2; }
	@url="$$(scripts/pg-local.sh start)"; \
	$(RETORT_DEBUG) --database-url "$$url" restore-dump --into local --replace "$(INFILE)"

db/test_migration: build
	@if [ -n "$(LOCAL)" ]; then \
		url="$$(scripts/pg-local.sh url)"; \
		$(RETORT_DEBUG) --database-url "$${url%/postgres}/local" test-migration --each; \
	else \
		$(RETORT_DEBUG) test-migration --each $(if $(INFILE),--from-dump "$(INFILE)"); \
	fi

# The Docker scratch provider compiles only with the `docker` feature; there is no
# Docker engine on the CI machine, so this checks that it builds.
check-docker: deps
	$(CARGO) clippy --quiet --features docker --all-targets -- -D warnings
