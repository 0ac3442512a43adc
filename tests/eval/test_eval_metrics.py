"""The metric functions against cases worked out by hand."""

from __future__ import annotations

import math

import pytest

from eval import metrics as m

RANKED = ["a", "x", "b", "y", "z", "c", "p", "q", "r", "s", "t"]


# ---- retrieval -------------------------------------------------------------------------------------------


def test_recall_at_k_is_the_share_of_gold_in_the_top_k():
    gold = ["a", "b", "c"]
    assert m.recall_at_k(RANKED, gold, 1) == pytest.approx(1 / 3)
    assert m.recall_at_k(RANKED, gold, 3) == pytest.approx(2 / 3)
    assert m.recall_at_k(RANKED, gold, 5) == pytest.approx(2 / 3)
    assert m.recall_at_k(RANKED, gold, 6) == 1.0
    assert m.recall_at_k(RANKED, ["nowhere"], 10) == 0.0


def test_a_paper_listed_twice_counts_once_and_pushes_nothing_out():
    assert m.recall_at_k(["a", "a", "b"], ["b"], 2) == 1.0
    assert m.gold_ranks(["a", "a", "b"], ["b", "zz"]) == [2, None]


def test_mrr_is_the_reciprocal_rank_of_the_first_gold_within_k():
    assert m.mrr_at_k(RANKED, ["b", "c"], 10) == pytest.approx(1 / 3)
    assert m.mrr_at_k(RANKED, ["a"], 10) == 1.0
    assert m.mrr_at_k(RANKED, ["t"], 10) == 0.0  # rank 11 is outside the cut


def test_ndcg_divides_by_the_ideal_ranking():
    # gold at ranks 1 and 3: DCG = 1 + 1/log2(4) = 1.5; ideal = 1 + 1/log2(3)
    expected = 1.5 / (1 + 1 / math.log2(3))
    assert m.ndcg_at_k(RANKED, ["a", "b"], 10) == pytest.approx(expected)
    assert m.ndcg_at_k(["a", "b"], ["a", "b"], 10) == pytest.approx(1.0)
    # one gold at rank 2: (1/log2(3)) / 1
    assert m.ndcg_at_k(RANKED, ["x"], 10) == pytest.approx(1 / math.log2(3))
    assert m.ndcg_at_k(RANKED, ["t"], 10) == 0.0


def test_all_at_k_needs_every_gold_paper():
    assert m.all_at_k(RANKED, ["a", "b", "c"], 10) == 1.0
    assert m.all_at_k(RANKED, ["a", "b", "c"], 5) == 0.0


def test_retrieval_metrics_are_undefined_without_gold():
    for fn in (m.recall_at_k, m.mrr_at_k, m.ndcg_at_k, m.all_at_k):
        assert fn(RANKED, [], 10) is None


# ---- citations -------------------------------------------------------------------------------------------


def test_citation_markers_reads_single_and_grouped_markers():
    assert m.citation_markers("A [1]. B [2, 3]. C [1].") == [1, 2, 3, 1]
    assert m.citation_markers("no markers, just [brackets]") == []


def test_citation_precision_and_recall_against_gold():
    assert m.citation_precision(["a", "b", "b"], ["a", "c"]) == 0.5  # distinct cited: a (gold), b
    assert m.citation_recall(["a", "b"], ["a", "c"]) == 0.5
    assert m.citation_recall([], ["a"]) == 0.0
    assert m.citation_precision([], ["a"]) is None
    assert m.citation_recall(["a"], []) is None


def test_invalid_citations_count_dangling_and_removed_markers():
    # markers [1] [2] [4]; citations 1 and 2 exist; the verifier already removed a [7]
    assert m.invalid_citations([1, 2, 4], [1, 2], [7]) == (2, 4)
    assert m.invalid_citations([1, 1], [1]) == (0, 2)
    assert m.ratio(0, 0) is None


def test_strip_citation_markers_leaves_clean_prose():
    assert m.strip_citation_markers("It is fast [1]. It is small [2, 3].") == "It is fast. It is small."


