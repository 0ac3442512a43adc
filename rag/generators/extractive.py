"""The offline, deterministic answerer: picks the abstract sentences that answer the question and cites them.

How it decides (every threshold is a constant below, tuned on the odd-numbered half of the dev set and
reported on the even half, see `eval/README.md`):

1. Sentences of the retrieved abstracts are scored by a mix of lexical coverage of the question's content
   words (idf-weighted, stemmed), embedding similarity to the question (MiniLM; computed for the lexical
   front-runners only, to stay fast) and the paper's retrieval rank.
2. It refuses, with related papers instead of citations, when any of these holds:
   - topic: the best sentence is weakly related to the question (low similarity and low coverage);
   - names: a specific term the question asks about (an acronym, a CamelCase or digit-bearing name such as
     "ImageNet" or "GPT-4", or a quoted phrase) occurs in none of the retrieved papers;
   - detail: the question asks for a kind of detail (learning rate, batch size, hardware, authors, dates,
     training time, cost, parameter count, licence, code release) that none of the retrieved abstracts
     states at all — the usual near-miss, where the paper is there but not the detail;
   - quantity: the question asks "how many / how much / what accuracy ..." and no well-matching sentence of
     the focused paper contains a number.
   A similarity threshold alone misses near-misses; the detail and name checks catch them.
Abstracts and questions are untrusted: markup is taken out, and sentences that address an assistant ("ignore
previous instructions", "SYSTEM: ...", "reveal your system prompt") are never evidence or part of the question.
3. Otherwise it composes the answer from the best sentences: one or two from the focused paper for a fact
   or lookup question, the best sentence of each of up to four papers for a topic question ("which
   papers ..."), and one from each of the two best papers for a comparison.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from ingest.sentences import split_sentences
from rag.generators.base import Draft, refusal_text
from rag.index.sparse import tokenize
from rag.types import Source
from rag.verify import ROLE_LABEL, SIGNALS, evidence_sentences, untrusted_segments

# Tuned on the odd half of eval/questions/dev.jsonl (see module docstring).
MIN_TOPIC_SIMILARITY = 0.30
MIN_TOPIC_COVERAGE = 0.35
# Odd half of the dev set: absent topics scored <= 0.34, answerable questions >= 0.37.
MIN_BEST_SCORE = 0.35
MULTI_RELATIVE_SCORE = 0.75
MAX_PAPERS_MULTI = 4
W_DENSE, W_LEX, W_RANK = 0.55, 0.35, 0.10
W_NAMES = 0.15
W_CUE = 0.05
DENSE_CANDIDATES = 14
SENTENCE_CACHE = 50_000
FOCUS_PAPERS = 2
FOCUS_RELATIVE = 0.85

Embed = Callable[[list[str]], list[list[float]]]
Idf = Callable[[str], float]

_QUESTION_WORDS = set(
    tokenize(
        "what which who whom whose how why when where does do did is are was were can could should would "
        "paper papers work works study studies method methods approach approaches model models "
        "report reported reports describe describes describing find tell explain give list name mention "
        "collection abstract abstracts author authors about any some there"
    )
)
_MULTI = re.compile(
    r"\b(which|what|any|list|name|several|some|other)\s+(\w+\s+){0,2}(papers|works|studies|approaches|methods|techniques|models)\b"
    r"|\bpapers\b.*\b(that|which|who)\b|\bacross (the )?(papers|collection)\b|\bwhat are (some|the) ",
    re.I,
)
_COMPARE = re.compile(r"\b(compare|comparison|contrast|differ|difference|differences|versus|vs\.?|both)\b", re.I)
_QUANTITY = re.compile(
    r"\bhow (many|much|large|big|fast|long|often)\b|\bby how\b|\bwhat (percentage|percent|fraction|number|share)\b"
    r"|\b(what|which) ([\w-]+ ){0,3}(accuracy|score|speed-?up|perplexity|fid|bleu|f1|error rate|improvement|gain|reduction|rate)\b",
    re.I,
)
# Kinds of detail abstracts rarely state: question pattern -> what the evidence must contain.
_DETAILS: list[tuple[str, re.Pattern[str], re.Pattern[str]]] = [
    (
        "the authors",
        re.compile(
            r"\b(who (wrote|authored|are the authors)|first author|last author|authors? (names?|of)|written by|affiliation|which (lab|university|institution|company))\b",
            re.I,
        ),
        re.compile(
            r"\bet al\b|\b(university|institute|lab|laboratory|inc\.|google|meta|microsoft|deepmind|openai)\b", re.I
        ),
    ),
    ("the learning rate", re.compile(r"\blearning[- ]rates?\b", re.I), re.compile(r"\blearning[- ]rates?\b", re.I)),
    ("the batch size", re.compile(r"\bbatch[- ]sizes?\b", re.I), re.compile(r"\bbatch[- ]sizes?\b", re.I)),
    (
        "the hardware",
        re.compile(r"\b(gpus?|tpus?|hardware|a100s?|h100s?|v100s?|accelerators?)\b", re.I),
        re.compile(r"\b(gpus?|tpus?|hardware|a100s?|h100s?|v100s?|accelerators?|cpus?|devices?)\b", re.I),
    ),
    (
        "the training time",
        re.compile(
            r"\b(how long (did|does|was|to) .*train|training (time|duration|hours|days)|wall[- ]clock|gpu[- ]hours)\b",
            re.I,
        ),
        re.compile(r"\b(hours?|days?|minutes?|wall[- ]clock|gpu[- ]hours|training time)\b", re.I),
    ),
    (
        "a date",
        re.compile(
            r"\b(what|which) (year|month|date)\b|\bwhen (was|were|did) .*(published|released|submitted|appear)|\brelease date\b",
            re.I,
        ),
        re.compile(
            r"\b(19|20)\d\d\b|\b(january|february|march|april|june|july|august|september|october|november|december)\b",
            re.I,
        ),
    ),
    (
        "the cost",
        re.compile(r"\b(how much did .* cost|cost in|dollars?|usd|price|budget)\b", re.I),
        re.compile(r"\$|\b(cost|dollars?|usd|budget|price)\b", re.I),
    ),
    ("the licence", re.compile(r"\blicen[cs]e[ds]?\b", re.I), re.compile(r"\blicen[cs]e", re.I)),
    (
        "the number of parameters",
        re.compile(r"\b(how many parameters|parameter count|number of parameters|model size)\b", re.I),
        re.compile(r"\bparameters?\b|\b\d+(\.\d+)?\s*[BMK]\b", re.I),
    ),
    (
        "a code release",
        re.compile(r"\b(github|repository|source code|code (release|available|link))\b", re.I),
        re.compile(r"\b(github|code|repository|open[- ]source|publicly available|release)\b", re.I),
    ),
    ("the random seed", re.compile(r"\b(random )?seeds?\b", re.I), re.compile(r"\bseeds?\b", re.I)),
    (
        "the optimizer settings",
        re.compile(r"\b(weight decay|momentum|warm-?up steps|dropout rate)\b", re.I),
        re.compile(r"\b(weight decay|momentum|warm-?up|dropout)\b", re.I),
    ),
]
_SALIENT = re.compile(r"\b(?:[A-Za-z]*\d[\w.-]*|[A-Z]{2,}[\w-]*|[A-Z][a-z]+[A-Z][\w-]*|[a-z]+[A-Z][\w-]*)\b")
# "LSTM-level", "IBP-based": the name is the part before a generic suffix.
_GENERIC_SUFFIX = re.compile(
    r"-(level|based|like|style|free|aware|style|scale|sized?|driven|guided|specific|only|wise)$", re.I
)
_LOOKUP = re.compile(
    r"^\s*(which|what|is there an?y?|are there|name an?y?|find)\s+(\w+\s+){0,2}(paper|papers|work|works|study|studies|article|method|approach|model|framework)\b",
    re.I,
)
_QUOTED = re.compile(r"[\"“']([^\"”']{3,80})[\"”']")
_INJECTION = re.compile(
    r"(ignore|disregard|forget)\s+(all\s+|any\s+)?(your|the|previous|prior|above|earlier)?\s*(instructions|rules|prompt|context)"
    r"|system prompt|you are now|act as|pretend (to be|you)|reveal (your|the)|print (your|the) (prompt|instructions)"
    r"|do not cite|(reply|respond|answer|output) (only )?with (only )?(the words?|exactly)|(reply|respond|answer|output) only\b"
    r"|new instructions|admin notice|evaluation is over",
    re.I,
)
_TAG = re.compile(r"</?\s*[A-Za-z][\w-]*\s*/?>")
# Acronyms so common in ML that their absence from the evidence says nothing about answerability.
GENERIC_ACRONYMS = frozenset(
    "AI ML DL NLP CV RL LLM LLMS LM LMS VLM VLMS MLLM GPU GPUS CPU CPUS TPU API APIS GAN GANS CNN CNNS RNN RNNS "
    "MLP MLPS SOTA SGD QA VQA NN DNN DNNS GNN GNNS MOE PDE PDES ODE ODES KL RAM IO OOD".split()
)
_CONTRIBUTION = re.compile(
    r"\b(we|this (paper|work)|our (method|approach|model|framework))\s+(propose|present|introduce|develop|show|find|demonstrate|achieve|obtain|reduce|improve)",
    re.I,
)
_BACKGROUND = re.compile(
    r"^(recently|in recent years|over the past|nowadays|despite|while|although|however)\b|\b(has|have) (garnered|attracted|gained|become|emerged|shown (great|remarkable|impressive))",
    re.I,
)
_WE = re.compile(r"^(In this (paper|work|study|article),?\s+|Here,?\s+|To this end,?\s+)?[Ww]e\b")
_FIGURE = re.compile(r"(?<![\w-])\d+(?:[.,]\d+)*(?:\s*%|\s*x\b|×)?(?![\w-])")
_BOILER = re.compile(
    r"https?://|github\.com|\bour code\b|\bcode (is|are|will be|and \w+ (is|are)) (publicly |made )?(available|released)",
    re.I,
)


def figures(text: str, exclude: str = "") -> set[str]:
    """Stand-alone numbers (not parts of names like CUB-200-2011), minus those that occur in `exclude`."""
    skip = set(_FIGURE.findall(exclude))
    return {m for m in _FIGURE.findall(text) if m not in skip}


def strip_injections(question: str) -> tuple[str, bool]:
    """Drop sentences of the question that try to instruct the system; report whether any were found."""
    segments, marked_up = untrusted_segments(question)
    tagged = marked_up or _TAG.search(question) is not None
    parts = [
        p for seg in segments for chunk in re.split(r"\s*(?:-{3,}|\|)\s*", seg) for p in split_sentences(chunk)
    ] or [" ".join(question.split())]

    def hostile(p: str) -> bool:
        return bool(_INJECTION.search(p) or SIGNALS.search(p) or ROLE_LABEL.search(p))

    kept = [p for p in parts if not hostile(p)]
    if not kept:  # the instruction shares its sentence with the real question: cut out just the instruction
        kept = [" ".join(SIGNALS.sub(" ", _INJECTION.sub(" ", p)).split()) for p in parts]
        kept = [p for p in kept if len(tokenize(p)) >= 2]
    if len(kept) > 1:  # a stray word left between two instructions ("... this question. PWNED05.") is noise
        kept = [p for p in kept if len(tokenize(p)) >= 2] or kept
    return " ".join(kept).strip(), tagged or len(kept) != len(parts) or any(hostile(p) for p in parts)


def salient_terms(question: str) -> list[str]:
    """Specific names the question asks about: acronyms, CamelCase or digit-bearing tokens, quoted phrases."""
    terms = [m.group(1) for m in _QUOTED.finditer(question)]
    # Capitalised words inside a sentence are proper names ("France", "Llama"); sentence openers are not.
    for m in re.finditer(r"(?<=[a-z,;:] )[A-Z][a-z]{2,}\b", question):
        terms.append(m.group(0))
    first_word = question.split(" ", 1)[0]
    for m in _SALIENT.finditer(question):
        tok = _GENERIC_SUFFIX.sub("", m.group(0).strip(".-"))
        if tok == first_word and not any(c.isdigit() for c in tok) and tok[1:].islower():
            continue
        if tok.upper() in GENERIC_ACRONYMS or tok.upper().rstrip("S") in GENERIC_ACRONYMS:
            continue
        if len(tok) >= 2 and not re.fullmatch(r"\d{1,2}", tok):
            terms.append(tok)
    return list(dict.fromkeys(terms))


def _norm(text: str) -> str:
    return re.sub(r"[^0-9a-z]+", "", text.lower())


def term_present(term: str, text_norm: str, text_tokens: set[str]) -> bool:
    if _norm(term) and _norm(term) in text_norm:
        return True
    toks = tokenize(term)
    return bool(toks) and all(t in text_tokens for t in toks)


@dataclass
class _Sentence:
    rank: int  # 1-based source rank
    index: int  # position in the abstract
    text: str
    lex: float = 0.0
    dense: float = 0.0
    score: float = 0.0
    pick: float = 0.0


def _readable(sentence: str) -> str:
    """Third person for the first-person openings of abstracts ("We propose" -> "The authors propose")."""
    return _WE.sub("The authors", sentence, count=1)


class ExtractiveGenerator:
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

    # ---- scoring ---------------------------------------------------------------------------------------
    def _sentence_vectors(self, texts: list[str]) -> np.ndarray:
        """Sentence embeddings, cached: abstracts do not change while the process runs, and popular papers
        come back question after question. Bounded; cleared wholesale when full."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        if missing:
            if len(self._vectors) + len(missing) > SENTENCE_CACHE:
                self._vectors.clear()
            for t, v in zip(missing, self.embed(missing), strict=True):
                self._vectors[t] = np.asarray(v, dtype=np.float32)
        return np.stack([self._vectors[t] for t in texts])

    def _score(self, question: str, sources: Sequence[Source]) -> list[_Sentence]:
        q_terms = [t for t in dict.fromkeys(tokenize(question)) if t not in _QUESTION_WORDS]
        weights = {t: self.idf(t) for t in q_terms}
        total = sum(weights.values()) or 1.0
        sentences: list[_Sentence] = []
        for s in sources:
            for i, text in enumerate(evidence_sentences(s.text)):
                toks = set(tokenize(text)) | (set(tokenize(s.title)) if i == 0 else set())
                lex = sum(w for t, w in weights.items() if t in toks) / total
                sentences.append(_Sentence(rank=s.rank, index=i, text=text, lex=lex))
        if not sentences:
            return []
        if self.embed is not None:
            by_lex = sorted(
                range(len(sentences)), key=lambda i: (-sentences[i].lex, sentences[i].rank, sentences[i].index)
            )
            chosen = set(by_lex[:DENSE_CANDIDATES])
            # Always consider the opening sentences of the top papers: they state what the paper does.
            chosen |= {i for i, s in enumerate(sentences) if s.rank <= 3 and s.index <= 1}
            idx = sorted(chosen)
            q = np.asarray(
                self.embed_query(question) if self.embed_query else self.embed([question])[0], dtype=np.float32
            )
            vecs = self._sentence_vectors([sentences[i].text for i in idx])
            for i, sim in zip(idx, vecs @ q, strict=True):
                sentences[i].dense = float(sim)
        n = max(s.rank for s in sentences)
        # Papers that contain the specific names the question uses are the ones it is about.
        names = salient_terms(question)
        name_share: dict[int, float] = {}
        for src in sources:
            text = f"{src.title} {src.text}"
            norm, toks = _norm(text), set(tokenize(text))
            name_share[src.rank] = sum(term_present(t, norm, toks) for t in names) / len(names) if names else 0.0
        asks_code = bool(_BOILER.search(question)) or "code" in question.lower()
        for s in sentences:
            s.score = W_DENSE * s.dense + W_LEX * s.lex + W_RANK * (1 - (s.rank - 1) / max(n, 1))
            s.score += W_NAMES * name_share.get(s.rank, 0.0)
            if not asks_code and _BOILER.search(s.text):
                s.score *= 0.5  # "our code is at github..." rarely answers anything
            # Selection (not the refusal threshold) prefers what a paper contributes over its background.
            s.pick = s.score
            if _CONTRIBUTION.search(s.text):
                s.pick += W_CUE
            elif s.index <= 1 and _BACKGROUND.search(s.text):
                s.pick -= W_CUE
        return sentences

    # ---- deciding --------------------------------------------------------------------------------------
    def _refusal_reason(
        self, question: str, sources: Sequence[Source], best: _Sentence, focus: list[_Sentence], focus_ranks: set[int]
    ) -> str | None:
        evidence = " ".join(f"{s.title} {s.text}" for s in sources)
        ev_norm, ev_tokens = _norm(evidence), set(tokenize(evidence))
        missing = [t for t in salient_terms(question) if not term_present(t, ev_norm, ev_tokens)]
        if missing:
            return f"no retrieved abstract mentions {', '.join(missing[:3])}"
        # A detail must be stated by a paper the answer would come from, not by any paper that was retrieved.
        focused = " ".join(f"{s.title} {s.text}" for s in sources if s.rank in focus_ranks)
        for label, asks, needs in _DETAILS:
            if asks.search(question) and not needs.search(focused):
                return f"the relevant abstracts do not state {label}"
        if best.score < MIN_BEST_SCORE or (best.dense < MIN_TOPIC_SIMILARITY and best.lex < MIN_TOPIC_COVERAGE):
            return "no retrieved abstract is about this"
        if (
            _QUANTITY.search(question)
            and not _LOOKUP.search(question)
            and not any(figures(s.text, exclude=question) for s in focus)
        ):
            return "the relevant abstracts give no figure for this"
        return None

    def _select(self, question: str, scored: list[_Sentence]) -> list[_Sentence]:
        by_paper: dict[int, list[_Sentence]] = {}
        for s in sorted(scored, key=lambda s: (-s.pick, s.rank, s.index)):
            by_paper.setdefault(s.rank, []).append(s)
        papers = sorted(by_paper, key=lambda r: -by_paper[r][0].pick)
        top = by_paper[papers[0]][0]
        if _MULTI.search(question):
            picked = [by_paper[r][0] for r in papers if by_paper[r][0].pick >= MULTI_RELATIVE_SCORE * top.pick]
            # one line per paper, in retrieval order, so [1] comes first like the source cards
            return sorted(picked[:MAX_PAPERS_MULTI], key=lambda s: s.rank)
        if _COMPARE.search(question) and len(papers) > 1:
            return sorted([by_paper[papers[0]][0], by_paper[papers[1]][0]], key=lambda s: s.rank)
        picked = [top]
        rest = by_paper[papers[0]][1:]
        if rest and rest[0].pick >= 0.85 * top.pick:
            picked.append(rest[0])
        return sorted(picked, key=lambda s: s.index)

    def _draft(self, question: str, sources: Sequence[Source]) -> Draft:
        cleaned, injected = strip_injections(question)
        if not sources or not cleaned:
            reason = "the question has nothing to look up" if not cleaned else "nothing relevant was retrieved"
            return Draft(text=refusal_text(reason), refused=True, reason=reason, generator=self.name)
        scored = self._score(cleaned, sources)
        if not scored:
            return Draft(text=refusal_text("the retrieved papers have no text"), refused=True, generator=self.name)
        best = max(scored, key=lambda s: s.score)
        focus = sorted((s for s in scored if s.rank == best.rank), key=lambda s: -s.score)[:3]
        paper_best: dict[int, float] = {}
        for s in scored:
            paper_best[s.rank] = max(paper_best.get(s.rank, 0.0), s.score)
        focus_ranks = {
            r
            for r, sc in sorted(paper_best.items(), key=lambda kv: -kv[1])[:FOCUS_PAPERS]
            if sc >= FOCUS_RELATIVE * best.score
        }
        reason = self._refusal_reason(cleaned, sources, best, focus, focus_ranks)
        if reason:
            return Draft(text=refusal_text(reason), refused=True, reason=reason, generator=self.name)
        picked = self._select(cleaned, scored)
        lines: list[str] = []
        supporting: dict[int, str] = {}
        for s in picked:
            body = _readable(s.text).rstrip()
            end = body[-1] if body[-1] in ".!?" else "."
            body = body.rstrip(".!? ")
            lines.append(f"{body} [{s.rank}]{end}")
            supporting.setdefault(s.rank, s.text)
        sep = "\n" if len({s.rank for s in picked}) > 1 else " "
        warning = "instructions inside the question were ignored" if injected else None
        return Draft(text=sep.join(lines), supporting=supporting, warning=warning, generator=self.name)

    def generate(self, question: str, sources: Sequence[Source]) -> Draft:
        return self._draft(question, sources)

    def stream(self, question: str, sources: Sequence[Source]) -> Iterator[str | Draft]:
        draft = self._draft(question, sources)
        for i, line in enumerate(draft.text.split("\n")):
            for j, sentence in enumerate(split_sentences(line) or [line]):
                sep = "" if i == 0 and j == 0 else ("\n" if j == 0 else " ")
                yield sep + sentence
        yield draft
