"""Atomic ingest: a real `ingest` process SIGKILLed mid-embedding, inside the manifest transaction, after the
commit and in the middle of `--reset`; readers then see the old or the completed state (or, for a reset, one
clear error), and the next run finishes the job with the counts, chunk ids and fingerprint of a clean ingest and
no duplicate or stray vector. Two ingests at once: the second refuses with a clear message.

The runs are child processes (tests/reliability/ingest_child.py) with the real model, killed with SIGKILL at
points they announce on stdout; the checks and the resumed runs happen here.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from reltools import assert_consistent, manifest_chunk_ids, snapshot

from ingest import Paper, load_papers
from ingest.parsers import bundled_corpus
from rag import Assistant, Settings
from rag.index import IndexProblem

pytestmark = pytest.mark.slow

CHILD = Path(__file__).with_name("ingest_child.py")
RAG = Path(sys.executable).with_name("rag")
UNIQUE = "Zebrafish holography reveals quasicrystal lattices in sourdough fermentation."
MARKERS = {"transaction": "IN-TRANSACTION", "committed": "COMMITTED", "reset": "RESET-DROPPED"}


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, Any]:
    """A base of 8 papers, and an incoming set that keeps 6 of them (one edited), drops 2 and adds 10."""
    papers = load_papers([bundled_corpus()[0]])
    base, kept = papers[:8], papers[2:8]
    edited = Paper(title=kept[1].title, abstract=UNIQUE + " " + kept[1].abstract)
    incoming = [kept[0], edited, *kept[2:], *papers[8:18]]
    root = tmp_path_factory.mktemp("crash-sources")

    def write(folder: str, rows: list[Paper]) -> Path:
        # One file name for both: a paper's recorded source is its file's name, and an unchanged paper keeps the
        # one it was first ingested from (tests/rag/test_store.py pins that), which is not what is tested here.
        path = root / folder / "papers.jsonl"
        path.parent.mkdir()
        path.write_text("".join(json.dumps({"title": p.title, "abstract": p.abstract}) + "\n" for p in rows))
        return path

    return {
        "base": write("base", base),
        "incoming": write("incoming", incoming),
        "unchanged": [p for p in kept if p.paper_id != edited.paper_id],
        "edited": edited,
        "pruned": papers[:2],
        "new": papers[8:18],
    }


def reader(home: Path, embeddings: Any) -> Assistant:
    return Assistant(Settings(home=home, generator="extractive"), embeddings=embeddings)


@pytest.fixture(scope="module")
def reference(sources, tmp_path_factory, embeddings) -> dict[str, Any]:
    """What a clean, uninterrupted ingest of the incoming set leaves."""
    home = tmp_path_factory.mktemp("crash-reference") / "index"
    a = reader(home, embeddings)
    a.ingest([sources["incoming"]], prune=True)
    return {"snapshot": snapshot(a), "chunk_ids": manifest_chunk_ids(a)}


@pytest.fixture(scope="module")
def base_template(sources, tmp_path_factory, embeddings) -> dict[str, Any]:
    home = tmp_path_factory.mktemp("crash-base") / "index"
    a = reader(home, embeddings)
    a.ingest([sources["base"]])
    return {"home": home, "snapshot": snapshot(a)}


def fresh_copy(template: Path, dest: Path) -> Path:
    import shutil

    shutil.copytree(template, dest, ignore=shutil.ignore_patterns("ingest.lock"))
    return dest


class Child:
    """An ingest process; `kill_at(point)` waits for it to announce `point`, then SIGKILLs it."""

    def __init__(self, home: Path, pause: str, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(CHILD), str(home), pause, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        # However the test goes, the child never outlives it by more than this.
        self.watchdog = threading.Timer(300, self.proc.kill)
        self.watchdog.daemon = True
        self.watchdog.start()
        self.lines: list[str] = []

    def wait_for(self, pause: str) -> str:
        for line in self.proc.stdout:
            self.lines.append(line.strip())
            if line.startswith("DONE"):
                pytest.fail(f"the run finished before it could be killed at {pause}: {self.lines}")
            if pause == "embedding" and line.startswith("PROGRESS") and int(line.split()[1]) > 0:
                return line.strip()
            if line.strip() == MARKERS.get(pause):
                return line.strip()
        self.proc.wait(30)
        pytest.fail(f"the run ended without reaching {pause} (exit {self.proc.returncode}): {self.proc.stderr.read()}")

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)
        self.watchdog.cancel()
        self.proc.stdout.close()
        self.proc.stderr.close()
        assert self.proc.returncode == -signal.SIGKILL

    def kill_at(self, pause: str) -> str:
        try:
            return self.wait_for(pause)
        finally:
            self.kill()


def assert_old_state(home: Path, embeddings: Any, before: dict[str, Any], sources: dict[str, Any]) -> None:
    """Readers see exactly the last committed state: same counts and fingerprint, and every committed paper
    found, with its committed text; none of the uncommitted papers."""
    a = reader(home, embeddings)
    a.index.check_health()
    assert snapshot(a) == before
    for p in [*sources["unchanged"], *sources["pruned"]]:
        assert a.search(p.title, k=1, mode="dense")[0].paper_id == p.paper_id, p.title
        assert a.search(p.title, k=1)[0].paper_id == p.paper_id
    # The paper being edited: its committed text, through BM25 at least. (Its vectors are overwritten in place
    # before the commit, so once the run has rewritten them, dense search skips it until the next ingest.)
    hit = a.search(sources["edited"].title, k=1, mode="bm25")[0]
    assert hit.paper_id == sources["edited"].paper_id and not hit.text.startswith(UNIQUE)
    assert sources["edited"].paper_id in [s.paper_id for s in a.search(sources["edited"].title, k=3)]
    visible = {s.paper_id for p in sources["new"][:4] for s in a.search(p.title, k=5)}
    assert visible.isdisjoint(p.paper_id for p in sources["new"])


def assert_finished_like_a_clean_run(home: Path, embeddings: Any, sources: dict, reference: dict, **kw: Any) -> None:
    """The next run completes the job: a clean ingest's counts, chunk ids and fingerprint, nothing duplicated."""
    a = reader(home, embeddings)
    report = a.ingest([sources["incoming"]], prune=True, **kw)
    assert (report.papers, report.chunks) == (reference["snapshot"]["stats"]["papers"], len(reference["chunk_ids"]))
    assert snapshot(a) == reference["snapshot"]
    assert manifest_chunk_ids(a) == reference["chunk_ids"]
    assert_consistent(a)  # Chroma count == manifest chunks: no duplicate, stray or stale vector
    assert not a.index.journal_path.exists()
    assert a.search("zebrafish holography quasicrystal sourdough", k=1)[0].paper_id == sources["edited"].paper_id
    again = reader(home, embeddings).ingest([sources["incoming"]], prune=True)
    assert (again.added, again.updated, again.removed, again.embedded_chunks) == (0, 0, 0, 0)


