"""Post-generation checks on every answer: citation markers, per-sentence support, numbers.

- Markers that point at no retrieved paper are removed and reported.
- Each answer sentence is scored against the sentences of the papers it cites: the best of lexical
  recall (share of the sentence's content words found in one cited sentence, stemmed) and embedding
  cosine similarity (only computed when lexical recall alone is not enough).
- Every number in an answer sentence must occur in a cited abstract; otherwise the sentence is unsupported
  whatever its similarity.
- A sentence that says it comes from the paper's record ("... (from the paper's record)", `rag.record`) is checked
  against the cited papers' metadata instead: its names, words and numbers must be in a cited record.
- Abstracts are untrusted text: their markup and any sentence that addresses an assistant ("ignore previous
  instructions", "SYSTEM: ...") are not evidence, so an answer that repeats a planted instruction is unsupported.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from ingest.sentences import split_sentences
from rag.content_terms import content_terms
from rag.intent import Analysis, Intent, asked_share, surface, topic_words, widen
from rag.record import expected_found, field_words, is_record_statement, record_support
from rag.text import numbers as numbers_of
from rag.text import tokenize
from rag.types import AnswerCheck, Grounding, Source
from rag.untrusted import evidence_sentences

if TYPE_CHECKING:
    from rag.generators.base import Quote

CITE = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")
SUPPORT_THRESHOLD = 0.6
# Share of the question's focus words an answer must carry to count as answering it (measured on the dev and tune
# sets: answers judged right by their key facts carried >= 0.4 of them; refusals and wrong papers less).
MIN_FOCUS_COVERAGE = 0.4

Embed = Callable[[list[str]], list[list[float]]]


def normalise_markers(text: str) -> str:
    """`[1, 2]` and `[1;2]` become `[1][2]`."""
    return CITE.sub(lambda m: "".join(f"[{n.strip()}]" for n in re.split(r"[,;]", m.group(1))), text)


def cited_numbers(text: str) -> list[int]:
    """Citation numbers in order of first appearance."""
    seen: list[int] = []
    for m in CITE.finditer(normalise_markers(text)):
        n = int(m.group(1))
        if n not in seen:
            seen.append(n)
    return seen


def remove_invalid_markers(text: str, n_sources: int) -> tuple[str, list[int]]:
    """Drop markers outside 1..n_sources; return the cleaned text and the removed numbers."""
    removed: list[int] = []

    def repl(m: re.Match[str]) -> str:
        n = int(m.group(1))
        if 1 <= n <= n_sources:
            return m.group(0)
        removed.append(n)
        return ""

    cleaned = re.sub(r"\[(\d+)\]", repl, normalise_markers(text))
    cleaned = re.sub(r"\s+([.,;:!?])", r"\1", cleaned)
    return re.sub(r"[ \t]{2,}", " ", cleaned).strip(), removed


def strip_markers(text: str) -> str:
    return re.sub(r"\s*\[\d+\]", "", normalise_markers(text)).strip()


def numbers_in(text: str) -> set[str]:
    """Numbers a text states (`rag.text.numbers`); single digits 0-9 are too common to check."""
    return {n for n in numbers_of(text) if len(n.replace(".", "")) > 1}


def answer_sentences(answer: str) -> list[str]:
    """Answer sentences with their trailing markers kept attached (markers may follow the period). A list item
    cites once, after its label ("- Title [2]: first sentence. Second sentence."): every sentence of the item
    carries the item's markers. A header line ending in ":" with no marker ("3 papers match:") is structure,
    not a claim, and is left out."""
    text = normalise_markers(answer)
    text = re.sub(r"([.!?])((?:\s*\[\d+\])+)", r"\2\1", text)  # "... end. [1]" -> "... end [1]."
    out = []
    for raw in text.splitlines():
        bullet = raw.lstrip().startswith(("- ", "* ", "• "))
        line = raw.strip().lstrip("-*• ").strip()
        if not line or (line.endswith(":") and not CITE.search(line)):
            continue
        marks = "".join(f"[{n}]" for n in dict.fromkeys(re.findall(r"\[(\d+)\]", line)))
        for sentence in _split_outside_quotes(line):
            if bullet and marks and not CITE.search(sentence):
                sentence = f"{sentence.rstrip()} {marks}"
            out.append(sentence)
    return [s for s in out if strip_markers(s)]


_PROTECT = str.maketrans({".": "\u2024", "!": "\u01c3", "?": "\u0294"})
_RESTORE = str.maketrans({"\u2024": ".", "\u01c3": "!", "\u0294": "?"})


def _split_outside_quotes(line: str) -> list[str]:
    """Sentences of a line, never split inside a quoted title (“You are caught stealing my winning lottery ticket!
    Making ...”)."""
    protected = re.sub(r"“[^”]*”", lambda m: m.group(0).translate(_PROTECT), line)
    return [x.translate(_RESTORE) for x in split_sentences(protected)]


def lexical_support(sentence: str, evidence: str) -> float:
    words = set(tokenize(strip_markers(sentence)))
    if not words:
        return 1.0
    return len(words & set(tokenize(evidence))) / len(words)


# Words an extractive line may add to its quote: resolved references and the composer's own phrases.
_ADDED = frozenset(
    tokenize(
        "the authors their them paper method approach model framework stands for is by dated both are about subject of"
    )
)


def is_faithful(text: str, quote: str, names: Sequence[str] = ()) -> bool:
    """Whether an extractive line says no more than its verbatim `quote`: apart from the words a resolution or
    the composer may add (`_ADDED`, the paper's and method's names in `names`), its words occur in the quote,
    in the same order. (Dropping openers and resolving "we/our/this paper" are the only edits allowed.)"""
    from rag.generators.extractive.rewrite import repair

    allowed = set(_ADDED)
    for n in names:
        allowed |= set(tokenize(n))
    quote_words = tokenize(repair(quote))
    pos = 0
    for w in (w for w in tokenize(text) if w not in allowed):
        try:
            pos = quote_words.index(w, pos) + 1
        except ValueError:
            return False
    return True


def _segments(line: str) -> list[str]:
    """The parts of a composed line that each come from one source: "figure — sentence", "Title: gist"."""
    body = strip_markers(line).lstrip("-*• ").strip()
    return [p.strip(" .…") for p in re.split(r"\s+—\s+|:\s+(?=[A-Z])", body) if p.strip(" .…")]


def faithful_lines(quotes: Sequence[Quote], sources: Sequence[Source]) -> dict[str, bool]:
    """For each extractive line (`Draft.quotes`), whether every sentence of every part of it is its cited title
    or a faithful rewrite of one of its verbatim sentences, each of which must be in a cited abstract. A list
    item's label (the text before its first ": ") names the paper and is not a claim."""
    out: dict[str, bool] = {}
    for quote in quotes:
        srcs = [sources[n - 1] for n in quote.cites if 1 <= n <= len(sources)]
        titles = [s.title for s in srcs]
        names = [*titles, *(t.split(":")[0] for t in titles), *quote.names]
        # "Title (M-SMoE)": a name may follow its title when the cited abstract itself introduces it
        introduced = [n for n in quote.names if any(n in s.text for s in srcs)]
        sentences = [q for q in quote.verbatim if any(q in evidence_sentences(s.text) or q in s.text for s in srcs)]
        ok = bool(srcs) and len(sentences) == len(quote.verbatim)
        segments = _segments(quote.text)
        if quote.text.lstrip().startswith("- ") and len(segments) > 1:
            segments = segments[1:]
        for seg in segments:
            for part in (p for piece in split_sentences(seg) or [seg] for p in piece.split("; ")):
                part = part.strip(" .…")
                if not ok or not part:
                    continue
                ok = any(is_faithful(part, t, introduced) for t in titles) or any(
                    is_faithful(part, q, names) for q in sentences
                )
        out[_key(quote.text)] = ok
    return out


