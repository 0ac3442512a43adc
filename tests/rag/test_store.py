"""The index through `Assistant.ingest`: idempotent re-ingest, updates, prune, reset, mismatch, malformed input.

Mutation tests use small hand-written sources built from real corpus papers and the fake embedding model, never
the shared corpus index (which is only re-ingested unchanged, with MiniLM, to pin that doing so writes nothing).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from langchain_core.embeddings import Embeddings

from ingest import Paper, ParseError, load_papers
from rag import Assistant, Settings
from rag.index import IndexBusy, IndexMismatch

UNIQUE = "Zebrafish holography reveals quasicrystal lattices in sourdough fermentation."


class CountingEmbeddings(Embeddings):
    """Delegates to the shared model and counts what was embedded; `fail_after` simulates a crash mid-ingest."""

    def __init__(self, inner: Embeddings, fail_after: int | None = None) -> None:
        self.inner = inner
        self.document_calls = 0
        self.documents = 0
        self.fail_after = fail_after
        self._lock = threading.Lock()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        with self._lock:
            if self.fail_after is not None and self.documents + len(texts) > self.fail_after:
                raise RuntimeError("simulated crash while embedding")
            self.document_calls += 1
            self.documents += len(texts)
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)


@pytest.fixture(scope="module")
def sample() -> list[Paper]:
    """Eight real papers: short to long abstracts, from different files."""
    papers = sorted(load_papers(), key=lambda p: len(p.abstract))
    step = len(papers) // 8
    return [papers[i * step] for i in range(8)]


def write_jsonl(path: Path, papers: list[Paper]) -> Path:
    path.write_text("".join(json.dumps({"title": p.title, "abstract": p.abstract}) + "\n" for p in papers))
    return path


def write_dump(path: Path, papers: list[Paper], date: str = "Mar 11") -> Path:
    """A small Hugging Face Daily Papers page dump, header boilerplate included."""
    body = "".join(f"{p.title}\n\n{p.abstract}\n\n" for p in papers)
    path.write_text(f"new\n\nGet trending papers in your email inbox!\n\nSubscribe\n\n{date}\n\n{body}")
    return path


def chroma_ids(assistant: Assistant) -> set[str]:
    return set(assistant.index.dense.get().get(include=[])["ids"])


def manifest_chunk_ids(assistant: Assistant) -> set[str]:
    return assistant.index.manifest.chunk_ids()


def assert_consistent(assistant: Assistant) -> None:
    """Chroma, the manifest and BM25 hold exactly the same chunks."""
    ids = manifest_chunk_ids(assistant)
    assert chroma_ids(assistant) == ids
    assert set(assistant.index.snapshot().bm25.ids) == ids
    assert assistant.stats()["chunks"] == len(ids)


def snapshot(assistant: Assistant) -> dict:
    st = assistant.stats()
    return {"stats": st, "meta": assistant.index.meta(), "chroma": assistant.index.dense.get().count()}


# ---- idempotence -----------------------------------------------------------------------------------------


def test_reingesting_the_unchanged_corpus_writes_nothing(corpus_assistant, corpus_home, embeddings):
    before = snapshot(corpus_assistant)
    spy = CountingEmbeddings(embeddings)
    again = Assistant(Settings(home=corpus_home, generator="extractive"), embeddings=spy)
    report = again.ingest()
    assert (report.papers, report.added, report.updated, report.removed) == (451, 0, 0, 0)
    assert report.unchanged == 451
    assert report.embedded_chunks == 0
    assert spy.document_calls == 0
    assert snapshot(again) == before


def test_reingesting_a_small_source_writes_nothing_the_second_time(tmp_path, fake_embeddings, sample):
    spy = CountingEmbeddings(fake_embeddings)
    a = Assistant(Settings(home=tmp_path / "idx", generator="extractive"), embeddings=spy)
    src = write_jsonl(tmp_path / "p.jsonl", sample[:5])
    first = a.ingest([src])
    assert (first.added, first.unchanged, first.papers) == (5, 0, 5)
    assert spy.documents == first.chunks == first.embedded_chunks
    before, calls = snapshot(a), spy.document_calls
    second = a.ingest([src])
    assert (second.added, second.updated, second.unchanged, second.removed) == (0, 0, 5, 0)
    assert spy.document_calls == calls
    assert snapshot(a) == before
    assert_consistent(a)


# ---- updates, prune, reset -------------------------------------------------------------------------------


def test_editing_one_abstract_updates_exactly_that_paper(tmp_path, fake_embeddings, sample):
    spy = CountingEmbeddings(fake_embeddings)
    a = Assistant(Settings(home=tmp_path / "idx", generator="extractive"), embeddings=spy)
    papers = sample[:5]
    src = write_dump(tmp_path / "dump.txt", papers)
    a.ingest([src])
    target = papers[2]
    old_hash = a.index.papers()[target.paper_id].content_hash
    untouched = {pid: m.content_hash for pid, m in a.index.papers().items() if pid != target.paper_id}

    edited = [*papers[:2], Paper(title=target.title, abstract=UNIQUE + " " + target.abstract), *papers[3:]]
    write_dump(src, edited)
    embedded_before = spy.documents
    report = a.ingest([src])

    assert (report.added, report.updated, report.unchanged, report.removed, report.papers) == (0, 1, 4, 0, 5)
    meta = a.index.papers()[target.paper_id]
    assert meta.content_hash != old_hash
    assert {pid: m.content_hash for pid, m in a.index.papers().items() if pid != target.paper_id} == untouched
    n_chunks = len([c for c in manifest_chunk_ids(a) if c.startswith(target.paper_id + ":")])
    assert spy.documents - embedded_before == n_chunks  # only the edited paper was re-embedded
    stored = a.index.dense.get().get(where={"paper_id": target.paper_id}, include=["metadatas", "documents"])
    assert len(stored["ids"]) == n_chunks
    assert {m["hash"] for m in stored["metadatas"]} == {meta.content_hash}
    assert any("Zebrafish holography" in d for d in stored["documents"])
    assert_consistent(a)

    for mode in ("bm25", "dense", "hybrid"):
        top = a.search("zebrafish holography quasicrystal sourdough", k=1, mode=mode)[0]
        assert top.paper_id == target.paper_id, mode
        assert top.text.startswith(UNIQUE)


def test_adding_a_paper_to_a_source_adds_only_it(make_assistant, tmp_path, sample):
    a = make_assistant()
    src = write_jsonl(tmp_path / "p.jsonl", sample[:3])
    a.ingest([src])
    write_jsonl(src, sample[:4])
    report = a.ingest([src])
    assert (report.added, report.updated, report.unchanged, report.papers) == (1, 0, 3, 4)
    assert_consistent(a)


def test_ingest_without_prune_keeps_papers_missing_from_the_sources(make_assistant, tmp_path, sample):
    a = make_assistant()
    first = write_jsonl(tmp_path / "a.jsonl", sample[:3])
    second = write_jsonl(tmp_path / "b.jsonl", sample[3:6])
    a.ingest([first, second])
    report = a.ingest([first])
    assert (report.removed, report.unchanged, report.papers) == (0, 3, 6)


def test_prune_removes_papers_gone_from_the_sources_everywhere(make_assistant, tmp_path, sample):
    a = make_assistant()
    first = write_jsonl(tmp_path / "a.jsonl", sample[:3])
    second = write_jsonl(tmp_path / "b.jsonl", sample[3:6])
    a.ingest([first, second])
    gone = {p.paper_id for p in sample[3:6]}

    report = a.ingest([first], prune=True)

    assert (report.removed, report.unchanged, report.added, report.papers) == (3, 3, 0, 3)
    assert gone.isdisjoint(a.index.papers())
    assert not any(cid.rsplit(":", 1)[0] in gone for cid in chroma_ids(a))
    assert not any(cid.rsplit(":", 1)[0] in gone for cid in a.index.snapshot().bm25.ids)
    assert_consistent(a)
    for p in sample[3:6]:
        for mode in ("bm25", "dense", "hybrid"):
            assert p.paper_id not in {s.paper_id for s in a.search(p.title, k=10, mode=mode)}


def test_reset_starts_the_index_over(make_assistant, tmp_path, sample):
    a = make_assistant()
    a.ingest([write_jsonl(tmp_path / "a.jsonl", sample[:3])])
    report = a.ingest([write_jsonl(tmp_path / "b.jsonl", sample[3:5])], reset=True)
    assert (report.added, report.unchanged, report.removed, report.papers) == (2, 0, 0, 2)
    assert set(a.index.papers()) == {p.paper_id for p in sample[3:5]}
    assert_consistent(a)


# ---- settings mismatch -----------------------------------------------------------------------------------


def test_opening_an_index_with_other_chunk_settings_raises_mismatch_with_the_fix(tmp_path, fake_embeddings, sample):
    home = tmp_path / "idx"
    src = write_jsonl(tmp_path / "p.jsonl", sample[:3])
    Assistant(Settings(home=home, generator="extractive", chunk_tokens=200), embeddings=fake_embeddings).ingest([src])

    other = Assistant(Settings(home=home, generator="extractive", chunk_tokens=150), embeddings=fake_embeddings)
    with pytest.raises(IndexMismatch) as info:
        other.search("anything", k=3)
    assert "chunk_tokens=200" in str(info.value)
    assert "chunk_tokens=150" in str(info.value)
    assert "rag ingest --reset" in str(info.value)
    with pytest.raises(IndexMismatch):
        other.ingest([src])

    report = other.ingest([src], reset=True)
    assert report.added == 3
    assert other.stats()["chunk_tokens"] == 150
    assert other.search(sample[0].title, k=1)[0].paper_id == sample[0].paper_id


# ---- malformed sources write nothing ---------------------------------------------------------------------

ABSTRACT = "We study a problem. Our method improves on strong baselines across several benchmarks."
MALFORMED = {
    "bad-json.jsonl": ('{"title": "A", "abstract": "' + ABSTRACT + '"}\n{"title": "B", "abs\n', 2),
    "not-object.jsonl": ('{"title": "A", "abstract": "' + ABSTRACT + '"}\n["B"]\n', 2),
    "no-title.jsonl": ('{"title": "A", "abstract": "' + ABSTRACT + '"}\n{"abstract": "' + ABSTRACT + '"}\n', 2),
    "empty-abstract.jsonl": ('{"title": "A", "abstract": ""}\n', 1),
    "columns.csv": (f"name,summary\nA,{ABSTRACT}\n", 1),
    "fields.csv": (f'title,abstract\nA,"{ABSTRACT}"\nB,"{ABSTRACT}",extra\n', 3),
    "dangling.txt": (f"new\nTitle A\n{ABSTRACT}\nTitle B\n", 4),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_a_malformed_source_raises_file_and_line_and_leaves_the_index_as_it_was(make_assistant, tmp_path, sample, name):
    a = make_assistant()
    good = write_jsonl(tmp_path / "good.jsonl", sample[:3])
    a.ingest([good])
    before = snapshot(a)
    text, line = MALFORMED[name]
    bad = tmp_path / name
    bad.write_text(text)

    with pytest.raises(ParseError) as info:
        a.ingest([good, bad], prune=True)

    assert str(info.value).startswith(f"{bad}:{line}: ")
    assert snapshot(a) == before
    assert not a.index.journal_path.exists()


def test_a_malformed_source_into_a_fresh_index_writes_no_papers(make_assistant, tmp_path):
    a = make_assistant()
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"title": "Only a title"}\n')
    with pytest.raises(ParseError, match=r"bad\.jsonl:1: "):
        a.ingest([bad])
    assert a.stats()["papers"] == 0
    assert a.index.is_empty()
    assert a.index.meta() == {}


# ---- concurrency and interruption ------------------------------------------------------------------------


def test_a_second_writer_is_refused_while_an_ingest_holds_the_lock(make_assistant, tmp_path, fake_embeddings, sample):
    a = make_assistant()
    src = write_jsonl(tmp_path / "p.jsonl", sample[:2])
    other = Assistant(a.settings, embeddings=fake_embeddings)
    with a.index.writer_lock(), pytest.raises(IndexBusy, match="another ingest is running"):
        other.ingest([src])
    assert other.ingest([src]).added == 2  # the lock is released afterwards


def test_an_ingest_interrupted_mid_embedding_leaves_the_last_committed_state(tmp_path, fake_embeddings, sample):
    home = tmp_path / "idx"
    src = write_jsonl(tmp_path / "p.jsonl", sample[:4])
    Assistant(Settings(home=home, generator="extractive"), embeddings=fake_embeddings).ingest([src])
    committed = Assistant(Settings(home=home, generator="extractive"), embeddings=fake_embeddings)
    before = snapshot(committed)
    before_top = committed.search(sample[1].title, k=1, mode="bm25")[0]

    edited = [*sample[:1], Paper(title=sample[1].title, abstract=UNIQUE + " " + sample[1].abstract), *sample[2:8]]
    write_jsonl(src, edited)
    # batches of 4 chunks: the first (new papers' chunks) reaches Chroma, the second one crashes
    crashing = CountingEmbeddings(fake_embeddings, fail_after=6)
    with pytest.raises(RuntimeError, match="simulated crash"):
        Assistant(Settings(home=home, generator="extractive", embed_batch_size=1), embeddings=crashing).ingest([src])
    assert crashing.documents == 4

    reader = Assistant(Settings(home=home, generator="extractive"), embeddings=fake_embeddings)
    assert snapshot(reader)["stats"] == before["stats"]
    assert len(chroma_ids(reader)) > len(manifest_chunk_ids(reader))  # uncommitted vectors are there...
    for p in sample[4:8]:  # ...but readers never see them
        assert p.paper_id not in {s.paper_id for s in reader.search(p.title, k=10, mode="dense")}
    after_top = reader.search(sample[1].title, k=1, mode="bm25")[0]  # BM25 is built from the manifest
    assert (after_top.paper_id, after_top.text) == (before_top.paper_id, before_top.text)
    assert not after_top.text.startswith(UNIQUE)

    report = reader.ingest([src])
    assert (report.added, report.updated, report.unchanged) == (4, 1, 3)
    assert_consistent(reader)
    assert reader.search("zebrafish holography quasicrystal", k=1, mode="bm25")[0].paper_id == sample[1].paper_id


def test_a_paper_seen_in_a_new_source_file_records_that_file(make_assistant, tmp_path, sample):
    a = make_assistant()
    first = write_jsonl(tmp_path / "a.jsonl", sample[:2])
    a.ingest([first])
    second = write_jsonl(tmp_path / "b.jsonl", sample[1:3])
    a.ingest([first, second])
    assert sorted(a.index.papers()[sample[1].paper_id].sources) == ["a.jsonl", "b.jsonl"]
    assert {s.paper_id for s in a.search("method", k=5, source="b.jsonl")} == {sample[1].paper_id, sample[2].paper_id}


def test_a_paper_being_updated_stays_visible_to_dense_search_after_a_crash(tmp_path, fake_embeddings, sample):
    home = tmp_path / "idx"
    src = write_jsonl(tmp_path / "p.jsonl", sample[:3])
    Assistant(Settings(home=home, generator="extractive"), embeddings=fake_embeddings).ingest([src])
    write_jsonl(src, [*sample[:1], Paper(title=sample[1].title, abstract=UNIQUE + " " + sample[1].abstract), sample[2]])
    with pytest.raises(RuntimeError, match="simulated crash"):
        crashing = CountingEmbeddings(fake_embeddings, fail_after=0)
        Assistant(Settings(home=home, generator="extractive"), embeddings=crashing).ingest([src])
    reader = Assistant(Settings(home=home, generator="extractive"), embeddings=fake_embeddings)
    assert sample[1].paper_id in {s.paper_id for s in reader.search(sample[1].title, k=3, mode="dense")}


def test_ingest_records_url_and_date_from_jsonl_for_sources_and_filters(make_assistant, tmp_path, sample):
    a = make_assistant()
    src = tmp_path / "meta.jsonl"
    rows = [
        {"title": p.title, "abstract": p.abstract, "url": f"https://example.org/{i}", "date": f"2024-0{i + 1}-15"}
        for i, p in enumerate(sample[:3])
    ]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    a.ingest([src])
    [hit] = a.search(sample[1].title, k=1)
    assert (hit.url, hit.date, hit.sources) == ("https://example.org/1", "2024-02-15", ["meta.jsonl"])
    assert [s.paper_id for s in a.search("method", k=5, date="2024-03")] == [sample[2].paper_id]
