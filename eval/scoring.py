"""Scoring: one question's record (its retrieval, answer and metric values) and the aggregate over records.

Both are pure: the runner hands in what `Assistant.search` / `Assistant.ask` returned and a similarity
function for key facts; nothing here touches the index or the clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from eval import metrics as m
from eval.questions import QUESTION_TYPES, Question
from ingest.records import normalise_title
from ingest.sentences import split_sentences

RETRIEVAL_KEYS = ("recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10", "all@10")
ANSWER_KEYS = (
    "citation_precision",
    "citation_recall",
    "invalid_citation_rate",
    "supported_fraction",
    "refusal_recall",
    "false_refusal_rate",
    "key_fact_recall",
    "gold_cited_rate",
    "answers_question_rate",
    "answer_words_p50",
)
RECALL_CURVE_K = tuple(range(1, 11))

# Builds the key-fact similarity for one answer's sentences (None: lexical matching only).
SimilarityFactory = Callable[[list[str]], m.Similarity] | None


def retrieval_values(retrieved_titles: Sequence[str], gold_titles: Sequence[str]) -> dict[str, Any]:
    """The question's retrieval metrics (None for a question with no gold) and each gold title's rank."""
    got = [normalise_title(t) for t in retrieved_titles]
    gold = [normalise_title(t) for t in gold_titles]
    return {
        "recall@1": m.recall_at_k(got, gold, 1),
        "recall@5": m.recall_at_k(got, gold, 5),
        "recall@10": m.recall_at_k(got, gold, 10),
        "mrr@10": m.mrr_at_k(got, gold, 10),
        "ndcg@10": m.ndcg_at_k(got, gold, 10),
        "all@10": m.all_at_k(got, gold, 10),
        "gold_ranks": m.gold_ranks(got, gold),
    }


def answer_values(q: Question, answer: Any, similarity: SimilarityFactory = None) -> dict[str, Any]:
    """The question's answer fields and metrics from an `Answer` (see rag/types.py)."""
    cited = [c.title for c in answer.citations]
    gold = [normalise_title(t) for t in q.gold_titles]
    cited_norm = [normalise_title(t) for t in cited]
    markers = m.citation_markers(answer.answer)
    invalid, total = m.invalid_citations(markers, [c.n for c in answer.citations], answer.grounding.removed_citations)
    plain = m.strip_citation_markers(answer.answer)
    sentences = split_sentences(plain)
    # A refusal states nothing, so only a real answer is worth embedding.
    sim = similarity(sentences) if (similarity and q.key_facts and sentences and not answer.refused) else None
    stated = [m.fact_is_stated(f, plain, sim, sentences) for f in q.key_facts]
    return {
        "answer": answer.answer,
        "refused": bool(answer.refused),
        "citations": [{"n": c.n, "title": c.title, "paper_id": c.paper_id} for c in answer.citations],
        "answer_sources": [s.title for s in answer.sources],
        "related": [s.title for s in answer.related],
        "warning": answer.warning,
        "generator": answer.generator,
        "timings_ms": dict(answer.timings_ms),
        # Citation quality is judged against gold, so only where there is gold.
        "citation_precision": m.citation_precision(cited_norm, gold) if q.answerable else None,
        "citation_recall": m.citation_recall(cited_norm, gold) if q.answerable else None,
        "invalid_citations": invalid,
        "citation_markers": total,
        "supported_fraction": None if answer.refused else float(answer.grounding.supported_fraction),
        "unsupported_sentences": list(answer.grounding.unsupported_sentences),
        "key_facts_stated": stated,
        "key_fact_recall": (sum(stated) / len(stated)) if (stated and q.answerable) else None,
        # A gold paper among the citations (answerable questions); the answer's length in words, markers out.
        "gold_cited": (bool(set(cited_norm) & set(gold)) if q.answerable else None),
        "answer_words": None if answer.refused else len(plain.split()),
        "answers_question": getattr(answer, "answers_question", None),
        "intent": getattr(answer, "intent", None),
    }


