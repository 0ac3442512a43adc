"""Readers that stay up while other processes change the index: a long-lived `Assistant` in this process and a
`rag ui` process (driven through gradio_client) see each `rag ingest` run from the command line (a paper added,
a paper shortened, a paper removed, then `--reset`) on their next question, with no restart; a second
`Assistant` created afterwards in this process works too. Local files, and a `chroma run` server on loopback.

Every process embeds with the fake model (fake_rag.py runs the real `rag` command with it): what is tested is
how processes share Chroma and the manifest, which does not depend on meaning, and a `rag` process then starts
in about 2 s instead of 6-10 s."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chroma_server import chroma_server
from reltools import tiny_rows, write_jsonl

from ingest import load_papers
from ingest.sentences import split_sentences
from rag import Assistant, Settings
from ui.app import free_port

pytestmark = [pytest.mark.slow, pytest.mark.server]

RAG = [sys.executable, str(Path(__file__).with_name("fake_rag.py"))]


def child_env(home: Path, url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(RAG_HOME=str(home), RAG_GENERATOR="extractive")
    if url:
        env["RAG_CHROMA_URL"] = url
    return env


def rag_ingest(env: dict[str, str], *args: str) -> dict[str, Any]:
    done = subprocess.run([*RAG, "ingest", *args, "--json"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


class ServedUI:
    """`rag ui` in its own process on a free loopback port; stopped by its pid."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        from gradio_client import Client

        port = free_port()
        self.log = log.open("wb")
        self.proc = subprocess.Popen(
            [*RAG, "ui", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 180
        while True:
            try:
                self.client = Client(f"http://127.0.0.1:{port}", verbose=False)
                return
            except Exception:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.close()
                    raise RuntimeError(f"rag ui did not start: {log.read_text()[-2000:]}") from None
                time.sleep(0.5)

    def ask(self, question: str) -> dict[str, Any]:
        return self.client.predict(question, api_name="/ask")

    def search(self, query: str, k: int = 3) -> list[dict[str, Any]]:
        return self.client.predict(query, k, api_name="/search")

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=20)
        self.log.close()


@pytest.fixture(scope="module")
def long_paper() -> dict[str, str]:
    """A real abstract long enough for several chunks, so that shortening it deletes vectors."""
    paper = max(load_papers(), key=lambda p: len(p.abstract))
    return {"title": paper.title, "abstract": paper.abstract}


@pytest.fixture(params=["local", "server"])
def mode(request, tmp_path_factory) -> Iterator[str | None]:
    if request.param == "local":
        yield None
        return
    with chroma_server(tmp_path_factory.mktemp("live-chroma")) as url:
        yield url


def titles(results: list[Any]) -> list[str]:
    return [r["title"] if isinstance(r, dict) else r.title for r in results]


def cited(answer: Any) -> set[str]:
    data = answer if isinstance(answer, dict) else answer.model_dump()
    return {c["title"] for c in data["citations"]}


def test_readers_in_other_processes_see_each_ingest_on_their_next_question(mode, tmp_path, fake_embeddings, long_paper):
    url = mode
    rows = tiny_rows()
    home = tmp_path / "index"
    src = tmp_path / "papers.jsonl"
    env = child_env(home, url)
    rag_ingest(env, str(write_jsonl(src, [*rows[:5], long_paper])))

    settings = Settings(home=home, chroma_url=url, generator="extractive", k=3)
    reader = Assistant(settings, embeddings=fake_embeddings)
    # In server mode the UI is another client with its own, empty home: it mirrors what the server holds.
    ui_home = tmp_path / "ui-index" if url else home
    ui = ServedUI(child_env(ui_home, url), tmp_path / "ui.log")
    try:
        readers = [("assistant", reader.search, reader.ask), ("ui", ui.search, ui.ask)]
        for _, search, _ in readers:
            assert titles(search(rows[0]["title"]))[0] == rows[0]["title"]
        assert reader.stats()["papers"] == 6

        # 1. a paper added
        new = rows[5]
        rag_ingest(env, str(write_jsonl(src, [*rows[:5], long_paper, new])))
        for name, search, ask in readers:
            assert titles(search(new["title"]))[0] == new["title"], name
            assert new["title"] in cited(ask(f"What does the paper '{new['title']}' propose?")), name
        assert reader.stats()["papers"] == 7

        # 2. a paper shortened: its later chunks' vectors are deleted
        short = {**long_paper, "abstract": " ".join(split_sentences(long_paper["abstract"])[:2])}
        chunks = reader.stats()["chunks"]
        rag_ingest(env, str(write_jsonl(src, [*rows[:5], short, new])))
        assert reader.stats()["chunks"] < chunks
        for name, search, _ in readers:
            for query in (short["title"], " ".join(short["abstract"].split()[:12])):
                hit = search(query, 3)[0]
                assert (hit["title"] if isinstance(hit, dict) else hit.title) == short["title"], name
                assert (hit["text"] if isinstance(hit, dict) else hit.text) == short["abstract"], name

        # 3. a paper removed
        gone = rows[1]
        rag_ingest(env, str(write_jsonl(src, [rows[0], *rows[2:5], short, new])), "--prune")
        for name, search, ask in readers:
            assert gone["title"] not in titles(search(gone["title"], 10)), name
            assert gone["title"] not in cited(ask(f"What does the paper '{gone['title']}' propose?")), name
        assert reader.stats()["papers"] == 6

        # 4. `rag ingest --reset` from the command line: a new collection, other papers
        fresh = rows[5:]
        rag_ingest(env, str(write_jsonl(tmp_path / "fresh.jsonl", fresh)), "--reset")
        for name, search, ask in readers:
            assert titles(search(fresh[-1]["title"]))[0] == fresh[-1]["title"], name
            assert rows[0]["title"] not in titles(search(rows[0]["title"], 10)), name
            assert fresh[-1]["title"] in cited(ask(f"What does the paper '{fresh[-1]['title']}' propose?")), name
        assert reader.stats()["papers"] == len(fresh)

        # a second Assistant opened now, in the process that held the old index open all along
        second = Assistant(settings, embeddings=fake_embeddings)
        for mode_name in ("dense", "hybrid", "bm25"):
            assert titles(second.search(fresh[0]["title"], k=1, mode=mode_name)) == [fresh[0]["title"]]
    finally:
        ui.close()
