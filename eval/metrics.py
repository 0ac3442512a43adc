"""Eval metrics as pure functions over lists: retrieval ranks, citations, refusals, key facts, latency.

Titles are compared as given: callers normalise them first (the runner uses `ingest.records.normalise_title`).
A metric that is undefined for a question (precision with no citations, recall with no gold) returns None,
and `mean` skips Nones, so an aggregate is over the questions where it means something.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache

import numpy as np
import Stemmer

# ---- retrieval -------------------------------------------------------------------------------------------


def _top(retrieved: Sequence[str], k: int) -> list[str]:
    """The first k distinct items: a paper listed twice counts once, at its best rank."""
    out: list[str] = []
    for item in retrieved:
        if item not in out:
            out.append(item)
        if len(out) == k:
            break
    return out


def gold_ranks(retrieved: Sequence[str], gold: Sequence[str]) -> list[int | None]:
    """For each gold item, its 1-based rank among the distinct retrieved items (None if absent)."""
    ranked = _top(retrieved, len(retrieved))
    return [ranked.index(g) + 1 if g in ranked else None for g in gold]


def recall_at_k(retrieved: Sequence[str], gold: Sequence[str], k: int) -> float | None:
    """Fraction of the gold items among the top k retrieved."""
    gold_set = set(gold)
    if not gold_set:
        return None
    return len(gold_set & set(_top(retrieved, k))) / len(gold_set)


def all_at_k(retrieved: Sequence[str], gold: Sequence[str], k: int) -> float | None:
    """1.0 when every gold item is in the top k, else 0.0."""
    r = recall_at_k(retrieved, gold, k)
    return None if r is None else float(r == 1.0)


def mrr_at_k(retrieved: Sequence[str], gold: Sequence[str], k: int) -> float | None:
    """Reciprocal rank of the first gold item in the top k (0.0 if none is there)."""
    gold_set = set(gold)
    if not gold_set:
        return None
    for rank, item in enumerate(_top(retrieved, k), start=1):
        if item in gold_set:
            return 1.0 / rank
    return 0.0


def ndcg_at_k(retrieved: Sequence[str], gold: Sequence[str], k: int) -> float | None:
    """Binary-relevance nDCG: sum of 1/log2(rank+1) over gold hits, divided by the best possible sum."""
    gold_set = set(gold)
    if not gold_set:
        return None
    dcg = sum(1.0 / math.log2(rank + 1) for rank, item in enumerate(_top(retrieved, k), start=1) if item in gold_set)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(len(gold_set), k) + 1))
    return dcg / ideal


# ---- citations -------------------------------------------------------------------------------------------

_MARKER = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")


def citation_markers(answer: str) -> list[int]:
    """The numbers of the `[n]` (and `[n, m]`) markers in an answer text, in order, repeats kept."""
    return [int(n) for group in _MARKER.findall(answer) for n in group.split(",")]


def strip_citation_markers(answer: str) -> str:
    """The answer text without `[n]` markers, so that marker numbers never count as stated numbers."""
    return re.sub(r"[ \t]+([.,;:!?])", r"\1", _MARKER.sub("", answer)).strip()


def citation_precision(cited: Sequence[str], gold: Sequence[str]) -> float | None:
    """Share of the distinct cited papers that are gold (None when nothing is cited)."""
    cited_set = set(cited)
    if not cited_set:
        return None
    return len(cited_set & set(gold)) / len(cited_set)


def citation_recall(cited: Sequence[str], gold: Sequence[str]) -> float | None:
    """Share of the gold papers that are cited (None when there is no gold)."""
    gold_set = set(gold)
    if not gold_set:
        return None
    return len(gold_set & set(cited)) / len(gold_set)


def invalid_citations(
    markers: Sequence[int], valid_numbers: Iterable[int], removed: Sequence[int] = ()
) -> tuple[int, int]:
    """(invalid, total) citation markers of one answer.

    Invalid: a marker left in the text that names no citation, or one the verifier already removed
    because it pointed at no retrieved paper. Total counts both, so the rate is invalid / total.
    """
    valid = set(valid_numbers)
    dangling = sum(1 for m in markers if m not in valid)
    invalid = dangling + len(removed)
    return invalid, len(markers) + len(removed)


def ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


# ---- refusals --------------------------------------------------------------------------------------------


def refusal_recall(should_refuse: Sequence[bool], refused: Sequence[bool]) -> float | None:
    """Share of the questions that should be refused that were refused."""
    outcomes = [r for s, r in zip(should_refuse, refused, strict=True) if s]
    return sum(outcomes) / len(outcomes) if outcomes else None


def false_refusal_rate(should_refuse: Sequence[bool], refused: Sequence[bool]) -> float | None:
    """Share of the answerable questions that were refused."""
    outcomes = [r for s, r in zip(should_refuse, refused, strict=True) if not s]
    return sum(outcomes) / len(outcomes) if outcomes else None


# ---- key facts -------------------------------------------------------------------------------------------

# Numbers: "8,000" -> 8000, "96%" -> 96, "13.9x" -> 13.9, "3-10" -> 3 and 10. Not preceded by a letter or
# digit, so "GPT4" or a version string inside a word does not count as a number.
_NUMBER = re.compile(r"(?<![A-Za-z0-9.])\d+(?:,\d{3})*(?:\.\d+)?")
_WORD = re.compile(r"[a-z]+")
# Function words carry no fact; negations are deliberately NOT here: "without re-training" must not match
# "requires re-training".
_STOPWORDS = frozenset(
    """a an the and or of to in on at by for from with as is are was were be been being it its this that these
    those which who whom what when where how than then so such into onto over under up down their there they them
    we our us you your he she his her can could may might will would shall should do does did has have had also
    very just only both each either neither per via using use used based paper papers model's""".split()
)
NEGATIONS = frozenset({"no", "not", "without", "never", "none", "nor", "neither", "cannot"})
WORD_COVERAGE = 0.75
# Calibrated on the dev set's reference answers (eval/README.md): at 0.55 the meaning path adds true matches
# and no false ones; at 0.45 it starts matching unrelated answers ("mixture density networks").
SIMILARITY_THRESHOLD = 0.55
Similarity = Callable[[str, list[str]], float]


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english")


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()


