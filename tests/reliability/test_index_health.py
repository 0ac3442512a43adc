"""Index problems: a missing, corrupted or mismatched index is detected at start with one clear line naming the
command that fixes it (never a traceback, never mixed vectors or a silent BM25-only answer), and the fix works.
A deleted BM25 index is rebuilt silently; lost vectors are repaired by the next ingest."""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import chromadb
import pytest
from chromadb.config import Settings as ChromaSettings
from reltools import TINY, assert_consistent, cli, tiny_rows, write_jsonl

from rag import Assistant, Settings
from rag.index import IndexCorrupt

QUESTION = "What FID does the four-step distilled student reach on CIFAR-10?"


def garble(path: Path, size: int = 4096) -> None:
    path.write_bytes(os.urandom(size))
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def checkpoint(home: Path) -> None:
    """Fold the manifest's write-ahead log into the main file, so damage to that file is damage to the data."""
    with sqlite3.connect(home / "manifest.sqlite") as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def truncate_manifest(home: Path) -> None:
    checkpoint(home)
    path = home / "manifest.sqlite"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


def chroma(home: Path) -> chromadb.ClientAPI:
    return chromadb.PersistentClient(str(home / "chroma"), settings=ChromaSettings(anonymized_telemetry=False))


def drop_collection(home: Path) -> None:
    chroma(home).delete_collection("papers")


def relabel_vectors(home: Path) -> None:
    """Vectors written by another embedding model, under a manifest that says MiniLM."""
    col = chroma(home).get_collection("papers")
    col.modify(metadata={**(col.metadata or {}), "rag_embedding_model": "openai:text-embedding-3-large"})


def newer_schema(home: Path) -> None:
    with sqlite3.connect(home / "manifest.sqlite") as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema'")


# name -> (how to damage the index, environment the commands run with, words the message must contain)
PROBLEMS: dict[str, tuple[Callable[[Path], None], dict[str, str], str]] = {
    "garbled-manifest": (lambda h: garble(h / "manifest.sqlite"), {}, "manifest"),
    "truncated-manifest": (truncate_manifest, {}, "manifest"),
    "deleted-vector-store": (lambda h: shutil.rmtree(h / "chroma"), {}, "is missing"),
    "garbled-vector-store": (lambda h: garble(h / "chroma" / "chroma.sqlite3", 100_000), {}, "cannot be read"),
    "dropped-collection": (drop_collection, {}, "has no collection"),
    "vectors-of-another-model": (relabel_vectors, {}, "embedding_model=openai:text-embedding-3-large"),
    "settings-name-another-model": (
        lambda h: None,
        {"RAG_EMBEDDING_MODEL": "openai:text-embedding-3-small"},
        "built with",
    ),
    "settings-name-another-chunk-size": (lambda h: None, {"RAG_CHUNK_TOKENS": "150"}, "chunk_tokens=200"),
    "newer-schema": (newer_schema, {}, "schema=99"),
}


@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_a_damaged_or_mismatched_index_is_one_clear_line_then_the_named_fix_works(tiny_copy, monkeypatch, name):
    import ui.app

    def launched(*args, **kwargs):
        raise AssertionError("the UI was launched on a damaged index")

    monkeypatch.setattr(ui.app, "launch", launched)  # `rag ui` must stop before serving anything
    damage, env, words = PROBLEMS[name]
    damage(tiny_copy)
    for key, value in env.items():
        monkeypatch.setenv(key, value)

    for args in (["search", "diffusion sampling"], ["ask", QUESTION, "--json"], ["stats"], ["ui"]):
        result = cli(args)
        assert result.exit_code == 1, (args, result.output)
        assert result.stdout == ""
        [line] = result.stderr.strip().splitlines()
        assert line.startswith("error: ") and words in line, line
        assert "rag ingest --reset" in line

    fixed = cli(["ingest", "--reset", str(TINY), "--json"])
    assert fixed.exit_code == 0, fixed.output
    answer = cli(["ask", QUESTION])
    assert answer.exit_code == 0 and "3.1" in answer.stdout


@pytest.mark.parametrize("name", ["garbled-manifest", "deleted-vector-store", "dropped-collection"])
def test_the_python_api_raises_the_same_clear_error(tiny_copy, embeddings, name):
    PROBLEMS[name][0](tiny_copy)
    a = Assistant(Settings(home=tiny_copy, generator="extractive"), embeddings=embeddings)
    with pytest.raises(IndexCorrupt, match="rag ingest --reset"):
        a.ask(QUESTION)
    with pytest.raises(IndexCorrupt, match="rag ingest --reset"):
        a.search(QUESTION)


@pytest.mark.parametrize("how", ["deleted", "garbled"])
def test_a_lost_bm25_index_is_rebuilt_silently_with_the_same_results(tiny_copy, embeddings, how):
    a = Assistant(Settings(home=tiny_copy, generator="extractive"), embeddings=embeddings)
    before = [(s.paper_id, round(s.score, 6)) for s in a.search("diffusion sampling steps", k=5)]
    if how == "deleted":
        shutil.rmtree(tiny_copy / "bm25")
    else:
        for f in (tiny_copy / "bm25").iterdir():
            garble(f, 500)
    result = cli(["search", "diffusion sampling steps", "--k", "5", "--json"])
    assert result.exit_code == 0 and result.stderr == ""
    fresh = Assistant(Settings(home=tiny_copy, generator="extractive"), embeddings=embeddings)
    assert [(s.paper_id, round(s.score, 6)) for s in fresh.search("diffusion sampling steps", k=5)] == before
    assert (tiny_copy / "bm25" / "meta.json").exists()


def test_vectors_lost_by_hand_are_re_embedded_by_a_plain_ingest_even_for_papers_it_does_not_name(
    tiny_copy, embeddings, tmp_path
):
    shutil.rmtree(tiny_copy / "chroma")
    some = write_jsonl(tmp_path / "some.jsonl", tiny_rows()[:3])
    result = cli(["ingest", str(some), "--json"])
    assert result.exit_code == 0, result.output
    a = Assistant(Settings(home=tiny_copy, generator="extractive"), embeddings=embeddings)
    assert a.stats()["papers"] == 8
    assert_consistent(a)
    for row in tiny_rows():
        assert a.search(row["title"], k=1, mode="dense")[0].title == row["title"]


def test_a_deleted_manifest_looks_empty_and_the_next_ingest_drops_the_orphan_vectors(tiny_copy, embeddings, tmp_path):
    for suffix in ("", "-wal", "-shm"):
        Path(f"{tiny_copy / 'manifest.sqlite'}{suffix}").unlink(missing_ok=True)
    result = cli(["search", "diffusion"])
    assert result.exit_code == 1 and "is empty: run `rag ingest` first" in result.stderr
    some = write_jsonl(tmp_path / "some.jsonl", tiny_rows()[:3])
    assert cli(["ingest", str(some)]).exit_code == 0
    a = Assistant(Settings(home=tiny_copy, generator="extractive"), embeddings=embeddings)
    assert a.stats()["papers"] == 3
    assert_consistent(a)  # the five other papers' vectors are gone, not lingering as duplicates
