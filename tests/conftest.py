"""Shared fixtures: an isolated RAG_HOME per test, one embedding model and one indexed corpus per session.

Everything runs offline: hub and telemetry variables are set before anything imports them, tiktoken's
cache is a fresh directory (so the offline seeding is exercised every run), and pytest-socket allows
connections to loopback only.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

os.environ.update(
    {
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "ANONYMIZED_TELEMETRY": "False",
        "TIKTOKEN_CACHE_DIR": tempfile.mkdtemp(prefix="rag-test-tiktoken-"),
    }
)
for _var in ("OPENAI_API_KEY", "RAG_HOME", "RAG_CHROMA_URL", "RAG_LLM_BASE_URL", "RAG_GENERATOR", "RAG_UI_AUTH"):
    os.environ.pop(_var, None)

import pytest  # noqa: E402
from fake_llm import fake_llm_fixture  # noqa: E402, F401 - registers the `fake_llm` fixture

from rag import Assistant, Settings  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEV_QUESTIONS = ROOT / "eval" / "questions" / "dev.jsonl"


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """No test ever touches the user's real index or a .env file in the working directory."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("RAG_HOME", str(home / "index"))
    monkeypatch.chdir(home)
    yield


@pytest.fixture(scope="session")
def embeddings():
    """The bundled MiniLM, loaded once for the whole session."""
    from rag.embeddings import SentenceTransformerEmbeddings

    return SentenceTransformerEmbeddings()


@pytest.fixture
def make_assistant(tmp_path, embeddings):
    """A factory for assistants with a fresh, empty index in this test's temp dir."""
    counter = iter(range(1000))

    def make(**overrides) -> Assistant:
        home = tmp_path / f"index{next(counter)}"
        settings = Settings(home=home, generator="extractive").with_overrides(**overrides)
        return Assistant(settings, embeddings=embeddings)

    return make


@pytest.fixture(scope="session")
def corpus_home(tmp_path_factory, embeddings) -> Path:
    """The bundled corpus ingested once per session; tests treat it as read-only."""
    home = tmp_path_factory.mktemp("corpus") / "index"
    Assistant(Settings(home=home, generator="extractive"), embeddings=embeddings).ingest()
    return home


@pytest.fixture(scope="session")
def corpus_assistant(corpus_home, embeddings) -> Assistant:
    """An extractive assistant over the whole bundled corpus (read-only: do not ingest into it)."""
    return Assistant(Settings(home=corpus_home, generator="extractive"), embeddings=embeddings)
