"""`FollowUpResolver`: the cues of `rag.conversation.cues` applied to a parsed conversation, turn after turn."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from rag.conversation.cues import (
    BACK_TO,
    BOTH,
    BRACKET,
    CLAUSE,
    CONTINUATION,
    COUNTS,
    DESCRIBED,
    EARLIER,
    ENUMERATION,
    EXPLETIVE,
    GENERIC,
    LEAD,
    LISTING,
    MORE,
    NAMED,
    ORDINAL,
    ORDINAL_WORDS,
    OTHER,
    PAPER_REQUEST,
    PLURAL,
    SINGULAR,
    SUBJECT,
    WRAPPER,
    is_new,
    stems_of,
    terms_of,
)
from rag.conversation.history import Referent, Resolution, Turn, names, parse_history
from rag.conversation.matching import MATCH, PaperMatcher
from rag.types import PaperRef

# A pronoun after a preposition is an object the question is about, not something inside it.
OBJECT_PRONOUN = re.compile(r"\b(?:on|upon|to|with|than|from|of|about|like|beyond|over|against)\s+(?:it|them)\b", re.I)
MAX_TOPIC = 500  # characters of an earlier question an elliptical follow-up is read against


_CAPITALISED_RUN = re.compile(r"\b[A-Z][\w+-]*(?:\s+[A-Z][\w+-]*)+")


def _known_phrase(phrase: str, known: set[str]) -> bool:
    """Whether a multi-word name ("Switch Transformer") is a paper name of the collection, singular or plural."""
    p = phrase.lower()
    return p in known or f"{p}s" in known or p.rstrip("s") in known


class FollowUpResolver:
    """Resolves follow-ups against a conversation. `paper_text` (paper ids -> abstracts) and `idf` (a stem's
    inverse document frequency) come from the index; without them titles and the conversation's own text are
    matched, every word weighing the same. `paper_names` gives the lower-cased names of the collection's papers
    (short titles, method names): "what about STARFlow?" names a paper and switches to it, where "and on
    ImageNet?" keeps the papers of the last answer. Thread-safe: each `resolve` call keeps its state to itself."""

    def __init__(
        self,
        paper_text: Callable[[list[str]], dict[str, str]] | None = None,
        idf: Callable[[str], float] | None = None,
        paper_names: Callable[[], set[str]] | None = None,
    ) -> None:
        self._paper_text = paper_text
        self._idf = idf or (lambda _stem: 1.0)
        self._paper_names = paper_names or set

    def resolve(self, question: str, history: Sequence[Any] | None) -> Resolution:
        """`question` as asked and the conversation so far (see the module docstring) -> `Resolution`."""
        turns = parse_history(history or [])
        q = " ".join(question.split())
        if not turns or not q:
            return Resolution(question, question)
        cited = {p.paper_id: p for t in turns for p in t.cited}
        texts = self._paper_text(list(cited)) if (self._paper_text and cited) else {}
        profiles = {pid: (stems_of(p.title), stems_of(p.title, texts.get(pid, ""))) for pid, p in cited.items()}
        session = _Session(profiles, self._idf, self._paper_names)
        for i, turn in enumerate(turns):  # each earlier turn as it was resolved, so the focus follows the chain
            session.remember(turn, turns[:i], session.resolve(turn.question, turns[:i]))
        return session.resolve(q, turns)


