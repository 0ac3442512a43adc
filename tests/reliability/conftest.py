"""Fixtures for the reliability suite: a private copy of the session's tiny index per test."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture
def tiny_copy(tiny_home, tmp_path, monkeypatch, shared_model) -> Path:
    """A private copy of the indexed tiny corpus, never opened before in this process; RAG_HOME points at it."""
    home = tmp_path / "tiny-index"
    shutil.copytree(tiny_home, home, ignore=shutil.ignore_patterns("ingest.lock"))
    monkeypatch.setenv("RAG_HOME", str(home))
    return home
