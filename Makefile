# One entry point for people and CI. Everything a clean machine needs is installed by `make setup`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup test lint dev bench clean

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
