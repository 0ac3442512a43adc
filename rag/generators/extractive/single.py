"""Answers about one paper, shaped by the intent (see `rag.intent.Intent`):

- quantity: the figure and its unit first ("200B tokens — ..."), then the sentence that states it;
- definition: an acronym's expansion, the "X is / we propose X, a ..." sentence, or what the paper that
  introduces X says it does;
- lookup / about: the paper's title with its contribution sentence (and its main result);
- how / entity / fact: the best sentences of the paper the question is about.
"""

from __future__ import annotations

import re

from rag.generators.extractive.acronyms import expansion
from rag.generators.extractive.compose import (
    _OWN_WORK,
    _PROPOSE,
    ANAPHORA,
    PROBLEM,
    SINGLE_WORDS,
    Line,
    _text,
    contribution,
    figure_phrases,
    result_sentence,
    scored_figure_phrases,
)
from rag.generators.extractive.evidence import _HOW_CUE, Paper, Sentence, name_present, norm
from rag.generators.extractive.refuse import figure_sentences, qualitative
from rag.generators.extractive.rewrite import lower_first, repair, rewrite
from rag.intent import Analysis, Intent, surface
from rag.text import tokenize

W_RETRIEVAL = 0.25  # the fused retrieval score's say in which paper a one-paper question is about


def focus_paper(analysis: Analysis, papers: list[Paper]) -> Paper:
    """The paper a one-paper question is about: the one carrying the question's names (preferring the one that
    introduces them in its title or as a new name), then the best evidence and retrieval rank."""

    top = max((p.source.score for p in papers), default=0.0) or 1.0

    def key(p: Paper) -> float:
        best = p.best()
        s = (
            (best.score if best else 0.0)
            + 0.15 * p.coverage
            + 0.10 * p.title_coverage
            + W_RETRIEVAL * p.source.score / top
        )
        if analysis.names:
            s += 0.40 * len(p.names_found) / len(analysis.names) + 0.10 * p.introduces_name
            # the paper whose own name it is ("S4" is the S4 paper's method, not just mentioned by SGConv's)
            own = {norm(x) for x in (p.method, p.short) if x}
            s += 0.45 * any(norm(n) in own for n in analysis.names)
        return s

    return max(papers, key=key)


def _one_paper(paper: Paper, picked: list[Sentence], lead: str | None = None) -> list[Line]:
    lines = []
    for i, s in enumerate(picked):
        text = _text(paper, s)
        if i == 0 and lead:
            text = f"{lead} — {lower_first(text, (paper.method, paper.short))}"
        # the lead's figures may come from any picked sentence: the first line quotes them all
        lines.append(Line(text, [paper.n], [x.text for x in picked] if i == 0 and lead else [s.text]))
    return lines


def _second(
    paper: Paper, first: Sentence, analysis: Analysis, pool: list[Sentence] | None = None, budget: int = SINGLE_WORDS
) -> Sentence | None:
    """A second sentence when the first leaves some of the question uncovered and the budget allows."""
    if first.words > budget - 15:
        return None
    need = (set(analysis.focus) | set(analysis.asked)) - first.tokens - set(tokenize(paper.source.title))
    if not need:
        return None
    cands = [
        s
        for s in (pool or paper.sentences)
        if s is not first and s.tokens & need and s.words + first.words <= budget + 10
    ]
    if not cands:
        return None
    best = max(cands, key=lambda s: (len(s.tokens & need), s.score))
    return best if best.score >= 0.6 * first.score else None