class _Session(PaperMatcher):
    """One `resolve` call: words matched to the cited papers (`PaperMatcher`) and the collection's paper names."""

    def __init__(
        self,
        profiles: dict[str, tuple[set[str], set[str]]],
        idf: Callable[[str], float],
        paper_names: Callable[[], set[str]] = set,
    ) -> None:
        super().__init__(profiles, idf)
        self.paper_names = paper_names

    # ---- what each earlier turn was about ----------------------------------------------------------------
    def remember(self, turn: Turn, before: list[Turn], r: Resolution) -> None:
        if r.kind in ("switch", "more"):  # "what about STARFlow?": the paper it names, as for a new question
            turn.focus, turn.topic = self.named(turn), r.query
        elif r.papers:
            turn.focus, turn.topic = [p for p in r.papers if p in turn.cited] or list(r.papers), r.query
        elif r.resolved and before:  # a follow-up that only had text to go on keeps the earlier topic
            turn.focus, turn.topic = list(before[-1].focus), r.query
        else:
            named = [p for p in self.enumerated(turn) if isinstance(p, PaperRef)]
            turn.focus, turn.topic = (named if len(named) >= 2 else self.named(turn)), turn.question

    def named(self, turn: Turn) -> list[PaperRef]:
        """The cited papers a question was about: those its words fit best; all of them when it names none in
        particular, as a question asking for a list of papers does."""
        terms = [t for t in terms_of(turn.question) if not t <= GENERIC]
        scores = [self.coverage(terms, p) for p in turn.cited]
        top = max(scores, default=0.0)
        return [p for p, s in zip(turn.cited, scores, strict=True) if s >= 0.6 * top] if top > 0 else list(turn.cited)

    def listed(self, turn: Turn) -> list[Referent]:
        """What a user counts with "the second one": what their question named, when it named two or more
        things, else the papers in the order the answer cited them."""
        return self.enumerated(turn) or list(turn.cited)

    def enumerated(self, turn: Turn) -> list[Referent]:
        """The things a question named in turn ("compare A, B and C"): each the cited paper it fits, or the
        user's own words when the answer did not cite it. Empty unless two or more, one of them cited."""
        listing = LISTING.match(LEAD.sub("", turn.question))
        if not listing or SINGULAR.search(listing.group(1)) or PLURAL.search(listing.group(1)):
            return []  # "how does it relate to A and B?" names one subject, whatever follows
        if not re.search(r"\b(?:and|vs\.?|versus|or|with)\b", listing.group(1), re.I):
            return []  # "Archon, the architecture search framework": one paper and its description
        parts = [WRAPPER.sub("", p).strip(" ?.!()") for p in ENUMERATION.split(listing.group(1))]
        found: list[Referent] = []
        for part in parts:
            terms = [t for t in terms_of(part) if not t <= GENERIC]
            if terms and part:
                fit = self.best(terms, turn.cited)
                found.append(fit[0] if len(fit) == 1 and fit[0] not in found else part)
        return found if len(found) >= 2 and any(isinstance(f, PaperRef) for f in found) else []

    # ---- one question ------------------------------------------------------------------------------------
    def resolve(self, q: str, turns: list[Turn]) -> Resolution:
        if not turns:
            return Resolution(q, q)
        steps = (self._bracket, self._ordinal, self._earlier, self._other, self._back_to, self._both, self._described)
        for step in steps:
            found = step(q, turns)
            if found is not None:
                return found
        return self._more(q, turns) or self._pronoun(q, turns) or self._ellipsis(q, turns) or Resolution(q, q)

    def _done(self, q: str, kind: str, referents: Sequence[Referent], span: tuple[int, int] | None = None,
              note: str | None = None, topic: str = "") -> Resolution:  # fmt: skip
        """The resolution and its query: the referring words replaced by the papers' names, or, for an
        elliptical question, the question read after the one it continues."""
        referents = list(dict.fromkeys(referents))
        papers = tuple(r for r in referents if isinstance(r, PaperRef))
        if len(papers) < len(referents):  # named by the user but never cited: their own words find it
            papers = ()
        phrase = q[span[0] : span[1]] if span else None
        if referents and span:
            name = names(referents)
            if kind == "both" and len(referents) > 1:
                name = f"which of {name}" if (phrase or "").lower().startswith("which") else f"both {name}"
            elif (phrase or "").lower() in ("its", "their"):
                name += "'" if name.endswith("s") else "'s"
            query = q[: span[0]] + name + q[span[1] :]
        elif topic and not any(self.coverage(terms_of(n), p) for n in NAMED.findall(q) for p in papers):
            query = f"{topic[-MAX_TOPIC:]} {q}"  # unless the question names the paper itself
        else:
            query = q
        return Resolution(q, query, papers, kind, phrase, note)

    def _bracket(self, q: str, turns: list[Turn]) -> Resolution | None:
        found = [(m, int(next(g for g in m.groups() if g))) for m in BRACKET.finditer(q)]
        if not found:
            return None
        for turn in reversed(turns):
            if all(n in turn.by_n for _, n in found):
                pronoun = SINGULAR.search(q)
                if len(found) == 1 and pronoun and turns[-1].focus:
                    # "compare it with [1]": the paper talked about and the one cited as [1]
                    ref = turn.by_n[found[0][1]]
                    it = [p for p in turns[-1].focus if p != ref][:1]
                    if it:
                        query = BRACKET.sub(names([ref]), q[: pronoun.start()] + names(it) + q[pronoun.end() :])
                        return Resolution(q, query, (*it, ref), "bracket", found[0][0].group(0))
                if len(found) == 1:
                    return self._done(q, "bracket", [turn.by_n[found[0][1]]], found[0][0].span())
                by_n = turn.by_n
                query = BRACKET.sub(lambda m, by_n=by_n: names([by_n[int(next(g for g in m.groups() if g))]]), q)
                papers = tuple(dict.fromkeys(turn.by_n[n] for _, n in found))
                return Resolution(q, query, papers, "bracket", found[0][0].group(0))
        cited = ", ".join(f"[{n}]" for _, n in found)
        return Resolution(q, q, note=f"no earlier answer cites {cited}, so the question was taken as it stands")

    def _ordinal(self, q: str, turns: list[Turn]) -> Resolution | None:
        m = ORDINAL.search(q)
        if not m:
            return None
        pos = ORDINAL_WORDS[(m.group(1) or m.group(3) or m.group(4)).lower()]
        count = COUNTS.get((m.group(2) or "").lower(), 1)
        topics = list(dict.fromkeys(p for t in turns if len(t.focus) == 1 for p in t.focus))
        # the latest answer that lists enough papers; else the papers the turns were about, one each, in order
        for listed in [*(self.listed(t) for t in reversed(turns)), topics]:
            if len(listed) >= max(count, pos, 2):
                picked = listed[pos - 1 : pos - 1 + count] if pos > 0 else listed[-count:]
                return self._done(q, "ordinal", picked, m.span())
        note = f"no earlier answer lists enough papers for “{m.group(0)}”, so the question was taken as it stands"
        return Resolution(q, q, note=note)

    def _earlier(self, q: str, turns: list[Turn]) -> Resolution | None:
        """ "the previous paper": the latest focus before the current one; "the original one": the first."""
        m = EARLIER.search(q)
        if not m:
            return None
        focuses = [t.focus for t in turns if t.focus]
        if (m.group(1) or "").lower() in ("original", "initial"):
            picked = focuses[0] if focuses else []
        else:
            picked = next((f for f in reversed(focuses) if f != turns[-1].focus), [])
        if not picked:
            return Resolution(q, q, note=f"no earlier paper for “{m.group(0)}”, so the question was taken as it stands")
        return self._done(q, "ordinal", picked, m.span())

    def _other(self, q: str, turns: list[Turn]) -> Resolution | None:
        m = OTHER.search(q)
        if not m:
            return None
        focus = set(turns[-1].focus)
        for turn in reversed(turns):
            rest = [p for p in self.listed(turn) if p not in focus]
            if len(turn.cited) >= 2 and rest:
                note = f"“{m.group(0)}” could mean {names(rest, 'or')}; each was searched" if len(rest) > 1 else None
                return self._done(q, "other", rest, m.span(), note)
        return None

    def _back_to(self, q: str, turns: list[Turn]) -> Resolution | None:
        """ "back to the diagrams paper - which architectures does it cover?" -> "which architectures does Neural
        Circuit Diagrams cover?" """
        m = BACK_TO.search(q)
        top, note = self.matching(m.group(1), turns) if m else ([], None)
        if not m or not top:
            return None
        rest = (q[: m.start()] + " " + q[m.end() :]).strip(" ,-:")
        rest = LEAD.sub("", rest) or q
        pronoun = SINGULAR.search(rest) or PLURAL.search(rest)
        if pronoun:
            r = self._done(rest, "description", top, pronoun.span(), note)
        else:
            r = Resolution(rest, f"{names(top)}: {rest}", tuple(top), "description", None, note)
        return Resolution(q, r.query, r.papers, r.kind, m.group(0).strip(" ,-:"), r.note)

    def _described(self, q: str, turns: list[Turn]) -> Resolution | None:
        """ "what does the conformal prediction one report?" -> the earlier paper those words fit."""
        for m in DESCRIBED.finditer(q):
            if PAPER_REQUEST.search(q) or self._own_antecedent(q, m.start(), turns):
                return None  # "Tell me about Archon, the architecture search framework": Archon, not an old paper
            top, note = self.matching(m.group(1), turns, strict=True)
            if top:
                return self._done(q, "description", top, m.span(), note)
        return None

    def _both(self, q: str, turns: list[Turn]) -> Resolution | None:
        m = BOTH.search(q)
        if not m or PAPER_REQUEST.search(q):
            return None
        if " of " in m.group(0).lower():  # "each of them" needs two things before it: "faster than DeepSpeed is
            named = [n for n in NAMED.findall(q[: m.start()]) if any(not t <= GENERIC for t in terms_of(n))]
            if len(named) >= 2:  # each of them" still means the last answer's pair
                return None
        elif self._own_antecedent(q, m.start(), turns):
            return None  # "Switch Transformers and DeepSpeed-MoE both target ..." names its own pair
        pair: list[Any] = turns[-1].focus if len(turns[-1].focus) >= 2 else []
        pair = pair or next((listed for t in reversed(turns) if len(listed := self.listed(t)) >= 2), [])
        if not pair:
            return None
        note = None
        if len(pair) > 2 and m.group(0).lower() in ("both", "the two"):
            note = f"“{m.group(0)}” was taken as the first two of {len(pair)} papers: {names(pair[:2])}"
            pair = pair[:2]
        return self._done(q, "both", pair, m.span(), note)

    def _more(self, q: str, turns: list[Turn]) -> Resolution | None:
        """ "any other papers on that?", "more like these?", "what else?": the last turn's topic (its query) again,
        as a list of papers it did not cite (the chain leaves those out). A question with its own topic ("which other papers use
        flow matching?") is not a continuation."""
        if not MORE.search(q):
            return None
        own = [t for t in terms_of(MORE.sub(" ", SINGULAR.sub(" ", PLURAL.sub(" ", q)))) if not t <= GENERIC]
        last = turns[-1]
        if [t for t in own if is_new(t, self.known(turns))] or not (last.topic or last.question):
            return None
        return Resolution(q, (last.topic or last.question)[-MAX_TOPIC:], (), "more", None, None)

    def _switch(self, q: str, turns: list[Turn]) -> Resolution | None:
        """ "what about STARFlow?" after "what is TarFlow based on?": a short continuation naming another paper
        of the collection asks the last question about that paper. The query is the last question with its name
        swapped (or the continuation alone when the last question named nothing); no earlier paper is pinned.
        A continuation with a question of its own ("what about STARFlow, what is it based on?") is not a switch:
        it stands alone and is answered as asked."""
        known = self.paper_names()
        # "Switch Transformer": a run of capitalised words is one name when the collection knows it as a whole
        runs = [r for r in _CAPITALISED_RUN.findall(q) if " " in r and _known_phrase(r, known)]
        mentioned = runs or [n for n in NAMED.findall(q) if n.lower() in known]
        last = turns[-1]
        if not mentioned or any(self.coverage(terms_of(n), p) >= MATCH for n in mentioned for p in last.focus):
            return None
        own = re.search(r"[,;:]\s*((?:what|how|which|who|why|when|where|is|are|does|do|did|can)\b.*)", q, re.I)
        if own:  # its own question: the pronoun in it is the named paper
            return Resolution(q, SINGULAR.sub(mentioned[0], own.group(1), count=1), (), "switch", None, None)
        before = [n for n in NAMED.findall(last.question) if n.lower() not in {m.lower() for m in mentioned}]
        if len(before) == 1:
            query = re.sub(rf"(?<![\w-]){re.escape(before[0])}(?![\w-])", mentioned[0], last.question)
        else:
            query = f"{CONTINUATION.sub('', q).strip(' ?')}: {last.question}" if not before else q
        return Resolution(q, query, (), "switch", None, None)

    def _pronoun(self, q: str, turns: list[Turn]) -> Resolution | None:
        text = EXPLETIVE.sub(lambda m: " " * len(m.group(0)), q)  # "is it possible to ..." refers to nothing
        m = SINGULAR.search(text) or PLURAL.search(text)
        if not m:
            return None
        if self._own_antecedent(q, m.start(), turns):
            return None
        last = turns[-1]
        if PLURAL.search(text) and len(last.focus) < 2 and len(named_things := self.enumerated(last)) >= 2:
            return self._done(q, "pronoun", named_things, m.span())  # "they" after "what are A and B?"
        if not last.focus:
            return self._done(q, "pronoun", [], topic=last.topic) if last.topic else None
        if len(last.focus) > 1 and not PLURAL.search(text):
            picked = self.best([t for t in terms_of(q) if not t <= GENERIC], last.focus)
            if len(picked) == 1:
                return self._done(q, "pronoun", picked, m.span())
            note = f"“{m.group(0)}” could mean {names(last.focus, 'or')}; each was searched (name one to narrow it)"
            return self._done(q, "pronoun", last.focus, m.span(), note)
        return self._done(q, "pronoun", last.focus, m.span())

    def _own_antecedent(self, q: str, at: int, turns: list[Turn]) -> bool:
        """Whether a pronoun at `at` refers inside the question: after a name ("How often does FuXi-RTM beat its
        baseline?"), after new words in an earlier clause ("what is low-rank
        adaptation and how does it work?"), or in a question asking for papers ("papers whose models explain
        their predictions")."""
        if any(not t <= GENERIC for n in NAMED.findall(q[:at]) for t in terms_of(n)):
            return True
        if OBJECT_PRONOUN.match(q, max(0, at - 12)) or OBJECT_PRONOUN.search(q[max(0, at - 12) : at + 6]):
            return False  # "which other papers build on it?": "it" is the paper being talked about
        known = self.known(turns)
        clauses = [c.start() for c in CLAUSE.finditer(q, 0, at)]
        novel = [t for t in terms_of(q[:at]) if not t <= GENERIC and is_new(t, known)]
        in_head = [t for t in terms_of(q[: clauses[-1]]) if not t <= GENERIC and is_new(t, known)] if clauses else []
        return len(in_head) >= 2 or bool(novel and PAPER_REQUEST.search(q))

    def _ellipsis(self, q: str, turns: list[Turn]) -> Resolution | None:
        """No referring word: a follow-up only if the question brings no topic of its own."""
        if PAPER_REQUEST.search(q):
            return None
        subject = SUBJECT.match(LEAD.sub("", q))
        if subject and not stems_of(subject.group(1)) <= GENERIC:
            return None  # "what is X?", "compare X and Y": the question names its own subject
        terms = [t for t in terms_of(q) if not t <= GENERIC]
        novel = [t for t in terms if is_new(t, self.known(turns))]
        named = stems_of(*NAMED.findall(q))
        short_continuation = CONTINUATION.match(q) and len(q.split()) <= 8
        if novel and not (short_continuation and all(t & named for t in novel)):
            return None  # new words: a new topic ("gaussian splatting memory?"); "and on ImageNet?" is not
        last = turns[-1]
        if short_continuation and (swap := self._switch(q, turns)) is not None:
            return swap
        if not last.focus:
            return self._done(q, "ellipsis", [], topic=last.topic) if last.topic else None
        if terms:  # the words may fit one focus paper, or another earlier paper (a switch back), clearly best
            seen = list(dict.fromkeys(p for t in reversed(turns) for p in [*t.focus, *t.cited]))
            picked = self.best(terms, seen)
            if len(picked) == 1 and (picked[0] in last.focus or not self.best(terms, last.focus)):
                return self._done(q, "ellipsis", picked, topic=last.topic)
        if not short_continuation and any(not t <= GENERIC for n in NAMED.findall(q) for t in terms_of(n)):
            return None  # it names something, and not one paper of the conversation: it has its own subject
        return self._done(q, "ellipsis", last.focus, topic=last.topic)  # "and on ImageNet?": the same papers
