# One entry point for people and CI. Everything a clean machine needs is installed by `make setup`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup test lint dev bench clean preview up destroy seed recreate export-catalogue

setup: $(STAMP) worker/node_modules/.package-lock.json

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

worker/node_modules/.package-lock.json: worker/package-lock.json
	cd worker && npm ci --no-audit --no-fund

test: setup
	cd worker && node --test test/
	$(PY) -m pytest

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(VENV)/bin/actionlint .github/workflows/*.yml
	$(VENV)/bin/zizmor --offline .github/workflows/

dev: setup
	$(PY) -m qrsync demo

bench: setup
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) worker/node_modules .qrsync-state

# --- Stack operations (need the pulumi CLI, `pulumi login`, and CLOUDFLARE_API_TOKEN) -----------
# STACK picks the stack; CATALOGUE is the NDJSON file that `seed` pushes and `export-catalogue` writes.
STACK ?= staging
CATALOGUE ?= catalogue.ndjson
PULUMI ?= pulumi
# The target stack's own URL and key, read from Pulumi so they are never typed or stored by hand.
STACK_ENV = QRSYNC_URL="$$($(PULUMI) stack output workerUrl --stack $(STACK))" \
	QRSYNC_API_KEY="$$($(PULUMI) config get syncApiKey --stack $(STACK))"

preview: setup
	$(PULUMI) preview --stack $(STACK) --diff

up: setup
	$(PULUMI) up --stack $(STACK) --yes

# Refuses prod outright; Pulumi would refuse too while `protect` is on (see README, Teardown).
destroy: setup
	@if [ "$(STACK)" = prod ]; then echo "make destroy: refusing to destroy prod (see README, Teardown and recreate)" >&2; exit 1; fi
	$(PULUMI) destroy --stack $(STACK) --yes

seed: setup
	$(STACK_ENV) $(PY) -m qrsync push $(CATALOGUE)

recreate: destroy up seed

export-catalogue: setup
	$(STACK_ENV) $(PY) -m qrsync export $(CATALOGUE)
