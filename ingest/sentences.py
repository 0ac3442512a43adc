"""Sentence splitting for abstracts: used by chunking, the extractive answerer and the grounding check."""

from __future__ import annotations

import re

# Abbreviations after which a period does not end a sentence.
_ABBREV = (
    "e.g", "i.e", "et al", "etc", "vs", "v.s", "w.r.t", "a.k.a", "fig", "figs", "eq", "eqs", "sec", "cf", "approx",
    "resp", "no", "ref",
)  # fmt: skip
_BOUNDARY = re.compile(r"(?<=[.!?])[\"')\]]?\s+(?=[\"'(\[]?[A-Z0-9])")


def split_sentences(text: str) -> list[str]:
    """Split text into sentences, keeping abbreviations and decimals intact."""
    text = text.strip()
    if not text:
        return []
    out: list[str] = []
    start = 0
    for m in _BOUNDARY.finditer(text):
        candidate = text[start : m.start()].rstrip()
        last_word = candidate.rsplit(" ", 1)[-1].rstrip(".").lower()
        if last_word in _ABBREV or (len(last_word) == 1 and last_word.isalpha()):
            continue
        if candidate.count("(") > candidate.count(")") and 0 <= text.find(")", m.end()) < m.end() + 120:
            continue  # "(10 v.s. 2000 steps)": inside brackets that close soon, no sentence ends
        out.append(text[start : m.end()].strip())
        start = m.end()
    tail = text[start:].strip()
    if tail:
        out.append(tail)
    return out