def base_record(q: Question) -> dict[str, Any]:
    return {
        "id": q.id,
        "type": q.type,
        "question": q.question,
        "gold_titles": list(q.gold_titles),
        "key_facts": list(q.key_facts),
        "should_refuse": q.should_refuse,
    }


def _recall_from_ranks(ranks: Sequence[int | None] | None, k: int) -> float | None:
    if not ranks:
        return None
    return sum(1 for rank in ranks if rank is not None and rank <= k) / len(ranks)


def _rate(records: Sequence[dict[str, Any]], field: str) -> float | None:
    invalid = sum(r.get("invalid_citations") or 0 for r in records if r.get("answer") is not None)
    total = sum(r.get(field) or 0 for r in records if r.get("answer") is not None)
    return m.ratio(invalid, total)


def aggregate(records: Sequence[dict[str, Any]], retrieval_only: bool) -> dict[str, Any]:
    """The `metrics.json` numbers for a set of per-question records (without settings)."""
    answerable = [r for r in records if not r["should_refuse"]]
    retrieval = {key: m.mean(r.get(key) for r in answerable) for key in RETRIEVAL_KEYS}
    curve = {
        f"recall@{k}": m.mean(_recall_from_ranks(r.get("gold_ranks"), k) for r in answerable) for k in RECALL_CURVE_K
    }
    answered = [r for r in records if r.get("answer") is not None]
    if retrieval_only:
        answers: dict[str, Any] = dict.fromkeys(ANSWER_KEYS)
    else:
        answered_answerable = [r for r in answered if not r["should_refuse"]]
        flags = [(r["should_refuse"], bool(r.get("refused"))) for r in records if r.get("error") is None]
        answers = {
            "citation_precision": m.mean(r.get("citation_precision") for r in answered_answerable),
            "citation_recall": m.mean(r.get("citation_recall") for r in answerable if r.get("error") is None),
            "invalid_citation_rate": _rate(answered, "citation_markers"),
            "supported_fraction": m.mean(r.get("supported_fraction") for r in answered),
            "refusal_recall": m.refusal_recall([s for s, _ in flags], [f for _, f in flags]),
            "false_refusal_rate": m.false_refusal_rate([s for s, _ in flags], [f for _, f in flags]),
            "key_fact_recall": m.mean(r.get("key_fact_recall") for r in answerable if r.get("error") is None),
            "gold_cited_rate": m.mean(
                float(r["gold_cited"]) for r in answerable if r.get("error") is None and r.get("gold_cited") is not None
            ),
            "answers_question_rate": m.mean(
                float(r["answers_question"]) for r in answered_answerable if r.get("answers_question") is not None
            ),
            "answer_words_p50": m.percentile(
                [r["answer_words"] for r in answered if r.get("answer_words") is not None], 50
            ),
        }
        scores = [r["judge_score"] for r in records if r.get("judge_score") is not None]
        if any("judge_score" in r for r in records):
            answers["judge_score"] = m.mean(scores)
            answers["judged"] = len(scores)
            answers["judge_errors"] = sum(1 for r in records if r.get("judge_error"))
    return {
        "n": len(records),
        "n_answerable": len(answerable),
        "n_should_refuse": len(records) - len(answerable),
        "errors": sum(1 for r in records if r.get("error")),
        "retrieval": retrieval,
        "recall_curve": curve,
        "answers": answers,
        "latency_ms": m.latency_summary([r["latency_ms"] for r in records if r.get("latency_ms") is not None]),
    }


def by_type(records: Iterable[dict[str, Any]], retrieval_only: bool) -> dict[str, dict[str, Any]]:
    """`aggregate` per question type, in the schema's type order."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault(r["type"], []).append(r)
    return {t: aggregate(groups[t], retrieval_only) for t in QUESTION_TYPES if t in groups}