def _key(text: str) -> str:
    return " ".join(tokenize(strip_markers(text)))


def ground(
    answer: str,
    sources: Sequence[Source],
    embed: Embed | None = None,
    quotes: Sequence[Quote] = (),
    threshold: float = SUPPORT_THRESHOLD,
) -> Grounding:
    """Score each answer sentence for support by the papers it cites (see the module docstring). `quotes` are
    an extractive draft's lines with their verbatim sentences: a line that is not a faithful rewrite of them
    is unsupported whatever its overlap."""
    scores: list[dict] = []
    pending: list[tuple[int, str, list[str]]] = []
    faithful = faithful_lines(quotes, sources) if quotes else {}
    faithful_of: dict[str, bool | None] = {}  # a quoted line's sentence -> whether its line is faithful
    for quote in quotes:
        for sentence in answer_sentences(quote.text):
            faithful_of[_key(sentence)] = faithful.get(_key(quote.text))
    for sentence in answer_sentences(answer):
        entry, evidence = _score_sentence(sentence, sources, faithful_of.get(_key(sentence)), threshold)
        scores.append(entry)
        if evidence is None:
            continue
        if embed is not None:
            pending.append((len(scores) - 1, entry["sentence"], evidence))
        else:
            entry["reason"] = "low overlap with the cited abstracts"
    if pending and embed is not None:
        _score_by_similarity(scores, pending, embed, threshold)
    unsupported = [e["sentence"] for e in scores if not e["supported"]]
    fraction = 1.0 if not scores else round(1 - len(unsupported) / len(scores), 4)
    return Grounding(supported_fraction=fraction, unsupported_sentences=unsupported, sentence_scores=scores)


