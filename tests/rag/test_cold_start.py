"""Start-up cost: a CLI command imports only what it needs (no torch, transformers or sentence-transformers at
query time; no LangChain retriever for `search`; neither the embedding runtime nor LangChain for `stats`), and
`rag ui` loads the models before the server says it is running. Wall-clock targets are in bench/speed.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rag.query
from ingest.tokenizer import get_encoding
from rag.query import clean_question

HEAVY = ("torch", "transformers", "sentence_transformers", "gradio", "langchain_openai", "openai", "matplotlib")

# Runs one command in a fresh interpreter, then reports which of the watched modules it imported.
PROBE = """
import json, sys
from typer.testing import CliRunner
from rag.cli import app
result = CliRunner().invoke(app, sys.argv[1:], catch_exceptions=False)
watched = %r
print(json.dumps({"exit": result.exit_code, "stdout": result.stdout,
                  "loaded": sorted(m for m in watched if m in sys.modules)}))
"""


def run_fresh(home, *args: str) -> dict:
    watched = [*HEAVY, "onnxruntime", "langchain_core.runnables", "langchain_core.retrievers", "chromadb"]
    env = {**os.environ, "RAG_HOME": str(home)}
    out = subprocess.run(
        [sys.executable, "-c", PROBE % (watched,), *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def exported(embeddings):
    embeddings.query_encoder(["the export every fresh process reads"])  # made once per session's model cache


@pytest.mark.slow
def test_search_reads_the_exported_model_and_never_imports_torch_or_the_langchain_retriever(tiny_home, exported):
    res = run_fresh(tiny_home, "search", "diffusion sampling", "--json")
    assert res["exit"] == 0 and json.loads(res["stdout"])[0]["title"]
    assert "onnxruntime" in res["loaded"]
    assert not set(res["loaded"]) & {*HEAVY, "langchain_core.retrievers"}


@pytest.mark.slow
def test_ask_answers_without_importing_torch(tiny_home, exported):
    res = run_fresh(tiny_home, "ask", "What FID does the four-step distilled student reach on CIFAR-10?", "--json")
    assert res["exit"] == 0 and "3.1" in json.loads(res["stdout"])["answer"]
    assert not set(res["loaded"]) & set(HEAVY)


@pytest.mark.slow
def test_stats_loads_neither_the_embedding_runtime_nor_langchain(tiny_home, exported):
    res = run_fresh(tiny_home, "stats", "--json")
    assert res["exit"] == 0 and json.loads(res["stdout"])["papers"] == 8
    assert not set(res["loaded"]) & {*HEAVY, "onnxruntime", "langchain_core.runnables"}
    assert "chromadb" in res["loaded"]  # the vector store is still checked


def test_rag_ui_loads_the_models_before_the_server_starts(tiny_home, monkeypatch, exported):
    from typer.testing import CliRunner

    import ui.app
    from rag.cli import app

    seen = {}

    def launch(assistant, **kw):
        seen["chain"] = assistant._chain is not None
        seen["encoder"] = bool(assistant.index.embeddings._onnx)
        seen["matplotlib"] = "matplotlib.pyplot" in sys.modules  # gradio's first event imports it otherwise

    monkeypatch.setenv("RAG_HOME", str(tiny_home))
    monkeypatch.setattr(ui.app, "launch", launch)
    result = CliRunner().invoke(app, ["ui"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert seen == {"chain": True, "encoder": True, "matplotlib": True}


def test_warming_an_empty_index_is_harmless(make_assistant):
    make_assistant().warm()


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=0, max_size=200))
def test_a_text_never_has_more_cl100k_tokens_than_utf8_bytes(text):
    # why clean_question may skip loading the encoding (about 0.4 s) for a question no longer than the budget in bytes
    assert len(get_encoding().encode(text, disallowed_special=())) <= len(text.encode("utf-8", "surrogatepass"))


def test_a_short_question_is_cleaned_without_loading_the_encoding(monkeypatch):
    def refuse():
        raise AssertionError("the tiktoken encoding was loaded for a short question")

    monkeypatch.setattr(rag.query, "get_encoding", refuse)
    assert clean_question("  Which papers\tspeed up  sampling? ", 512) == ("Which papers speed up sampling?", [])
    monkeypatch.undo()
    # longer than the budget in bytes: counted in tokens (300 here, kept whole), and cut when more than the budget
    assert clean_question("数" * 300, 512) == ("数" * 300, [])
    cut, notes = clean_question("数" * 700, 512)
    assert cut == "数" * 512 and notes == ["the question was cut to its first 512 tokens"]
