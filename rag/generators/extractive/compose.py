"""What every composition is made of: `Line`s that cite their papers and keep their verbatim sentences, the
rendering of lines into the answer text, and the sentence helpers the per-intent composers share (`trim`, figure
phrases, a paper's contribution and result sentences). The composers are in `single` (one-paper intents) and
`several` (lists, summaries, comparisons).

Every line cites the paper its sentence comes from, and every sentence is an abstract sentence with at most its
openers dropped and its references resolved (`rewrite`), kept verbatim as the citation's supporting text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rag.generators.extractive.evidence import _BACKGROUND, _BOILER, _CONTRIBUTION, Paper, Sentence
from rag.generators.extractive.rewrite import rewrite
from rag.intent import Analysis
from rag.text import numbers, tokenize

SINGLE_WORDS = 60  # word budget of a one-paper answer before a second sentence is left out
COMPARE_WORDS = 70  # per paper in a comparison


@dataclass
class Line:
    """One line of an answer: its text (markers added by `render`), the papers it cites and the verbatim
    sentences it quotes (empty for a title-only bullet)."""

    text: str
    cites: list[int]
    quotes: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)  # names a rewrite of the quotes may add (method, short title)
    kind: str = "text"  # "text" (a sentence), "bullet" ("- ... {cite} ..."), "header" (no citation)


@dataclass
class Composition:
    lines: list[Line]
    note: str | None = None  # e.g. "12 more papers match"


def render(lines: list[Line]) -> str:
    """The answer text: each line ends with its markers ("... [1]." / "- Title [2]: ...")."""
    out = []
    for line in lines:
        marks = "".join(f"[{n}]" for n in dict.fromkeys(line.cites))
        body = line.text.rstrip()
        if line.kind == "header":
            out.append(body)
            continue
        if line.kind == "bullet":
            out.append("- " + (body.replace("{cite}", marks) if "{cite}" in body else f"{body} {marks}".rstrip()))
            continue
        body = re.sub(r"[.!?]([\"”’')])$", r"\1", body)  # '... "oscillation effect."' -> '... "oscillation effect"'
        end = body[-1] if body and body[-1] in ".!?" else "."
        body = body.rstrip(".!? ")
        out.append(f"{body} {marks}{end}" if marks else f"{body}{end}")
    return "\n".join(out)


# ---- helpers ----------------------------------------------------------------------------------------------
def trim(text: str, max_words: int) -> str:
    """At most `max_words` words, cut at a clause boundary when there is one late enough, marked with "…"."""
    words = text.split()
    if len(words) <= max_words:
        return text
    head = " ".join(words[:max_words])
    cut = max(
        (m.start() for m in re.finditer(r",\s|;\s|:\s|\s(?:which|where|while|whereas|by|through|via)\s", head)),
        default=-1,
    )
    if cut >= len(head) * 0.45:
        head = head[:cut]
    return head.rstrip(" ,;:-") + "…"


_QUALIFIERS = frozenset(
    "up to more than over about around nearly almost approximately roughly least at only under less ~ as much many "
    "few between from".split()
)
_PHRASE_STOP = frozenset("and while which whereas respectively compared but with when that than".split())
# A phrase does not end on a word that needs more after it ("... certified coverage on", "... ranging from").
_DANGLING_END = frozenset("on in of from for to by at with as the a an ranging using over than".split())
_RANGE = re.compile(r"\b(between|from)\s+(\S*\d\S*)\s+(and|to)\s+(\S*\d\S*)(\s+[A-Za-z-]+)?", re.I)


def figure_phrases(text: str, keys: set[str], limit: int = 2) -> list[str]:
    """See `scored_figure_phrases`; the phrases only."""
    return [phrase for _, phrase in scored_figure_phrases(text, keys, limit)]


def scored_figure_phrases(text: str, keys: set[str], limit: int = 2) -> list[tuple[int, str]]:
    """(keys in the figure's clause, phrase) for the short phrases around the figures of a sentence ("up to 7.8x speed-up in inference", "200B tokens",
    "between 1.12x and 20.21x faster"): the figure with its qualifier, unit and a few following words, cut at a
    clause break and never ending on a preposition. Figures whose own clause holds the most of `keys` (stemmed
    words of the question) come first, in sentence order among equals; when no figure's clause holds any key,
    the first figure alone. Phrases that overlap an earlier one are left out.

    "reduces iterations by over 40% and wall clock time by over 35%" with keys {wall, clock, time} gives
    "over 35%" first: "wall clock time" sits in 35%'s clause, not in 40%'s (see `_context`)."""
    words = text.split()
    spans: list[tuple[str, int, int]] = []
    taken: set[int] = set()
    for m in _RANGE.finditer(text):  # "between 1.12x and 20.21x faster": one phrase, not two
        a, b = len(text[: m.start()].split()), len(text[: m.end()].split())
        spans.append((m.group(0).strip(" ,;:.()"), a, b))
        taken |= set(range(a, b))
    for i, w in enumerate(words):
        if i in taken or not _is_figure(w) or not numbers(" ".join(words[max(0, i - 1) : i + 2])):
            continue  # (the window: "OLMo 2 artifacts" names a version, not a figure)
        start, end = _span(words, i)
        if any(k in taken for k in range(start, end)):
            continue
        taken |= set(range(start, end))
        spans.append((_clean_phrase(" ".join(words[start:end])), start, end))
    spans.sort(key=lambda f: f[1])
    contexts = [_context(words, spans, n) for n in range(len(spans))]
    for n in range(1, len(spans)):  # "ratios of 2187x for meshes, 55x for point clouds": the list shares "ratios"
        gap = " ".join(words[spans[n - 1][2] : spans[n][1]])
        if not re.sub(r"[,;]|\b(and|or)\b", "", gap).strip():
            contexts[n] = (contexts[n - 1][0], contexts[n][1])
    scored = [(len((left | own) & keys), n) for n, (left, own) in enumerate(contexts)]
    best = sorted((f for f in scored if f[0]), key=lambda f: (-f[0], f[1]))[:limit] or scored[:1]
    ordered = sorted(best, key=lambda f: f[1]) if limit > 1 else best  # several: in the sentence's order
    seen: dict[str, int] = {}
    for score, n in ordered:
        seen.setdefault(spans[n][0], score)
    return [(score, phrase) for phrase, score in seen.items()]


_CLAUSE_SPLIT = frozenset(("and", "while", "whereas", "but"))


def _context(words: list[str], spans: list[tuple[str, int, int]], n: int) -> tuple[set[str], set[str]]:
    """The stemmed words that belong to figure `n`, (left of it, itself and right of it): up to six words either side, never past a neighbouring figure,
    and on each side cut at the clause break nearest the figure ("..., and", "while", a comma) so that "X by 40%
    and Y by 35%" gives Y to 35%, not to 40%."""
    _, start, end = spans[n]
    lo = max(spans[n - 1][2] if n else 0, start - 6)
    hi = min(spans[n + 1][1] if n + 1 < len(spans) else len(words), end + 6)
    left = words[lo:start]
    for j in range(len(left) - 1, -1, -1):
        if left[j].lower() in _CLAUSE_SPLIT or (j < len(left) - 1 and left[j][-1:] in ",;:"):
            left = left[j + 1 :]
            break
    right = words[end:hi]
    for j, w in enumerate(right):
        if w.lower() in _CLAUSE_SPLIT or (j and right[j - 1][-1:] in ",;:"):
            right = right[:j]
            break
    return set(tokenize(" ".join(left))), set(tokenize(" ".join(words[start:end] + right)))


