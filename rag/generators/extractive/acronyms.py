"""Acronym expansions: "Repeated Sampling of Random Subsets (RS2)" -> RS2's expansion, from a sentence or a
title's subtitle, by the initials of the words before the parenthesis (exactly, or loosely when a word such as
"PDE" gives a letter twice)."""

from __future__ import annotations

import re

_SMALL = frozenset(("of", "for", "and", "in", "the", "with", "on", "to", "via", "a", "an", "by", "from"))


def _initials(words: list[str], small: bool = False) -> str:
    """Initials as acronyms are made: each capitalised part of a word ("Pseudo-Label" -> "pl"), small words
    skipped; with `small`, every part counts ("Once-for-All" -> "ofa")."""
    out = ""
    for w in words:
        if w.lower() in _SMALL and not small:
            continue
        parts = [p for p in re.split(r"-", w) if p]
        if small:
            out += "".join(p[0].lower() for p in parts)
        else:
            out += "".join(p[0].lower() for p in parts if p[0].isupper()) or w[0].lower()
    return out


def expansion(name: str, text: str) -> str | None:
    """ "Repeated Sampling of Random Subsets (RS2)" -> "Repeated Sampling of Random Subsets", and
    "DADAO: Decoupled Accelerated ..." -> the words after the colon, when their initials spell the acronym's
    letters (the shortest such run of words before the parenthesis)."""
    candidates: list[list[str]] = []
    aliases = [name]
    m = re.search(
        rf"([A-Za-z][\w-]*(?:\s+[A-Za-z][\w-]*){{0,10}}?)\s*\(([^()]{{0,40}}\b{re.escape(name)}\b[^()]{{0,20}})\)", text
    )
    if m:
        words = m.group(1).split()
        candidates = [words[i:] for i in range(len(words) - 1, -1, -1)]
        aliases = [a.strip() for a in re.split(r",|;|\bor\b|\band\b", m.group(2)) if a.strip()]
    m = re.match(rf"\s*{re.escape(name)}\s*:\s*([^.]+)", text)
    if m:
        words = m.group(1).split()
        candidates += [words[:j] for j in range(1, len(words) + 1)]
        # "SMOTE: Synthetic Minority Over-sampling Technique": a subtitle whose capitals spell most of the name
        caps = "".join(c.lower() for w in words[:6] for c in w if c.isupper())
        letters_all = "".join(c.lower() for c in name if c.isalpha())
        if len(words) <= 6 and len(caps) >= 3 and letters_all.startswith(caps) and len(caps) >= 0.75 * len(letters_all):
            return " ".join(words)
    # the alias with the most letters first: "(RSRS or RS2)" is spelt by "Repeated Sampling of Random Subsets"
    for alias in sorted(aliases, key=lambda a: -sum(c.isalpha() for c in a)):
        letters = "".join(c.lower() for c in alias if c.isalpha())
        if len(letters) < 2:
            continue
        for cand in candidates:
            if letters in (_initials(cand), _initials(cand, small=True)):
                return " ".join(cand).strip(",;:")
        for cand in candidates:  # "Channel Attention mechanism guided by PDE Parameter Embeddings (CAPE)"
            if _spells_loosely(letters, cand):
                return " ".join(cand).strip(",;:")
    return None


def _spells_loosely(letters: str, words: list[str]) -> bool:
    """Whether the capitalised words' initials contain the acronym's letters in order, starting and ending on its
    first and last letter, with at most one capitalised word to spare ("PDE Parameter" gives one P too many)."""
    caps = [w[0].lower() for w in words if w[:1].isupper()]
    if len(letters) < 3 or not caps or caps[0] != letters[0] or caps[-1] != letters[-1] or words[0][:1].islower():
        return False
    if len(caps) > len(letters) + 1:
        return False
    it = iter(caps)
    return all(c in it for c in letters)
