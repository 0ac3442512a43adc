"""`python fake_rag.py ARGS...`: the real `rag` command, with the fake embedding model (tests/fake_embeddings.py)
in place of MiniLM, for tests that run many `rag` processes whose behaviour does not depend on meaning: a process
then starts in about 2 s instead of 6-10 s (no torch, no model load)."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve()
sys.path[:0] = [str(HERE.parents[2]), str(HERE.parents[1])]  # the project before tests/ (tests/ingest shadows)

from fake_embeddings import HashingEmbeddings  # noqa: E402

import rag.embeddings  # noqa: E402
import rag.index.api  # noqa: E402
from rag.cli import app  # noqa: E402

FAKE = HashingEmbeddings()
rag.embeddings.load_embeddings = lambda *a, **kw: FAKE
rag.index.api.identity_for = lambda name: FAKE.identity

if __name__ == "__main__":
    app(sys.argv[1:], prog_name="rag")
