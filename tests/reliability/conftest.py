"""Fixtures for the reliability suite: the session's model handed to CLI runs, a small indexed corpus per test."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from reltools import TINY

from rag import Assistant, Settings


@pytest.fixture
def shared_model(monkeypatch, embeddings):
    """CLI commands build their own Assistant; give them the session's MiniLM instead of loading it again."""
    import rag.embeddings

    monkeypatch.setattr(rag.embeddings, "load_embeddings", lambda *a, **kw: embeddings)


@pytest.fixture(scope="session")
def tiny_template(tmp_path_factory, embeddings) -> Path:
    """The tiny corpus indexed once; tests copy it before changing anything."""
    home = tmp_path_factory.mktemp("reliability-tiny") / "index"
    Assistant(Settings(home=home, generator="extractive"), embeddings=embeddings).ingest([TINY])
    return home


@pytest.fixture
def tiny_copy(tiny_template, tmp_path, monkeypatch, shared_model) -> Path:
    """A private copy of the indexed tiny corpus, never opened before in this process; RAG_HOME points at it."""
    home = tmp_path / "tiny-index"
    shutil.copytree(tiny_template, home, ignore=shutil.ignore_patterns("ingest.lock"))
    monkeypatch.setenv("RAG_HOME", str(home))
    return home


@pytest.fixture
def llm_assistant(tiny_template, embeddings, fake_llm):
    """A factory: an `openai`-generator assistant over the tiny corpus (read-only) talking to the fake server."""

    def make(**overrides) -> Assistant:
        settings = Settings(
            home=tiny_template,
            generator="openai",
            llm_base_url=fake_llm.base_url,
            llm_model="fake-model",
            llm_retries=0,
            llm_timeout=3,
            k=4,
        ).with_overrides(**overrides)
        return Assistant(settings, embeddings=embeddings)

    return make
