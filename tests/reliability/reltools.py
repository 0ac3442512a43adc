"""Helpers for the reliability tests: run the CLI in-process, snapshot an index, check its three stores agree."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from rag import Assistant
from rag.cli import app

TINY = Path(__file__).resolve().parents[1] / "data" / "tiny.jsonl"


def cli(args: list[str], env: dict[str, str] | None = None, input: str | None = None) -> Any:
    """Run `rag ARGS` in-process; a traceback anywhere in its output fails the test."""
    result = CliRunner().invoke(app, args, env=env, input=input, catch_exceptions=False)
    assert "Traceback" not in result.output, result.output
    return result


def serve(assistant: Assistant) -> Any:
    """The UI for `assistant` served on a free loopback port, not blocking; `.local_url`, `.close()`."""
    from ui.app import launch

    return launch(assistant, server_name="127.0.0.1", server_port=0, prevent_thread_lock=True, quiet=True)


def manifest_chunk_ids(a: Assistant) -> set[str]:
    return a.index.manifest.chunk_ids()


def chroma_rows(a: Assistant) -> dict[str, dict[str, Any]]:
    got = a.index.dense.get().get(include=["metadatas"])
    return dict(zip(got["ids"], got["metadatas"], strict=True))


def assert_consistent(a: Assistant) -> None:
    """Chroma, the manifest and BM25 hold exactly the same chunks, each vector carrying its paper's hash."""
    ids = manifest_chunk_ids(a)
    rows = chroma_rows(a)
    assert a.index.dense.get().count() == len(ids), "Chroma holds a different number of vectors than the manifest"
    assert set(rows) == ids
    papers = a.index.papers()
    for cid, meta in rows.items():
        assert meta["hash"] == papers[meta["paper_id"]].content_hash, cid
    assert set(a.index.snapshot().bm25.ids) == ids
    assert a.stats()["chunks"] == len(ids)


def snapshot(a: Assistant) -> dict[str, Any]:
    """What a reader sees, wherever the index lives: stats (counts, sources, settings, fingerprint) and meta."""
    st = a.stats()
    for key in ("updated_at", "index", "chroma"):
        st.pop(key, None)
    return {"stats": st, "meta": {k: v for k, v in a.index.meta().items() if k != "updated_at"}}


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def tiny_rows() -> list[dict[str, Any]]:
    return [json.loads(line) for line in TINY.read_text().splitlines() if line.strip()]
