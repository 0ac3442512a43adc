"""`PaperMatcher`: how well a question's words fit the papers of a conversation, weighted by idf."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rag.conversation.cues import GENERIC, occurs, stems_of, terms_of
from rag.conversation.history import Turn, names
from rag.types import PaperRef

MATCH = 0.4  # coverage a description needs in the paper it names (see `PaperMatcher.coverage`)
PICK_RATIO = 1.5  # one of several focus papers is picked only with this much more coverage than the next


class PaperMatcher:
    """Per cited paper its stems (title, title + abstract) and the idf: words matched to papers, and the
    conversation's own vocabulary. One per `resolve` call (it caches per conversation length)."""

    def __init__(self, profiles: dict[str, tuple[set[str], set[str]]], idf: Callable[[str], float]) -> None:
        self.profiles = profiles
        self.idf = idf
        self._known: dict[int, set[str]] = {}

    def coverage(self, terms: Sequence[frozenset[str]], paper: PaperRef) -> float:
        """Share of the words (each weighted by its idf) found in the paper: 1 in its title, 1/2 in its abstract."""
        title, full = self.profiles.get(paper.paper_id, (set(), set()))
        weights = [max(self.idf(s) for s in (t - {max(t, key=len)} or t)) for t in terms]  # a compound: its parts
        found = sum(
            w * (1.0 if occurs(t, title) else 0.5 if occurs(t, full) else 0.0)
            for t, w in zip(terms, weights, strict=True)
        )
        return found / sum(weights) if weights and sum(weights) > 0 else 0.0

    def best(self, terms: Sequence[frozenset[str]], papers: Sequence[PaperRef]) -> list[PaperRef]:
        """The paper the words fit clearly best (`PICK_RATIO` over the next); none, or the tied ones, otherwise.
        Words every candidate holds ("detection" after "compare A and B for OOD detection") tell them apart no
        better than silence, so only the others count."""
        if len(papers) > 1:
            terms = [
                t for t in terms if not all(occurs(t, self.profiles.get(p.paper_id, ((), set()))[1]) for p in papers)
            ]
        scored = sorted(((self.coverage(terms, p), i, p) for i, p in enumerate(papers)), key=lambda s: (-s[0], s[1]))
        if not scored or scored[0][0] < MATCH:
            return []
        return [p for s, _, p in scored if s * PICK_RATIO > scored[0][0]]

    def known(self, turns: list[Turn]) -> set[str]:
        """Every stem of the conversation so far: questions, answers, cited titles and their abstracts."""
        if len(turns) not in self._known:
            known = stems_of(*(f"{t.question} {t.answer}" for t in turns))
            for t in turns:
                for p in t.cited:
                    known |= self.profiles[p.paper_id][1]
            self._known[len(turns)] = known
        return self._known[len(turns)]

    def matching(self, words: str, turns: list[Turn], strict: bool = False) -> tuple[list[PaperRef], str | None]:
        """The earlier paper a description fits (latest mention first); ties come back with a note. `strict`
        (no "back to" cue): every word must be in the paper and one in its title, so that "the collection"
        or "the dynamic model" in a new question points nowhere."""
        terms = [t for t in terms_of(words) if not t <= GENERIC]
        seen = list(dict.fromkeys(p for t in reversed(turns) for p in [*t.focus, *t.cited]))
        if strict:
            seen = [p for p in seen if all(occurs(t, self.profiles.get(p.paper_id, ((), set()))[1]) for t in terms)]
            seen = [p for p in seen if any(occurs(t, self.profiles.get(p.paper_id, (set(), ()))[0]) for t in terms)]
        top = self.best(terms, seen) if terms else []
        note = f"the question fits {names(top, 'or')} equally; each was searched" if len(top) > 1 else None
        return top, note
