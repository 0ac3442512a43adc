"""Read snapshots: a long-lived reader sees every kind of change another writer makes on its next query, an
unchanged index is not reloaded, a snapshot never changes under a running query, and the answerer's idf
follows the index without rebuilding the chain. Two `Assistant`s over one home stand in for two processes here
(each opens its own vector store client); tests/reliability/test_live_readers.py does it with real processes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest import Paper, load_papers
from ingest.sentences import split_sentences
from rag import Assistant, Settings
from rag.index import Snapshot, StaleSnapshot
from rag.index.sparse import tokenize

UNIQUE = "Zebrafish holography reveals quasicrystal lattices in sourdough fermentation."


@pytest.fixture(scope="module")
def sample() -> list[Paper]:
    """Six real papers with abstracts long enough to make several chunks each."""
    return sorted(load_papers(), key=lambda p: -len(p.abstract))[:6]


def write_jsonl(path: Path, papers: list[Paper]) -> Path:
    path.write_text("".join(json.dumps({"title": p.title, "abstract": p.abstract}) + "\n" for p in papers))
    return path


@pytest.fixture
def pair(tmp_path, fake_embeddings):
    """A reader that stays open for the whole test and a writer over the same index."""
    settings = Settings(home=tmp_path / "index", generator="extractive", k=3)
    writer = Assistant(settings, embeddings=fake_embeddings)
    reader = Assistant(settings, embeddings=fake_embeddings)
    return reader, writer


def ranked(reader: Assistant, query: str, mode: str, k: int = 3) -> list[str]:
    return [s.paper_id for s in reader.search(query, k=k, mode=mode)]


def test_a_long_lived_reader_sees_papers_added_shortened_updated_and_removed(pair, tmp_path, sample):
    reader, writer = pair
    src = tmp_path / "papers.jsonl"
    writer.ingest([write_jsonl(src, sample[:4])])
    assert reader.stats()["papers"] == 4
    chain = reader.chain

    # added
    writer.ingest([write_jsonl(src, sample[:5])])
    assert reader.stats()["papers"] == 5
    for mode in ("dense", "bm25", "hybrid"):
        assert ranked(reader, sample[4].title, mode)[0] == sample[4].paper_id, mode
    answer = reader.ask(f"What does the paper '{sample[4].title}' propose?")
    assert sample[4].paper_id in {c.paper_id for c in answer.citations}

    # shortened: its later chunks' vectors are deleted by the writer
    target = sample[0]
    short = Paper(title=target.title, abstract=" ".join(split_sentences(target.abstract)[:2]))
    chunks_before = reader.stats()["chunks"]
    writer.ingest([write_jsonl(src, [short, *sample[1:5]])])
    assert reader.stats()["chunks"] < chunks_before
    for mode in ("dense", "bm25", "hybrid"):
        hit = reader.search(target.title, k=1, mode=mode)[0]
        assert (hit.paper_id, hit.text) == (target.paper_id, short.abstract), mode

    # updated in place: the new vectors carry a new hash, and the reader must not drop the paper
    edited = Paper(title=sample[1].title, abstract=UNIQUE + " " + sample[1].abstract)
    writer.ingest([write_jsonl(src, [short, edited, *sample[2:5]])])
    for mode in ("dense", "bm25", "hybrid"):
        hit = reader.search("zebrafish holography quasicrystal sourdough", k=1, mode=mode)[0]
        assert (hit.paper_id, hit.text) == (edited.paper_id, edited.abstract), mode
        assert reader.search(edited.title, k=1, mode=mode)[0].paper_id == edited.paper_id

    # removed
    writer.ingest([write_jsonl(src, [short, edited, *sample[2:4]])], prune=True)
    assert reader.stats()["papers"] == 4
    for mode in ("dense", "bm25", "hybrid"):
        assert sample[4].paper_id not in ranked(reader, sample[4].title, mode, k=10), mode
    assert reader.chain is chain  # the same chain all along: nothing was rebuilt to see the changes


def test_a_long_lived_reader_survives_a_reset_and_sees_the_new_collection(pair, tmp_path, sample):
    reader, writer = pair
    writer.ingest([write_jsonl(tmp_path / "a.jsonl", sample[:3])])
    assert ranked(reader, sample[0].title, "dense")[0] == sample[0].paper_id
    writer.ingest([write_jsonl(tmp_path / "b.jsonl", sample[3:6])], reset=True)
    assert set(reader.index.papers()) == {p.paper_id for p in sample[3:6]}
    for mode in ("dense", "bm25", "hybrid"):
        assert ranked(reader, sample[4].title, mode)[0] == sample[4].paper_id, mode
        assert sample[0].paper_id not in ranked(reader, sample[0].title, mode, k=10)
    assert not reader.ask(f"What does the paper '{sample[5].title}' propose?").refused


def test_a_second_assistant_in_the_same_process_reads_the_changed_index(pair, tmp_path, sample, fake_embeddings):
    reader, writer = pair
    src = write_jsonl(tmp_path / "p.jsonl", sample[:3])
    writer.ingest([src])
    assert reader.search(sample[0].title, k=1, mode="dense")[0].paper_id == sample[0].paper_id
    writer.ingest([write_jsonl(src, [Paper(title=sample[0].title, abstract=UNIQUE), *sample[1:3]])])
    second = Assistant(reader.settings, embeddings=fake_embeddings)
    for a in (second, reader):
        hit = a.search("zebrafish quasicrystal sourdough", k=1, mode="dense")[0]
        assert (hit.paper_id, hit.text) == (sample[0].paper_id, UNIQUE)


def test_an_unchanged_index_is_not_reloaded_and_a_changed_one_gives_a_new_snapshot(pair, tmp_path, sample):
    reader, writer = pair
    writer.ingest([write_jsonl(tmp_path / "p.jsonl", sample[:2])])
    first = reader.index.snapshot()
    assert reader.index.snapshot() is first
    reader.search(sample[0].title, k=2)
    assert reader.index.current() is first

    writer.ingest([write_jsonl(tmp_path / "q.jsonl", sample[2:3])])
    second = reader.index.snapshot()
    assert second is not first and second.version != first.version
    # the old snapshot is frozen: a query that took it before the change reads the old state throughout
    assert set(first.papers) == {p.paper_id for p in sample[:2]}
    assert len(first.bm25) < len(second.bm25)
    assert set(second.papers) == {p.paper_id for p in sample[:3]}


def test_only_a_sources_change_is_seen_too(pair, tmp_path, sample):
    reader, writer = pair
    writer.ingest([write_jsonl(tmp_path / "a.jsonl", sample[:2])])
    assert reader.search(sample[0].title, k=5, source="b.jsonl") == []
    writer.ingest([write_jsonl(tmp_path / "b.jsonl", sample[:1])])  # same content, one more source file
    assert [s.paper_id for s in reader.search(sample[0].title, k=5, source="b.jsonl")] == [sample[0].paper_id]


def test_the_answerers_idf_follows_the_index_without_rebuilding_the_chain(pair, tmp_path, sample):
    reader, writer = pair
    writer.ingest([write_jsonl(tmp_path / "a.jsonl", sample[:2])])
    reader.ask("anything at all about models")  # builds the chain and its generator
    chain = reader.chain
    term = tokenize("zebrafish")[0]
    before = reader.index.idf(term)
    papers = [
        Paper(title=f"Zebrafish study {i}", abstract=f"{UNIQUE} Study number {i} of zebrafish.") for i in range(6)
    ]
    writer.ingest([write_jsonl(tmp_path / "b.jsonl", papers)])
    answer = reader.ask("What do the zebrafish studies reveal about sourdough fermentation?")
    assert reader.chain is chain
    assert reader.index.idf(term) < before  # the term is now common: the same call reads the new snapshot
    assert reader.index.idf(term) == reader.index.current().bm25.idf(term)
    assert answer.citations and all(c.title.startswith("Zebrafish study") for c in answer.citations)


def test_a_query_racing_a_reset_reads_again_from_a_fresh_snapshot(pair, tmp_path, sample, monkeypatch):
    """The freshness check passed, then another writer reset the index before the vectors were read: the
    stale collection handle fails, and the query runs again on a new snapshot instead of failing."""
    reader, writer = pair
    writer.ingest([write_jsonl(tmp_path / "a.jsonl", sample[:3])])
    reader.search(sample[0].title, k=1)
    original = Snapshot.dense_search
    raced: list[str] = []

    def dense_search_after_a_reset(self, *args, **kwargs):
        if not raced:
            raced.append(self.version)
            writer.ingest([write_jsonl(tmp_path / "b.jsonl", sample[3:6])], reset=True)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Snapshot, "dense_search", dense_search_after_a_reset)
    hits = reader.search(sample[4].title, k=2, mode="dense")
    assert raced and hits[0].paper_id == sample[4].paper_id
    assert reader.index.current().version != raced[0]


def test_a_stale_snapshot_is_reported_once_then_read_again(pair, tmp_path, sample):
    reader, writer = pair
    writer.ingest([write_jsonl(tmp_path / "a.jsonl", sample[:2])])
    calls: list[str] = []

    def flaky(snapshot: Snapshot) -> int:
        calls.append(snapshot.version)
        if len(calls) == 1:
            raise StaleSnapshot("vectors rewritten by another process")
        return len(snapshot.papers)

    assert reader.index.read(flaky) == 2 and len(calls) == 2


def test_an_injected_local_chroma_client_holds_the_vectors(tmp_path, sample, fake_embeddings):
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    client = chromadb.PersistentClient(str(tmp_path / "elsewhere"), settings=ChromaSettings(anonymized_telemetry=False))
    a = Assistant(
        Settings(home=tmp_path / "index", generator="extractive"), embeddings=fake_embeddings, chroma_client=client
    )
    a.ingest([write_jsonl(tmp_path / "p.jsonl", sample[:3])])
    assert not (tmp_path / "index" / "chroma").exists()  # the vectors went where the client keeps them
    assert client.get_collection("papers").count() == a.stats()["chunks"]
    assert a.search(sample[2].title, k=1, mode="dense")[0].paper_id == sample[2].paper_id
