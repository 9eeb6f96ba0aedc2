# One entry point for people and CI. Every target installs what it needs first.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
REQUIREMENTS := requirements.txt requirements-dev.txt $(wildcard service/requirements.txt training/requirements.txt)
# checkov lives in its own venv: its dependency pins clash with the program's.
SCAN_VENV ?= .venv-scan
SCAN_STAMP := $(SCAN_VENV)/.installed

.PHONY: help venv scan-venv system-deps lint typecheck scan test test-reliability reliability-report demo demo-down demo-clean bench profile mutate-policy

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(STAMP): $(REQUIREMENTS)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

venv: $(STAMP) ## create .venv and install the pinned requirements

$(SCAN_STAMP): requirements-scan.txt
	@test -x $(SCAN_VENV)/bin/python || $(PYTHON) -m venv $(SCAN_VENV)
	$(SCAN_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-scan.txt
	@touch $@

scan-venv: $(SCAN_STAMP) ## create .venv-scan with the pinned checkov

system-deps: ## install the Debian packages the tests run (as root, when missing)
	@bash local/system-deps.sh

lint: venv ## ruff
	$(VENV)/bin/ruff check .

typecheck: venv ## mypy (strict for infra/ and service/)
	$(VENV)/bin/mypy

scan: venv scan-venv ## checkov over every stack's rendered manifests, hadolint over every Dockerfile (offline)
	$(VENV)/bin/pytest tests/policy/test_scanners.py -q -rs

test: venv scan-venv system-deps lint typecheck ## lint, types, all tests but the long reliability scenarios
	$(VENV)/bin/pytest -m "not reliability"

mutate-policy: venv ## blank each policy violation message, flip each comparison, one at a time; list what the policy suite misses
	$(PY) scripts/mutate_policy.py

test-reliability: venv system-deps ## the long reliability scenarios make test leaves out: load, faults (~4 min; CI runs it too)
	$(VENV)/bin/pytest tests/reliability -m reliability -q -rs

reliability-report: venv ## write the figures of the last reliability run into docs/reliability.md
	$(PY) -m tests.reliability.report

# Not part of `make test` (only its smoke is): about 25 minutes of both cores; the peers' venvs (.local/bench-peers/)
# are made on first use.
bench: venv system-deps ## benchmark the service against mlflow serve, MLServer, BentoML, LitServe; writes bench/results/
	$(PY) -m bench

# Not part of `make test`: py-spy on one service worker per path under a few seconds of wrk (docs/performance.md).
profile: venv system-deps ## where a service worker's time goes per request (py-spy, by stage), for each bench path
	$(PY) -m bench profile --gil

DB ?= sqlite

DEMO_MODEL ?= diabetes
demo: venv system-deps ## run the whole topology locally (DB=postgres for the production backend store, DEMO_MODEL=iris for a classifier)
	$(PY) -m local up --db $(DB) --model $(DEMO_MODEL)

demo-down: ## stop everything the demo started
	@if [ -x $(PY) ]; then $(PY) -m local down; fi

demo-clean: ## stop the demo and delete its state (.local/)
	@if [ -x $(PY) ]; then $(PY) -m local clean; else rm -rf .local; fi

.PHONY: manifests
STACK ?= prod
manifests: venv ## write every Kubernetes object of STACK (a Pulumi.<STACK>.yaml) as YAML to build/manifests/STACK/
	$(PY) -m tests.infra.render_manifests $(STACK)

.PHONY: teardown
teardown: venv ## destroy STACK so the destroy completes: its previews first, protection lifted (asks first; docs/operations.md)
	@case "$(origin STACK)" in "command line"|environment) ;; *) echo "name the stack: make teardown STACK=<stack>" >&2; exit 2;; esac
	$(PY) scripts/teardown.py $(STACK)
