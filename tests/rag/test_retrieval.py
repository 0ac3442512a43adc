"""Fusion and aggregation by hand, then the hybrid retriever over the indexed bundled corpus."""

from __future__ import annotations

import pytest
from langchain_core.documents import Document

from rag.index import PaperMeta
from rag.retrieval import (
    HybridRetriever,
    SearchFilter,
    complete_rankings,
    convex_fuse,
    document_to_source,
    papers_from_chunks,
    rrf_fuse,
)

MODES = ["hybrid", "dense", "bm25"]
GMM_TITLE = "Gaussian Mixture Convolution Networks"


# ---- pure parts ------------------------------------------------------------------------------------------


def test_rrf_fuse_sums_reciprocal_ranks():
    fused = rrf_fuse([["a", "b", "c"], ["b", "c", "d"]], k=60)
    assert [item for item, _ in fused] == ["b", "c", "a", "d"]
    scores = dict(fused)
    assert scores["b"] == pytest.approx(1 / 62 + 1 / 61)
    assert scores["c"] == pytest.approx(1 / 63 + 1 / 62)
    assert scores["a"] == pytest.approx(1 / 61)
    assert scores["d"] == pytest.approx(1 / 63)


def test_rrf_fuse_breaks_ties_by_best_single_rank_then_by_id():
    # with k=1: x = 1/2 (rank 1), b = 1/2 (rank 1), y = 1/4 + 1/4 (best rank 3), a = c = 1/3 (rank 2)
    fused = rrf_fuse([["x", "a", "y"], ["b", "c", "y"]], k=1)
    assert [item for item, _ in fused] == ["b", "x", "y", "a", "c"]
    assert [s for _, s in fused] == pytest.approx([0.5, 0.5, 0.5, 1 / 3, 1 / 3])


def test_rrf_fuse_of_one_ranking_keeps_its_order_and_of_none_is_empty():
    assert [i for i, _ in rrf_fuse([["q", "p", "r"]])] == ["q", "p", "r"]
    assert rrf_fuse([]) == []
    assert rrf_fuse([[], []]) == []


def test_convex_fuse_weights_normalised_scores():
    dense = [("a", ["a:0"], 0.9), ("b", ["b:0"], 0.5), ("c", ["c:0"], 0.1)]
    sparse = [("b", ["b:1"], 10.0), ("d", ["d:0"], 5.0)]
    fused = dict(convex_fuse(dense, sparse, alpha=0.3))
    assert fused["a"] == pytest.approx(0.3)  # top cosine, no BM25 match
    assert fused["b"] == pytest.approx(0.3 * 0.5 + 0.7)  # mid cosine, top BM25
    assert fused["c"] == pytest.approx(0.0)
    assert fused["d"] == pytest.approx(0.35)
    assert [p for p, _ in convex_fuse(dense, sparse, alpha=0.3)] == ["b", "d", "a", "c"]
    assert [p for p, _ in convex_fuse(dense, [], alpha=1.0)] == ["a", "b", "c"]
    assert convex_fuse([], []) == []


def test_papers_from_chunks_keeps_one_entry_per_paper_in_best_chunk_order():
    hits = [("p1:0", "p1", 0.9), ("p2:1", "p2", 0.8), ("p1:2", "p1", 0.7), ("p3:0", "p3", 0.6), ("p2:0", "p2", 0.5)]
    assert papers_from_chunks(hits) == [
        ("p1", ["p1:0", "p1:2"], 0.9),
        ("p2", ["p2:1", "p2:0"], 0.8),
        ("p3", ["p3:0"], 0.6),
    ]
    assert papers_from_chunks([]) == []


def test_search_filter_matches_each_field_case_insensitively():
    paper = PaperMeta("p", "Diffusion Models Beat GANs", "h", ("000_a.txt", "003_b.txt"), "Mar 11", None)
    assert SearchFilter(source="003").matches(paper)
    assert not SearchFilter(source="004").matches(paper)
    assert SearchFilter(date="mar").matches(paper)
    assert not SearchFilter(date="Aug 14").matches(paper)
    assert SearchFilter(title_contains="beat gans").matches(paper)
    assert not SearchFilter(title_contains="transformer").matches(paper)
    assert not SearchFilter(source="003", title_contains="transformer").matches(paper)
    assert not SearchFilter(date="Mar").matches(PaperMeta("q", "T", "h", ("x",), None, None))
    assert not SearchFilter() and SearchFilter(source="x")


# ---- over the bundled corpus -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def retriever(corpus_assistant) -> HybridRetriever:
    return corpus_assistant.retriever()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("k", [1, 5, 25])
def test_search_returns_k_distinct_papers_ranked_from_one(retriever, mode, k):
    results = retriever.search("diffusion models for image generation", k=k, mode=mode)
    assert len(results) == k
    assert [s.rank for s in results] == list(range(1, k + 1))
    assert len({s.paper_id for s in results}) == k
    scores = [s.score for s in results]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("mode", MODES)
def test_an_exact_title_query_ranks_that_paper_first(retriever, mode):
    [top] = retriever.search(GMM_TITLE, k=1, mode=mode)
    assert top.title == GMM_TITLE