def numbers_in(text: str) -> set[str]:
    """The numbers a text states, normalised: thousands separators dropped, trailing ".0" removed."""
    out = set()
    for raw in _NUMBER.findall(text):
        n = raw.replace(",", "")
        if "." in n:
            n = n.rstrip("0").rstrip(".")
        out.add(n)
    return out


def content_words(text: str) -> set[str]:
    """Lower-cased, accent-folded, Snowball-stemmed words, function words dropped (negations kept)."""
    words = [w for w in _WORD.findall(_fold(text)) if w not in _STOPWORDS]
    return set(_stemmer().stemWords(words))


def fact_is_stated(
    fact: str,
    answer: str,
    similarity: Similarity | None = None,
    sentences: list[str] | None = None,
    threshold: float = SIMILARITY_THRESHOLD,
) -> bool:
    """Whether an answer states a key fact.

    1. Every number in the fact must appear in the answer, exactly (after normalising "8,000" to 8000).
       Numbers are never matched by meaning: "13.9x" is not "12x".
    2. The words must be there too: at least 75% of the fact's content words (stemmed, function words
       dropped, negations kept) occur in the answer; or, when a `similarity` function is given, some answer
       sentence is at least `threshold` similar to the fact (for paraphrases). A fact that is only numbers
       is decided by rule 1 alone.
    """
    if not numbers_in(fact) <= numbers_in(answer):
        return False
    words = content_words(fact)
    if not words:
        return bool(numbers_in(fact))
    coverage = len(words & content_words(answer)) / len(words)
    if coverage >= WORD_COVERAGE:
        return True
    if similarity is None or not sentences:
        return False
    # Meaning cannot flip a negation: "without re-training" is not stated by a sentence lacking "without".
    if (words & NEGATIONS) - content_words(answer):
        return False
    return similarity(fact, sentences) >= threshold


def key_fact_recall(
    facts: Sequence[str],
    answer: str,
    similarity: Similarity | None = None,
    sentences: list[str] | None = None,
    threshold: float = SIMILARITY_THRESHOLD,
) -> float | None:
    """Share of the key facts the answer states (None when the question lists none)."""
    if not facts:
        return None
    stated = sum(fact_is_stated(f, answer, similarity, sentences, threshold) for f in facts)
    return stated / len(facts)


# ---- aggregation -----------------------------------------------------------------------------------------


def mean(values: Iterable[float | None]) -> float | None:
    """Mean of the defined values (None when there are none)."""
    kept = [v for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100) by `numpy.percentile` (linear interpolation between closest ranks); None
    for no values. The one percentile of the project: the eval report and the benchmarks use it."""
    return float(np.percentile(values, q)) if len(values) else None


def latency_summary(values_ms: Sequence[float]) -> dict[str, float | None]:
    return {
        "p50": percentile(values_ms, 50),
        "p95": percentile(values_ms, 95),
        "mean": mean(values_ms),
        "max": max(values_ms) if values_ms else None,
    }
