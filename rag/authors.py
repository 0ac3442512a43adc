"""Questions about an author ("papers by Jane Doe", "what did Jane Doe publish?"): the name is read from the
question and looked up in the collection's author metadata, retrieval is restricted to that author's papers, and
the answer lists them from the metadata, or refuses saying why (the collection records no authors, or none by
that name). Called by the chain's retrieve step (`AnswerPipeline.retrieve`); the answer is a generator `Draft`,
so it is verified and numbered like any other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from ingest.sentences import split_sentences
from rag.generators.base import Draft, Quote, refusal_text
from rag.intent import QUESTION_WORDS
from rag.paper_filters import author_matches
from rag.retrieval import SearchFilter
from rag.text import STOPWORDS, counted, tokenize
from rag.types import Source

# What introduces an author's name in a question; the name is what follows (or sits between) these.
_TRIGGERS = (
    re.compile(
        r"\b(?:papers?|works?|articles?|publications?|preprints?|research)\s+"
        r"(?:(?:written|authored|co-?authored|published)\s+)?by\s+(?P<name>.+)",
        re.I,
    ),
    re.compile(r"\b(?:written|authored|co-?authored)\s+by\s+(?P<name>.+)", re.I),
    re.compile(r"\bwhat\s+(?:did|has|have)\s+(?P<name>.+?)\s+(?:publish|published|write|written)\b", re.I),
    re.compile(r"\b(?:which|what)\s+papers?\s+(?:did|has|have)\s+(?P<name>.+?)\s+(?:publish|write|author)", re.I),
)
# Words that end a name in "papers by Jane Doe on diffusion".
_NAME_END = re.compile(
    r"\s+(?:on|about|in|from|since|during|that|which|with|regarding|related|concerning|before|after|for|published|"
    r"and\s+(?:what|which|how))\b|[?!,;:]|(?<!\b[A-Z])\.|\s+$",
    re.I,
)
MAX_NAME_WORDS = 5
MAX_LISTED = 10
# Words of an author question that are not its topic ("what has X published / written / co-authored").
_AUTHOR_WORDS = frozenset(
    tokenize("published publish written wrote write authored coauthored co-authored publications preprints research by")
)
_OWN_WORK = re.compile(r"\b(we|our|this (paper|work|study|article))\b", re.I)


@dataclass
class AuthorAnswer:
    """The author as the collection writes the name (or as asked, when the collection has no such author), the
    papers retrieval is restricted to (ranked, as sources) and the answer drafted from the metadata."""

    author: str
    sources: list[Source]
    draft: Draft


def asked_author(question: str) -> str | None:
    """The words naming an author in a question ("papers by Jane Doe on X?" -> "Jane Doe"), or None when the
    question does not ask for someone's papers. A lower-case start ("papers by the same authors") is no name."""
    for pattern in _TRIGGERS:
        m = pattern.search(question)
        if m is None:
            continue
        tail = m.group("name").strip()
        cut = _NAME_END.search(tail)
        name = (tail[: cut.start()] if cut else tail).strip(" '\"‘’“”")
        name = re.sub(r"['’]s$|\s+et\s+al$", "", name)
        words = name.split()
        if words and len(words) <= MAX_NAME_WORDS and words[0][:1].isupper():
            return " ".join(words)
    return None


def _resolve(asked: str, authors: set[str]) -> str | None:
    """The collection's spelling of the asked name: the longest run of its first words (two at least, when
    more were asked) that names an author ("Jane Doe Transformers" -> "Jane Doe"); None when nobody answers."""
    words = asked.split()
    for n in range(len(words), min(2, len(words)) - 1, -1):
        prefix = " ".join(words[:n])
        found = sorted(a for a in authors if author_matches(prefix, a))
        if found:
            return found[0] if len(found) == 1 else prefix
    return None


def _gist(text: str) -> str:
    """The sentence saying what the paper does (the first "we ..." sentence), else the first one."""
    sentences = split_sentences(text)
    return next((s for s in sentences if _OWN_WORK.search(s)), sentences[0] if sentences else "")


def answer_author_question(
    index: Any, retriever: Any, question: str, filters: SearchFilter | None = None
) -> AuthorAnswer | None:
    """For a question asking for an author's papers: that author's papers, ranked for the question by a search
    restricted to them (all of them when the search ranks fewer), and an answer listing them; a refusal when the
    collection records no authors, or none by that name. None for any other question."""
    asked = asked_author(question)
    if asked is None:
        return None
    papers = index.snapshot().papers
    authors = {a for p in papers.values() for a in p.authors}
    if not authors:
        reason = f"the collection records no authors, so it cannot tell which papers are by {asked}"
        return AuthorAnswer(asked, [], Draft(refusal_text(reason), refused=True, reason=reason))
    name = _resolve(asked, authors)
    within = replace(filters or SearchFilter(), author=name or asked)
    theirs = [pid for pid, p in papers.items() if within.matches(p)]
    if name is None or not theirs:
        who = name or asked
        reason = f"no paper in the collection lists {who} among its authors"
        return AuthorAnswer(who, [], Draft(refusal_text(reason), refused=True, reason=reason))
    newest = sorted(theirs, key=lambda pid: (_date_key(papers[pid].date), papers[pid].title), reverse=True)
    topical = _has_topic(question, f"{asked} {name}")
    ranked = [s.paper_id for s in retriever.search(question, k=len(theirs), filters=within)] if topical else []
    order = [*ranked, *(pid for pid in newest if pid not in ranked)]
    sources = index.as_sources(order[:MAX_LISTED])
    return AuthorAnswer(name, sources, _listing(name, sources, len(theirs), topical))


def _date_key(date: str | None) -> str:
    return date if date and date[:4].isdigit() else ""  # ISO dates sort; undated (or "Mar 11") last


def _has_topic(question: str, names: str) -> bool:
    """Whether the question asks about something besides the author ("papers by X on diffusion")."""
    asked = set(tokenize(question)) - set(tokenize(names)) - QUESTION_WORDS - STOPWORDS
    return bool(asked - _AUTHOR_WORDS)


def _listing(name: str, sources: list[Source], total: int, topical: bool) -> Draft:
    """A header naming the author, then one bullet per paper: its title and the sentence saying what it does,
    verbatim (so the grounding check finds it in the abstract it cites). Papers come most relevant first when
    the question has a topic, else newest first."""
    n = len(sources)
    head = f"{name} is an author of {counted(total, 'paper')} in the collection"
    order = "most relevant to the question first" if topical else "newest first"
    lines = [head + (f" ({order}):" if n == total else f"; the first {n}, {order}:")]
    supporting, quotes = {}, []
    for i, s in enumerate(sources, start=1):
        gist = _gist(s.text)
        supporting[i] = gist
        lines.append(f"- “{s.title}” [{i}]: {gist}")
        # the line quotes its paper's sentence verbatim: grounding checks it as a quote, not by word overlap
        # (which a long title beside a short sentence can fail)
        quotes.append(Quote(lines[-1], [i], [gist] if gist else [], [s.title]))
    more = total - n
    note = f"{counted(more, 'more paper')} by {name}; search with the author filter." if more else None
    return Draft("\n".join(lines), supporting=supporting, note=note, quotes=quotes)
