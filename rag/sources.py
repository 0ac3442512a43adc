"""Which papers the answerer reads: the retrieval steps around the search itself. A follow-up's referred papers
first; the papers a question names (each target of a comparison, each name the search missed) searched on their
own; a paper asked for by arXiv id or by its exact title put first."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ingest.records import normalise_title
from rag.intent import Analysis, Intent
from rag.retrieval import SearchFilter
from rag.types import Source


def named_first(
    analysis: Analysis, sources: list[Source], retriever: Any, filters: Any, k: int
) -> tuple[list[Source], int]:
    """Make sure the papers a question names are among the sources: each target of a comparison, and each
    name the whole-question search did not bring back, is searched on its own (3 papers) and its best hit
    added after the first `k` (in front, for a comparison's targets, in the order named). Returns the new
    ranking and how many papers were added to the first k."""
    probes: list[str] = []
    if analysis.intent == Intent.COMPARE:
        probes = list(analysis.targets)
    elif analysis.intent not in (Intent.LIST, Intent.SUMMARY):
        text = " ".join(f"{s.title} {s.text}" for s in sources).lower()
        probes = [n for n in analysis.names if n.lower() not in text][:3]
    if not probes:
        return sources, 0
    have = {s.paper_id for s in sources}
    front: list[Source] = []
    back: list[Source] = []
    for probe in probes:
        hits = retriever.search(probe, k=3, filters=filters)
        for hit in hits[:1] if analysis.intent == Intent.COMPARE else hits[:2]:
            if hit.paper_id not in have:
                have.add(hit.paper_id)
                (front if analysis.intent == Intent.COMPARE else back).append(hit)
    if not front and not back:
        return sources, 0
    ordered = [*front, *sources[:k], *back, *sources[k:]]  # the named papers are among the first k + probes
    return [s.model_copy(update={"rank": i}) for i, s in enumerate(ordered, start=1)], len(front) + len(back)


def by_identifier(index: Any, arxiv_ids: list[str], sources: list[Source]) -> list[Source]:
    """Papers asked for by arXiv id come first, looked up in the index whatever the search found."""
    found = index.papers_by_arxiv_id(arxiv_ids)
    if not found:
        return sources
    ids = {s.paper_id for s in found}
    rest = [s for s in sources if s.paper_id not in ids]
    return [s.model_copy(update={"rank": i}) for i, s in enumerate([*found, *rest], start=1)]


def referred_first(retriever: Any, query: str, k: int, filters: SearchFilter | None, about: list[str]) -> list[Source]:
    """The referred papers first, in the order referred (each with its own score for `query`), then the normal
    ranking without them, `k` in all but never fewer than the referred papers. Ranks are renumbered from 1."""
    within = replace(filters or SearchFilter(), paper_ids=frozenset(about))
    found = {s.paper_id: s for s in retriever.search(query, k=len(about), filters=within)}
    first = [found[pid] for pid in about if pid in found]
    rest = [s for s in retriever.search(query, k=k + len(first), filters=filters) if s.paper_id not in found]
    ranked = [*first, *rest][: max(k, len(first))]
    return [s.model_copy(update={"rank": i}) for i, s in enumerate(ranked, start=1)]


def exact_title_first(question: str, sources: list[Source]) -> list[Source]:
    """A question that quotes a paper's exact title is about that paper: it goes first."""
    q = f" {normalise_title(question)} "
    hit = next(
        (s for s in sources if len(normalise_title(s.title)) > 12 and f" {normalise_title(s.title)} " in q), None
    )
    if hit is None or hit.rank == 1:
        return sources
    ordered = [hit, *[s for s in sources if s is not hit]]
    return [s.model_copy(update={"rank": i}) for i, s in enumerate(ordered, start=1)]
