"""Follow-up resolution without an LLM: which earlier papers a question points at, and the query to retrieve with.

History is the Gradio messages shape `[{"role": "user" | "assistant", "content": str}, ...]`; an assistant entry
may carry `"citations": [{"n": int, "paper_id": str, "title": str}, ...]`, the papers that answer cited.
`FollowUpResolver.resolve(question, history) -> Resolution` looks for, in this order:
brackets ("[2]", "paper 2"), ordinals ("the second one", "the first two", "the last paper"), "the other one",
descriptions ("back to the diagrams paper", "the conformal prediction one"), "both", pronouns ("it", "its",
"they", "this method") and elliptical questions with no topic of their own ("how fast?", "and on ImageNet?").
Pronouns and ellipses point at the focus of the latest answer; every earlier turn is resolved the same way first,
so the focus survives a chain of follow-ups. A question that brings its own topic (words or names found nowhere in
the conversation), asks for papers, or names its own subject ("what is X?") is standalone: nothing is glued on.
Two equally likely referents are both kept and `note` says so, to be shown with the answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rag.bm25 import _TOKEN, tokenize
from rag.types import PaperRef

MAX_TURNS = 8  # earlier turns considered: older ones rarely matter, and each is re-resolved for every question
MAX_CHARS = 4000  # per message: a pasted 200 kB message must not slow every later question down
MAX_TOPIC = 500  # characters of an earlier question an elliptical follow-up is read against
MATCH = 0.4  # coverage a description needs in the paper it names (see `_Session.coverage`)
PICK_RATIO = 1.5  # one of several focus papers is picked only with this much more coverage than the next
Referent = PaperRef | str  # a cited paper, or the words a user named a paper with that the answer did not cite


@dataclass(frozen=True)
class Resolution:
    """What a question refers to. `query`: the standalone text to retrieve and answer with (the question when
    nothing was resolved); `papers`: the earlier papers it points at, in the order referred; `kind`: standalone,
    bracket, ordinal, other, description, both, pronoun or ellipsis; `reference`: the words that referred;
    `note`: an ambiguity, or a reference that matched nothing, to show with the answer."""

    question: str
    query: str
    papers: tuple[PaperRef, ...] = ()
    kind: str = "standalone"
    reference: str | None = None
    note: str | None = None

    @property
    def resolved(self) -> bool:
        return self.kind != "standalone"


@dataclass
class _Turn:
    question: str
    answer: str = ""
    cited: list[PaperRef] = field(default_factory=list)  # in order of first appearance in the answer
    by_n: dict[int, PaperRef] = field(default_factory=dict)
    focus: list[PaperRef] = field(default_factory=list)  # what the next "it" means
    topic: str = ""  # the text the turn is about: its question, or what that question was resolved to


_PLURAL_ACRONYM = re.compile(r"\b([A-Z]{2,}[0-9]*)s\b")  # "LLMs" and "LLM" are the same word here


def _terms(text: str) -> list[frozenset[str]]:
    """One stem set per word ("CIFAR-10" -> {cifar-10, cifar, 10}); stop words give nothing."""
    text = _PLURAL_ACRONYM.sub(r"\1", text).lower()
    return [s for tok in _TOKEN.findall(text) if (s := frozenset(tokenize(tok)))]


def _stems(*texts: str) -> set[str]:
    return {s for t in _terms(" ".join(texts)) for s in t}


# Words that ask about an aspect of a paper rather than name a topic ("how fast?", "which datasets?").
_GENERIC = _stems(
    "what which who how why when where whats tell explain describe give list name mention more detail details s "
    "please ok okay thanks quick question new different anything something one ones kind kinds type types "
    "paper papers work works study studies method methods approach approaches model models technique result results "
    "dataset datasets data benchmark benchmarks task tasks experiment experiments evaluate evaluated evaluation "
    "accuracy score scores performance perform improve improvement better best faster fast speed speedup "
    "memory size sizes big bigger large small scale number many much time long cost train trained training "
    "inference compare comparison differ difference versus vs baseline baselines sota state art outperform "
    "beat gain reach get got achieve report claim find found main key idea contribution problem limitation "
    "does do did is are was were can could would should make made need able help relate relation handle "
    "introduce exactly actually really even top metric metrics parameter layer version total overall level "
    "back going return returning again thing stuff similar same like whole"
)
_LEAD = re.compile(r"^\s*(?:ok(?:ay)?|so|and|also|but|then|well|hmm+|quick q(?:uestion)?)?[\s,:-]*", re.I)
_CONTINUATION = re.compile(r"^\s*(?:and|also|but|then|what about|how about|same for)\b", re.I)
_PAPER_REQUEST = re.compile(
    r"\b(?:which|what|any|some|other|more|find|list)\s+(?:[\w-]+\s+){0,2}(?:papers|works|studies|articles)\b"
    r"|\bpapers?\s+(?:on|about|that|which|using|for|with|in)\b|\b(?:is there|are there|anything|any work|any paper)\b"
    r"|\b(?:one|something|another)\s+(?:about|on)\b|\bpapers\s*\??\s*$",
    re.I,
)
_SUBJECT = re.compile(
    r"^(?:what(?:'s| is| are| do| does)|whats|who is|tell me (?:more )?about|explain|describe|compare|contrast|"
    r"summari[sz]e|how do(?:es)?)\s+(.+)",
    re.I,
)
_LISTING = re.compile(
    r"^(?:compare|contrast|what (?:are|do)|tell me (?:more )?about|explain|describe|summari[sz]e|"
    r"how do(?=.*\b(?:differ|compare)))\s+(.+)",
    re.I,
)
_ENUMERATION = re.compile(r"\s*(?:,|;|\band\b|\bvs\.?|\bversus\b|\bwith\b|\bor\b)\s*", re.I)
_NOUN = (
    r"(?:one|ones|paper|papers|work|method|methods|model|models|approach|study|technique|framework|system|dataset|"
    r"benchmark|architecture|network|algorithm|optimizer|idea|thing|article)"
)
_WRAPPER = re.compile(rf"^\s*the\s+|\s+{_NOUN}\s*$", re.I)  # "the diagrams paper" -> "diagrams"
_ORDINAL_WORDS = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4,
                  "fifth": 5, "5th": 5, "sixth": 6, "6th": 6, "last": -1, "final": -1, "former": 1, "latter": -1}  # fmt: skip
_COUNTS = {"two": 2, "three": 3, "four": 4, "2": 2, "3": 3, "4": 4}
_BRACKET = re.compile(r"\[(\d{1,2})\]|\b(?:paper|source|reference|citation|ref)\s*#?(\d{1,2})\b|#(\d{1,2})\b", re.I)
_ORDINAL = re.compile(
    rf"\b(?:the\s+)?(first|1st|second|2nd|third|3rd|fourth|4th|fifth|5th|sixth|6th|last|final)\s+"
    rf"(?:(two|three|four|2|3|4)\b(?:\s+{_NOUN})?|{_NOUN})\b(?!\s+(?:to|that|which|who|ever)\b)"
    r"|\bthe\s+(former|latter)\b",
    re.I,
)
_OTHER = re.compile(rf"\bthe\s+other\s+{_NOUN}\b|\bthe\s+other\b(?=\s*[,?.!]|\s*$)", re.I)
_BOTH = re.compile(
    r"\b(?:both of (?:them|these|those)|each of them|either of them|which of them|which one|the two|both)\b"
    r"(?!\s+[\w-]+(?:\s+[\w-]+){0,3}\s+and\b)",
    re.I,
)
_BACK_TO = re.compile(
    r"\b(?:back to|returning to|return to|going back to)\s+(?:the\s+)?([^,.;:?!]+?)(?:\s+-\s*|\s*[,.;:!]\s*|(?=\?)|$)",
    re.I,
)
_DESCRIBED = re.compile(rf"\bthe\s+((?:[\w+'/-]+\s+){{1,5}}?){_NOUN}\b", re.I)
_EXPLETIVE = re.compile(
    r"\b(?:is|was|would|will|could|can|isn't)\s+it\s+(?:even\s+|really\s+|actually\s+|still\s+|also\s+)?(?:be\s+)?"
    r"(?:possible|true|feasible|worth|necessary|better|common|hard|easy|useful|helpful|ok|okay|fine|sensible|"
    r"reasonable|practical|realistic|a good idea)\b"
    r"|\b(?:does|do|did|would|will|can)\s+it\s+(?:even\s+|really\s+|actually\s+)?(?:make sense|matter|pay off)\b"
    r"|\bit\s+(?:is|was|seems|would be)\s+(?:possible|true|known|feasible|worth|necessary|said|claimed)\b",
    re.I,
)
_SINGULAR = re.compile(
    rf"\b(?:it|its|itself)\b|\b(?:this|that)\s+{_NOUN}\b|\bthe\s+(?:paper|model|method|approach|authors|work|"
    rf"study|same\s+\w+)\b(?!\s+(?:on|about|for|with|that|which|in)\b)|\b(?:about|of|on|with|for|from|by|explain|"
    rf"is)\s+(?:this|that)\s*(?=[?.!,]|$)",
    re.I,
)
_PLURAL = re.compile(rf"\b(?:they|them|their|theirs|themselves)\b|\b(?:these|those)\s+{_NOUN}\b", re.I)
_CLAUSE = re.compile(r"\s(?:and|but|so)\s|[,;:?!]|\s-\s")
# Names: two capitals or a digit ("FuXi-RTM", "KAT", "GPT-4o"), or a capitalised word inside a sentence ("Hydra").
_NAMED = re.compile(r"\b[\w+-]*(?:[A-Z][\w+-]*[A-Z0-9]|\d)[\w+-]*|(?<=[a-z,;:] )[A-Z][a-z]{2,}\b")
_MARKER = re.compile(r"\[(\d{1,3})\]")
_NAME = re.compile(r"\b(?:[A-Za-z]*\d[\w.+-]*|[A-Z]{2,}[\w+-]*|[A-Z][a-z]+[A-Z][\w+-]*|[a-z]+[A-Z][\w+-]*)")


def parse_citations(entry: dict[str, Any]) -> tuple[list[PaperRef], dict[int, PaperRef]]:
    """An assistant entry's cited papers in order of first appearance of their [n] in its text, and by n.
    Malformed items are skipped: histories come from API users."""
    by_n: dict[int, PaperRef] = {}
    raw = entry.get("citations")
    for c in raw if isinstance(raw, list) else []:
        try:
            n, pid, title = int(c["n"]), str(c["paper_id"]), str(c["title"])
        except (KeyError, TypeError, ValueError):
            continue
        if pid and title and n not in by_n:
            by_n[n] = PaperRef(paper_id=pid, title=title)
    order = [int(m.group(1)) for m in _MARKER.finditer(str(entry.get("content", "")))]
    ranked = sorted(by_n, key=lambda n: order.index(n) if n in order else len(order) + n)
    return list(dict.fromkeys(by_n[n] for n in ranked)), by_n


def parse_history(history: Sequence[Any]) -> list[_Turn]:
    """User questions, each with the assistant answer that follows it; malformed entries are skipped."""
    turns: list[_Turn] = []
    for h in history:
        if not isinstance(h, dict) or not isinstance(h.get("content"), str):
            continue
        if h.get("role") == "user":
            turns.append(_Turn(" ".join(h["content"][:MAX_CHARS].split())))
        elif h.get("role") == "assistant" and turns and not turns[-1].answer:
            turns[-1].answer = h["content"][:MAX_CHARS]
            turns[-1].cited, turns[-1].by_n = parse_citations(h)
    return turns[-MAX_TURNS:]


def history_messages(question: str, answer: Any) -> list[dict[str, Any]]:
    """One finished turn as history entries: the question, then the answer with the papers it cited. `answer`
    is an `Answer` or its `model_dump()`; the UI and the dialogue eval build their history with this."""
    data = answer.model_dump(mode="json") if hasattr(answer, "model_dump") else dict(answer)
    citations = [{"n": c["n"], "paper_id": c["paper_id"], "title": c["title"]} for c in data.get("citations") or []]
    return [
        {"role": "user", "content": question},
        {"role": "assistant", "content": str(data.get("answer") or ""), "citations": citations},
    ]


def short_name(title: str) -> str:
    """How a rewritten question names a paper: the part of its title before a colon when that is short."""
    head = title.split(":", 1)[0].strip()
    if ":" in title and 0 < len(head.split()) <= 5:
        return head
    words = title.split()
    return " ".join(words[:12]) + ("…" if len(words) > 12 else "")


def names(referents: Sequence[Referent], conjunction: str = "and") -> str:
    """Short names joined for a sentence: "A", "A and B", "A, B and C" (or "A or B")."""
    parts = [short_name(r.title) if isinstance(r, PaperRef) else r for r in referents]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + f" {conjunction} " + parts[-1]


class FollowUpResolver:
    """Resolves follow-ups against a conversation. `paper_text` (paper ids -> abstracts) and `idf` (a stem's
    inverse document frequency) come from the index; without them titles and the conversation's own text are
    matched, every word weighing the same. Thread-safe: each `resolve` call keeps its state to itself."""

    def __init__(
        self, paper_text: Callable[[list[str]], dict[str, str]] | None = None, idf: Callable[[str], float] | None = None
    ) -> None:
        self._paper_text = paper_text
        self._idf = idf or (lambda _stem: 1.0)

    def resolve(self, question: str, history: Sequence[Any] | None) -> Resolution:
        """`question` as asked and the conversation so far (see the module docstring) -> `Resolution`."""
        turns = parse_history(history or [])
        q = " ".join(question.split())
        if not turns or not q:
            return Resolution(question, question)
        cited = {p.paper_id: p for t in turns for p in t.cited}
        texts = self._paper_text(list(cited)) if (self._paper_text and cited) else {}
        profiles = {pid: (_stems(p.title), _stems(p.title, texts.get(pid, ""))) for pid, p in cited.items()}
        session = _Session(profiles, self._idf)
        for i, turn in enumerate(turns):  # each earlier turn as it was resolved, so the focus follows the chain
            session.remember(turn, turns[:i], session.resolve(turn.question, turns[:i]))
        return session.resolve(q, turns)


def _hit(term: frozenset[str], stems: set[str]) -> bool:
    """Whether a word occurs in `stems`: itself ("cifar-10"), or all of its parts ("cifar", "10")."""
    whole = max(term, key=len)
    parts = term - {whole}
    return whole in stems or bool(parts and parts <= stems)


def _novel(term: frozenset[str], known: set[str]) -> bool:
    return not _hit(term, known)


class _Session:
    """One `resolve` call: per cited paper its stems (title, title + abstract), and the idf."""

    def __init__(self, profiles: dict[str, tuple[set[str], set[str]]], idf: Callable[[str], float]) -> None:
        self.profiles = profiles
        self.idf = idf
        self._known: dict[int, set[str]] = {}

    # ---- matching words to papers ------------------------------------------------------------------------
    def coverage(self, terms: Sequence[frozenset[str]], paper: PaperRef) -> float:
        """Share of the words (each weighted by its idf) found in the paper: 1 in its title, 1/2 in its abstract."""
        title, full = self.profiles.get(paper.paper_id, (set(), set()))
        weights = [max(self.idf(s) for s in (t - {max(t, key=len)} or t)) for t in terms]  # a compound: its parts
        found = sum(
            w * (1.0 if _hit(t, title) else 0.5 if _hit(t, full) else 0.0) for t, w in zip(terms, weights, strict=True)
        )
        return found / sum(weights) if weights and sum(weights) > 0 else 0.0

    def best(self, terms: Sequence[frozenset[str]], papers: Sequence[PaperRef]) -> list[PaperRef]:
        """The paper the words fit clearly best (`PICK_RATIO` over the next); none, or the tied ones, otherwise.
        Words every candidate holds ("detection" after "compare A and B for OOD detection") tell them apart no
        better than silence, so only the others count."""
        if len(papers) > 1:
            terms = [
                t for t in terms if not all(_hit(t, self.profiles.get(p.paper_id, ((), set()))[1]) for p in papers)
            ]
        scored = sorted(((self.coverage(terms, p), i, p) for i, p in enumerate(papers)), key=lambda s: (-s[0], s[1]))
        if not scored or scored[0][0] < MATCH:
            return []
        return [p for s, _, p in scored if s * PICK_RATIO > scored[0][0]]

    def known(self, turns: list[_Turn]) -> set[str]:
        """Every stem of the conversation so far: questions, answers, cited titles and their abstracts."""
        if len(turns) not in self._known:
            known = _stems(*(f"{t.question} {t.answer}" for t in turns))
            for t in turns:
                for p in t.cited:
                    known |= self.profiles[p.paper_id][1]
            self._known[len(turns)] = known
        return self._known[len(turns)]

    # ---- what each earlier turn was about ----------------------------------------------------------------
    def remember(self, turn: _Turn, before: list[_Turn], r: Resolution) -> None:
        if r.papers:
            turn.focus, turn.topic = [p for p in r.papers if p in turn.cited] or list(r.papers), r.query
        elif r.resolved and before:  # a follow-up that only had text to go on keeps the earlier topic
            turn.focus, turn.topic = list(before[-1].focus), r.query
        else:
            named = [p for p in self.enumerated(turn) if isinstance(p, PaperRef)]
            turn.focus, turn.topic = (named if len(named) >= 2 else self.named(turn)), turn.question

    def named(self, turn: _Turn) -> list[PaperRef]:
        """The cited papers a question was about: those its words fit best; all of them when it names none in
        particular, as a question asking for a list of papers does."""
        terms = [t for t in _terms(turn.question) if not t <= _GENERIC]
        scores = [self.coverage(terms, p) for p in turn.cited]
        top = max(scores, default=0.0)
        return [p for p, s in zip(turn.cited, scores, strict=True) if s >= 0.6 * top] if top > 0 else list(turn.cited)

    def listed(self, turn: _Turn) -> list[Referent]:
        """What a user counts with "the second one": what their question named, when it named two or more
        things, else the papers in the order the answer cited them."""
        return self.enumerated(turn) or list(turn.cited)

    def enumerated(self, turn: _Turn) -> list[Referent]:
        """The things a question named in turn ("compare A, B and C"): each the cited paper it fits, or the
        user's own words when the answer did not cite it. Empty unless two or more, one of them cited."""
        listing = _LISTING.match(_LEAD.sub("", turn.question))
        if not listing or _SINGULAR.search(listing.group(1)) or _PLURAL.search(listing.group(1)):
            return []  # "how does it relate to A and B?" names one subject, whatever follows
        if not re.search(r"\b(?:and|vs\.?|versus|or|with)\b", listing.group(1), re.I):
            return []  # "Archon, the architecture search framework": one paper and its description
        parts = [_WRAPPER.sub("", p).strip(" ?.!()") for p in _ENUMERATION.split(listing.group(1))]
        found: list[Referent] = []
        for part in parts:
            terms = [t for t in _terms(part) if not t <= _GENERIC]
            if terms and part:
                fit = self.best(terms, turn.cited)
                found.append(fit[0] if len(fit) == 1 and fit[0] not in found else part)
        return found if len(found) >= 2 and any(isinstance(f, PaperRef) for f in found) else []

    # ---- one question ------------------------------------------------------------------------------------
    def resolve(self, q: str, turns: list[_Turn]) -> Resolution:
        if not turns:
            return Resolution(q, q)
        for step in (self._bracket, self._ordinal, self._other, self._back_to, self._both, self._described):
            found = step(q, turns)
            if found is not None:
                return found
        return self._pronoun(q, turns) or self._ellipsis(q, turns) or Resolution(q, q)

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
        elif topic and not any(self.coverage(_terms(n), p) for n in _NAME.findall(q) for p in papers):
            query = f"{topic[-MAX_TOPIC:]} {q}"  # unless the question names the paper itself
        else:
            query = q
        return Resolution(q, query, papers, kind, phrase, note)

    def _bracket(self, q: str, turns: list[_Turn]) -> Resolution | None:
        found = [(m, int(next(g for g in m.groups() if g))) for m in _BRACKET.finditer(q)]
        if not found:
            return None
        for turn in reversed(turns):
            if all(n in turn.by_n for _, n in found):
                return self._done(q, "bracket", [turn.by_n[n] for _, n in found], found[0][0].span())
        cited = ", ".join(f"[{n}]" for _, n in found)
        return Resolution(q, q, note=f"no earlier answer cites {cited}, so the question was taken as it stands")

    def _ordinal(self, q: str, turns: list[_Turn]) -> Resolution | None:
        m = _ORDINAL.search(q)
        if not m:
            return None
        pos = _ORDINAL_WORDS[(m.group(1) or m.group(3)).lower()]
        count = _COUNTS.get((m.group(2) or "").lower(), 1)
        for turn in reversed(turns):  # the latest answer that lists enough papers
            listed = self.listed(turn)
            if len(listed) >= max(count, pos, 2):
                picked = listed[pos - 1 : pos - 1 + count] if pos > 0 else listed[-count:]
                return self._done(q, "ordinal", picked, m.span())
        note = f"no earlier answer lists enough papers for “{m.group(0)}”, so the question was taken as it stands"
        return Resolution(q, q, note=note)

    def _other(self, q: str, turns: list[_Turn]) -> Resolution | None:
        m = _OTHER.search(q)
        if not m:
            return None
        focus = set(turns[-1].focus)
        for turn in reversed(turns):
            rest = [p for p in self.listed(turn) if p not in focus]
            if len(turn.cited) >= 2 and rest:
                note = f"“{m.group(0)}” could mean {names(rest, 'or')}; each was searched" if len(rest) > 1 else None
                return self._done(q, "other", rest, m.span(), note)
        return None

    def _matching(self, words: str, turns: list[_Turn], strict: bool = False) -> tuple[list[PaperRef], str | None]:
        """The earlier paper a description fits (latest mention first); ties come back with a note. `strict`
        (no "back to" cue): every word must be in the paper and one in its title, so that "the collection"
        or "the dynamic model" in a new question points nowhere."""
        terms = [t for t in _terms(words) if not t <= _GENERIC]
        seen = list(dict.fromkeys(p for t in reversed(turns) for p in [*t.focus, *t.cited]))
        if strict:
            seen = [p for p in seen if all(_hit(t, self.profiles.get(p.paper_id, ((), set()))[1]) for t in terms)]
            seen = [p for p in seen if any(_hit(t, self.profiles.get(p.paper_id, (set(), ()))[0]) for t in terms)]
        top = self.best(terms, seen) if terms else []
        note = f"the question fits {names(top, 'or')} equally; each was searched" if len(top) > 1 else None
        return top, note

    def _back_to(self, q: str, turns: list[_Turn]) -> Resolution | None:
        """ "back to the diagrams paper - which architectures does it cover?" -> "which architectures does Neural
        Circuit Diagrams cover?" """
        m = _BACK_TO.search(q)
        top, note = self._matching(m.group(1), turns) if m else ([], None)
        if not m or not top:
            return None
        rest = (q[: m.start()] + " " + q[m.end() :]).strip(" ,-:")
        rest = _LEAD.sub("", rest) or q
        pronoun = _SINGULAR.search(rest) or _PLURAL.search(rest)
        if pronoun:
            r = self._done(rest, "description", top, pronoun.span(), note)
        else:
            r = Resolution(rest, f"{names(top)}: {rest}", tuple(top), "description", None, note)
        return Resolution(q, r.query, r.papers, r.kind, m.group(0).strip(" ,-:"), r.note)

    def _described(self, q: str, turns: list[_Turn]) -> Resolution | None:
        """ "what does the conformal prediction one report?" -> the earlier paper those words fit."""
        for m in _DESCRIBED.finditer(q):
            if _PAPER_REQUEST.search(q) or self._own_antecedent(q, m.start(), turns):
                return None  # "Tell me about Archon, the architecture search framework": Archon, not an old paper
            top, note = self._matching(m.group(1), turns, strict=True)
            if top:
                return self._done(q, "description", top, m.span(), note)
        return None

    def _both(self, q: str, turns: list[_Turn]) -> Resolution | None:
        m = _BOTH.search(q)
        if not m or _PAPER_REQUEST.search(q) or self._own_antecedent(q, m.start(), turns):
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

    def _pronoun(self, q: str, turns: list[_Turn]) -> Resolution | None:
        text = _EXPLETIVE.sub(lambda m: " " * len(m.group(0)), q)  # "is it possible to ..." refers to nothing
        m = _SINGULAR.search(text) or _PLURAL.search(text)
        if not m:
            return None
        if self._own_antecedent(q, m.start(), turns):
            return None
        last = turns[-1]
        if _PLURAL.search(text) and len(last.focus) < 2 and len(named_things := self.enumerated(last)) >= 2:
            return self._done(q, "pronoun", named_things, m.span())  # "they" after "what are A and B?"
        if not last.focus:
            return self._done(q, "pronoun", [], topic=last.topic) if last.topic else None
        if len(last.focus) > 1 and not _PLURAL.search(text):
            picked = self.best([t for t in _terms(q) if not t <= _GENERIC], last.focus)
            if len(picked) == 1:
                return self._done(q, "pronoun", picked, m.span())
            note = f"“{m.group(0)}” could mean {names(last.focus, 'or')}; each was searched (name one to narrow it)"
            return self._done(q, "pronoun", last.focus, m.span(), note)
        return self._done(q, "pronoun", last.focus, m.span())

    def _own_antecedent(self, q: str, at: int, turns: list[_Turn]) -> bool:
        """Whether a pronoun at `at` refers inside the question: after a name ("How often does FuXi-RTM beat its
        baseline?"), after new words in an earlier clause ("what is low-rank
        adaptation and how does it work?"), or in a question asking for papers ("papers whose models explain
        their predictions")."""
        if any(not t <= _GENERIC for n in _NAMED.findall(q[:at]) for t in _terms(n)):
            return True
        known = self.known(turns)
        clauses = [c.start() for c in _CLAUSE.finditer(q, 0, at)]
        novel = [t for t in _terms(q[:at]) if not t <= _GENERIC and _novel(t, known)]
        in_head = [t for t in _terms(q[: clauses[-1]]) if not t <= _GENERIC and _novel(t, known)] if clauses else []
        return len(in_head) >= 2 or bool(novel and _PAPER_REQUEST.search(q))

    def _ellipsis(self, q: str, turns: list[_Turn]) -> Resolution | None:
        """No referring word: a follow-up only if the question brings no topic of its own."""
        if _PAPER_REQUEST.search(q):
            return None
        subject = _SUBJECT.match(_LEAD.sub("", q))
        if subject and not _stems(subject.group(1)) <= _GENERIC:
            return None  # "what is X?", "compare X and Y": the question names its own subject
        terms = [t for t in _terms(q) if not t <= _GENERIC]
        novel = [t for t in terms if _novel(t, self.known(turns))]
        named = _stems(*_NAME.findall(q))
        short_continuation = _CONTINUATION.match(q) and len(q.split()) <= 8
        if novel and not (short_continuation and sum(not (t & named) for t in novel) <= 1):
            return None  # new words: a new topic ("gaussian splatting memory?"); "and on ImageNet?" is not
        last = turns[-1]
        if not last.focus:
            return self._done(q, "ellipsis", [], topic=last.topic) if last.topic else None
        if terms:  # the words may fit one focus paper, or another earlier paper (a switch back), clearly best
            seen = list(dict.fromkeys(p for t in reversed(turns) for p in [*t.focus, *t.cited]))
            picked = self.best(terms, seen)
            if len(picked) == 1 and (picked[0] in last.focus or not self.best(terms, last.focus)):
                return self._done(q, "ellipsis", picked, topic=last.topic)
        if any(not t <= _GENERIC for n in _NAMED.findall(q) for t in _terms(n)):
            return None  # it names something, and not one paper of the conversation: it has its own subject
        return self._done(q, "ellipsis", last.focus, topic=last.topic)
