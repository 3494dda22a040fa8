# One entry point for users and CI. Every target bootstraps what it needs: the virtualenv (pip upgraded first),
# the Python packages, and the Debian packages the tests use (prometheus + promtool, chromium).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export AKIDB_HOME ?= $(CURDIR)/.akidb
export DAGSTER_HOME ?= $(AKIDB_HOME)/dagster
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
UI_HOST ?= 127.0.0.1
UI_PORT ?= 3000

.PHONY: demo test ui live bench chaos venv system-deps clean help

help:
	@echo "make demo   - generate 7 days of synthetic AkiDB telemetry and materialize the whole asset graph"
	@echo "make test   - run the whole test suite (starts moto, Prometheus and Dagster on 127.0.0.1 itself)"
	@echo "make ui     - start the Dagster UI and daemon on http://$(UI_HOST):$(UI_PORT)"
	@echo "make live   - a live synthetic AkiDB feed under the Dagster daemon and UI; inject with '.venv/bin/akidb inject spot'"
	@echo "make bench  - ingest, burn-rate, forecast and detection-cycle benchmarks (not part of the tests)"
	@echo "make chaos  - replay the shipped chaos scenarios and print MTTD/MTTR/pages per detector (JSON in \$$AKIDB_HOME/chaos)"

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

system-deps:
	@command -v promtool >/dev/null && command -v prometheus >/dev/null || { \
	  echo "installing Debian package prometheus (server + promtool) for the integration tests"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }
	@command -v chromium >/dev/null || { \
	  echo "installing Debian package chromium (headless) for the dashboard tests"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; }

$(DAGSTER_HOME)/dagster.yaml:
	@mkdir -p $(DAGSTER_HOME)
	@printf 'telemetry:\n  enabled: false\nnux:\n  enabled: false\n' > $@

demo: $(STAMP) $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/akidb demo

test: $(STAMP) system-deps
	$(BIN)/python -m pytest

ui: $(STAMP) $(DAGSTER_HOME)/dagster.yaml
	@echo "Dagster UI on http://$(UI_HOST):$(UI_PORT) (Ctrl-C stops it); runs from 'make demo' are in $(DAGSTER_HOME)"
	VIRTUAL_ENV=$(CURDIR)/$(VENV) PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/dg dev --use-active-venv --host $(UI_HOST) --port $(UI_PORT)

# Bootstrap (a week of history, models, PagerDuty stand-in, AWS sandbox), then the feed, the daemon and the UI.
live: $(STAMP)
	$(BIN)/akidb live --port $(UI_PORT)

bench: $(STAMP)
	-$(BIN)/python -m tests.benchmarks.bench_ingest
	-$(BIN)/python -m tests.benchmarks.bench_burn_rates
	-$(BIN)/python -m tests.benchmarks.bench_burn_incremental
	-$(BIN)/python -m tests.benchmarks.bench_tick_reads
	-$(BIN)/python -m tests.benchmarks.bench_forecast
	-$(BIN)/python -m tests.benchmarks.bench_cycle
	-$(BIN)/python -m tests.benchmarks.bench_live
	$(BIN)/python -m tests.benchmarks.results

chaos: $(STAMP)
	$(BIN)/akidb chaos --json $(AKIDB_HOME)/chaos/report.json

clean:
	rm -rf $(AKIDB_HOME) .pytest_cache
