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

.PHONY: help install run test typecheck unit bench bench-quick clean browser

help:
	@echo "make run          install what is missing, start the Bridge on embedded SQLite in ./$(DATA_DIR)"
	@echo "make test         install what is missing, typecheck, run every test"
	@echo "make bench        run the benchmarks, write bench/results/latest.{json,md}"
	@echo "make bench-quick  a smaller benchmark run (under 2 minutes)"

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

typecheck: install
	npx tsc --noEmit -p .

unit: install
	npx vitest run

test: install browser typecheck unit

run: install
	node bin/sealroom.js start --data-dir $(DATA_DIR)

bench: install
	node --import tsx bench/run.ts

bench-quick: install
	node --import tsx bench/run.ts --quick

clean:
	rm -rf node_modules dist coverage
