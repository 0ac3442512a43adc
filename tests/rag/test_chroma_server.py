"""Client/server mode against a real `chroma run` on 127.0.0.1: ingest, search, ask and the CLI run unchanged,
and a second client with an empty RAG_HOME rebuilds its manifest and BM25 from what the server holds."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from chroma_server import chroma_server
from typer.testing import CliRunner

import rag.index.snapshot
from ingest import load_papers
from ingest.parsers import bundled_corpus
from rag import Assistant, Settings
from rag.cli import app
from rag.index import IndexMismatch

pytestmark = [pytest.mark.server, pytest.mark.slow]


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory) -> Iterator[str]:
    """A real Chroma server on loopback for this module, always stopped by its pid."""
    with chroma_server(tmp_path_factory.mktemp("chroma-server")) as url:
        yield url


@pytest.fixture(scope="module")
def source_file() -> Path:
    """One bundled Daily Papers dump: real abstracts, small enough to embed in a few seconds."""
    return bundled_corpus()[0]


@pytest.fixture(scope="module")
def writer(chroma_url, source_file, tmp_path_factory, corpus_vectors) -> Assistant:
    """Client A: ingests the file into the server once for the module (MiniLM's vectors, remembered)."""
    home = tmp_path_factory.mktemp("client-a") / "index"
    a = Assistant(Settings(home=home, chroma_url=chroma_url, generator="extractive"), embeddings=corpus_vectors)
    report = a.ingest([source_file])
    assert report.added == report.papers > 0
    return a


def _client(url: str, home: Path, embeddings, **overrides) -> Assistant:
    settings = Settings(home=home, chroma_url=url, generator="extractive").with_overrides(**overrides)
    return Assistant(settings, embeddings=embeddings)


def _server_collection(url: str, name: str = "papers"):
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    port = int(url.rsplit(":", 1)[1])
    client = chromadb.HttpClient(host="127.0.0.1", port=port, settings=ChromaSettings(anonymized_telemetry=False))
    return client.get_collection(name)


def test_ingest_writes_every_chunk_and_the_commit_fingerprint_to_the_server(writer, chroma_url, source_file):
    stats = writer.stats()
    papers = {p.paper_id for p in load_papers([source_file])}
    assert stats["papers"] == len(papers)
    assert stats["chroma"] == chroma_url
    collection = _server_collection(chroma_url)
    assert collection.count() == stats["chunks"]
    assert collection.metadata["rag_fingerprint"] == writer.index.fingerprint() != ""
    held = collection.get(include=["metadatas"])["metadatas"]
    assert {m["paper_id"] for m in held} == papers
    # the server alone is enough to rebuild a client: chunk 0 of each paper carries its abstract
    assert sum(1 for m in held if m["chunk_no"] == 0 and m.get("abstract")) == len(papers)


def test_search_through_the_server_finds_a_paper_from_its_own_words(writer, source_file):
    paper = load_papers([source_file])[7]
    query = " ".join(paper.abstract.split()[:25])
    for mode in ("hybrid", "dense", "bm25"):
        results = writer.search(query, k=5, mode=mode)
        assert results[0].title == paper.title, mode
        assert results[0].text == paper.abstract


def test_a_client_with_an_empty_home_rebuilds_from_the_server_and_ranks_the_same(
    writer, chroma_url, tmp_path, embeddings
):
    reader = _client(chroma_url, tmp_path / "client-b", embeddings)
    assert reader.stats()["papers"] == writer.stats()["papers"]
    assert reader.stats()["chunks"] == writer.stats()["chunks"]
    assert reader.index.fingerprint() == writer.index.fingerprint()
    for query in ("diffusion models for video generation", "reinforcement learning from human feedback"):
        for mode in ("hybrid", "bm25", "dense"):
            mine = [(s.paper_id, s.text, s.score) for s in reader.search(query, k=8, mode=mode)]
            theirs = [(s.paper_id, s.text, s.score) for s in writer.search(query, k=8, mode=mode)]
            assert mine == theirs, (query, mode)
    assert (reader.index.home / "bm25" / "meta.json").exists()  # its own BM25, built from the server's chunks


def test_reingesting_from_a_second_client_writes_nothing(writer, chroma_url, source_file, tmp_path, embeddings):
    before = _server_collection(chroma_url).metadata["rag_fingerprint"]
    report = _client(chroma_url, tmp_path / "client-c", embeddings).ingest([source_file])
    assert (report.added, report.updated, report.embedded_chunks) == (0, 0, 0)
    assert report.unchanged == report.papers == writer.stats()["papers"]
    assert _server_collection(chroma_url).metadata["rag_fingerprint"] == before


def test_filtered_searches_return_only_allowed_papers_and_agree_with_chromas_own_filter(writer, monkeypatch):
    index = writer.index
    ids = sorted(index.papers())
    query = "language models for reasoning"
    for allowed in (frozenset(ids[::2]), frozenset(ids[:1])):
        broad = index.dense_search(query, 10, allowed)  # over-fetches and filters here when the share is large
        monkeypatch.setattr(rag.index.snapshot, "POSTFILTER_MAX_FETCH", 0)  # forces Chroma's `$in` filter
        exact = index.dense_search(query, 10, allowed)
        monkeypatch.undo()
        assert broad and {pid for _, pid, _ in broad} <= allowed
        assert [cid for cid, _, _ in broad] == [cid for cid, _, _ in exact]
        sparse = index.bm25_search(query, 10, allowed)
        assert sparse and {pid for _, pid, _ in sparse} <= allowed


def test_ask_cites_papers_the_server_holds(writer, source_file):
    paper = load_papers([source_file])[3]
    answer = writer.ask(f"What does the paper '{paper.title}' propose?")
    assert not answer.refused
    assert paper.title in {c.title for c in answer.citations}


def test_cli_search_against_the_server_from_a_fresh_home(writer, chroma_url, source_file, monkeypatch, embeddings):
    import rag.embeddings

    monkeypatch.setattr(rag.embeddings, "load_embeddings", lambda *a, **kw: embeddings)
    monkeypatch.setenv("RAG_CHROMA_URL", chroma_url)  # RAG_HOME is this test's own empty directory
    paper = load_papers([source_file])[11]
    result = CliRunner().invoke(app, ["search", paper.title, "--k", "3", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout)
    assert hits[0]["title"] == paper.title
    stats = json.loads(CliRunner().invoke(app, ["stats", "--json"], catch_exceptions=False).stdout)
    assert stats["papers"] == writer.stats()["papers"] and stats["chroma"] == chroma_url


def test_a_client_with_other_chunk_settings_is_refused_by_the_shared_collection(
    writer, chroma_url, tmp_path, embeddings
):
    other = _client(chroma_url, tmp_path / "client-d", embeddings, chunk_tokens=128, chunk_overlap=16)
    with pytest.raises(IndexMismatch, match="rag ingest --reset"):
        other.search("diffusion", k=3)


def test_clients_follow_an_ingest_made_by_another_client(writer, chroma_url, tmp_path, embeddings, monkeypatch):
    """Runs last in the module: it changes what the server holds."""
    newcomers = [p for p in load_papers([bundled_corpus()[1]]) if p.paper_id not in writer.index.papers()][:3]
    source = tmp_path / "newcomers.jsonl"
    source.write_text("".join(json.dumps({"title": p.title, "abstract": p.abstract}) + "\n" for p in newcomers))
    before = writer.stats()["papers"]
    other = _client(chroma_url, tmp_path / "client-e", embeddings)
    report = other.ingest([source], prune=True)
    assert (report.added, report.papers, report.removed) == (3, 3, before)
    # the first client never ingested this file, yet its BM25 and manifest now match the server's
    assert writer.stats()["papers"] == 3
    assert writer.index.fingerprint() == other.index.fingerprint()
    for paper in newcomers:
        assert writer.search(paper.title, k=3, mode="bm25")[0].paper_id == paper.paper_id
    assert _server_collection(chroma_url).count() == report.chunks


def test_an_injected_http_client_is_a_server_client_too(writer, chroma_url, tmp_path, embeddings):
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    client = chromadb.HttpClient(
        host="127.0.0.1", port=int(chroma_url.rsplit(":", 1)[1]), settings=ChromaSettings(anonymized_telemetry=False)
    )
    injected = Assistant(
        Settings(home=tmp_path / "client-f", generator="extractive"), embeddings=embeddings, chroma_client=client
    )
    assert injected.index.is_server
    assert injected.stats()["papers"] == writer.stats()["papers"]  # mirrored from the server it was handed
    assert injected.index.fingerprint() == writer.index.fingerprint()
    title = next(iter(writer.index.papers().values())).title
    assert injected.search(title, k=1, mode="dense")[0].title == title


def test_the_same_paper_ingested_by_two_clients_is_one_paper_with_both_sources(chroma_url, tmp_path, fake_embeddings):
    """Each client's manifest is rebuilt from the server with the source records, so a second client's file
    merges with the first client's papers instead of overwriting them (own collection: the module's is shared)."""
    paper = load_papers([bundled_corpus()[0]])[0]
    dump = tmp_path / "dump.txt"
    dump.write_text(f"Daily Papers\n\nMar 11\n\n{paper.title}\n\n{paper.abstract}\n")
    export = tmp_path / "arxiv.jsonl"
    row = {"id": "2403.00001", "title": paper.title, "abstract": paper.abstract, "authors": "Ada Lovelace",
           "update_date": "2024-03-11", "versions": [{"version": "v1", "created": "Mon, 11 Mar 2024 10:00:00 GMT"}]}  # fmt: skip
    export.write_text(json.dumps(row) + "\n")
    first = _client(chroma_url, tmp_path / "first", fake_embeddings, collection="merged-papers")
    second = _client(chroma_url, tmp_path / "second", fake_embeddings, collection="merged-papers")
    first.ingest([dump])
    report = second.ingest([export])
    assert (report.added, report.updated, report.papers) == (0, 1, 1)
    for client in (first, second, _client(chroma_url, tmp_path / "third", fake_embeddings, collection="merged-papers")):
        [meta] = client.index.papers().values()
        assert set(meta.sources) == {"dump.txt", "arxiv.jsonl"} and meta.arxiv_id == "2403.00001", client.settings.home
        assert meta.authors == ("Ada Lovelace",) and meta.listed == ("Mar 11",)
    again = first.ingest([dump])  # the first client sees the second's records: its unchanged file changes nothing
    assert (again.added, again.updated, again.unchanged) == (0, 0, 1)
