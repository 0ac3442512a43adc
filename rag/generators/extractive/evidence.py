"""Evidence for the extractive answerer: every sentence of the retrieved abstracts scored against the analysed
question, and every paper scored as the one (or one of those) the question is about.

Scores mix, per sentence: idf-weighted coverage of the question's focus words (lexical, stemmed), MiniLM cosine
similarity to the question (for the lexical front-runners and the likely papers' sentences only, to stay fast),
whether the sentence holds what the intent needs (a figure next to the asked attribute, an acronym's expansion,
a "we propose" contribution) and whether it uses the question's names. Weights are constants below, set on the
old dev set and the tune set (`eval/questions/dev.jsonl`, `tune.jsonl`), never on `heldout.jsonl`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from rag.intent import Analysis, Intent, asked_share, widen
from rag.text import numbers, tokenize
from rag.types import Source
from rag.untrusted import evidence_sentences

Embed = Callable[[list[str]], list[list[float]]]
Idf = Callable[[str], float]

W_DENSE, W_LEX, W_ASKED, W_NAMES = 0.45, 0.35, 0.12, 0.08
DENSE_CANDIDATES = 12  # lexical front-runners embedded, besides the likely papers' sentences
DENSE_PAPERS = 2  # papers whose every sentence is embedded (single-paper intents)
W_FIGURE, W_NO_FIGURE = 0.22, 0.18
W_CUE = 0.06
NAME_FUZZ = 0.84  # difflib ratio for a misspelt name ("ImagNet-1K" for "ImageNet-1K"), names of 6+ characters

_CONTRIBUTION = re.compile(
    r"\b(we|this (paper|work)|our (method|approach|model|framework))\s+(also\s+)?(propose|present|introduce|develop|"
    r"design|show|find|demonstrate|achieve|obtain|reduce|improve|prove|establish|derive|offer|release|build|construct)",
    re.I,
)
_BACKGROUND = re.compile(
    r"^(recently|in recent years|over the past|nowadays|despite|while|although|however|existing|current|prior|"
    r"previous|traditional|conventional|many|most)\b|\b(has|have) (garnered|attracted|gained|become|emerged|shown "
    r"(great|remarkable|impressive))|\bremains? (a |an )?(challenge|challenging|open|difficult|unclear)",
    re.I,
)
_HOW_CUE = re.compile(
    r"\b(by|via|through|using|leverag\w*|consists? of|based on|relies on|which (first|then)|first\s+\w+s\b|then\s+\w+s\b|"
    r"(core|key|main|central) idea|idea is to|is trained to|trained (by|with|to)|learns? an? |"
    r"we (design|construct|model|represent|formulate|compute|decompose|encode|train|learn|use))\b",
    re.I,
)
_BOILER = re.compile(
    r"https?://|github\.com|\bour code\b|\bcode (is|are|will be|and \w+ (is|are)) (publicly |made )?(available|released)",
    re.I,
)
_YEAR = re.compile(r"^(19|20)\d\d$")
# Figures said in words: "orders of magnitude faster", "twice as fast", "halves the cost", "ten-fold".
_WORD_FIGURE = re.compile(
    r"\b(an? |several |two |three )?orders? of magnitude\b|\btwice\b|\bdoubl(e|es|ed|ing)\b|\bhalv(e|es|ed|ing)\b"
    r"|\b(two|three|four|five|six|seven|eight|nine|ten|hundred|thousand)[- ]?fold\b"
    r"|\bfrom (days|hours|minutes|seconds) to (hours|minutes|seconds|milliseconds)\b",
    re.I,
)


@dataclass
class Sentence:
    """One abstract sentence with its scores; `figures` are its numbers that the question did not state."""

    paper: int  # index into the retrieved sources
    index: int  # position in the abstract
    text: str
    tokens: set[str]
    figures: list[str]
    lex: float = 0.0
    dense: float = 0.0
    asked: float = 0.0
    names: float = 0.0
    score: float = 0.0

    @property
    def words(self) -> int:
        return len(self.text.split())


@dataclass
class Paper:
    """One retrieved paper as evidence: its sentences, which question names it uses, how well it covers the
    question, and the names an answer can call it by (`short`: the title before its colon; `method`: the name
    the abstract introduces)."""

    index: int
    source: Source
    sentences: list[Sentence]
    tokens: set[str]
    names_found: list[str]
    coverage: float
    title_coverage: float
    short: str | None
    method: str | None
    introduces_name: bool = False
    score: float = 0.0
    extra: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return self.index + 1

    @property
    def label(self) -> str:
        """What an answer calls the paper: its short name if it has one, else its title."""
        return self.short or self.source.title

    def best(self) -> Sentence | None:
        return max(self.sentences, key=lambda s: s.score, default=None)


# ---- names ------------------------------------------------------------------------------------------------
def norm(text: str) -> str:
    return re.sub(r"[^0-9a-z]+", "", text.lower())


def name_present(
    name: str, text_norm: str, text_tokens: set[str], vocabulary: list[str] | None = None, raw: str | None = None
) -> bool:
    """Whether a question's name occurs in a text: as written (ignoring case and punctuation), as its stemmed
    words, an acronym spelt out in `raw` ("LRA" in "Long Range Arena"), or (for names of 6+ characters)
    misspelt by a little (`NAME_FUZZ`)."""
    n = norm(name)
    if n and n in text_norm:
        return True
    toks = tokenize(name)
    if toks and all(t in text_tokens for t in toks):
        return True
    acronym = re.fullmatch(r"[A-Z][A-Za-z]{1,6}s?", name) and sum(c.isupper() for c in name) >= 2
    if (
        acronym
        and raw is not None
        and acronym_in(name[:-1] if name.endswith("s") and name[-2].isupper() else name, raw)
    ):
        return True
    if len(n) >= 6 and vocabulary:
        # a typo inside a name, not another variant of it: "ImagNet-1K" is ImageNet-1K, "InceptionNeXt-B" is not
        # InceptionNeXt-T (same ending, same digits)
        digits = re.sub(r"\D", "", n)
        return any(
            difflib.SequenceMatcher(None, n, v).ratio() >= NAME_FUZZ
            and v[-2:] == n[-2:]
            and re.sub(r"\D", "", v) == digits
            for v in vocabulary
            if abs(len(v) - len(n)) <= 2
        )
    return False


def acronym_in(acronym: str, text: str) -> bool:
    """Whether `text` spells out `acronym` ("LRA" -> "Long Range Arena", "NTK" -> "Neural Tangent Kernels"):
    consecutive words whose initials are its letters."""
    raw_letters = [c for c in acronym if c.isalpha()]
    letters = "".join(c.lower() for c in raw_letters)
    words = re.findall(r"[A-Za-z][\w]*", text.replace("-", " "))
    if letters not in "".join(w[0].lower() for w in words):
        return False
    for i in range(len(words) - len(letters) + 1):
        span = words[i : i + len(letters)]
        if "".join(w[0].lower() for w in span) == letters and all(
            w[0].isupper() or len(w) > 3 or c.islower() for w, c in zip(span, raw_letters, strict=True)
        ):
            return True
    return False


_TITLE_SHORT = re.compile(r"^\s*([^:]{2,40}?)\s*:\s+\S")
_NAMED = re.compile(
    r"\b(?:called|named|dubbed|termed|coined|namely|coin|term)\s+(?:it\s+|as\s+)?[\"“']?([A-Z][\w+-]*(?:\s[A-Z][\w+-]*){0,3})"
)
_INTRO = re.compile(
    r"\b(?:we|this (?:paper|work))\s+(?:also\s+)?(?:propose|present|introduce|develop|design|build)[sd]?\s+"
    r"(?:(?:a|an|the)\s+)?(?:(?:new|novel|simple|general|unified)\s+)?([A-Z][\w-]*[A-Z0-9][\w+-]*|[A-Z][a-z]+[A-Z][\w+-]*)\b"
)
_APPOSITIVE = re.compile(
    r"\b(?:propose|present|introduce|develop|design)[sd]?\s+(?:(?:a|an|the)\s+)?(?:[\w-]+\s+){0,4}?"
    r"(?:method|algorithm|framework|model|approach|architecture|system|technique|strategy|benchmark|dataset|"
    r"library|network|scheme|paradigm|loss|optimizer|toolkit|family)s?\s*,?\s+(?:called\s+|named\s+|dubbed\s+)?"
    r"([A-Z][\w-]*[A-Z0-9][\w+-]*|[A-Z][a-z]+[A-Z][\w+-]*)\b"
)
_PROPOSES = re.compile(r"\b(propose|present|introduce|develop|design|call|name|term|dub|coin|build)[sd]?\b", re.I)
_PAREN_NAME = re.compile(r"(?:[A-Z][\w-]*\s+)(?:[\w-]+\s+){0,7}\(([A-Z][A-Za-z0-9+-]*[A-Z0-9][A-Za-z0-9+-]*)\)")


def paper_names(title: str, abstract: str) -> tuple[str | None, str | None]:
    """(short title, method name): "LLaMA-MoE: Building ..." -> "LLaMA-MoE"; the name the abstract introduces
    ("we propose Starbucks, ...", "... (RADD)"). Either may be None."""
    short = None
    m = _TITLE_SHORT.match(title)
    if m and len(m.group(1).split()) <= 4 and "\\" not in m.group(1):
        short = m.group(1).strip()
    from rag.names import GENERIC_ACRONYMS

    method = None
    for sentence in abstract.split(". ")[:10]:
        if not re.search(r"\b(we|this (paper|work)|our)\b", sentence, re.I):
            continue
        proposes = bool(_PROPOSES.search(sentence))
        found = []
        for pattern in (_NAMED, _PAREN_NAME, _APPOSITIVE, _INTRO):
            if pattern is _PAREN_NAME and not proposes:
                continue  # "(GP)", "(SSMs)" in a background sentence name the field, not the paper's method
            im = pattern.search(sentence)
            name = im.group(1).strip() if im else ""
            generic = name.upper().rstrip("S") in GENERIC_ACRONYMS or (
                len(name) < 3 and not any(c.isdigit() for c in name)
            )
            if name and "\\" not in name and not generic and len(name) <= 40:
                found.append(name)
        # "we propose VTrans, ... guided by the Variational Information Bottleneck (VIB) principle": the name the
        # title carries is the method; the parenthesised one is a tool it uses
        if found:
            method = next((n for n in found if short and n.lower() == short.lower()), found[0])
            break
    if method is None and short and len(short.split()) <= 2:
        method = short
    return short, method


# ---- scoring ----------------------------------------------------------------------------------------------
class Scorer:
    """Scores the retrieved papers' sentences for one analysed question (see the module docstring)."""

    def __init__(
        self,
        embed: Embed | None,
        embed_query: Callable[[str], list[float]] | None,
        idf: Idf,
        vectors: Callable[[list[str]], np.ndarray] | None = None,
    ) -> None:
        self.embed = embed
        self.embed_query = embed_query
        self.idf = idf
        self.vectors = vectors

    def papers(self, analysis: Analysis, sources: Sequence[Source]) -> list[Paper]:
        q_figures = set(numbers(analysis.question))
        weights = {t: self.idf(t) for t in analysis.focus}
        total = sum(weights.values()) or 1.0
        out: list[Paper] = []
        for i, src in enumerate(sources):
            title_toks = set(tokenize(src.title))
            sents = []
            for j, text in enumerate(evidence_sentences(src.text)):
                toks = widen(set(tokenize(text)))  # "speed-up" answers "faster"
                figs = [f for f in numbers(text) if f not in q_figures and not _YEAR.match(f)]
                figs += [m.group(0).lower() for m in _WORD_FIGURE.finditer(text)]
                lex = sum(w for t, w in weights.items() if t in toks or (j == 0 and t in title_toks)) / total
                sents.append(Sentence(paper=i, index=j, text=text, tokens=toks, figures=figs, lex=lex))
            all_text = f"{src.title} {src.text}"
            toks = set(tokenize(all_text))
            vocab = list({norm(w) for w in re.findall(r"[\w-]{6,}", all_text)})
            text_norm = norm(all_text)
            found = [n for n in analysis.names if name_present(n, text_norm, toks, vocab, all_text)]
            short, method = paper_names(src.title, src.text)
            cov = sum(w for t, w in weights.items() if t in toks) / total
            tcov = sum(w for t, w in weights.items() if t in title_toks) / total
            intro = (
                any(
                    name_present(n, norm(src.title), title_toks)
                    or re.search(rf"\b{re.escape(n)}\b\s*(,|\(|is|:)", src.text)
                    for n in found
                )
                if found
                else False
            )
            paper = Paper(i, src, sents, toks, found, cov, tcov, short, method, intro)
            for s in sents:
                s.asked = asked_share(analysis.asked_groups, s.text, s.tokens)
                s.names = (
                    len([n for n in found if name_present(n, norm(s.text), s.tokens)]) / len(analysis.names)
                    if analysis.names
                    else 0.0
                )
            out.append(paper)
        self._dense(analysis, out)
        for p in out:
            for s in p.sentences:
                s.score = self._sentence_score(analysis, p, s)
        return out

    def _dense(self, analysis: Analysis, papers: list[Paper]) -> None:
        if self.embed is None or not papers:
            return
        flat = [s for p in papers for s in p.sentences]
        if not flat:
            return
        chosen = {id(s) for s in sorted(flat, key=lambda s: (-s.lex, s.paper, s.index))[:DENSE_CANDIDATES]}
        if analysis.intent not in (Intent.LIST, Intent.SUMMARY):
            likely = sorted(papers, key=lambda p: (-len(p.names_found), -p.coverage, p.index))[:DENSE_PAPERS]
            chosen |= {id(s) for p in likely for s in p.sentences}
        chosen |= {id(s) for p in papers[:3] for s in p.sentences[:2]}
        picked = [s for s in flat if id(s) in chosen]
        q = np.asarray(
            self.embed_query(analysis.question) if self.embed_query else self.embed([analysis.question])[0],
            dtype=np.float32,
        )
        vecs = (
            self.vectors([s.text for s in picked])
            if self.vectors
            else np.asarray(self.embed([s.text for s in picked]), dtype=np.float32)
        )
        for s, sim in zip(picked, vecs @ q, strict=True):
            s.dense = float(sim)

    def _sentence_score(self, analysis: Analysis, paper: Paper, s: Sentence) -> float:
        score = W_DENSE * s.dense + W_LEX * s.lex + W_ASKED * s.asked + W_NAMES * s.names
        intent = analysis.intent
        if intent == Intent.QUANTITY or (intent == Intent.FACT and analysis.asked):
            score += W_FIGURE * (1.0 if s.figures else 0.0) * (0.5 + 0.5 * s.asked) - (
                W_NO_FIGURE if not s.figures else 0.0
            )
        if intent == Intent.HOW and _HOW_CUE.search(s.text):
            score += W_CUE
        if intent in (Intent.LOOKUP, Intent.ABOUT, Intent.LIST, Intent.SUMMARY, Intent.COMPARE, Intent.HOW):
            if _CONTRIBUTION.search(s.text):
                score += W_CUE
            elif s.index <= 1 and _BACKGROUND.search(s.text):
                score -= W_CUE
        if _BOILER.search(s.text) and not re.search(r"\b(code|github|available|release)", analysis.question, re.I):
            score *= 0.5
        return score