# ---- per intent -------------------------------------------------------------------------------------------
def quantity(analysis: Analysis, paper: Paper) -> list[Line]:
    """The figure(s) first, then the sentence(s) stating them; a second sentence when the question asks for
    several things (two asked attributes, "... and how much ...") that the first does not hold."""
    figs = sorted(figure_sentences(analysis, paper), key=lambda s: -s.score)
    if not figs:  # answered in words (see `refuse.qualitative`), and said so
        words = sorted(qualitative(analysis, paper), key=lambda s: -s.score)[:1]
        what = surface(analysis.question, analysis.asked) or "this"
        head = Line(f"The abstract gives no figure for {what}; it says:", [], kind="header")
        return [head, *_one_paper(paper, words)]
    first = figs[0]
    picked = [first]
    several = (
        len(analysis.asked_groups) > 1
        or re.search(
            r"\b(and|also)\s+((with|in|at|for|on|by|after)\s+)?(how|what|which)\b|,\s*(how|what)\b",
            analysis.question,
            re.I,
        )
        is not None
    )
    listed = re.search(r"\b\w+,\s+[\w -]+,?\s+and\s+\w+|\b(each|respectively|both)\b", analysis.question, re.I)
    budget = SINGLE_WORDS + (25 if several else 0)
    second = _second(paper, first, analysis, [s for s in paper.sentences if s.figures], budget)
    if second:
        picked.append(second)
    picked.sort(key=lambda s: s.index)
    keys = set(analysis.asked) | set(analysis.focus)
    limit = 3 if several or listed else 1
    # the lead's figure is the one whose clause says most of what was asked, whichever picked sentence holds it
    # ("how much does AdcSR reduce inference time": "73% in inference time", not the other sentence's "9.3x")
    scored = (
        [
            (score, i, j, p)
            for i, s in enumerate(picked)
            if s is first or s.asked or s.figures
            for j, (score, p) in enumerate(scored_figure_phrases(repair(s.text), keys, limit))
        ]
        if limit == 1
        else []
    )
    if scored:
        phrases = [min(scored, key=lambda f: (-f[0], picked[f[1]] is not first, f[1], f[2]))[3]]
    else:  # several figures asked (or none found that way): each sentence's own, in the sentences' order
        phrases = [p for s in picked if s is first or s.asked for p in figure_phrases(repair(s.text), keys, limit)]
    lead = "; ".join(list(dict.fromkeys(phrases))[:limit]) if phrases else None
    return _one_paper(paper, picked, lead)


def _head(name: str) -> str:
    """ "hyperfitting phenomenon" -> "hyperfitting": a subject without its generic noun."""
    words = [w for w in name.split() if w.lower() not in _GENERIC_NOUNS]
    return " ".join(words) or name


_GENERIC_NOUNS = frozenset("phenomenon method approach model framework technique algorithm idea effect".split())


def _subject(analysis: Analysis) -> list[str]:
    """What a "what is X" question asks about when X is not a name ("the lottery ticket hypothesis")."""
    m = re.match(
        r"^\s*(?:what(?:'s| is| are)|define|explain)\s+(?:an?\s+|the\s+)?(.+?)\s*\??\s*$", analysis.question, re.I
    )
    return [m.group(1)] if m and 1 <= len(m.group(1).split()) <= 6 else []


def definition(analysis: Analysis, paper: Paper) -> list[Line]:
    """An acronym's expansion (from the title or a sentence); else the sentence that defines the name; else, for
    the paper that introduces it, what that paper says it does; else the sentence that best uses the name."""
    names = [n for n in analysis.names if n in paper.names_found] or analysis.names or _subject(analysis)
    lines = _expanded(analysis, paper, names)
    if lines:
        return lines
    best = _defining(paper, names)
    if best is None:
        introduced = _introduced(analysis, paper, names)
        if introduced:
            return introduced
        best = max(paper.sentences, key=lambda s: (s.names, s.score - 0.2 * bool(ANAPHORA.search(s.text))))
    picked = [best]
    after = [x for x in paper.sentences if x.index == best.index + 1]
    alias = re.findall(r"\(([A-Z][\w-]*)\)", best.text)  # "(ECBMs)": the short name the next sentence uses
    if after and _only_names(best.text, names) and _continues(after[0].text, names + alias):
        # "... the authors propose ECBMs." says nothing yet: what follows does ("Their ECBMs use ...")
        picked.append(after[0])
    else:
        second = _second(paper, best, analysis)
        if second and second.index > best.index and not ANAPHORA.search(second.text):
            picked.append(second)
    return _one_paper(paper, picked)


def _continues(text: str, names: list[str]) -> bool:
    """Whether a sentence goes on about the thing just named: it names it or opens with a reference to it."""
    opens = re.match(r"\s*(it|they|their|its|our|this (method|model|approach|framework|algorithm))\b", text, re.I)
    return bool(opens) or any(re.search(rf"(?<![\w-]){re.escape(n)}", text, re.I) for n in names if n)


