"""Shared fixtures: an isolated RAG_HOME per test; the real MiniLM and a fake embedding model; the bundled corpus
and the tiny hand-written corpus, each indexed once per session with MiniLM (tests treat them as read-only).

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
        # the onnxruntime copy of MiniLM and the sentence vectors: made fresh each session (the export runs)
        "RAG_MODEL_CACHE": tempfile.mkdtemp(prefix="rag-test-models-"),
    }
)
for _var in ("OPENAI_API_KEY", "RAG_HOME", "RAG_CHROMA_URL", "RAG_LLM_BASE_URL", "RAG_GENERATOR", "RAG_UI_AUTH"):
    os.environ.pop(_var, None)

import pytest  # noqa: E402
from fake_embeddings import HashingEmbeddings  # noqa: E402
from fake_llm import fake_llm_fixture  # noqa: E402, F401 - registers the `fake_llm` fixture
from recorded_embeddings import RecordedEmbeddings  # noqa: E402

from rag import Assistant, Settings  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEV_QUESTIONS = ROOT / "eval" / "questions" / "dev.jsonl"
TINY = ROOT / "tests" / "data" / "tiny.jsonl"


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


@pytest.fixture(scope="session")
def fake_embeddings() -> HashingEmbeddings:
    """A deterministic hashed bag-of-words model (tests/fake_embeddings.py): for tests of the index's
    mechanics, where shared words are all the similarity needed."""
    return HashingEmbeddings()


@pytest.fixture
def make_assistant(tmp_path, fake_embeddings):
    """A factory for assistants with a fresh, empty index in this test's temp dir (fake embeddings)."""
    counter = iter(range(1000))

    def make(**overrides) -> Assistant:
        home = tmp_path / f"index{next(counter)}"
        settings = Settings(home=home, generator="extractive").with_overrides(**overrides)
        return Assistant(settings, embeddings=fake_embeddings)

    return make


@pytest.fixture
def shared_model(monkeypatch, embeddings):
    """CLI commands build their own Assistant; give them the session's MiniLM instead of loading it again."""
    import rag.embeddings

    monkeypatch.setattr(rag.embeddings, "load_embeddings", lambda *a, **kw: embeddings)


@pytest.fixture
def fake_model(monkeypatch, fake_embeddings):
    """CLI commands build their own Assistant; give them the fake model (and its identity) instead of MiniLM."""
    import rag.embeddings
    import rag.index.api

    monkeypatch.setattr(rag.embeddings, "load_embeddings", lambda *a, **kw: fake_embeddings)
    monkeypatch.setattr(rag.index.api, "identity_for", lambda name: fake_embeddings.identity)


@pytest.fixture(scope="session")
def corpus_vectors(embeddings, request) -> RecordedEmbeddings:
    """MiniLM with the bundled corpus's chunk vectors remembered between sessions in pytest's cache
    (tests/recorded_embeddings.py): for building indexes of the bundled corpus, or of parts of it."""
    cache = getattr(request.config, "cache", None)
    return RecordedEmbeddings(embeddings, cache.mkdir("rag-corpus-vectors") if cache is not None else None)


@pytest.fixture(scope="session")
def corpus_home(tmp_path_factory, corpus_vectors) -> Path:
    """The bundled corpus ingested once per session; tests treat it as read-only."""
    home = tmp_path_factory.mktemp("corpus") / "index"
    Assistant(Settings(home=home, generator="extractive"), embeddings=corpus_vectors).ingest()
    corpus_vectors.save()
    return home


@pytest.fixture(scope="session")
def corpus_assistant(corpus_home, embeddings) -> Assistant:
    """An extractive assistant over the whole bundled corpus (read-only: do not ingest into it)."""
    return Assistant(Settings(home=corpus_home, generator="extractive"), embeddings=embeddings)


@pytest.fixture(scope="session")
def tiny_home(tmp_path_factory, embeddings) -> Path:
    """The tiny hand-written corpus (tests/data/tiny.jsonl, 8 papers) indexed once per session with MiniLM."""
    home = tmp_path_factory.mktemp("tiny") / "index"
    Assistant(Settings(home=home, generator="extractive"), embeddings=embeddings).ingest([TINY])
    return home


@pytest.fixture(scope="session")
def tiny_assistant(tiny_home, embeddings) -> Assistant:
    """Extractive assistant over the tiny corpus (read-only)."""
    return Assistant(Settings(home=tiny_home, generator="extractive", k=4), embeddings=embeddings)


@pytest.fixture
def llm_assistant(tiny_home, embeddings, fake_llm):
    """A factory: an `openai`-generator assistant over the tiny corpus (read-only) talking to the fake server."""

    def make(**overrides) -> Assistant:
        settings = Settings(
            home=tiny_home,
            generator="openai",
            llm_base_url=fake_llm.base_url,
            llm_model="fake-model",
            llm_retries=0,
            llm_timeout=3,
            k=4,
        ).with_overrides(**overrides)
        return Assistant(settings, embeddings=embeddings)

    return make
