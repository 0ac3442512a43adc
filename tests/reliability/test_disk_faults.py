"""A full disk and a read-only index.

Real file systems first: inside a user and mount namespace of its own (`unshare -rm`, no privileges needed on
the host) a child process (fs_child.py) puts an index on a size-limited tmpfs and ingests past its end, or
reads an index through a read-only bind mount (without namespaces, as a non-root user: `chmod`). Then the
same faults injected at each layer the writer goes through (the journal, the vector store, the manifest's
commit transaction, the BM25 file after the commit), with the errors those layers raise on a full disk (the
vector store's texts are the ones seen on the tmpfs), to pin what each layer does.

A full disk stops an ingest with one line that never advises `--reset` (nothing is damaged); the index is
left as it was and the same ingest completes once there is space. A read-only index answers questions.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import chromadb.api.models.Collection
import pytest
from reltools import assert_consistent, cli, snapshot, tiny_rows, write_jsonl

import rag.index.errors
import rag.index.manifest
import rag.index.writer
from rag import Assistant, Settings

CHILD = Path(__file__).with_name("fs_child.py")
QUERY = "training-free acceleration of diffusion sampling"
FASTDIFF = "FastDiff: Training-Free Acceleration of Diffusion Sampling"


def _namespaces_work() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-rm", "mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", "/mnt"], capture_output=True
    )
    return probe.returncode == 0


NAMESPACES = _namespaces_work()


def visible_lines(stderr: str) -> list[str]:
    """The lines a terminal shows: a carriage return starts the line over (how the progress bar is drawn and
    cleared), so only what follows the last one on each line remains."""
    return [line.split("\r")[-1] for line in stderr.split("\n") if line.split("\r")[-1].strip()]


def run_child(work: Path, *args: str, namespace: bool) -> dict[str, dict[str, Any]]:
    cmd = [sys.executable, str(CHILD), str(work), *args]
    done = subprocess.run(["unshare", "-rm", *cmd] if namespace else cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return {step["step"]: step for step in json.loads(done.stdout.strip().splitlines()[-1])}


def assert_one_line_without_reset(step: dict[str, Any], *words: str) -> str:
    assert step["exit"] == 1, step
    assert step["stdout"] == ""
    [line] = visible_lines(step["stderr"])
    assert line.startswith("error: ") and "--reset" not in line, line
    assert any(w in line for w in words), line
    return line


# ---- real file systems -----------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.skipif(not NAMESPACES, reason="needs `unshare -rm` (user and mount namespaces) to mount a small tmpfs")
@pytest.mark.parametrize("size", ["600k", "1200k"])
def test_an_ingest_that_fills_a_real_disk_is_one_line_and_completes_once_there_is_space(tmp_path, size):
    """Measured sizes: at 600k the vector store's own write fails ("database or disk is full"); at 1200k its
    log is written but applying it fails, and Chroma then cannot even be read until there is space."""
    steps = run_child(tmp_path, "full", size, namespace=True)
    assert_one_line_without_reset(steps["ingest-full"], "no space left", "disk is nearly full")
    # while the disk is full: the old state, or one line saying to free space
    stats, search = steps["stats-full"], steps["search-full"]
    if stats["exit"] == 0:
        assert json.loads(stats["stdout"])["papers"] == 8
        assert json.loads(search["stdout"])[0]["title"] == FASTDIFF
    else:
        for step in (stats, search):
            assert_one_line_without_reset(step, "free some space")
    assert steps["search-freed"]["exit"] == 0
    assert json.loads(steps["search-freed"]["stdout"])[0]["title"] == FASTDIFF
    assert steps["ingest-freed"]["exit"] == 0, steps["ingest-freed"]
    report = json.loads(steps["ingest-freed"]["stdout"])
    stats = json.loads(steps["stats-freed"]["stdout"])
    assert report["added"] > 0 and stats["papers"] == report["papers"] == 8 + report["added"]


@pytest.mark.slow
@pytest.mark.skipif(
    not NAMESPACES and os.geteuid() == 0, reason="as root only a read-only mount stops writes; needs `unshare -rm`"
)
def test_a_read_only_index_answers_questions_and_an_ingest_into_it_is_one_line(tmp_path):
    steps = run_child(tmp_path, "readonly", namespace=os.geteuid() == 0)
    for name in ("search", "search-dense"):
        assert steps[name]["exit"] == 0, steps[name]
        assert json.loads(steps[name]["stdout"])[0]["title"] == FASTDIFF
    answer = json.loads(steps["ask"]["stdout"])
    assert steps["ask"]["exit"] == 0 and not answer["refused"] and answer["citations"][0]["title"] == FASTDIFF
    assert json.loads(steps["stats"]["stdout"])["papers"] == 8
    assert_one_line_without_reset(steps["ingest"], "read-only")
    before = set(steps["files-before"]["files"]) - {p for p in steps["files-before"]["files"] if p.startswith("bm25")}
    assert set(steps["files-after"]["files"]) == before  # nothing written: BM25 was rebuilt in memory only


# ---- the same faults, injected at each layer -------------------------------------------------------------------


@pytest.fixture
def small_index(tmp_path, monkeypatch, fake_model, fake_embeddings) -> dict[str, Any]:
    """An index of 4 tiny papers (fake embeddings), RAG_HOME pointing at it, and 4 more papers to add."""
    home = tmp_path / "index"
    monkeypatch.setenv("RAG_HOME", str(home))
    rows = tiny_rows()
    base = write_jsonl(tmp_path / "base.jsonl", rows[:4])
    more = write_jsonl(tmp_path / "more.jsonl", rows[4:])
    Assistant(Settings(home=home, generator="extractive"), embeddings=fake_embeddings).ingest([base])
    return {"home": home, "more": more, "rows": rows}


def _no_space(*args: Any, **kwargs: Any) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


def journal_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    original = rag.index.writer.atomic_write

    def write(path: Path, data: Any, *args: Any) -> None:
        if Path(path).name == "ingest.journal":
            _no_space()
        original(path, data, *args)

    monkeypatch.setattr(rag.index.writer, "atomic_write", write)


def vectors_full(monkeypatch: pytest.MonkeyPatch) -> None:
    def upsert(self, *args: Any, **kwargs: Any) -> None:
        raise chromadb.errors.InternalError(
            "Query error: Database error: error returned from database: (code: 13) database or disk is full"
        )

    monkeypatch.setattr(chromadb.api.models.Collection.Collection, "upsert", upsert)


def vectors_log_unapplied(monkeypatch: pytest.MonkeyPatch) -> None:
    """What Chroma raised on the 1.2 MB tmpfs, with the little space that was left."""

    def upsert(self, *args: Any, **kwargs: Any) -> None:
        raise chromadb.errors.InternalError("Error in compaction: Failed to apply logs to the metadata segment")

    monkeypatch.setattr(chromadb.api.models.Collection.Collection, "upsert", upsert)
    monkeypatch.setattr(rag.index.errors, "free_bytes", lambda path: 136 * 1024)


def manifest_full(monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLITE_FULL inside the commit transaction, after the rows were written (where the crash tests kill)."""

    def fingerprint(pairs: Any) -> str:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(rag.index.manifest, "fingerprint_of", fingerprint)


