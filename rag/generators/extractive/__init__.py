"""The offline, deterministic answerer: analyses what the question asks, finds the papers and sentences that hold
it, and composes a short cited answer in the shape the question calls for — or refuses, saying why.

1. `rag.intent.analyse` gives the intent (a figure, a definition, a list of papers, a comparison, a lookup ...),
   the focus words, the names used and the attribute asked about.
2. `evidence.Scorer` scores every sentence of the retrieved abstracts (words, MiniLM similarity, names, and
   what the intent needs) and every paper as the one the question is about.
3. `refuse` decides whether the evidence holds what was asked (names, kinds of detail, figures, topic).
4. `compose` writes the answer for the intent, from abstract sentences whose openers are dropped and whose
   references are resolved (`rewrite`); each line cites its paper and keeps its verbatim sentence.
Thresholds and weights are constants in those modules, set on `eval/questions/dev.jsonl` and `tune.jsonl`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from ingest.sentences import split_sentences
from rag.generators.base import Draft, Quote, refusal_text
from rag.generators.extractive import compose, refuse, several, single
from rag.generators.extractive.evidence import Embed, Idf, Paper, Scorer, norm
from rag.intent import Analysis, Intent, analyse, surface, topic_words
from rag.language import non_english
from rag.types import Source
from rag.untrusted import strip_injections

SENTENCE_CACHE = 50_000
COMPARE_MIN_MATCH = 0.5
_GENERIC_TARGET = frozenset(
    (
        "paper",
        "method",
        "model",
        "approach",
        "framework",
        "work",
        "origin",
        "first",
        "new",
        "previous",
        "earlier",
        "later",
    )
)  # a comparison target must match this share of its words in a paper's title/abstract

__all__ = ["ExtractiveGenerator", "strip_injections"]


class ExtractiveGenerator:
    """`generate(question, sources) -> Draft` and `stream(...)` (the draft's sentences, then the draft).

    `embed` (texts -> vectors, batched) and `embed_query` give MiniLM similarities; `idf` weights words (the BM25
    index's idf). Without `embed` it answers on words alone (tests use that)."""

    name = "extractive"

    def __init__(
        self,
        embed: Embed | None = None,
        idf: Idf | None = None,
        embed_query: Callable[[str], list[float]] | None = None,
    ) -> None:
        self._vectors: dict[str, np.ndarray] = {}
        self.embed = embed
        self.embed_query = embed_query
        self.idf = idf or (lambda _t: 1.0)

    def _sentence_vectors(self, texts: list[str]) -> np.ndarray:
        """Sentence embeddings, cached: abstracts do not change while the process runs, and popular papers come
        back question after question. Bounded; cleared wholesale when full."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        if missing:
            if len(self._vectors) + len(missing) > SENTENCE_CACHE:
                self._vectors.clear()
            for t, v in zip(missing, self.embed(missing), strict=True):
                self._vectors[t] = np.asarray(v, dtype=np.float32)
        return np.stack([self._vectors[t] for t in texts])

    # ---- the draft -------------------------------------------------------------------------------------
    def generate(
        self,
        question: str,
        sources: Sequence[Source],
        analysis: Analysis | None = None,
        deadline: float | None = None,  # no backend to wait for; part of the generator interface
    ) -> Draft:
        cleaned, injected = strip_injections(question)
        warning = "instructions inside the question were ignored" if injected else None
        if not cleaned:
            return self._refusal("the question has nothing to look up", None, warning)
        language = non_english(cleaned)
        if language:
            return self._refusal(
                f"the question seems to be in {language}, and the collection and this offline answerer are English; "
                "please ask in English",
                analysis,
                warning,
            )
        analysis = analysis or analyse(cleaned)
        if not sources:
            return self._refusal("nothing relevant was retrieved", analysis, warning)
        scorer = Scorer(self.embed, self.embed_query, self.idf, self._sentence_vectors if self.embed else None)
        papers = [p for p in scorer.papers(analysis, sources) if p.sentences]
        if not papers:
            return self._refusal("the retrieved papers have no text", analysis, warning)
        result = self._compose(analysis, papers)
        if isinstance(result, str):
            return self._refusal(result, analysis, warning)
        for line in result.lines:  # what a rewrite of each line's sentences may call its papers
            line.names = [x for p in papers if p.n in line.cites for x in (p.method, p.short) if x]
        return self._draft(result, analysis, warning)

    def _refusal(self, reason: str, analysis: Analysis | None, warning: str | None) -> Draft:
        return Draft(
            text=refusal_text(reason),
            refused=True,
            reason=reason,
            warning=warning,
            generator=self.name,
            analysis=analysis,
        )

    def _draft(self, comp: compose.Composition, analysis: Analysis, warning: str | None) -> Draft:
        supporting: dict[int, str] = {}
        for line in comp.lines:
            for n, q in zip(line.cites, line.quotes, strict=False):
                supporting.setdefault(n, q)
        return Draft(
            text=compose.render(comp.lines),
            supporting=supporting,
            warning=warning,
            generator=self.name,
            analysis=analysis,
            quotes=[
                Quote(compose.render([line]), line.cites, line.quotes, line.names)
                for line in comp.lines
                if line.kind != "header"
            ],
            note=comp.note,
        )

    # ---- by intent -------------------------------------------------------------------------------------
    def _compose(self, analysis: Analysis, papers: list[Paper]) -> compose.Composition | str:
        """The composition for the question, or the reason it is refused."""
        if analysis.intent == Intent.COMPARE:
            result = self._compose_compare(analysis, papers)
            if result is not None:
                return result
            analysis.intent = analysis.single  # the "comparison" names one paper of the collection
        if analysis.intent in (Intent.LIST, Intent.SUMMARY):
            return self._compose_list(analysis, papers)
        return self._compose_single(analysis, papers)

    def _compose_compare(self, analysis: Analysis, papers: list[Paper]) -> compose.Composition | str | None:
        found = self._compared(analysis, papers)
        if found is None:
            return None
        chosen, targets, unmatched = found
        # names inside the targets were matched (or said to be missing) target by target: "the unified Gaussian
        # mixture paper (McQuic)" is that paper even if its abstract never writes "McQuic"
        analysis.names = [n for n in analysis.names if not any(n in t for t in targets + unmatched)]
        reason = self._multi_reason(analysis, chosen)
        if reason:
            return reason
        labels = [self._label(t, p) for t, p in zip(targets, chosen, strict=False)]
        lines = several.compare(analysis, chosen, labels if len(labels) == len(chosen) else None)
        note = f"No paper in the collection matches {refuse._and(unmatched)}." if unmatched else None
        return compose.Composition(lines, note)

    def _compose_list(self, analysis: Analysis, papers: list[Paper]) -> compose.Composition | str:
        kept = several.relevant(analysis, papers, self.idf)
        best = max(papers, key=lambda p: p.best().score if p.best() else 0.0)
        if not kept or refuse.off_topic(best.best(), best, papers):
            topic = surface(analysis.question, topic_words(analysis), 8)
            if analysis.exclude:  # "which other papers ...?": the earlier answer had them all
                return f"no paper in the collection besides those already cited is about {topic or 'this'}"
            return f"no paper in the collection is about {topic or 'this'}"
        # Names in a list question are often examples ("(NNGP/NTK-style theory)"): refuse only when none of them
        # is in any retrieved paper.
        if analysis.names and not any(p.names_found for p in papers):
            return f"no paper in the collection mentions {refuse._and(analysis.names)}"
        detail = refuse.missing_detail(analysis, kept)
        if detail:
            return f"the abstracts do not state {detail}"
        return several.listing(analysis, kept, len(kept))

    def _compose_single(self, analysis: Analysis, papers: list[Paper]) -> compose.Composition | str:
        intent = analysis.intent
        if analysis.arxiv_ids and papers[0].source.rank == 1 and papers[0].source.score >= 1.0:
            # asked for by identifier: the chain looked it up and put it first
            return compose.Composition(single.about(analysis, papers[0]))
        paper = single.focus_paper(analysis, papers)
        best = paper.best()
        if analysis.names and not any(p.names_found for p in papers):
            return f"no paper in the collection mentions {refuse._and(analysis.names)}"
        if refuse.off_topic(best, paper, papers) and not paper.names_found:
            return "no paper in the collection is about this"
        label = f"“{paper.label}”"
        reason = refuse.single_paper_reason(analysis, paper, papers, label)
        if reason:
            return reason
        if intent == Intent.METADATA:
            return self._metadata(analysis, paper, label)
        builders = {
            Intent.QUANTITY: single.quantity,
            Intent.DEFINITION: single.definition,
            Intent.LOOKUP: single.lookup,
            Intent.ABOUT: single.about,
        }
        lines = builders.get(intent, single.single)(analysis, paper)
        return compose.Composition(lines)

    def _multi_reason(self, analysis: Analysis, papers: list[Paper]) -> str | None:
        gone = refuse.missing_names(analysis, papers)
        if gone:
            return f"no paper in the collection mentions {refuse._and(gone)}"
        detail = refuse.missing_detail(analysis, papers)
        return f"the abstracts do not state {detail}" if detail else None

    @staticmethod
    def _label(target: str, paper: Paper) -> str:
        """What a comparison bullet calls a paper: the user's own name for it when short, else its short title."""
        target = target.strip(" '\"‘’“”")
        if len(target.split()) <= 6 and not target.lower().startswith(("the ", "their ", "its ")):
            return target
        return paper.short or paper.method or paper.source.title

    def _compared(self, analysis: Analysis, papers: list[Paper]) -> tuple[list[Paper], list[str], list[str]] | None:
        """(the papers a comparison names in the order named, the targets they match, the targets that match no
        paper); None when fewer than two targets match. Of three or four targets, one or two may be missing (they
        are said to be); of two, none. Without named targets ("the two X papers", "both"), the two papers that
        best match the question."""
        if not analysis.targets:
            ranked = sorted(papers, key=lambda p: -(p.best().score if p.best() else 0.0) - 0.2 * p.source.score)
            return (ranked[:2], [], []) if len(ranked) >= 2 else None
        targets = analysis.targets[:4]
        if len(papers) < min(len(targets), 2):
            return None
        scores = [[self._target_match(t, p) for p in papers] for t in targets]
        if len(targets) == 2:
            # jointly: "CRATE" may fit both papers while "CRATE-MAE" fits one; ties go to better-ranked papers
            pairs = [
                (scores[0][i] + scores[1][j], -(i + j), i, j)
                for i in range(len(papers))
                for j in range(len(papers))
                if i != j and min(scores[0][i], scores[1][j]) >= COMPARE_MIN_MATCH
            ]
            if not pairs:
                return None
            _, _, i, j = max(pairs)
            return [papers[i], papers[j]], targets, []
        chosen: list[int] = []
        matched: list[str] = []
        unmatched: list[str] = []
        for target, row in zip(targets, scores, strict=True):  # three or four: each its best remaining paper
            free = [(s, -i, i) for i, s in enumerate(row) if i not in chosen and s >= COMPARE_MIN_MATCH]
            if free:
                chosen.append(max(free)[2])
                matched.append(target)
            else:
                unmatched.append(target)
        if len(chosen) < 2:
            return None
        return [papers[i] for i in chosen], matched, unmatched

    @staticmethod
    def _target_match(target: str, paper: Paper) -> float:
        """How well a comparison target names a paper: share of its words in the title (full weight) or in the
        abstract (less), with a bonus when it is the paper's short name or the name the abstract introduces."""
        import difflib

        from rag.text import tokenize

        words = [w for w in tokenize(target) if w not in _GENERIC_TARGET]
        if not words:
            return 0.0
        title = set(tokenize(paper.source.title))
        in_title = sum(w in title for w in words) / len(words)
        in_text = sum(w in paper.tokens for w in words) / len(words)
        # Words of a target found only in an abstract name a paper when they are a name ("S4D", "RS2"), not
        # when they are common words ("parameter scaling").
        named = any(re.search(r"[A-Z].*[A-Z0-9]|\d", w) for w in target.split())
        score = max(in_title, (0.7 if named else 0.3) * in_text)
        t_norm, title_norm = norm(target), norm(paper.source.title)
        if len(t_norm) >= 8 and t_norm in title_norm:
            score += 0.6  # the target quotes the title
        score += 0.3 * difflib.SequenceMatcher(None, t_norm, title_norm).ratio()
        for name in (paper.short, paper.method):
            if name and norm(name) and (norm(name) == t_norm or re.search(rf"\b{re.escape(name)}\b", target)):
                score += 0.5
        return score

    def _metadata(self, analysis: Analysis, paper: Paper, label: str) -> compose.Composition | str:
        """Authors or a date from the paper's record, said as such (`rag.record`: the grounding check reads the
        record, not the abstract); the chain answers most of these before generation, this covers the rest."""
        from rag.record import RECORD_NOTE, asked_field, spelled_date

        src = paper.source
        q = analysis.question.lower()
        asked = asked_field(analysis.question) or (
            "authors" if "author" in q or "wrote" in q or " by " in q else "date"
        )
        if asked == "authors" and src.authors:
            names = ", ".join(src.authors)
            return compose.Composition([compose.Line(f"“{src.title}” is by {names} {RECORD_NOTE}", [paper.n])])
        when = spelled_date(src.date) or (str(src.year) if src.year else None)
        if asked == "date" and when:
            on = "on" if when[0].isdigit() and " " in when else "in"
            line = compose.Line(f"“{src.title}” was published {on} {when} {RECORD_NOTE}", [paper.n])
            return compose.Composition([line])
        what = {"authors": "authors", "date": "publication date", "venue": "venue", "affiliation": "affiliations"}
        return f"the collection records no {what[asked]} for {label}"

    # ---- streaming -------------------------------------------------------------------------------------
    def stream(
        self,
        question: str,
        sources: Sequence[Source],
        analysis: Analysis | None = None,
        deadline: float | None = None,
    ) -> Iterator[str | Draft]:
        draft = self.generate(question, sources, analysis)
        for i, line in enumerate(draft.text.split("\n")):
            pieces = [line] if line.startswith("- ") or line.endswith(":") else (split_sentences(line) or [line])
            for j, sentence in enumerate(pieces):
                sep = "" if i == 0 and j == 0 else ("\n" if j == 0 else " ")
                yield sep + sentence
        yield draft