def test_sources_carry_the_abstract_and_their_own_chunks_as_evidence(corpus_assistant, retriever):
    results = retriever.search("retrieval augmented generation", k=10)
    abstracts = corpus_assistant.index.abstracts([s.paper_id for s in results])
    for s in results:
        assert s.text == abstracts[s.paper_id]
        assert s.chunks, s.title
        assert all(c.rsplit(":", 1)[0] == s.paper_id for c in s.chunks)
        assert s.sources and all(name.endswith(".txt") for name in s.sources)


def test_rrf_hybrid_score_is_the_rrf_of_the_dense_and_bm25_paper_ranks(corpus_assistant):
    retriever = corpus_assistant.retriever()
    retriever.fusion = "rrf"
    for s in retriever.search("protein structure prediction", k=10):
        assert s.dense_rank is not None or s.bm25_rank is not None
        expected = sum(1 / (60 + r) for r in (s.dense_rank, s.bm25_rank) if r is not None)
        assert s.score == pytest.approx(expected, abs=1e-6)


def test_completed_rankings_score_every_candidate_under_both_signals(corpus_assistant):
    index = corpus_assistant.index
    query = "mixture of experts routing"
    dense_hits, bm25_hits = index.dense_search(query, 10), index.bm25_search(query, 10)
    dense, bm25 = complete_rankings(index.snapshot(), query, index.embed_query(query), dense_hits, bm25_hits)
    candidates = {pid for _, pid, _ in dense_hits} | {pid for _, pid, _ in bm25_hits}
    assert {pid for pid, _, _ in dense} == candidates  # BM25-only papers got their cosine from stored vectors
    bm25_only = {pid for _, pid, _ in bm25_hits} - {pid for _, pid, _ in dense_hits}
    sims = {pid: sim for pid, _, sim in dense}
    full = {pid: sim for _, pid, sim in index.dense_search(query, 2000)}
    for pid in bm25_only:
        assert -1.0 <= sims[pid] <= full[pid] + 1e-4  # the cosine of one of its chunks, at most its best
    assert {pid for pid, _, _ in bm25} <= candidates


def test_dense_and_bm25_modes_report_only_their_own_rank(retriever):
    for s in retriever.search("speech synthesis", k=5, mode="dense"):
        assert (s.dense_rank, s.bm25_rank) == (s.rank, None)
    for s in retriever.search("speech synthesis", k=5, mode="bm25"):
        assert (s.dense_rank, s.bm25_rank) == (None, s.rank)


def test_blank_query_or_zero_k_returns_nothing(retriever):
    assert retriever.search("   ", k=5) == []
    assert retriever.search("transformers", k=0) == []


def test_source_filter_restricts_results_to_that_file(corpus_assistant):
    unfiltered = corpus_assistant.search("language models", k=20)
    assert any(not any("004_" in n for n in s.sources) for s in unfiltered)
    results = corpus_assistant.search("language models", k=20, source="004_")
    assert len(results) == 20
    assert all(any("004_" in n for n in s.sources) for s in results)


def test_date_filter_restricts_results_to_that_date(corpus_assistant):
    unfiltered = corpus_assistant.search("reinforcement learning", k=20)
    assert any(s.date != "Aug 14" for s in unfiltered)
    results = corpus_assistant.search("reinforcement learning", k=20, date="aug 14")
    assert results
    # listed on Aug 14 (a paper listed on two days shows the first of them as its date)
    assert all("Daily Papers, Aug 14 (dump 1)" in s.source_labels for s in results)
    assert all(s.date == "Aug 14" for s in results if len(s.source_labels) == 1)


def test_title_filter_restricts_results_to_matching_titles(corpus_assistant):
    results = corpus_assistant.search("efficient training", k=50, title_contains="diffusion")
    assert results
    assert all("diffusion" in s.title.lower() for s in results)
    titles = {p.title for p in corpus_assistant.index.papers().values() if "diffusion" in p.title.lower()}
    assert {s.title for s in results} <= titles


def test_a_filter_matching_one_paper_returns_only_it(corpus_assistant):
    results = corpus_assistant.search("neural networks", k=10, filters=SearchFilter(title_contains=GMM_TITLE))
    assert [s.title for s in results] == [GMM_TITLE]


def test_a_filter_matching_nothing_returns_nothing(corpus_assistant):
    assert corpus_assistant.search("neural networks", k=10, source="no-such-file") == []


def test_invoke_returns_one_document_per_paper_and_honours_k_and_filters(retriever):
    docs = retriever.invoke("mixture of experts", k=4)
    assert len(docs) == 4
    assert all(isinstance(d, Document) for d in docs)
    assert len({d.id for d in docs}) == 4
    assert [d.metadata["rank"] for d in docs] == [1, 2, 3, 4]
    assert all(d.id == d.metadata["paper_id"] and d.page_content for d in docs)
    filtered = retriever.invoke("mixture of experts", k=4, filters=SearchFilter(source="003_"))
    assert all(any("003_" in n for n in d.metadata["sources"]) for d in filtered)


def test_documents_convert_back_to_the_same_sources(retriever):
    sources = retriever.search("contrastive learning", k=3)
    docs = retriever.invoke("contrastive learning", k=3)
    assert [document_to_source(d) for d in docs] == sources


async def test_ainvoke_matches_invoke(retriever):
    docs = await retriever.ainvoke("contrastive learning", k=3)
    assert [d.id for d in docs] == [d.id for d in retriever.invoke("contrastive learning", k=3)]