def _score_sentence(
    sentence: str, sources: Sequence[Source], faithful: bool | None, threshold: float
) -> tuple[dict, list[str] | None]:
    """One answer sentence's `sentence_scores` entry from its citations, numbers and word overlap, and the cited
    evidence sentences when overlap alone fell short (only embedding similarity can still support it; None once
    decided). `faithful`: whether the extractive line it belongs to is faithful (None: not from a quoted line)."""
    cited = [n for n in cited_numbers(sentence) if 1 <= n <= len(sources)]
    bare = strip_markers(sentence)
    entry = {"sentence": bare, "cited": cited, "score": 0.0, "supported": False, "best_evidence": None}
    if not cited:
        entry["reason"] = "no citation"
        return entry, None
    if is_record_statement(bare):
        # "... (from the paper's record)": checked against the cited papers' metadata, not their abstracts
        ok, records = record_support(bare, [sources[n - 1] for n in cited])
        entry.update(score=1.0 if ok else 0.0, supported=ok, best_evidence=records)
        if not ok:
            entry["reason"] = "not what the cited papers' records say"
        return entry, None
    # Only what the abstracts state is evidence: not their markup, not an instruction planted in them.
    # A title is evidence too (a list bullet names its paper).
    evidence = [s for n in cited for s in (sources[n - 1].title, *evidence_sentences(sources[n - 1].text))]
    missing = sorted(numbers_in(bare) - numbers_in(" ".join(evidence)))
    if not evidence:
        entry["reason"] = "the cited abstracts state nothing"
        return entry, None
    lex = [lexical_support(bare, e) for e in evidence]
    best = int(np.argmax(lex))
    entry["score"], entry["best_evidence"] = round(lex[best], 3), evidence[best]
    if missing:
        entry["reason"] = f"numbers not in the cited abstracts: {', '.join(missing)}"
    elif faithful is False:
        entry["reason"] = "not a faithful rewrite of the quoted abstract sentence"
    elif faithful:
        # an extractive line checked against its verbatim sentences: openers dropped and references resolved
        # only, so it is supported whatever its word overlap with any single sentence
        entry["supported"] = True
        entry["score"] = max(entry["score"], 1.0 if lex[best] >= threshold else entry["score"])
    elif lex[best] >= threshold:
        entry["supported"] = True
    else:
        return entry, evidence
    return entry, None


def _score_by_similarity(
    scores: list[dict], pending: list[tuple[int, str, list[str]]], embed: Embed, threshold: float
) -> None:
    """Settle the `pending` entries of `scores` (index, sentence, evidence) by embedding cosine similarity, all in
    one `embed` call: the better of it and the lexical score decides."""
    texts = [bare for _, bare, _ in pending] + [e for _, _, ev in pending for e in ev]
    vecs = np.asarray(embed(texts), dtype=np.float32)
    q, offset = vecs[: len(pending)], len(pending)
    for i, (idx, _, evidence) in enumerate(pending):
        ev = vecs[offset : offset + len(evidence)]
        offset += len(evidence)
        sims = ev @ q[i]
        best = int(np.argmax(sims))
        entry = scores[idx]
        if float(sims[best]) > entry["score"]:
            entry["score"], entry["best_evidence"] = round(float(sims[best]), 3), evidence[best]
        entry["supported"] = entry["score"] >= threshold
        if not entry["supported"]:
            entry["reason"] = "low similarity to the cited abstracts"


def supported_only(answer: str, grounding: Grounding) -> tuple[str, int]:
    """`answer` without the sentences `grounding` (computed on it, or on it renumbered) found unsupported; a list
    item none of whose sentences is left goes whole, header lines stay. Returns the text and how many sentences
    were left out. Sentences are matched by their words, so marker numbering does not matter."""
    bad = {_key(e["sentence"]) for e in grounding.sentence_scores if not e.get("supported")}
    if not bad:
        return answer, 0
    text = re.sub(r"([.!?])((?:\s*\[\d+\])+)", r"\2\1", normalise_markers(answer))  # as `answer_sentences` reads it
    lines, dropped = [], 0
    for raw in text.splitlines():
        prefix = re.match(r"\s*(?:[-*•]\s+)?", raw).group(0)  # type: ignore[union-attr]
        body = raw[len(prefix) :].strip()
        if not body or (body.endswith(":") and not CITE.search(body)):
            lines.append(raw)
            continue
        marks = "".join(f"[{n}]" for n in dict.fromkeys(re.findall(r"\[(\d+)\]", body)))
        kept = []
        for sentence in _split_outside_quotes(body):
            # a list item's sentences carry the item's markers when checked (see `answer_sentences`)
            checked = sentence if not prefix.strip() or CITE.search(sentence) else f"{sentence} {marks}"
            if _key(strip_markers(checked)) in bad:
                dropped += 1
            else:
                kept.append(sentence)
        if kept:
            lines.append(prefix + " ".join(kept))
    return "\n".join(lines).strip(), dropped


