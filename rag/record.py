"""Answers from a paper's record (the metadata the index keeps: authors, date, identifiers) rather than its abstract.

"Who wrote Tidepool?" and "What year was Tidepool published?" are about the paper, not in its abstract. When the
question names a retrieved paper and its record has the field asked for, the answer is one sentence that cites
the paper and says where it comes from ("“Tidepool …” [1] was published in 2024 (from the paper's record)");
when the record lacks it (the bundled Daily Papers dumps give no authors and no year), the refusal says so.
The grounding check (`rag.verify.ground`) verifies such a sentence against the cited papers' records, never
their abstracts (`record_support`): each of its words and numbers must be in a cited record.
The chain drafts these answers in its retrieve step (`rag.chain.AnswerPipeline.retrieve`), for every generator.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rag.text import numbers, tokenize
from rag.types import Source

if TYPE_CHECKING:
    from rag.generators.base import Draft
    from rag.intent import Analysis

RECORD_NOTE = "(from the paper's record)"
_NOTE = re.compile(r"\(from the paper['’]s record\)", re.I)

# What a question asks of a paper's record. Venues and affiliations are asked too, and no record keeps them.
_ASKS = (
    (
        "authors",
        re.compile(
            r"\bwho\s+(?:wrote|authored|co-?authored|are\s+the\s+authors|is\s+the\s+author|were\s+the\s+authors)\b"
            r"|\b(?:the\s+)?(?:first\s+|last\s+)?authors?\s+(?:of|behind)\b|\bwritten\s+by\s+whom\b|\bwho\s+is\s+behind\b",
            re.I,
        ),
    ),
    (
        "date",
        re.compile(
            r"\b(?:what|which|in\s+what)\s+(?:year|month|date)\b|\bwhen\s+(?:was|were|did|is)\b.{0,120}"
            r"\b(?:published|released|submitted|posted|appear|appeared|come\s+out|out)\b"
            r"|\bpublication\s+(?:date|year)\b|\brelease\s+date\b|\bhow\s+(?:old|recent)\s+is\b",
            re.I,
        ),
    ),
    (
        "venue",
        re.compile(
            r"\b(?:what|which|in\s+what|at\s+what|at\s+which)\s+(?:venue|conference|journal|workshop|proceedings)\b"
            r"|\bwhere\s+(?:was|were)\b.{0,120}\b(?:published|presented|accepted)\b",
            re.I,
        ),
    ),
    ("affiliation", re.compile(r"\baffiliations?\b|\bwhich\s+(?:lab|labs|university|institution|company)\b", re.I)),
)
# Words of a record question that name the field asked, not the paper.
_FIELD_WORDS = frozenset(
    tokenize(
        "year month date day when published publish publication released release submitted posted appear appeared "
        "come out wrote write written authored author authors first last behind whom who venue conference journal "
        "workshop proceedings presented accepted affiliation affiliations lab university institution company old recent"
    )
)
# The words a record sentence adds around the record's own values.
_PHRASING = frozenset(tokenize("from paper's record was is by and et al others more first author of published in on"))
_MONTHS = "January February March April May June July August September October November December".split()
_ISO = re.compile(r"^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?$")
_YEAR = re.compile(r"\b(?:19|20)\d\d\b")
_VENUE_NAMES = re.compile(
    r"\b(?:NeurIPS|NIPS|ICML|ICLR|CVPR|ICCV|ECCV|ACL|EMNLP|NAACL|AAAI|IJCAI|KDD|SIGIR|ICASSP|Interspeech|COLT|AISTATS|"
    r"UAI|TMLR|JMLR|TPAMI|CoRL|RSS|ICRA|IROS|MICCAI|Nature|Science)\b|\b(?:conference|journal|workshop)\b"
)
_ORGS = re.compile(r"\b(?:university|institute|laborator(?:y|ies)|lab|inc\.|corporation|research center)\b", re.I)
MAX_AUTHORS_SAID = 10


def asked_field(question: str) -> str | None:
    """The record field a question asks about one paper: "authors", "date", "venue", "affiliation", or None."""
    for name, pattern in _ASKS:
        if pattern.search(question):
            return name
    return None


def is_record_statement(sentence: str) -> bool:
    """Whether an answer sentence says it comes from the paper's record (`RECORD_NOTE`)."""
    return bool(_NOTE.search(sentence))


