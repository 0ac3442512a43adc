"""Post-generation checks on every answer: citation markers, per-sentence support, numbers.

- Markers that point at no retrieved paper are removed and reported.
- Each answer sentence is scored against the sentences of the papers it cites: the best of lexical
  recall (share of the sentence's content words found in one cited sentence, stemmed) and embedding
  cosine similarity (only computed when lexical recall alone is not enough).
- Every number in an answer sentence must occur in a cited abstract; otherwise the sentence is unsupported
  whatever its similarity.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np

from ingest.sentences import split_sentences
from rag.bm25 import tokenize
from rag.types import Grounding, Source

CITE = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")
_NUMBER = re.compile(r"(?<![\w.])(\d+(?:[.,]\d+)*)(?:\s*%|\b)")
SUPPORT_THRESHOLD = 0.6

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
    """Numbers as written, without thousands separators; single digits 0-9 are too common to check."""
    out = set()
    for m in _NUMBER.finditer(text):
        n = m.group(1).replace(",", "")
        if len(n) > 1:
            out.add(n)
    return out


def answer_sentences(answer: str) -> list[str]:
    """Answer sentences with their trailing markers kept attached (markers may follow the period)."""
    text = normalise_markers(answer)
    text = re.sub(r"([.!?])((?:\s*\[\d+\])+)", r"\2\1", text)  # "... end. [1]" -> "... end [1]."
    out = []
    for line in text.splitlines():
        out.extend(split_sentences(line.strip().lstrip("-*• ").strip()))
    return [s for s in out if strip_markers(s)]


def lexical_support(sentence: str, evidence: str) -> float:
    words = set(tokenize(strip_markers(sentence)))
    if not words:
        return 1.0
    return len(words & set(tokenize(evidence))) / len(words)


def ground(
    answer: str, sources: Sequence[Source], embed: Embed | None = None, threshold: float = SUPPORT_THRESHOLD
) -> Grounding:
    """Score each answer sentence for support by the papers it cites (see the module docstring)."""
    scores: list[dict] = []
    pending: list[tuple[int, str, list[str]]] = []
    for sentence in answer_sentences(answer):
        cited = [n for n in cited_numbers(sentence) if 1 <= n <= len(sources)]
        bare = strip_markers(sentence)
        entry = {"sentence": bare, "cited": cited, "score": 0.0, "supported": False, "best_evidence": None}
        scores.append(entry)
        if not cited:
            entry["reason"] = "no citation"
            continue
        abstracts = " ".join(sources[n - 1].text for n in cited)
        missing = sorted(numbers_in(bare) - numbers_in(abstracts))
        evidence = [s for n in cited for s in split_sentences(sources[n - 1].text)] or [abstracts]
        lex = [lexical_support(bare, e) for e in evidence]
        best = int(np.argmax(lex))
        entry["score"], entry["best_evidence"] = round(lex[best], 3), evidence[best]
        if missing:
            entry["reason"] = f"numbers not in the cited abstracts: {', '.join(missing)}"
            continue
        if lex[best] >= threshold:
            entry["supported"] = True
        elif embed is not None:
            pending.append((len(scores) - 1, bare, evidence))
        else:
            entry["reason"] = "low overlap with the cited abstracts"
    if pending and embed is not None:
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
    unsupported = [e["sentence"] for e in scores if not e["supported"]]
    fraction = 1.0 if not scores else round(1 - len(unsupported) / len(scores), 4)
    return Grounding(supported_fraction=fraction, unsupported_sentences=unsupported, sentence_scores=scores)