FAULTS = {
    "journal": (journal_fails, "no space left"),
    "vectors": (vectors_full, "no space left"),
    "vectors-log": (vectors_log_unapplied, "disk is nearly full (136 KB free)"),
    "manifest-commit": (manifest_full, "no space left"),
}


@pytest.mark.parametrize("layer", sorted(FAULTS))
def test_a_full_disk_at_any_layer_before_the_commit_leaves_the_index_as_it_was(
    small_index, monkeypatch, fake_embeddings, layer
):
    home, more = small_index["home"], small_index["more"]
    reader = Assistant(Settings(home=home, generator="extractive"), embeddings=fake_embeddings)
    before = snapshot(reader)
    inject, words = FAULTS[layer]
    with monkeypatch.context() as faults:
        inject(faults)
        result = cli(["ingest", str(more), "--json"])
        assert_one_line_without_reset(
            {"exit": result.exit_code, "stdout": result.stdout, "stderr": result.stderr}, words
        )
        assert snapshot(reader) == before
        new_title = small_index["rows"][6]["title"]
        assert new_title not in {s.title for s in reader.search(new_title, k=8)}
        assert (
            reader.search(small_index["rows"][0]["title"], k=1, mode="dense")[0].title
            == small_index["rows"][0]["title"]
        )
    again = cli(["ingest", str(more), "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["papers"] == 8
    assert_consistent(reader)
    assert not reader.index.journal_path.exists()


def test_a_full_disk_after_the_commit_keeps_the_new_papers_and_only_costs_a_bm25_rebuild(
    small_index, monkeypatch, fake_embeddings
):
    home, more = small_index["home"], small_index["more"]
    original = rag.index.sparse.atomic_write

    def write(path: Path, data: Any, *args: Any) -> None:
        if Path(path).name.startswith("matrix"):
            _no_space()
        original(path, data, *args)

    monkeypatch.setattr(rag.index.sparse, "atomic_write", write)
    result = cli(["ingest", str(more), "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["added"] == 4
    reader = Assistant(Settings(home=home, generator="extractive"), embeddings=fake_embeddings)
    new_title = small_index["rows"][6]["title"]
    assert reader.search(new_title, k=1, mode="bm25")[0].title == new_title  # rebuilt from the manifest
    assert not reader.index.journal_path.exists()
    assert_consistent(reader)
