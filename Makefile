# sealroom: the two commands a fresh machine needs are `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
export npm_config_fund := false
export npm_config_audit := false
export npm_config_update_notifier := false

STAMP := node_modules/.sealroom-install-stamp
DATA_DIR ?= data
# Browser tests drive Debian's Chromium through playwright-core (it cannot download its own here).
CHROMIUM := /usr/bin/chromium
# The published package, built into dist/ (docs/package.md): .js and .d.ts, its own package.json,
# the migrations, and the `sealroom` command on plain node (the tsx loader would add ~34 MB of RSS).
DIST_CLI := dist/bin/sealroom.js
SOURCES := $(shell find bridge protocol crypto endpoint -name '*.ts' -not -name '*.test.ts' 2>/dev/null)
# The web app (docs/app.md): built into dist/app, which the built `sealroom start` serves at /.
APP_BUILD := dist/app/sealroom-app.json
APP_SOURCES := $(shell find app -type f -not -name '*.test.ts' 2>/dev/null)
# `make run` starts the Bridge in dev mode (docs/app.md: the app registers its own users in a demo
# context, on loopback only); `make run DEV=` starts it without.
DEV ?= --dev
# Calls between browser windows on this machine: browsers never use loopback for WebRTC, so the media
# unit binds one of this machine's addresses and takes media from this machine only
# (bridge/media/this-machine.ts); `make run MEDIA=` keeps it on loopback.
MEDIA ?= --media-address this-machine

.PHONY: help install build pack run cluster test typecheck lint format unit bench bench-quick clean browser postgres nats

help:
	@echo "make run          install what is missing, build, start the Bridge on embedded SQLite in ./$(DATA_DIR) with the web app (dev mode)"
	@echo "make cluster      PostgreSQL, NATS and $(BRIDGES) Bridges on loopback (ports $(PORT)...) with the web app (dev mode), data in ./$(CLUSTER_DIR)"
	@echo "make test         install what is missing, typecheck, run every test"
	@echo "make bench        run the benchmarks, write bench/results/latest.{json,md} (wall time per step: docs/operations/benchmarks.md)"
	@echo "make bench-quick  a smaller benchmark run (its goal is 2 minutes; not met yet, docs/operations/benchmarks.md)"
	@echo "make build        build the published package into dist/; make pack: its tarball"

# Idempotent: `npm ci` from the committed lockfile only when the lockfile changed since the last install.
# better-sqlite3 builds from source; the require check fails loudly if its install script was skipped.
install: $(STAMP)
$(STAMP): package.json package-lock.json
	npm ci
	node -e "require('better-sqlite3')"
	@touch $@

browser: $(CHROMIUM)
$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	elif command -v sudo >/dev/null && command -v apt-get >/dev/null; then \
	  sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	else \
	  echo "the browser tests need Debian's chromium at $(CHROMIUM) (apt-get install -y chromium)" >&2; exit 1; \
	fi

# The PostgreSQL store's tests start Debian's PostgreSQL server themselves (test/postgres.ts).
postgres:
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; \
	elif command -v sudo >/dev/null && command -v apt-get >/dev/null; then \
	  sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; \
	else \
	  echo "the PostgreSQL store's tests need Debian's postgresql (apt-get install -y postgresql)" >&2; exit 1; \
	fi

# The cluster tests start Debian's nats-server themselves (test/nats.ts, docs/operations/cluster.md).
nats:
	@if command -v nats-server >/dev/null || [ -x /usr/sbin/nats-server ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server; \
	elif command -v sudo >/dev/null && command -v apt-get >/dev/null; then \
	  sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server; \
	else \
	  echo "the cluster tests need Debian's nats-server (apt-get install -y nats-server)" >&2; exit 1; \
	fi

typecheck: install
	npx tsc --noEmit -p .

# Biome (biome.json): the recommended lint rules and the formatter check; `make format` rewrites.
lint: install
	npx biome check .

format: install
	npx biome check --write .

unit: install
	npx vitest run

test: install browser postgres nats typecheck lint unit

build: $(DIST_CLI) $(APP_BUILD)
$(DIST_CLI): $(STAMP) $(SOURCES) $(wildcard migrations/*.sql migrations/postgres/*.sql) package.json tsconfig.build.json scripts/build-package.mjs
	node scripts/build-package.mjs

$(APP_BUILD): $(STAMP) $(APP_SOURCES) $(SOURCES) package.json scripts/build-app.mjs
	node scripts/build-app.mjs

# The tarball an app installs: dist/ is the package root.
pack: build
	npm pack ./dist

# Default V8 heap: a smaller young generation (node --max-semi-space-size=4) saves ~20 MB with
# 1,000 idle connections but costs the relay throughput; see README, Performance.
run: build
	node $(DIST_CLI) start --data-dir $(DATA_DIR) $(DEV) $(MEDIA)

# `make cluster` (docs/operations/cluster.md): Debian's PostgreSQL and nats-server on loopback with their
# data in ./$(CLUSTER_DIR), and $(BRIDGES) Bridges on ports $(PORT), $(PORT)+1, ... sharing them, each
# serving the web app as `make run` does; Ctrl-C stops them all (scripts/cluster/main.ts).
BRIDGES ?= 3
PORT ?= 8080
CLUSTER_DIR ?= .cluster
POSTGRES_PORT ?= 15432
NATS_PORT ?= 14222
cluster: build postgres nats
	node --import tsx scripts/cluster/main.ts --bridges $(BRIDGES) --port $(PORT) --data-dir $(CLUSTER_DIR) \
	  --postgres-port $(POSTGRES_PORT) --nats-port $(NATS_PORT) --sealroom $(DIST_CLI) -- $(DEV) $(MEDIA)

bench: install
	node --import tsx bench/run.ts

bench-quick: install
	node --import tsx bench/run.ts --quick

clean:
	rm -rf node_modules dist coverage
