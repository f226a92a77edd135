# Course selection — `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: help env run test lint typecheck unit unit-fast fuzz loadtest fairness bench draw-bench rehearse clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-10s %s\n", $$1, $$2}'

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv

$(BIN)/selection: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen
	@touch $@

env: $(BIN)/selection ## Build the environment (.venv) from uv.lock

# The embedded PostgreSQL keeps its lock under the user's runtime directory; where none is set,
# a private one (mode 0700, or platformdirs warns and picks another) short enough for its socket.
RUNTIME_DIR := $(or $(XDG_RUNTIME_DIR),/tmp/runtime-$(shell id -u))

run: env ## Serve on http://127.0.0.1:8000 (embedded PostgreSQL/Redis unless the URLs are set)
	@mkdir -p -m 700 $(RUNTIME_DIR)
	XDG_RUNTIME_DIR=$(RUNTIME_DIR) SELECTION_LOG_FORMAT=$${SELECTION_LOG_FORMAT:-text} $(BIN)/selection serve --dev

lint: env ## ruff: lint and formatting
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: env ## mypy --strict
	$(BIN)/mypy

# The pages' targets (the browser and sign-in tests' tools, the catalogs, the screenshots).
.PHONY: browser oidc-provider messages screenshots

# The browser tests (tests/browser) drive Debian's Chromium through Playwright, never a browser
# Playwright downloads; a CJK font makes the Chinese pages' screenshots legible. Installed with
# apt-get (as root) when missing; where that fails, the browser tests fail, they are not skipped.
browser: ## Install what the browser tests need (Debian's chromium, a CJK font) when missing
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium fonts-wqy-microhei; } \
		|| echo "warning: could not install chromium: the browser tests will fail" >&2

# The sign-in tests' OpenID Connect provider (tests/oidc): panva's oidc-provider, pinned by its
# package-lock.json, run with the machine's Node.js (Debian's nodejs and npm when missing).
tests/oidc/node_modules/.package-lock.json: tests/oidc/package-lock.json
	@command -v npm >/dev/null || { apt-get update -qq && apt-get install -y -qq nodejs npm; } \
		|| echo "warning: could not install Node.js: the sign-in tests will fail" >&2
	cd tests/oidc && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

oidc-provider: tests/oidc/node_modules/.package-lock.json ## Install the sign-in tests' OpenID Connect provider

# The suite runs in TEST_WORKERS processes (pytest-xdist), each with its own servers (or its own
# databases and keys on the given ones): most tests wait on PostgreSQL, Redis or a browser, so two
# processes on two cores take about 0.6 of the time of one (the crash tests then run alone).
# TEST_WORKERS=0 runs the rest in one process too.
TEST_WORKERS ?= 2

unit: env browser oidc-provider ## pytest (starts throw-away servers unless SELECTION_TEST_*_URL are set)
	XDG_RUNTIME_DIR=$${XDG_RUNTIME_DIR:-/tmp} $(BIN)/pytest -n $(TEST_WORKERS) --ignore=tests/crash $(PYTEST_ARGS)
	# The crash tests time real processes' shutdowns and restarts: alone, not beside the others.
	XDG_RUNTIME_DIR=$${XDG_RUNTIME_DIR:-/tmp} $(BIN)/pytest tests/crash $(PYTEST_ARGS) || [ $$? -eq 5 ]  # 5: PYTEST_ARGS chose none of them

unit-fast: env ## pytest without the crash tests (tests/crash: real service processes killed and restarted)
	XDG_RUNTIME_DIR=$${XDG_RUNTIME_DIR:-/tmp} $(BIN)/pytest -n $(TEST_WORKERS) --ignore=tests/crash -m "not slow" $(PYTEST_ARGS)

test: lint typecheck unit ## Everything CI runs: lint, types, the whole suite

FUZZ_EXAMPLES ?= 200
FUZZ_STEPS ?= 50

fuzz: env ## The generated tests (OpenAPI requests, the rules model) with large budgets (FUZZ_EXAMPLES, FUZZ_STEPS)
	XDG_RUNTIME_DIR=$${XDG_RUNTIME_DIR:-/tmp} SELECTION_TEST_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) \
	SELECTION_TEST_MODEL_EXAMPLES=$(FUZZ_EXAMPLES) SELECTION_TEST_MODEL_STEPS=$(FUZZ_STEPS) \
	$(BIN)/pytest tests/api/test_schema_fuzz.py tests/api/test_rules_model.py $(PYTEST_ARGS)

LOADTEST_HOST ?= http://127.0.0.1:8000
LOADTEST_ARGS ?=

loadtest: env ## Rehearse a round opening under locust, check, report (LOADTEST_HOST, LOADTEST_ARGS)
	@mkdir -p -m 700 $(RUNTIME_DIR)
	XDG_RUNTIME_DIR=$(RUNTIME_DIR) LOADTEST_HOST=$(LOADTEST_HOST) $(BIN)/python -m loadtests.opening $(LOADTEST_ARGS)

FAIRNESS_ARGS ?=

fairness: env ## Fast and slow students race, with and without a fair-start window; docs/fairness.png (FAIRNESS_ARGS)
	@mkdir -p -m 700 $(RUNTIME_DIR)
	XDG_RUNTIME_DIR=$(RUNTIME_DIR) $(BIN)/python -m loadtests.fairness $(FAIRNESS_ARGS)

BENCH_ARGS ?=

draw-bench: env ## The lottery's draw at the demo's size (7,390 students, 8-12 wishes each), timed
	$(BIN)/python -m loadtests.draw_bench

bench: env ## Durable selects: product vs naive design vs no-op floor vs gate ceiling, one report (BENCH_ARGS)
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
	@mkdir -p -m 700 $(RUNTIME_DIR)
	XDG_RUNTIME_DIR=$(RUNTIME_DIR) $(BIN)/python -m loadtests.bench $(BENCH_ARGS)

REHEARSE_ARGS ?=

rehearse: env ## Rehearse a round on a staging copy and print the verdict (REHEARSE_ARGS: --database-url, --round)
	@mkdir -p -m 700 $(RUNTIME_DIR)
	XDG_RUNTIME_DIR=$(RUNTIME_DIR) $(BIN)/python -m loadtests.rehearse $(REHEARSE_ARGS)

PAGES := selection/pages

# The pictures are the journey's (tests/browser/test_journey.py); the old ones go first, so that
# docs/screenshots/ holds exactly what the test writes.
screenshots: env browser ## The pages' screenshots into docs/screenshots/ (the journey test, run to save them)
	rm -f docs/screenshots/*.png
	XDG_RUNTIME_DIR=$${XDG_RUNTIME_DIR:-/tmp} SELECTION_TEST_SCREENSHOTS=1 $(BIN)/pytest tests/browser/test_journey.py -q $(PYTEST_ARGS)

messages: env ## The pages' catalogs: extract every message from the templates, update the .po files (then translate)
	$(BIN)/pybabel extract -F $(PAGES)/babel.cfg -o $(PAGES)/locale/messages.pot --no-location --omit-header --sort-output --no-wrap $(PAGES)
	for lang in en zh_Hans; do \
		$(BIN)/pybabel update -i $(PAGES)/locale/messages.pot -d $(PAGES)/locale -l $$lang --no-wrap --ignore-obsolete --no-fuzzy-matching; \
	done

clean: ## Remove the environment and local data (.venv, .tools, .data)
	rm -rf $(VENV) .tools .data .mypy_cache .ruff_cache .pytest_cache
