# sealroom: the two commands a fresh machine needs are `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
export npm_config_fund := false
export npm_config_audit := false
export npm_config_update_notifier := false

STAMP := node_modules/.sealroom-install-stamp
DATA_DIR ?= data

.PHONY: help install run test typecheck unit bench bench-quick clean

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

typecheck: install
	npx tsc --noEmit -p .

unit: install
	npx vitest run

test: install typecheck unit

run: install
	node bin/sealroom.js start --data-dir $(DATA_DIR)

bench: install
	node --import tsx bench/run.ts

bench-quick: install
	node --import tsx bench/run.ts --quick

clean:
	rm -rf node_modules dist coverage
