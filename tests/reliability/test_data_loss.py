"""Data loss: `rag ingest DIR --prune` walks folders the way users expect (symbolic links followed, loops read once)
and never removes a large share of the index, or anything when a source could not be read, without `--yes`.

Each test builds its own small folder tree of JSON Lines files (the tiny corpus split across them) with the fake
embedding model, so that only the walk and the prune are under test."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from reltools import cli, tiny_rows, write_jsonl

from ingest.parsers import expand_paths
from rag import Assistant, Settings
from rag.assistant import PruneRefused


def tree(root: Path) -> dict[str, Path]:
    """root/papers/{a,b}.jsonl (2 + 2 papers), and root/shared/c.jsonl (4 papers) reached through a symbolic link
    papers/linked -> ../shared; shared/back -> .. makes a loop."""
    rows = tiny_rows()
    (root / "papers").mkdir(parents=True)
    (root / "shared").mkdir()
    a = write_jsonl(root / "papers" / "a.jsonl", rows[0:2])
    b = write_jsonl(root / "papers" / "b.jsonl", rows[2:4])
    c = write_jsonl(root / "shared" / "c.jsonl", rows[4:8])
    os.symlink("../shared", root / "papers" / "linked")
    os.symlink("..", root / "shared" / "back")  # a loop: papers/linked/back/papers/linked/...
    return {"a": a, "b": b, "c": c, "dir": root / "papers"}


def stats() -> dict:
    return json.loads(cli(["stats", "--json"]).stdout)


def test_a_symlinked_folder_is_walked_and_a_loop_is_read_once(tmp_path):
    t = tree(tmp_path)
    files = expand_paths([t["dir"]])
    assert sorted(f.name for f in files) == ["a.jsonl", "b.jsonl", "c.jsonl"]  # each once, the loop not followed
    assert files.unreadable == []


def test_prune_keeps_the_papers_behind_a_symlinked_folder(tmp_path, fake_model, monkeypatch):
    monkeypatch.setenv("RAG_HOME", str(tmp_path / "home"))
    t = tree(tmp_path / "src")
    assert cli(["ingest", str(t["dir"])]).exit_code == 0
    assert stats()["papers"] == 8
    result = cli(["ingest", str(t["dir"]), "--prune", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["removed"] == 0  # before: the 4 papers behind `linked` were removed
    assert stats()["papers"] == 8


def test_a_prune_that_would_remove_a_large_share_asks_for_yes_and_says_what_goes(tmp_path, fake_model, monkeypatch):
    monkeypatch.setenv("RAG_HOME", str(tmp_path / "home"))
    t = tree(tmp_path / "src")
    cli(["ingest", str(t["dir"])])
    before = stats()
    result = cli(["ingest", str(t["a"]), "--prune"])  # 6 of 8 papers are not in a.jsonl
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --prune would remove 6 of 8 papers")
    assert "--yes" in lines[0] and "75%" in lines[0]
    assert any(r["title"][:40] in lines[0] for r in tiny_rows()[2:8])  # names what it would remove
    assert stats() == before  # nothing written
    confirmed = cli(["ingest", str(t["a"]), "--prune", "--yes", "--json"])
    assert confirmed.exit_code == 0 and json.loads(confirmed.stdout)["removed"] == 6
    assert stats()["papers"] == 2


def test_a_small_prune_needs_no_confirmation(tmp_path, fake_model, monkeypatch):
    monkeypatch.setenv("RAG_HOME", str(tmp_path / "home"))
    rows = tiny_rows()
    src = write_jsonl(tmp_path / "all.jsonl", rows)
    cli(["ingest", str(src)])
    write_jsonl(src, rows[:7])  # one paper deleted on purpose: 1 of 8
    result = cli(["ingest", str(src), "--prune", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["removed"] == 1


def test_a_prune_with_an_unreadable_path_removes_nothing_without_yes(tmp_path, fake_model, monkeypatch):
    """A broken link (an unmounted drive, a moved folder) means the walk is incomplete: even one removal asks."""
    monkeypatch.setenv("RAG_HOME", str(tmp_path / "home"))
    rows = tiny_rows()
    src = tmp_path / "src"
    src.mkdir()
    write_jsonl(src / "main.jsonl", rows[:7])
    (tmp_path / "drive").mkdir()
    extra = write_jsonl(tmp_path / "drive" / "extra.jsonl", rows[7:])
    os.symlink(extra, src / "extra.jsonl")
    cli(["ingest", str(src)])
    assert stats()["papers"] == 8
    extra.unlink()  # the link now points nowhere
    assert expand_paths([src]).unreadable == [f"{src / 'extra.jsonl'}: no such file or directory"]
    result = cli(["ingest", str(src), "--prune"])
    assert result.exit_code == 1
    assert "1 path could not be read" in result.stderr and "extra.jsonl" in result.stderr
    assert stats()["papers"] == 8
    assert cli(["ingest", str(src), "--prune", "--yes"]).exit_code == 0
    assert stats()["papers"] == 7


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a folder whatever its permissions")
def test_a_folder_without_permission_is_reported_not_skipped(tmp_path):
    t = tree(tmp_path)
    locked = t["dir"] / "locked"
    locked.mkdir()
    write_jsonl(locked / "d.jsonl", tiny_rows()[:1])
    locked.chmod(0)
    try:
        files = expand_paths([t["dir"]])
        assert any(str(locked) in u and "permission" in u for u in files.unreadable)
    finally:
        locked.chmod(0o755)


def test_the_python_api_asks_only_when_told_to(tmp_path, fake_embeddings):
    a = Assistant(Settings(home=tmp_path / "home", generator="extractive"), embeddings=fake_embeddings)
    rows = tiny_rows()
    a.ingest([write_jsonl(tmp_path / "all.jsonl", rows)])
    few = write_jsonl(tmp_path / "few.jsonl", rows[:2])
    with pytest.raises(PruneRefused, match="would remove 6 of 8"):
        a.ingest([few], prune=True, confirm=False)
    assert len(a.index.papers()) == 8
    assert a.ingest([few], prune=True).removed == 6  # an explicit prune=True from code is its own confirmation