def _only_names(text: str, names: list[str]) -> bool:
    """Whether a sentence ends on the name it introduces ("we propose Energy-based Concept Bottleneck Models
    (ECBMs).", "... algorithm: ShampoO with Adam in the Preconditioner's eigenbasis (SOAP)."), so that what the
    thing is comes in the next sentence."""
    body = text.rstrip(" .;:")
    paren = re.search(r"\(([^()]*)\)$", body)
    tail = body[: paren.start()].rstrip().lower() if paren else body.lower()
    wanted = {n.lower() for n in names if n} | {_head(n).lower() for n in names if n}
    if paren and paren.group(1).strip().lower().rstrip("s") in {w.rstrip("s") for w in wanted}:
        return True
    return any(tail.endswith(w) or tail.endswith(w + "s") for w in wanted) or bool(
        re.search(r"\b(propose|introduce|present)\w*\s+([\w-]+\s+){0,6}\([A-Z][\w-]*\)$", body)
    )


def _expanded(analysis: Analysis, paper: Paper, names: list[str]) -> list[Line]:
    """ "RS2 stands for Repeated Sampling of Random Subsets", from the title or the sentence that spells it out
    (followed by that sentence unless the question only asked what it stands for)."""
    for name in names:
        exp = expansion(name, paper.source.title)
        if exp:
            return [Line(f"{name} stands for {exp}", [paper.n], [])]
        for s in paper.sentences:
            exp = expansion(name, s.text)
            if exp:
                lines = [Line(f"{name} stands for {exp}", [paper.n], [s.text])]
                if "stand" not in analysis.question.lower() and s.words <= SINGLE_WORDS:
                    lines.append(Line(_text(paper, s), [paper.n], [s.text]))
                return lines
    return []


def _defining(paper: Paper, names: list[str]) -> Sentence | None:
    """The sentence that defines a name, strongest form first: "we propose X, a ...", "X, a ...", "X is a ...",
    "... called X", "<expansion> (X)"; then weaker ones ("X is trained on ...", "X refers to ..."). Among equals the
    best-scoring, one that leans on an earlier sentence ("This insight leads to ...") a little behind. A sentence
    that only names X at the end of a sentence about something else ("... we address these with X") is none."""
    best: tuple[int, float, Sentence] | None = None
    for s in paper.sentences:
        for name in names:
            strength = _definition_strength(s.text, name)
            if strength:
                key = (strength, s.score - 0.2 * bool(ANAPHORA.search(s.text)), s)
                if best is None or key[:2] > best[:2]:
                    best = key
    return best[2] if best else None


def _definition_strength(text: str, name: str) -> int:
    """2 for a sentence that says what `name` is (an apposition, "is a", "proposes X", "... (X)"), 1 for one that
    says something about it in definition form ("X is equivalent to ...", "X refers to ..."), 0 otherwise."""
    n = rf"(?<![\w-])(?i:{re.escape(name)})"
    strong = (
        rf"{n}s?\s*(\([^)]*\)\s*)?(,\s*(a|an|the|which)\b|\s+(is|are)\s+(a|an|the|one|two)\b|:)",
        rf"\b(propose|present|introduce|call|term|name|articulate|refer(?:red)? to as|dub)\w*\b[^.]{{0,60}}(?<![\w-]){re.escape(_head(name))}",
        rf"\b[A-Z][\w'-]*(\s+[\w'-]+){{1,9}}\s+\(\s*{n}\s*\)",
    )
    if any(re.search(p, text, re.I if i < 2 else 0) for i, p in enumerate(strong)):
        return 2
    weak = rf"{n}s?\s*(\([^)]*\)\s*)?\s+(is|are|refers to|denotes|means|states|says|posits)\b"
    return 1 if re.search(weak, text, re.I) else 0