def _is_figure(word: str) -> bool:
    """A word that states a figure: a number, not a year, not part of a name."""
    if not re.match(r"^[~(+]?\d", word) or not numbers(word.strip("(~+")):
        return False
    return not re.match(r"^\(?(19|20)\d\d\)?[,.;]?$", word)


_MEASURED_BY = frozenset(("of", "=", "is", "was", "reaches", "reached", "achieves"))


def _span(words: list[str], i: int) -> tuple[int, int]:
    """The words of the figure at `i`: a qualifier before it ("up to", "more than"), up to five words after it,
    stopping at a clause break, another figure or a word that ends nothing ("on", "from")."""
    start = i
    while start > 0 and words[start - 1].lower() in _QUALIFIERS and i - start < 3:
        start -= 1
    end = i + 1
    while end < len(words) and end - i <= 5:
        nxt = words[end].lower().strip(",.;:")
        prev = words[end - 1]
        if prev[-1:] in ",;:)" or prev.endswith(".") or nxt in _PHRASE_STOP or nxt[:1].isdigit():
            break
        end += 1
    while end - 1 > i and words[end - 1].lower().strip(",.;:") in _DANGLING_END:
        end -= 1
    while start < i and words[start].lower() in ("by", "to", "as", "at", "from", "between"):
        start += 1  # "by 29%" reads as "29%"
    bare = start == i and end == i + 1 and i >= 2 and re.fullmatch(r"[~(]?\d[\d.,]*[),.;:]?", words[i])
    if bare and words[i - 1].lower() in _MEASURED_BY and words[i - 2][-1:].isalnum():
        start = i - 2  # a bare number says nothing alone: "a Precision of 0.942" -> "Precision of 0.942"
    return start, end