# ---- refusals --------------------------------------------------------------------------------------------


def test_refusal_recall_and_false_refusal_rate():
    should = [True, True, False, False, False, True]
    refused = [True, False, True, False, False, True]
    assert m.refusal_recall(should, refused) == pytest.approx(2 / 3)
    assert m.false_refusal_rate(should, refused) == pytest.approx(1 / 3)
    assert m.refusal_recall([False], [True]) is None
    assert m.false_refusal_rate([True], [True]) is None


# ---- key facts -------------------------------------------------------------------------------------------


def test_numbers_are_normalised_and_must_match_exactly():
    assert m.numbers_in("8,000 cars, 96% kept, 13.90x faster, 3-10 steps") == {"8000", "96", "13.9", "3", "10"}
    assert m.fact_is_stated("8,000", "The dataset has 8000 car designs.")
    assert not m.fact_is_stated("13.9", "up to 13.8 times faster")
    assert not m.fact_is_stated("96%", "keeps 69% of the performance")


def test_words_match_after_stemming_and_case_folding():
    assert m.fact_is_stated("Optimal Transport", "It uses optimal transport to compare densities.")
    assert m.fact_is_stated("more trials", "allocating more trial runs to hard queries")
    assert m.fact_is_stated("graph-based signatures", "We embed signatures based on graphs into the mask.")


def test_three_of_four_content_words_are_enough_two_are_not():
    fact = "sparse topological ownership verification"
    assert m.fact_is_stated(fact, "verification of ownership uses sparse masks")  # 3 of 4
    assert not m.fact_is_stated(fact, "ownership is checked with sparse masks")  # 2 of 4


def test_a_negation_in_the_fact_must_be_in_the_answer():
    assert m.fact_is_stated("without re-training", "OPTIN prunes transformers without re-training.")
    assert not m.fact_is_stated("without re-training", "OPTIN requires re-training after pruning.")

    def always_similar(fact: str, sentences: list[str]) -> float:
        return 1.0

    sentences = ["OPTIN requires re-training after pruning."]
    assert not m.fact_is_stated("without re-training", sentences[0], always_similar, sentences)


def test_similarity_rescues_a_paraphrase_but_never_a_wrong_number():
    answer = "The method uses two encoders."
    sentences = [answer]

    def similar(fact: str, sents: list[str]) -> float:
        return 0.9

    def dissimilar(fact: str, sents: list[str]) -> float:
        return 0.1

    fact = "two separate encoder networks"
    assert not m.fact_is_stated(fact, answer)
    assert m.fact_is_stated(fact, answer, similar, sentences)
    assert not m.fact_is_stated(fact, answer, dissimilar, sentences)
    assert not m.fact_is_stated("160 sub-models", "it trains 150 sub-models", similar, ["it trains 150 sub-models"])


def test_citation_markers_never_count_as_stated_numbers():
    answer = m.strip_citation_markers("It trains the student in one step [1].")
    assert not m.fact_is_stated("1 timestep", answer)


def test_key_fact_recall_is_the_share_stated():
    answer = "SortedNet trains up to 160 sub-models and keeps 96% of performance."
    assert m.key_fact_recall(["160", "96%", "nested dropout"], answer) == pytest.approx(2 / 3)
    assert m.key_fact_recall([], answer) is None


# ---- aggregation and latency -----------------------------------------------------------------------------


def test_mean_skips_undefined_values():
    assert m.mean([1.0, None, 0.0]) == 0.5
    assert m.mean([None]) is None


def test_percentiles_interpolate_like_numpy():
    values = [10.0, 20.0, 30.0, 40.0, 100.0]
    assert m.percentile(values, 50) == 30.0
    assert m.percentile(values, 95) == pytest.approx(88.0)  # position 3.8: 40 + 0.8 * 60
    assert m.percentile([5.0], 95) == 5.0
    assert m.percentile([], 50) is None
    summary = m.latency_summary(values)
    assert summary["p50"] == 30.0 and summary["max"] == 100.0 and summary["mean"] == 40.0