def renumber(text: str, sources: Sequence[Source]) -> tuple[str, list[Source], dict[int, int]]:
    """Citations numbered 1, 2, 3 in order of first appearance: markers rewritten, the cited sources moved to the
    front in that order (their `rank` set to their new number), the others after them in their retrieval order.
    Returns (text, sources, old number -> new number)."""
    order = cited_numbers(text)
    order = [n for n in order if 1 <= n <= len(sources)]
    rest = [n for n in range(1, len(sources) + 1) if n not in order]
    mapping = {old: new for new, old in enumerate([*order, *rest], start=1)}
    if all(old == new for old, new in mapping.items()):
        return text, list(sources), mapping
    new_text = re.sub(
        r"\[(\d+)\]", lambda m: f"[{mapping.get(int(m.group(1)), int(m.group(1)))}]", normalise_markers(text)
    )
    reordered = [
        sources[old - 1].model_copy(update={"rank": new}) for old, new in sorted(mapping.items(), key=lambda kv: kv[1])
    ]
    return new_text, reordered, mapping


def answer_check(analysis: Analysis | None, text: str, refused: bool, cited: Sequence[Source] = ()) -> AnswerCheck:
    """Whether the answer carries what was asked (`AnswerCheck`): the question's names (in the answer or the
    titles it cites), most of its focus words, and the kind of answer its intent expects (a figure, a definition,
    a list of papers, points on two papers ...). For a lookup ("which paper ..."), the words are looked for in
    the cited paper itself: a description is answered by a paper that fits it, not by repeating it. Different
    from grounding: a fully supported quote can still miss the question."""
    if analysis is None:
        return AnswerCheck(answers=None, expected=None, confidence="unknown")
    if refused:
        return AnswerCheck(answers=False, expected=analysis.expected, found_expected=False, confidence="none")
    body = strip_markers(text)
    titles = " ".join(s.title for s in cited)
    shown = f"{body} {titles}"
    words = widen(set(tokenize(shown)))
    n_cited = len(cited)
    names_missing = [
        n
        for n in analysis.names
        if n.lower().replace(" ", "") not in shown.lower().replace(" ", "") and not set(tokenize(n)) <= words
    ]
    intent = analysis.intent
    asked = topic_words(analysis) if intent in (Intent.LIST, Intent.SUMMARY) else analysis.focus
    # content words only: not the question's generic verbs ("handle", "evaluated") nor fragments ("s")
    focus = content_terms(analysis.question, asked, keep=analysis.asked)
    focus = [t for t in focus if not any(t in tokenize(n) for n in analysis.names)]
    if is_record_statement(body):  # "who wrote X" / "when was X published" answered from the record
        focus = [t for t in focus if t not in field_words(analysis.question)]
    if intent in (Intent.LOOKUP, Intent.ABOUT):
        words |= {t for s in cited for t in tokenize(s.text)}
    # an asked attribute said another way counts ("how much faster" is answered by "1.31x throughput")
    said = {t for g in analysis.asked_groups if asked_share([g], body, words) for t in g}
    covered = [t for t in focus if t in words or t in said]
    coverage = len(covered) / len(focus) if focus else 1.0
    q_numbers = set(numbers_of(analysis.question))
    if intent == Intent.QUANTITY:
        found = any(n not in q_numbers for n in numbers_of(body))
    elif intent == Intent.DEFINITION:
        # the thing defined is named in the answer or in the title it cites
        found = n_cited >= 1 and ("stands for" in body or coverage >= MIN_FOCUS_COVERAGE or not names_missing)
    elif intent in (Intent.LIST, Intent.SUMMARY):
        found = n_cited >= 2 or (n_cited == 1 and "(1 found)" not in body)
    elif intent == Intent.METADATA:
        found = n_cited >= 1 and expected_found(analysis.question, body)
    elif intent == Intent.COMPARE:
        found = n_cited >= 2
        coverage = max(coverage, 0.5) if found else coverage  # the papers compared are what a comparison needs
    else:
        found = n_cited >= 1
    missing = [t for t in focus if t not in words and t not in said]
    answers = found and not names_missing and coverage >= MIN_FOCUS_COVERAGE
    confidence = "high" if answers and coverage >= 0.7 else "medium" if answers else "low"
    return AnswerCheck(
        answers=answers,
        expected=analysis.expected,
        found_expected=found,
        missing_names=names_missing,
        focus_coverage=round(coverage, 3),
        missing_terms=surface(analysis.question, missing, 8).split(),
        confidence=confidence,
    )