def spelled_date(date: str | None) -> str | None:
    """An ISO date as a sentence says it: "2024", "March 2024", "8 March 2024"; None for no date or a listing
    day without a year ("Mar 11")."""
    m = _ISO.match(date or "")
    if m is None:
        return None
    year, month, day = m.groups()
    if not month or not 1 <= int(month) <= 12:
        return year
    name = _MONTHS[int(month) - 1]
    return f"{int(day)} {name} {year}" if day else f"{name} {year}"


def record_text(source: Source) -> str:
    """What a paper's record states, as text the grounding check reads: title, authors, date (ISO and spelled
    out), year, arXiv id and DOI."""
    parts = [source.title]
    if source.authors:
        parts.append("authors: " + "; ".join(source.authors))
    if source.date:
        parts.append(f"date: {source.date}" + (f" ({spelled_date(source.date)})" if spelled_date(source.date) else ""))
    if source.year:
        parts.append(f"year: {source.year}")
    if source.arxiv_id:
        parts.append(f"arXiv: {source.arxiv_id}")
    if source.doi:
        parts.append(f"DOI: {source.doi}")
    return "; ".join(parts)


def record_support(sentence: str, cited: Sequence[Source]) -> tuple[bool, str]:
    """Whether a record sentence states only what the cited papers' records hold: every word besides the
    sentence's phrasing (`_PHRASING`) and every number is in one of them. Returns (supported, the records read)."""
    records = " | ".join(record_text(s) for s in cited)
    bare = re.sub(r"\s*\[\d+\]", "", _NOTE.sub("", sentence))
    words = set(tokenize(bare)) - _PHRASING
    stated = {n for n in numbers(bare) if len(n) > 1}
    ok = bool(cited) and words <= set(tokenize(records)) and stated <= set(numbers(records))
    return ok, records


def expected_found(question: str, body: str) -> bool:
    """Whether an answer to a record question carries the kind of value asked: a year or date for "when", names
    for "who". Questions about other fields, or that are not record questions, ask nothing special."""
    asked = asked_field(question)
    if asked == "date":
        return bool(_YEAR.search(body)) or any(m in body for m in _MONTHS)
    if asked == "authors":
        return is_record_statement(body) or bool(re.search(r"\bby\b|\bauthors?\b", body))
    return True


def field_words(question: str) -> set[str]:
    """The stemmed words of a record question that name the field asked (they need not recur in its answer)."""
    return set(_FIELD_WORDS) if asked_field(question) else set()


def named_paper(analysis: Analysis, sources: Sequence[Source], referred: int = 0) -> int | None:
    """The index in `sources` of the paper a record question is about: the best-ranked paper whose title carries
    most of the question's names ("Tidepool", a quoted title); else the one whose title covers at least two thirds
    of the question's other words (a single word only when one title has it); else, for a follow-up that referred
    to one paper ("who wrote it?", `referred` = 1, that paper first in `sources`), that paper; None otherwise."""
    best: tuple[int, int] | None = None
    for i, s in enumerate(sources):
        title, title_words = s.title.lower(), set(tokenize(s.title))
        hits = sum(1 for n in analysis.names if n.lower() in title or (tokenize(n) and set(tokenize(n)) <= title_words))
        if hits and (best is None or hits > best[0]):
            best = (hits, i)
    if best is not None:
        return best[1]
    topic = [t for t in analysis.focus if t not in _FIELD_WORDS and len(t) > 1]
    covers = [sum(t in set(tokenize(s.title)) for t in topic) / len(topic) if topic else 0.0 for s in sources]
    share = max(covers, default=0.0)
    if share >= 2 / 3 and (len(topic) >= 2 or covers.count(share) == 1):
        return covers.index(share)
    return 0 if referred == 1 and sources else None


