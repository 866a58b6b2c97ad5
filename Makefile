# callpulse developer entry points. `make test` is what CI runs (.ci/run).
#
#   make test     venv + deps (when pyproject.toml changed) + compiled engine (when its sources
#                 changed) + broker jars + ruff + all tests, then the unit tests on pure Python
#   make demo     the whole stack with simulated traffic and a live wallboard (DEMO_ARGS=...)
#   make help     everything else

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Written after a successful install; older than pyproject.toml = reinstall.
INSTALLED := $(VENV)/.installed
CALLPULSE := $(BIN)/callpulse

KAFKA_VERSION ?= 4.1.1
KAFKA_PORT ?= 9092
KAFKA_RUN_DIR ?= run/kafka
# The test fixture reads this, so `make test KAFKA_VERSION=4.2.0` tests another broker.
export CALLPULSE_KAFKA_VERSION := $(KAFKA_VERSION)

# Debian packages the project needs beyond Python: Java 17+ runs the broker, Maven fetches it;
# prometheus brings promtool (rules export checks), prometheus-alertmanager the alert e2e;
# gcc compiles the engine (optional: without a C compiler it runs as pure Python).
APT_PACKAGES := openjdk-17-jdk-headless maven prometheus prometheus-alertmanager gcc
PREREQ_TOOLS := java mvn promtool amtool prometheus-alertmanager

.PHONY: help test lint unit demo clean distclean install compile prereqs jars \
	kafka-start kafka-stop kafka-status

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

test: install compile jars ## ruff + the whole test suite (unit, property, real-Kafka integration)
	$(BIN)/ruff check .
	$(BIN)/pytest
	@echo "the unit tests again on the pure Python engine (CALLPULSE_PURE=1):"
	CALLPULSE_PURE=1 $(BIN)/pytest -q -m "not kafka and not e2e and not compiled"

unit: install compile ## fast tests only (no broker, no processes)
	$(BIN)/pytest -m "not kafka and not e2e"

lint: install ## ruff check + ruff format --check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

demo: install compile ## the main job: broker, worker, simulator, alerts, live wallboard (Ctrl-C stops all)
	@command -v java >/dev/null && command -v mvn >/dev/null || $(MAKE) prereqs
	@$(CALLPULSE) kafka fetch --version $(KAFKA_VERSION) >/dev/null
	@$(CALLPULSE) demo --kafka-version $(KAFKA_VERSION) --kafka-port $(KAFKA_PORT) $(DEMO_ARGS)

kafka-start: install jars ## start the local broker in the background (KAFKA_PORT, KAFKA_VERSION)
	$(CALLPULSE) kafka start --port $(KAFKA_PORT) --version $(KAFKA_VERSION) --run-dir $(KAFKA_RUN_DIR)

kafka-stop: install ## stop the local broker
	$(CALLPULSE) kafka stop --run-dir $(KAFKA_RUN_DIR)

kafka-status: install ## is the local broker running, and where
	@$(CALLPULSE) kafka status --run-dir $(KAFKA_RUN_DIR) || true

clean: ## stop the broker, remove run state and tool caches (keeps .venv and the jars)
	@if [ -x $(CALLPULSE) ]; then $(CALLPULSE) kafka stop --run-dir $(KAFKA_RUN_DIR); fi
	rm -rf run .pytest_cache .ruff_cache .hypothesis
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean ## also remove .venv, the cached Kafka jars and the compiled engine
	rm -rf $(VENV) .cache *.egg-info build .mypy_cache stream/_build.py
	find stream consumers -name '*.so' -delete

install: $(INSTALLED) ## create .venv and install the project with its test extras

# The compiled engine (setup.py: mypyc, in place; pyproject.toml [tool.callpulse] compiled).
# `python -m stream --check` fails unless the build there is that of today's sources, so any
# edit of a compiled module (its content, not its mtime) rebuilds it. The import guard in
# stream/_compiled.py never runs a stale build either: it falls back to the sources, warning.
# CALLPULSE_PURE=1: none (checks pass, nothing is built, the engine runs pure Python).
compile: install ## (re)build the compiled engine in place when a compiled module's source changed
	@command -v cc >/dev/null || command -v gcc >/dev/null || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing a C compiler for the compiled engine: apt-get install gcc"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc; \
		else echo "no C compiler (apt-get install gcc): the engine will run as pure Python"; fi; }
	@$(BIN)/python -W ignore -m stream --check >/dev/null || { \
		echo "compiling the engine with mypyc (log: $(VENV)/compile.log)"; \
		$(BIN)/python setup.py build_ext --inplace -j 2 > $(VENV)/compile.log 2>&1 \
			|| { tail -40 $(VENV)/compile.log >&2; exit 1; }; \
		grep '^callpulse build:' $(VENV)/compile.log || true; }
	@$(BIN)/python -W error::RuntimeWarning -m stream

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "error: callpulse needs Python 3.11+ (PYTHON=$(PYTHON))" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(INSTALLED): pyproject.toml setup.py | $(BIN)/python
	@echo "installing callpulse[test,compile] into $(VENV) (log: $(VENV)/pip.log)"
	@$(BIN)/python -m pip install --disable-pip-version-check -e '.[test,compile]' \
		> $(VENV)/pip.log 2>&1 || { tail -40 $(VENV)/pip.log >&2; exit 1; }
	@touch $@

jars: prereqs install ## fetch the Kafka broker jars with Maven (cached; no-op when present)
	@$(CALLPULSE) kafka fetch --version $(KAFKA_VERSION) >/dev/null

prereqs: ## check for java, mvn, promtool, alertmanager; as root with apt-get, install them
	@missing=""; \
	for tool in $(PREREQ_TOOLS); do command -v $$tool >/dev/null || missing="$$missing $$tool"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing$$missing: apt-get install $(APT_PACKAGES)"; \
		apt-get update -qq; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES); \
	else \
		echo "error: not found:$$missing. The local Kafka broker needs Java 17+ and Maven," >&2; \
		echo "the alert tests promtool and Alertmanager:" >&2; \
		echo "    sudo apt-get install $(APT_PACKAGES)" >&2; \
		exit 1; \
	fi
