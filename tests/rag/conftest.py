"""Fixtures for the answering tests: a tiny hand-written corpus indexed once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag import Assistant, Settings

TINY = Path(__file__).resolve().parents[1] / "data" / "tiny.jsonl"


@pytest.fixture(scope="session")
def tiny_home(tmp_path_factory, embeddings) -> Path:
    home = tmp_path_factory.mktemp("tiny") / "index"
    Assistant(Settings(home=home, generator="extractive"), embeddings=embeddings).ingest([TINY])
    return home


@pytest.fixture(scope="session")
def tiny_assistant(tiny_home, embeddings) -> Assistant:
    """Extractive assistant over the tiny corpus (read-only)."""
    return Assistant(Settings(home=tiny_home, generator="extractive", k=4), embeddings=embeddings)


@pytest.fixture
def llm_assistant(tiny_home, embeddings, fake_llm):
    """A factory: an `openai`-generator assistant over the tiny corpus talking to the fake server."""

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