def answer_from_record(analysis: Analysis | None, sources: Sequence[Source], referred: int = 0) -> Draft | None:
    """For a question asking one paper's authors, date, venue or affiliation: the answer from the record of the
    paper it names (cited as its position in `sources`, from 1), or a refusal saying the record lacks it; None for
    any other question, when no retrieved paper is named, or when the record lacks the field but the abstract
    may state it (a year, a venue, an institution), which the generator then reads. `referred`: how many papers
    at the front of `sources` a follow-up referred to (see `named_paper`)."""
    if analysis is None or not sources:
        return None
    asked = asked_field(analysis.question)
    if asked is None:
        return None
    i = named_paper(analysis, sources, referred)
    if i is None:
        return None
    answer = {"authors": _authors, "date": _date}.get(asked, _unrecorded)
    return answer(analysis.question, sources[i], i + 1)


def _authors(question: str, src: Source, n: int) -> Draft:
    title = f"“{src.title}”"
    if not src.authors:
        return _refusal(f"the collection records no authors for {title}")
    if re.search(r"\bfirst\s+author\b", question, re.I):
        return _said(f"The first author of {title} [{n}] is {src.authors[0]} {RECORD_NOTE}.", n, src)
    return _said(f"{title} [{n}] is by {_names(src.authors)} {RECORD_NOTE}.", n, src)


def _date(question: str, src: Source, n: int) -> Draft | None:
    title = f"“{src.title}”"
    when = spelled_date(src.date) or (str(src.year) if src.year else None)
    if when:
        on = "on" if when[0].isdigit() and " " in when else "in"
        return _said(f"{title} [{n}] was published {on} {when} {RECORD_NOTE}.", n, src)
    if _YEAR.search(src.text):
        return None  # the abstract may say when: the generator reads it
    if src.date:  # a Daily Papers listing day, without a year
        return _refusal(
            f"the collection records no publication date for {title}: its record gives only the day Daily "
            f"Papers listed it ({src.date}), without a year, and its abstract states none"
        )
    return _refusal(f"the collection records no publication date for {title}, and its abstract states none")


def _unrecorded(question: str, src: Source, n: int) -> Draft | None:
    """Venues and affiliations: no record keeps them; refused unless the abstract may name one."""
    title = f"“{src.title}”"
    if asked_field(question) == "venue":
        if _VENUE_NAMES.search(src.text):
            return None
        return _refusal(
            f"the collection does not record where papers were published, and the abstract of {title} names no venue"
        )
    if _ORGS.search(src.text):
        return None
    return _refusal(f"the collection does not record the authors' affiliations, and the abstract of {title} names none")


def _names(authors: Sequence[str]) -> str:
    shown = list(authors[:MAX_AUTHORS_SAID])
    if len(authors) > len(shown):
        return ", ".join(shown) + f" and {len(authors) - len(shown)} more"
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + f" and {shown[-1]}"


def _said(text: str, n: int, src: Source) -> Draft:
    from rag.generators.base import Draft  # lazily: the generators import the verifier, which imports this module

    return Draft(text=text, supporting={n: record_text(src)})


def _refusal(reason: str) -> Draft:
    from rag.generators.base import Draft, refusal_text

    return Draft(text=refusal_text(reason), refused=True, reason=reason)


def support_basis(sentence_scores: Sequence[dict]) -> str:
    """What an answer's sentences were checked against (`Grounding.sentence_scores`): "the cited abstracts",
    "the cited papers' records" (record statements only) or "the cited abstracts and records"."""
    kinds = {is_record_statement(str(e.get("sentence", ""))) for e in sentence_scores}
    if kinds == {True}:
        return "the cited papers' records"
    return "the cited abstracts and records" if kinds == {True, False} else "the cited abstracts"
