"""Field values as sources write them -> the project's terms: names, ISO dates, arXiv ids, DOIs, categories."""

from __future__ import annotations

import email.utils
import re
from collections.abc import Iterable, Mapping
from typing import Any

from ingest.records import clean_text

# What exports put where an abstract is missing (Scopus writes "[No abstract available]").
PLACEHOLDER_ABSTRACTS = {
    "",
    "n/a",
    "na",
    "none",
    "null",
    "no abstract",
    "no abstract available",
    "abstract not available",
}

_NEW_ARXIV = r"\d{4}\.\d{4,5}"
_OLD_ARXIV = r"[a-z][a-z\-]*(?:\.[A-Za-z]{2})?/\d{7}"
_ARXIV = re.compile(
    rf"^(?:arxiv:|https?://(?:www\.)?(?:export\.)?arxiv\.org/(?:abs|pdf)/)?({_NEW_ARXIV}|{_OLD_ARXIV})(?:v\d+)?(?:\.pdf)?$",
    re.IGNORECASE,
)
# arXiv's own DataCite DOIs name the arXiv id, not a publisher's version.
_ARXIV_DOI = re.compile(rf"^10\.48550/arxiv\.({_NEW_ARXIV}|{_OLD_ARXIV})$", re.IGNORECASE)
_DOI = re.compile(r"^(?:doi:\s*|https?://(?:dx\.)?doi\.org/)?(10\.\d{4,9}/\S+)$", re.IGNORECASE)
MONTHS = {m: i for i, m in enumerate(("jan feb mar apr may jun jul aug sep oct nov dec").split(), start=1)}
_MONTH = r"(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
_DATE_FORMS = [
    (re.compile(r"^(\d{4})(?:[-/.](\d{1,2})(?:[-/.](\d{1,2}))?)?(?:[T /].*)?$"), ("y", "m", "d")),
    (re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$"), ("m", "d", "y")),  # US order, as Zotero writes "6/12/2017"
    (re.compile(rf"^(\d{{1,2}}) {_MONTH},? (\d{{4}})$", re.IGNORECASE), ("d", "M", "y")),
    (re.compile(rf"^{_MONTH} (\d{{1,2}}),? (\d{{4}})$", re.IGNORECASE), ("M", "d", "y")),
    (re.compile(rf"^{_MONTH},? (\d{{4}})$", re.IGNORECASE), ("M", "y")),
    (re.compile(rf"^(\d{{4}}),? {_MONTH}$", re.IGNORECASE), ("y", "M")),
]


def text_of(value: Any) -> str | None:
    """A scalar as clean text (numbers as written: a year 2024 -> "2024"); None for empty or non-scalar values."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return str(int(value)) if float(value).is_integer() else str(value)
    if isinstance(value, str):
        return clean_text(value) or None
    return None


def lookup(record: Mapping[str, Any], path: str) -> Any:
    """`paper.title` -> record["paper"]["title"]; `authors[].name` -> [a["name"] for a in record["authors"]];
    `versions[0].created` -> the first element's field. Missing steps give None."""
    if "." not in path and "[" not in path:  # the common case, kept cheap: it runs ~15 times per record
        return record.get(path) if isinstance(record, Mapping) else None
    value: Any = record
    for step in path.split("."):
        if value is None:
            return None
        if step.endswith("[]"):
            items = value.get(step[:-2]) if isinstance(value, Mapping) else None
            return list(items) if isinstance(items, list) else None
        m = re.fullmatch(r"(.+)\[(-?\d+)\]", step)
        if m:
            items = value.get(m.group(1)) if isinstance(value, Mapping) else None
            try:
                value = items[int(m.group(2))] if isinstance(items, list) else None
            except IndexError:
                value = None
            continue
        value = value.get(step) if isinstance(value, Mapping) else None
    return value


def has_path(record: Mapping[str, Any], path: str) -> bool:
    """Whether the record has the field at all (even null or empty): a null abstract is a record to skip,
    a missing abstract column is a shape we do not know."""
    head, _, rest = path.partition(".")
    key = head.split("[")[0]
    if not isinstance(record, Mapping) or key not in record:
        return False
    if not rest:
        return True
    inner = record[key]
    if isinstance(inner, list):
        inner = inner[0] if inner else None
    return inner is None or has_path(inner, rest)


def _one_name(value: Any) -> str | None:
    if isinstance(value, Mapping):
        value = value.get("name") or " ".join(str(value[k]) for k in ("given", "family") if value.get(k))
    if isinstance(value, (list, tuple)):  # arXiv's authors_parsed: [last, first, suffix]
        parts = [str(p).strip() for p in value if isinstance(p, str) and p.strip()]
        value = " ".join([parts[1], parts[0], *parts[2:]]) if len(parts) >= 2 else parts[0] if parts else None
    name = text_of(value)
    if not name:
        return None
    if name.count(",") == 1:  # "Vaswani, Ashish" -> "Ashish Vaswani"
        last, first = (p.strip() for p in name.split(","))
        name = f"{first} {last}".strip() if first and last else (first or last)
    return name


def author_names(value: Any) -> tuple[str, ...]:
    """Names from a list (of strings, {"name": ...} objects, or [last, first] pairs) or from one string.

    A string is split on ";" when it has one (Zotero, Scopus, Web of Science: "Vaswani, Ashish; Shazeer, Noam"),
    else on " and " and "," ("A. Vaswani, N. Shazeer and N. Parmar", arXiv's `authors`), except a lone
    "Last, First" (one comma after a one-word surname). Each "Last, First" becomes "First Last".
    """
    if isinstance(value, (list, tuple)):
        names = [_one_name(v) for v in value]
    elif isinstance(value, str):
        text = clean_text(value)
        if ";" in text:
            parts = text.split(";")
        elif text.count(",") == 1 and " " not in text.split(",")[0].strip() and " and " not in text:
            parts = [text]  # one "Last, First" (Zotero's single author), not two names
        else:
            parts = [p for chunk in re.split(r",? and ", text) for p in chunk.split(",")]
        names = [_one_name(p) for p in parts]
    else:
        names = [_one_name(value)]
    return tuple(dict.fromkeys(n for n in names if n))


def iso_date(value: Any) -> str | None:
    """An ISO 8601 date with the precision the value has: "2017-06-12", "2017-06" or "2017"; None if unreadable.

    Reads ISO dates and timestamps, "2017/06/12", "6/12/2017", "12 June 2017", "Jun 12, 2017", "June 2017",
    and RFC 2822 ("Mon, 2 Apr 2007 19:18:42 GMT", arXiv's version dates). A month-day without a year
    ("Mar 11") is not a date here: no year is ever guessed.
    """
    text = text_of(value)
    if not text:
        return None
    for pattern, order in _DATE_FORMS:
        m = pattern.match(text)
        if not m:
            continue
        parts = dict(zip(order, m.groups(), strict=True))
        year = int(parts["y"])
        month = MONTHS[parts["M"][:3].lower()] if parts.get("M") else int(parts["m"]) if parts.get("m") else None
        day = int(parts["d"]) if parts.get("d") else None
        return _iso(year, month, day)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return _iso(when.year, when.month, when.day)


def _iso(year: int, month: int | None, day: int | None) -> str | None:
    if not 1000 <= year <= 2999:
        return None
    if month is None or not 1 <= month <= 12:
        return f"{year:04d}"
    if day is None or not 1 <= day <= 31:
        return f"{year:04d}-{month:02d}"
    return f"{year:04d}-{month:02d}-{day:02d}"


def month_number(value: Any) -> int | None:
    """BibTeX and RIS months: "jun", "June", "6" -> 6."""
    text = (text_of(value) or "").lower()
    if text.isdigit():
        return int(text) if 1 <= int(text) <= 12 else None
    return MONTHS.get(text[:3])


def arxiv_id(value: Any) -> str | None:
    """ "arXiv:2401.01234v2", "https://arxiv.org/abs/2401.01234", "hep-th/9901001" -> the id without version."""
    text = text_of(value)
    if not text:
        return None
    m = _ARXIV.match(text) or _ARXIV_DOI.match(text)
    return m.group(1) if m else None


def doi(value: Any) -> str | None:
    """ "https://doi.org/10.1145/X" or "doi:10.1145/X" -> "10.1145/x" (DOIs are case-insensitive)."""
    text = text_of(value)
    m = _DOI.match(text) if text else None
    return m.group(1).lower().rstrip(".") if m else None


def categories(value: Any) -> tuple[str, ...]:
    """arXiv categories: "cs.LG stat.ML" or a list -> ("cs.LG", "stat.ML")."""
    if isinstance(value, (list, tuple)):
        items: Iterable[Any] = value
    else:
        items = re.split(r"[\s,;]+", text_of(value) or "")
    return tuple(dict.fromkeys(t for t in (text_of(i) for i in items) if t))


def is_placeholder_abstract(text: str | None) -> bool:
    return text is None or clean_text(text).strip("[]().").casefold() in PLACEHOLDER_ABSTRACTS