def test_killed_during_the_first_ingest_leaves_an_empty_index_then_completes(tmp_path, sources, reference, embeddings):
    home = tmp_path / "index"
    Child(home, "embedding", "--prune", str(sources["incoming"])).kill_at("embedding")
    a = reader(home, embeddings)
    assert a.stats()["papers"] == 0 and a.index.is_empty()
    assert a.search(sources["new"][0].title, k=3) == []
    assert a.index.dense.get().count() > 0  # the kill did land after vectors were written
    assert_finished_like_a_clean_run(home, embeddings, sources, reference)


def test_killed_mid_embedding_leaves_the_old_state_then_completes(
    tmp_path, sources, base_template, reference, embeddings
):
    home = fresh_copy(base_template["home"], tmp_path / "index")
    Child(home, "embedding", "--prune", str(sources["incoming"])).kill_at("embedding")
    assert_old_state(home, embeddings, base_template["snapshot"], sources)
    assert_finished_like_a_clean_run(home, embeddings, sources, reference)


def test_killed_inside_the_manifest_transaction_leaves_the_old_state_and_holds_off_a_second_ingest(
    tmp_path, sources, base_template, reference, embeddings
):
    home = fresh_copy(base_template["home"], tmp_path / "index")
    child = Child(home, "transaction", "--prune", str(sources["incoming"]))
    try:
        child.wait_for("transaction")
        # A second ingest while the first holds the lock: refused at once with one clear line, writing nothing.
        t0 = time.perf_counter()
        second = subprocess.run(
            [str(RAG), "ingest", str(sources["base"])],
            env={**os.environ, "RAG_HOME": str(home)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert second.returncode == 1
        assert second.stdout == ""
        [line] = second.stderr.strip().splitlines()
        assert line.startswith("error: another ingest is running on ") and f"pid {child.proc.pid}" in line
        assert time.perf_counter() - t0 < 60
    finally:
        child.kill()
    assert_old_state(home, embeddings, base_template["snapshot"], sources)
    assert_finished_like_a_clean_run(home, embeddings, sources, reference)


def test_killed_after_the_commit_leaves_the_completed_state(tmp_path, sources, base_template, reference, embeddings):
    home = fresh_copy(base_template["home"], tmp_path / "index")
    Child(home, "committed", "--prune", str(sources["incoming"])).kill_at("committed")
    a = reader(home, embeddings)
    a.index.check_health()
    assert snapshot(a) == reference["snapshot"]  # the manifest committed: the new state, BM25 rebuilt to match it
    assert set(a.index.snapshot().bm25.ids) == reference["chunk_ids"]
    assert a.search("zebrafish holography quasicrystal sourdough", k=1)[0].paper_id == sources["edited"].paper_id
    assert_finished_like_a_clean_run(home, embeddings, sources, reference)


def test_killed_in_the_middle_of_a_reset_is_reported_then_the_reset_completes(
    tmp_path, sources, base_template, reference, embeddings
):
    """`--reset` drops everything by design; killed half-way it cannot be the old index, so readers get one
    clear error naming the fix instead of a half-empty index, and running the fix completes it."""
    home = fresh_copy(base_template["home"], tmp_path / "index")
    Child(home, "reset", "--reset", "--prune", str(sources["incoming"])).kill_at("reset")
    a = reader(home, embeddings)
    with pytest.raises(IndexProblem, match=r"rag ingest --reset"):
        a.index.check_health()
    with pytest.raises(IndexProblem, match=r"rag ingest --reset"):
        a.search(sources["unchanged"][0].title, k=3)
    assert_finished_like_a_clean_run(home, embeddings, sources, reference, reset=True)


def test_two_ingests_started_together_never_interleave(tmp_path, sources, embeddings):
    home = tmp_path / "index"
    env = {**os.environ, "RAG_HOME": str(home)}
    procs = [
        subprocess.Popen(
            [str(RAG), "ingest", str(sources["base"]), "--json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    outcomes = []
    for p in procs:
        out, err = p.communicate(timeout=240)
        outcomes.append((p.returncode, out.decode(), err.decode()))
    codes = sorted(code for code, _, _ in outcomes)
    assert codes == [0, 1], outcomes
    winner = next(o for o in outcomes if o[0] == 0)
    loser = next(o for o in outcomes if o[0] == 1)
    assert json.loads(winner[1])["added"] == 8
    assert loser[1] == "" and loser[2].strip().splitlines()[-1].startswith("error: another ingest is running")
    a = reader(home, embeddings)
    assert a.stats()["papers"] == 8
    assert_consistent(a)