def _introduced(analysis: Analysis, paper: Paper, names: list[str]) -> list[Line]:
    """The paper that introduces X says what X is by what it does: its title, then its best own-work sentence."""
    label = norm(f"{paper.label} {paper.method or ''}")
    if not any(name_present(n, label, set(tokenize(paper.source.title))) for n in names):
        return []
    own = [s for s in paper.sentences if _OWN_WORK.search(s.text) and not ANAPHORA.search(s.text)]
    pick = max(own, key=lambda s: (s.score + 0.1 * bool(_PROPOSE.search(s.text)), -s.index), default=None)
    if pick is None:
        return []
    m = re.match(r"^\s*what(?:'s| is| are)\s+(?:an?\s+|the\s+)?(.+?)\s*\??\s*$", analysis.question, re.I)
    name = m.group(1) if m and len(m.group(1).split()) <= 5 else " ".join(names)
    name = name[:1].upper() + name[1:]
    text = lower_first(_text(paper, pick), (paper.method, paper.short))
    return [Line(f"{name} is the subject of “{paper.source.title}” — {text}", [paper.n], [pick.text])]


def single(analysis: Analysis, paper: Paper) -> list[Line]:
    """how / entity / fact: the best sentence, and a second one when it covers what the first left out. A "how
    does X work" question wants the mechanism: sentences that say how (by, via, uses, consists of ...) from the
    paper's own work, not its results or the problem it starts from."""
    key = (lambda s: s.score + mechanism(s)) if analysis.intent == Intent.HOW else (lambda s: s.score)
    ranked = sorted(paper.sentences, key=key, reverse=True)
    first = next((s for s in ranked if not rewrite(s.text).dangling), ranked[0])
    picked = [first]
    pool = ranked if analysis.intent == Intent.HOW else None
    second = (
        _second(paper, first, analysis, pool) if analysis.intent != Intent.HOW else _mechanism_second(first, ranked)
    )
    if second:
        picked.append(second)
    picked.sort(key=lambda s: s.index)
    return _one_paper(paper, picked)


def mechanism(s: Sentence) -> float:
    """How much a sentence says how a method works: a mechanism cue in the paper's own words counts for, a result
    (a figure) or the problem statement against."""
    bonus = 0.0
    if _HOW_CUE.search(s.text):
        bonus += 0.12
    if _OWN_WORK.search(s.text):
        bonus += 0.06
    if s.figures:
        bonus -= 0.12
    if PROBLEM.search(s.text) or (s.index == 0 and not _OWN_WORK.search(s.text)):
        bonus -= 0.15
    if ANAPHORA.search(s.text) or s.text.rstrip().endswith("?"):
        bonus -= 0.10
    return bonus


def _mechanism_second(first: Sentence, ranked: list[Sentence]) -> Sentence | None:
    """A second mechanism sentence, when one is nearly as good and the two fit the budget."""
    for s in ranked[1:4]:
        if (
            s is not first
            and mechanism(s) > 0
            and first.words + s.words <= SINGLE_WORDS + 10
            and not rewrite(s.text).dangling
        ):
            return s
    return None


def lookup(analysis: Analysis, paper: Paper) -> list[Line]:
    """The paper's title with its contribution sentence, and the sentence that best matches the description
    when that is another one and the budget allows."""
    title = paper.source.title
    contrib = contribution(paper, analysis)
    ranked = sorted(paper.sentences, key=lambda s: -s.score)
    first = contrib or (ranked[0] if ranked else None)
    if first is None:
        return [Line(f"“{title}”", [paper.n])]
    lines = [Line(f"“{title}” — {_text(paper, first)}", [paper.n], [first.text])]
    budget = SINGLE_WORDS + 10 - len(title.split()) - first.words
    extra = next((s for s in ranked if s is not first and s.words <= budget and not rewrite(s.text).dangling), None)
    if extra is not None and extra.score >= 0.8 * (ranked[0].score if ranked else 0):
        lines.append(Line(_text(paper, extra), [paper.n], [extra.text]))
    return lines


def about(analysis: Analysis, paper: Paper) -> list[Line]:
    """What the paper does and, when it reports one, its main result."""
    contrib = contribution(paper, analysis)
    lines = (
        lookup(analysis, paper)
        if contrib is None
        else [Line(f"“{paper.source.title}” — {_text(paper, contrib)}", [paper.n], [contrib.text])]
    )
    used = {q for line in lines for q in line.quotes}
    result = result_sentence(paper, used)
    if result is not None and sum(len(line.text.split()) for line in lines) + result.words <= SINGLE_WORDS + 20:
        lines.append(Line(_text(paper, result), [paper.n], [result.text]))
    return lines
