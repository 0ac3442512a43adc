"""`Assistant.delete`: papers leave the catalogue, the vectors and BM25 together, for every reader."""

from __future__ import annotations

from conftest import TINY

from rag import Assistant


def _ids(assistant: Assistant, query: str, k: int = 8) -> list[str]:
    return [s.paper_id for s in assistant.search(query, k=k)]


def test_deleted_paper_is_gone_from_catalogue_vectors_and_bm25_for_every_reader(make_assistant):
    writer = make_assistant()
    writer.ingest([TINY])
    reader = Assistant(writer.settings, embeddings=writer.index.embeddings)  # another reader of the same index
    papers = writer.index.papers()
    victim = next(p for p in papers.values() if p.title.startswith("FastDiff"))
    assert victim.paper_id in _ids(reader, "FastDiff training-free diffusion sampler")
    chunks_before = writer.stats()["chunks"]

    report = writer.delete([victim.paper_id, "no-such-paper"])

    assert (report.removed, report.papers) == (1, len(papers) - 1)
    assert report.chunks < chunks_before and report.chunks == writer.stats()["chunks"]
    for who in (writer, reader):
        assert victim.paper_id not in who.index.papers()
        assert victim.paper_id not in _ids(who, "FastDiff training-free diffusion sampler")
        assert all(victim.paper_id != pid for _, pid, _ in who.index.bm25_search("FastDiff", 20))
        assert all(victim.paper_id != pid for _, pid, _ in who.index.dense_search("FastDiff diffusion", 50))
    collection = writer.index.dense.open()
    assert collection.count() == report.chunks  # no vector left behind
    assert not collection.get(where={"paper_id": victim.paper_id}, include=[])["ids"]
    assert not writer.index.journal_path.exists()
    writer.index.check_health()
    answer = reader.ask("How much faster is FastDiff sampling?")
    assert victim.paper_id not in {c.paper_id for c in answer.citations}


def test_deleting_nothing_known_changes_nothing_and_reingest_brings_a_paper_back(make_assistant):
    assistant = make_assistant()
    assistant.ingest([TINY])
    before = (assistant.index.fingerprint(), assistant.stats()["chunks"])
    assert assistant.delete(["no-such-paper"]).removed == 0
    assert (assistant.index.fingerprint(), assistant.stats()["chunks"]) == before
    pid = next(iter(assistant.index.papers()))
    assistant.delete([pid])
    assert assistant.ingest([TINY]).added == 1  # the file still holds it
    assert assistant.index.fingerprint() == before[0]


def test_a_deleted_paper_stays_deleted_when_another_file_is_ingested(make_assistant, tmp_path):
    assistant = make_assistant()
    assistant.ingest([TINY])
    victim = next(iter(assistant.index.papers()))
    assistant.delete([victim])
    other = tmp_path / "other.jsonl"
    other.write_text(
        '{"title": "A Separate Paper on Graph Pooling", "abstract": "We pool graph nodes by learned clusters and '
        'report gains on three molecule benchmarks."}\n',
        encoding="utf-8",
    )
    report = assistant.ingest([other])
    assert report.added == 1
    assert victim not in assistant.index.papers()  # its stored records went with it