def _clean_phrase(phrase: str) -> str:
    phrase = phrase.strip(" ,;:.")
    if phrase.count("(") > phrase.count(")"):
        phrase = phrase[: phrase.rfind("(")].rstrip()  # "4.5 FLOP(G" -> "4.5 FLOP"
    phrase = phrase.strip(" ,;:.")
    # brackets stripped only when unmatched: "33% higher throughput (tokens per second)" keeps its ")"
    while phrase.endswith(")") and phrase.count(")") > phrase.count("("):
        phrase = phrase[:-1].rstrip(" ,;:.")
    while phrase.startswith("(") and phrase.count("(") > phrase.count(")"):
        phrase = phrase[1:].lstrip()
    for opening, closing in ("()", "{}", "[]"):
        if phrase.count(opening) > phrase.count(closing):
            phrase = phrase[: phrase.rfind(opening)].rstrip(" ,;:.")
    tail = phrase.rsplit(" ", 1)
    if len(tail) == 2 and tail[1].lower() in _DANGLING_END | {"under", "at", "within", "below", "above"}:
        phrase = tail[0]
    return phrase


_OWN_WORK = re.compile(r"\b(we|our|this (paper|work|study|article))\b", re.I)
_MAIN = re.compile(r"\b(our|the) (main|key|central|primary) (contribution|idea|insight|finding)s? (is|are)\b", re.I)
_PROPOSE = re.compile(r"\b(propose|present|introduce|develop|design|build|construct|release)[sd]?\b", re.I)


_SECONDARY = re.compile(
    r"\b(we|they|the authors) (also|further|additionally)\b|^(additionally|furthermore|moreover)\b", re.I
)


def contribution(paper: Paper, analysis: Analysis | None = None) -> Sentence | None:
    """The sentence that says what the paper does: among its own-work sentences ("we propose / this paper
    presents / our main contribution is") and those naming its method, the best match to the question, with a
    little for proposing and for naming the method, and against leaning on an earlier sentence ("... a method
    that addresses this problem") or asking a rhetorical question."""
    usable = [
        s for s in paper.sentences if not s.text.rstrip().endswith("?") and not _BOILER.search(s.text)
    ] or paper.sentences  # "The codes are released at github.com/.../TC-GS" names the method and says nothing
    cands = [
        s
        for s in usable
        if _CONTRIBUTION.search(s.text) or _MAIN.search(s.text) or (paper.method and paper.method in s.text)
    ]
    if not cands:
        cands = [s for s in usable if not s.text.lower().startswith(("however", "recently", "despite"))] or usable
    if not cands:
        return None

    def key(s: Sentence) -> float:
        return (
            s.score
            + 0.15 * s.lex
            + 0.08 * bool(_PROPOSE.search(s.text) or _MAIN.search(s.text))
            + 0.10 * bool(paper.method and paper.method in s.text)
            - 0.25 * bool(ANAPHORA.search(s.text))
            - 0.08 * bool(_SECONDARY.search(s.text))  # "we also introduce ...": not the main contribution
            - 0.01 * s.index
        )

    return max(cands, key=key)


# A sentence that leans on the one before it: "we address these with X", "to solve this problem".
# A sentence that states a problem rather than what a paper does ("However, X suffers from ...").
PROBLEM = re.compile(
    r"^(however|but|yet|unfortunately|despite|while|although)\b|\b(suffers?|struggles?|remains? (a |an )?(challenge|"
    r"challenging|open|difficult|unclear)|is (costly|expensive|slow|limited|difficult)|limitations?|bottleneck)\b",
    re.I,
)
ANAPHORA = re.compile(
    r"\b(these|those)\b(?!\s+[a-z-]+s\b)|\b(this|these|such|the above|the aforementioned) "
    r"(issue|issues|problem|problems|challenge|challenges|limitation|limitations|gap|shortcoming|shortcomings|drawback|drawbacks|degradation)\b",
    re.I,
)


def result_sentence(paper: Paper, exclude: set[str]) -> Sentence | None:
    """A sentence with a figure that reports an outcome (not the one already used)."""
    cands = [
        s
        for s in paper.sentences
        if s.figures and s.text not in exclude and not _BOILER.search(s.text) and not _BACKGROUND.search(s.text)
    ]
    if not cands:
        return None
    return max(cands, key=lambda s: (s.score, -s.index))


# "It cheaply produces numerous networks": a sentence-initial "it" doing something, right after a sentence that
# names the paper's method, is that method. "It is known that ..." and "It remains ..." are not.
_IT_DOES = re.compile(
    r"^It\s+((?:[a-z]+ly\s+)?(?!is\b|was\b|seems\b|remains\b|appears\b|turns\b|follows\b)[a-z]+(?:s|ed)\b)"
)


def _text(paper: Paper, sentence: Sentence, names: tuple[str, ...] = ()) -> str:
    text = rewrite(sentence.text, paper.method, paper.short).text
    m = _IT_DOES.match(text)
    if m and paper.method and sentence.index > 0:
        before = next((s.text for s in paper.sentences if s.index == sentence.index - 1), "")
        if paper.method in before:
            text = f"{paper.method} {m.group(1)}{text[m.end() :]}"
    return text
