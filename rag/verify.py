"""Post-generation checks on every answer: citation markers, per-sentence support, numbers.

- Markers that point at no retrieved paper are removed and reported.
- Each answer sentence is scored against the sentences of the papers it cites: the best of lexical
  recall (share of the sentence's content words found in one cited sentence, stemmed) and embedding
  cosine similarity (only computed when lexical recall alone is not enough).
- Every number in an answer sentence must occur in a cited abstract; otherwise the sentence is unsupported
  whatever its similarity.
- Abstracts are untrusted text: their markup and any sentence that addresses an assistant ("ignore previous
  instructions", "SYSTEM: ...") are not evidence, so an answer that repeats a planted instruction is unsupported.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np

from ingest.sentences import split_sentences
from rag.index.sparse import tokenize
from rag.types import Grounding, Source

CITE = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")
_NUMBER = re.compile(r"(?<![\w.])(\d+(?:[.,]\d+)*)(?:\s*%|\b)")
SUPPORT_THRESHOLD = 0.6

# Untrusted text (abstracts, questions) is data. Markup is never content: what sits inside fence-like tags or
# a chat-template turn is dropped whole, other markup becomes a sentence break, and zero-width characters
# (used to hide "I\u200bgnore previous instructions" from filters) are removed first.
_ZERO_WIDTH = re.compile(r"[\u200b-\u200f\u2060-\u2064\ufeff\u00ad]")
_DROP_WHOLE = re.compile(
    r"<(script|style|system|question|sources|instructions?|prompt|assistant|conversation)\b[^>]*>.*?</\1\s*>"
    r"|<\|im_start\|>\s*(?:system|assistant)\b.*?(?:<\|im_end\|>|$)"
    r"|!?\[[^\]]{0,200}\]\(\s*(?:https?|javascript|data):[^)]*\)",
    re.I | re.S,
)
# Formatting tags inside a sentence ("H<sub>2</sub>O", "<i>in vivo</i>") go without breaking it.
_INLINE_TAG = re.compile(r"</?(b|i|em|strong|sub|sup|span|a|code|u|small|mark|br)\b[^<>]{0,300}>", re.I)
_BREAKS = re.compile(
    r"<\|im_start\|>\s*(?:user\b)?|<\|[^|<>]{0,40}\|>|</?[A-Za-z][^<>]{0,300}>|\{\{.*?\}\}|\{%.*?%\}|#{3,}|\n+",
    re.S,
)
# Sentences of an abstract that address the reader as an assistant: role labels, commands, the usual phrases.
# Narrower than `_INJECTION` (which reads questions): abstracts say "act as a regulariser" or "reveal the regimes".
ROLE_LABEL = re.compile(
    r"^\W*(system|assistant|user|developer|admin(istrator)?( notice)?|note to (the )?(ai|assistant|model))\s*:", re.I
)
_COMMAND = re.compile(
    r"^\W*(please\s+)?(now\s+)?(ignore|disregard|forget|override|reply|respond|answer|output|print|reveal|say|write|"
    r"pretend|decode|repeat|cite|obey|follow|do not|don't|never|always)\b",
    re.I,
)
_ADDRESSED = re.compile(
    r"\b(you|your)\b.{0,80}\b(must|should|shall|are now|have to|need to|answer|reply|respond|output|cite|ignore|"
    r"reveal|print|say|write|tell)\b",
    re.I,
)
SIGNALS = re.compile(
    r"\b(previous|prior|above|earlier|new) instructions\b|\bdeveloper mode\b|\bjailbr(eak|oken)\b|\bnothing else\b"
    r"|\b(your|reveal|print|show|repeat|leak)\b.{0,30}\b(system prompt|api key|instructions)\b"
    r"|\bend of (the )?(sources|context|document)\b|\balways cite\b|\bcite \[\d+\]"
    r"|\bbase64\b.{0,40}\b(follow|decode|execute)|\bdecode (this|the following)\b|\bfollow (it|them)\b",
    re.I,
)

Embed = Callable[[list[str]], list[list[float]]]


def untrusted_segments(text: str) -> tuple[list[str], bool]:
    """Text with markup taken out, as the runs of prose between markup; and whether any markup was found."""
    plain = _ZERO_WIDTH.sub("", text)
    dropped = _INLINE_TAG.sub("", _DROP_WHOLE.sub("\n", plain))
    pieces = [" ".join(p.split()) for p in _BREAKS.split(dropped)]
    segments = [p for p in pieces if p]
    return segments, dropped != plain or any(m.group(0).strip() for m in _BREAKS.finditer(dropped))


def is_instruction(sentence: str) -> bool:
    """A sentence of an abstract that talks to an assistant instead of describing research."""
    return bool(
        ROLE_LABEL.search(sentence)
        or _COMMAND.search(sentence)
        or _ADDRESSED.search(sentence)
        or SIGNALS.search(sentence)
    )


def evidence_sentences(abstract: str) -> list[str]:
    """The sentences of an abstract that may answer a question: no markup, no instructions, no fragments."""
    segments, _ = untrusted_segments(abstract)
    out = []
    for segment in segments:
        for sentence in split_sentences(segment):
            if len(tokenize(sentence)) >= 2 and not is_instruction(sentence):
                out.append(sentence)
    return out


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
        # Only what the abstracts state is evidence: not their markup, not an instruction planted in them.
        evidence = [s for n in cited for s in evidence_sentences(sources[n - 1].text)]
        abstracts = " ".join(evidence)
        missing = sorted(numbers_in(bare) - numbers_in(abstracts))
        if not evidence:
            entry["reason"] = "the cited abstracts state nothing"
            continue
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
