"""What a follow-up changes in the chain: the paper names its resolver reads, and the question's analysis."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rag.conversation import Resolution, parse_history
from rag.conversation.cues import NAMED
from rag.generators.extractive.evidence import paper_names
from rag.intent import Analysis, Intent, analyse
from rag.untrusted import strip_injections

if TYPE_CHECKING:
    from rag.index.api import Index


class PaperNames:
    """Lower-cased names of an index's papers: the names in their titles ("STARFlow", "TC-GS") and the method
    names their abstracts introduce (`evidence.paper_names`). Kept for one index version (`Index.fingerprint`),
    since reading every abstract per follow-up would cost more than resolving it."""

    def __init__(self) -> None:
        self._cached: tuple[str, set[str]] = ("", set())

    def of(self, index: Index) -> set[str]:
        """The names for `index` as it is now; recomputed only when its fingerprint changed."""
        key = index.fingerprint()
        if self._cached[0] != key:
            papers = index.papers()
            abstracts = index.abstracts(list(papers))
            found: set[str] = set()
            for pid, meta in papers.items():
                found.update(n.lower() for n in NAMED.findall(meta.title))
                found.update(n.lower() for n in paper_names(meta.title, abstracts.get(pid, "")) if n)
            self._cached = (key, found)
        return self._cached[1]


def follow_up_analysis(
    analysis: Analysis, question: str, resolution: Resolution | None, history: Sequence[dict[str, Any]]
) -> Analysis:
    """`analysis` (of the standalone query) adjusted, in place, to a follow-up: what is asked comes from
    `question` (as the user typed it, cleaned), what it is about from `resolution`; "other" papers leave out the
    ones already given. `history` is the chain's (Gradio messages shape). Returns `analysis`."""
    if resolution is not None and resolution.resolved:
        _ask_as_resolved(analysis, question, resolution)
    if (
        not analysis.exclude
        and analysis.intent in (Intent.LIST, Intent.SUMMARY)
        and re.search(r"\b(other|more|else|besides|apart from these)\b", question, re.I)
        and (turns := parse_history(history or []))
    ):
        # "which other papers use flow matching?": the papers the last answer already cited are left out
        analysis.exclude = {p.paper_id for p in turns[-1].cited}
    return analysis


def _ask_as_resolved(analysis: Analysis, question: str, resolution: Resolution) -> None:
    # What is asked comes from the follow-up itself ("which datasets?" asks for names even when it was
    # resolved against a question that asked for a figure); what it is about comes from the resolution.
    own = analyse(strip_injections(question)[0])
    if resolution.kind == "ellipsis" and own.intent not in (Intent.FACT, Intent.ABOUT):
        # "which datasets?" alone reads as a lookup; about a known paper it asks for names
        intent = Intent.ENTITY if own.intent == Intent.LOOKUP else own.intent
        analysis.intent, analysis.asked, analysis.asked_groups = intent, own.asked, own.asked_groups
    # Titles the resolution put in the query name papers retrieval already pinned; they are not names
    # every answer sentence's paper must carry ("which of A and B ..." is answered by one of them).
    titles = " ".join(p.title for p in resolution.papers).lower()
    analysis.names = [n for n in analysis.names if n.lower() not in titles]
    if resolution.kind == "more":  # "any other papers on that?": a list, whatever the last question was
        analysis.intent, analysis.names = Intent.LIST, own.names
    if resolution.kind == "ellipsis" and resolution.papers:
        # names of the earlier question the follow-up was read after are not asked again ("and how fast
        # is it?" after "which paper uses the Hutchinson estimator?" need not say "Hutchinson")
        analysis.names = [n for n in analysis.names if n in own.names]
    if analysis.intent in (Intent.LIST, Intent.SUMMARY) and re.search(r"\bother\b", question, re.I):
        analysis.exclude = {p.paper_id for p in resolution.papers}  # "which other papers build on it?"
