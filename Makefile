# One entry point for humans and CI. `make run` and `make test` work on a fresh machine.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
export RAG_HOME ?= $(CURDIR)/.rag
export HF_HUB_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1
export GRADIO_ANALYTICS_ENABLED := False
export ANONYMIZED_TELEMETRY := False
# Tests leave the user's index alone
PYTEST_ARGS ?=

.PHONY: setup browser run ingest test lint bench eval llm clean

# torch first: 2.13.0 is a CPU wheel on local disk; any other torch requirement pulls CUDA builds.
$(STAMP): pyproject.toml requirements.lock
	test -d $(VENV) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -r requirements.lock
	$(PIP) install -q --no-deps -e .
	touch $(STAMP)

setup: $(STAMP)

# Debian's Chromium for the real-browser UI tests (Playwright's own download does not work offline).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null; \
	  else echo "chromium missing: sudo apt-get install chromium chromium-driver (browser tests will be skipped)"; fi; }

ingest: setup
	$(VENV)/bin/rag ingest

run: setup
	@test -s "$(RAG_HOME)/manifest.sqlite" || $(VENV)/bin/rag ingest
	$(VENV)/bin/rag ui

test: setup browser
	$(PY) -m pytest $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: setup
	$(PY) bench/run.py

eval: setup
	@test -s "$(RAG_HOME)/manifest.sqlite" || $(VENV)/bin/rag ingest
	$(VENV)/bin/rag eval eval/questions/dev.jsonl --out runs/dev-extractive --generator extractive
	$(VENV)/bin/rag eval eval/questions/dev.jsonl --out runs/dev-retrieval --retrieval-only

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache runs
