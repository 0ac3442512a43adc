"""BM25 over chunks: scores checked against two reference implementations, masks, ranking and persistence."""

from __future__ import annotations

import math

import bm25s
import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from ingest import chunk_paper, load_papers
from rag.index.sparse import BM25Index, tokenize

K1, B = 1.5, 0.75
QUERIES = [
    "diffusion model sampling speed",
    "large language model reasoning benchmark",
    "graph neural networks message passing",
    "state-of-the-art image segmentation",
    "reinforcement learning from human feedback reward model",
    "Gaussian mixture convolution",
    "zero-shot text-to-speech",
    "GPT-4 evaluation",
]


@pytest.fixture(scope="module")
def corpus() -> tuple[list[str], list[str]]:
    """The bundled corpus chunked as the store chunks it: (chunk ids, chunk texts)."""
    chunks = [c for p in load_papers() for c in chunk_paper(p)]
    return [c.chunk_id for c in chunks], [c.text for c in chunks]


@pytest.fixture(scope="module")
def index(corpus) -> BM25Index:
    return BM25Index.build(*corpus, k1=K1, b=B)


class LuceneIdfOkapi(BM25Okapi):
    """rank_bm25's Okapi scoring, with Lucene's idf log(1 + (N - n + 0.5) / (n + 0.5)) in place of its own.

    rank_bm25 uses log((N - n + 0.5) / (n + 0.5)) floored by an epsilon; Lucene's form is never negative and is
    what `BM25Index` documents. Its term-frequency part, tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl)),
    is the same as ours, so with the idf swapped the scores must match exactly.
    """

    def _calc_idf(self, nd: dict[str, int]) -> None:
        self.idf = {word: math.log(1 + (self.corpus_size - n + 0.5) / (n + 0.5)) for word, n in nd.items()}


def test_tokenize_lowercases_drops_stopwords_and_stems():
    assert tokenize("The Models are Learning with the Transformers") == ["model", "learn", "transform"]


def test_tokenize_keeps_hyphenated_and_dotted_terms_whole_and_split():
    assert tokenize("state-of-the-art GPT-4.5") == ["state-of-the-art", "state", "art", "gpt-4.5", "gpt", "4", "5"]


@pytest.fixture(scope="module")
def rank_bm25_reference(corpus) -> LuceneIdfOkapi:
    return LuceneIdfOkapi([tokenize(t) for t in corpus[1]], k1=K1, b=B)


@pytest.fixture(scope="module")
def bm25s_reference(corpus) -> bm25s.BM25:
    reference = bm25s.BM25(method="lucene", k1=K1, b=B)
    reference.index([tokenize(t) for t in corpus[1]], show_progress=False)
    return reference


@pytest.mark.parametrize("query", QUERIES)
def test_scores_match_rank_bm25_with_lucene_idf(rank_bm25_reference, index, query):
    expected = rank_bm25_reference.get_scores(tokenize(query))
    assert expected.max() > 0
    np.testing.assert_allclose(index.scores(query), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("query", QUERIES)
def test_scores_match_bm25s_lucene_up_to_its_constant_factor(bm25s_reference, index, query):
    """bm25s's "lucene" method has the same idf and length norm but drops the constant (k1 + 1) from the
    term-frequency numerator (as Lucene itself does; it cannot change a ranking), so ours = bm25s * (k1 + 1)."""
    expected = bm25s_reference.get_scores(tokenize(query)) * (K1 + 1)
    np.testing.assert_allclose(index.scores(query), expected, rtol=1e-4, atol=1e-5)


def test_search_returns_the_top_k_positive_scores_best_first(corpus, index):
    ids, _ = corpus
    scores = index.scores("diffusion sampling")
    hits = index.search("diffusion sampling", k=10)
    assert len(hits) == 10
    got = [s for _, s in hits]
    assert got == sorted(got, reverse=True)
    assert got[0] == pytest.approx(float(scores.max()))
    assert got[-1] >= np.sort(scores)[-10] - 1e-6
    assert all(cid in ids and s > 0 for cid, s in hits)


def test_search_ties_break_by_position_so_results_are_deterministic():
    idx = BM25Index.build(["a:0", "b:0", "c:0"], ["alpha beta", "alpha beta", "gamma"])
    assert [cid for cid, _ in idx.search("alpha", k=5)] == ["a:0", "b:0"]


def test_filter_mask_is_honoured_without_changing_the_allowed_scores(corpus, index):
    ids, _ = corpus
    query = "language model"
    unmasked = dict(index.search(query, k=len(ids)))
    mask = np.array([i % 3 == 0 for i in range(len(ids))])
    allowed = {cid for cid, keep in zip(ids, mask, strict=True) if keep}
    hits = index.search(query, k=20, mask=mask)
    assert hits
    assert all(cid in allowed for cid, _ in hits)
    assert all(score == pytest.approx(unmasked[cid]) for cid, score in hits)
    best_allowed = sorted((s for c, s in unmasked.items() if c in allowed), reverse=True)[:20]
    assert [s for _, s in hits] == pytest.approx(best_allowed)


def test_an_all_false_mask_returns_nothing(corpus, index):
    assert index.search("language model", k=5, mask=np.zeros(len(index), dtype=bool)) == []


def test_queries_without_known_terms_return_nothing(index):
    assert index.search("qwxzy plorf", k=5) == []
    assert index.search("the and of", k=5) == []  # stop words only


def test_an_empty_index_searches_to_nothing():
    empty = BM25Index.build([], [])
    assert len(empty) == 0
    assert empty.search("anything", k=3) == []


def test_save_and_load_round_trip_keeps_scores_and_fingerprint(tmp_path, index):
    target = tmp_path / "bm25"
    index.fingerprint = "abc123"
    try:
        index.save(target)
        loaded = BM25Index.load(target)
    finally:
        index.fingerprint = ""
    assert loaded.fingerprint == "abc123"
    assert loaded.ids == index.ids
    np.testing.assert_allclose(loaded.scores("diffusion"), index.scores("diffusion"))


def test_save_replaces_an_existing_index_and_leaves_no_temporary_directories(tmp_path):
    target = tmp_path / "bm25"
    BM25Index.build(["a:0"], ["first version"], fingerprint="one").save(target)
    BM25Index.build(["b:0"], ["second version"], fingerprint="two").save(target)
    loaded = BM25Index.load(target)
    assert (loaded.ids, loaded.fingerprint) == (["b:0"], "two")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bm25"]
