"""Matching papers on their metadata: date expressions (ISO dates, years, ranges, a dump's "Mar 11") and author
names ("Jane Doe", "Doe", "J. Doe"). Pure functions; `rag.retrieval.SearchFilter` uses them."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_ISO = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")
_MONTH_DAY = re.compile(r"^([a-z]{3})[a-z]*\.?(?:\s+(\d{1,2}))?(?:,?\s+(\d{4}))?$")
_NAME_SPLIT = re.compile(r"[\W_]+")


@lru_cache(maxsize=256)
def date_spec(text: str) -> tuple[str, ...]:
    """A date filter as typed -> a normal form:

    - `("iso", "2024-03")` for `2024`, `2024-03`, `2024-03-11`, or `Mar 11, 2024` (-> `2024-03-11`);
    - `("range", "2023", "2024-06")` for `2023..2024-06` (either end may be left open: `2023..`);
    - `("month", "03", "11")` for `Mar 11` / `March 11` / `mar` (day ""): that day in any year, or a dump's
      listing date, which has no year;
    - `("prefix", text)` for anything else: the shown date starts with it (case-insensitive).
    """
    t = " ".join(text.strip().lower().split())
    if ".." in t:
        lo, _, hi = (part.strip() for part in t.partition(".."))
        if all(not part or _ISO.match(part) for part in (lo, hi)) and (lo or hi):
            return ("range", lo, hi)
    if _ISO.match(t):
        return ("iso", t)
    m = _MONTH_DAY.match(t)
    if m and m.group(1) in MONTHS:
        month = f"{MONTHS.index(m.group(1)) + 1:02d}"
        day = f"{int(m.group(2)):02d}" if m.group(2) else ""
        if m.group(3):
            return ("iso", f"{m.group(3)}-{month}" + (f"-{day}" if day else ""))
        return ("month", month, day)
    return ("prefix", t)


def _listed_month_day(listed: str) -> tuple[str, str] | None:
    spec = date_spec(listed)
    return (spec[1], spec[2]) if spec[0] == "month" else None


def date_matches(spec_text: str, date: str | None, listed: Iterable[str] = ()) -> bool:
    """Whether a paper with this `date` (ISO, or a dump's "Mar 11") and these listing dates matches the filter.

    ISO filters and ranges compare ISO dates at the filter's precision (a paper dated only `2024` is not in
    `2024-03`); "Mar 11" matches that month and day in any year and the dumps' listing dates."""
    spec = date_spec(spec_text)
    iso = date if date and _ISO.match(date) else None
    shown = [d.lower() for d in (date, *listed) if d]
    kind = spec[0]
    if kind == "iso":
        return bool(iso) and iso.startswith(spec[1])
    if kind == "range":
        lo, hi = spec[1], spec[2]
        return bool(iso) and (not lo or iso[: len(lo)] >= lo) and (not hi or iso[: len(hi)] <= hi)
    if kind == "month":
        month, day = spec[1], spec[2]
        if iso and len(iso) >= 7 and iso[5:7] == month and (not day or iso[8:10] == day):
            return True
        days = [_listed_month_day(d) for d in (date, *listed) if d and not _ISO.match(d)]
        return any(md is not None and md[0] == month and (not day or md[1] == day) for md in days)
    return any(d.startswith(spec[1]) for d in shown)


@lru_cache(maxsize=65_536)
def name_tokens(name: str) -> tuple[str, ...]:
    """`"Zoë  O'Brien-Smith"` -> `("zoe", "o", "brien", "smith")`: accents, case and punctuation ignored."""
    decomposed = unicodedata.normalize("NFKD", name)
    folded = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return tuple(t for t in _NAME_SPLIT.split(folded) if t)


def _token_matches(asked: str, have: str) -> bool:
    # An initial on either side ("J. Doe" in the record, or asked for) matches a name starting with it.
    return asked == have or (len(have) == 1 and asked[0] == have) or (len(asked) == 1 and have[0] == asked)


def author_matches(asked: str, author: str) -> bool:
    """Whether one author name answers to what was asked: the last asked word is a whole word of the name (the
    surname), the first one a word of it or its initial, and any middle ones are there when the record has
    them. "Doe", "Jane Doe", "J. Doe" and "Jane Q. Doe" find "Jane Doe"; "Jan Doe" does not, nor "Li" "Lin"."""
    want, have = name_tokens(asked), name_tokens(author)
    if not want or not have or want[-1] not in have:
        return False
    if len(want) > 1 and not any(_token_matches(want[0], h) for h in have):
        return False
    if len(have) <= 2:  # the record gives no middle names: asked ones cannot contradict it
        return True
    return all(any(_token_matches(w, h) for h in have) for w in want[1:-1])


def any_author_matches(asked: str, authors: Iterable[str]) -> bool:
    return any(author_matches(asked, a) for a in authors)


def unmatchable(papers: Iterable[Any], author: str | None = None, date: str | None = None) -> list[str]:
    """Why an author or date filter cannot match any of `papers` (`PaperMeta`-like: `authors`, `date`, `listed`,
    `source_labels`) whatever the query: the collection records no authors, or no year for a year filter (a Daily
    Papers dump gives only the day it listed a paper, "Mar 11", which a filter can use instead). One sentence per
    filter, [] when both can match. Said where a search finds nothing, so that an empty result is not read as
    "no such paper"."""
    papers = list(papers)
    dumps = any(str(label).startswith("Daily Papers") for p in papers for label in p.source_labels)
    out = []
    if author and not any(p.authors for p in papers):
        why = " (Daily Papers page dumps give none)" if dumps else ""
        out.append(f"no paper in this collection records its authors{why}, so the author filter matches nothing")
    if date:
        kind = date_spec(date)[0]
        dated = any(p.date and _ISO.match(p.date) for p in papers)
        days = sorted({d for p in papers for d in (p.date, *p.listed) if d and not _ISO.match(d)})
        if kind in ("iso", "range") and not dated:
            instead = f"; filter on a listing day such as “{days[0]}” instead" if days else ""
            out.append(f"no paper in this collection records a year{instead}")
        elif kind == "month" and not dated and not days:
            out.append("no paper in this collection records a date")
    return out
