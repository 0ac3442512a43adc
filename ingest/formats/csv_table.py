"""Tables exported by reference managers and bibliographic databases: CSV or tab-delimited, any delimiter, BOM
and line ending, with the column names each exporter uses (`COLUMNS`; `field_map` / `--map` adds others)."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ingest.errors import ParseError
from ingest.formats.base import Format, RawRecord, Sample, norm_key, split_lines

# Canonical field -> column names, compared case- and space-insensitively. Sources of the names:
#   Zotero CSV export: Key, Item Type, Publication Year, Author, Title, ..., DOI, Url, Abstract Note, Date, ...
#   Scopus CSV export: Authors, Author full names, Title, Year, ..., DOI, Link, Abstract, Author Keywords, ...
#   Web of Science tab-delimited export (field tags): PT, AU, AF, TI, SO, ..., AB, ..., PY, PD, DI, UT
#   IEEE Xplore CSV export: Document Title, Authors, ..., Publication Year, ..., Abstract, ..., DOI, PDF Link
#   EndNote tab-delimited output style: Reference Type, Author, Year, Title, ..., Abstract, URL, DOI
#   This project's own CSV: title, abstract, authors, date, id, url
COLUMNS: dict[str, tuple[str, ...]] = {
    "title": ("title", "document title", "article title", "ti", "primary title"),
    "abstract": ("abstract", "abstract note", "ab"),
    "authors": ("author full names", "af", "authors", "author", "au", "creators"),
    "date": ("date", "publication date", "published", "pd"),
    "year": ("publication year", "year", "py"),
    "arxiv_id": ("arxiv id", "arxiv", "eprint", "id"),
    "doi": ("doi", "di"),
    "url": ("url", "link", "pdf link", "article url"),
    "categories": ("categories", "arxiv categories"),
}
# Columns that name the exporter, for a readable source label.
EXPORTERS: tuple[tuple[str, frozenset[str]], ...] = (
    ("Zotero export", frozenset({"key", "item type", "abstract note"})),
    ("Scopus export", frozenset({"source title", "link", "eid"})),
    ("Web of Science export", frozenset({"pt", "ut", "ti"})),
    ("IEEE Xplore export", frozenset({"document title", "pdf link"})),
    ("EndNote export", frozenset({"reference type", "author", "year"})),
)
_DELIMITERS = (",", "\t", ";", "|")
# Python's csv refuses fields over 128 KiB with a bare "field larger than field limit"; read them and let
# the abstract length check give the real reason.
_CSV_FIELD_LIMIT = 64 * 1024 * 1024


def _first_line(text: str) -> str:
    return next((ln for ln in split_lines(text) if ln.strip()), "")


def _header(line: str, delimiter: str) -> list[str]:
    try:
        return [norm_key(h) for h in next(csv.reader([line], delimiter=delimiter))]
    except (csv.Error, StopIteration):
        return []


def sniff_delimiter(text: str) -> str:
    """The delimiter whose header names the most known columns; failing that, the one csv.Sniffer picks.

    Judged on the header because abstracts are full of commas and semicolons that fool a count over rows.
    """
    line = _first_line(text)
    known = {a for names in COLUMNS.values() for a in names}
    scores = {d: (sum(h in known for h in _header(line, d)), len(_header(line, d))) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: scores[d])
    if scores[best][0]:
        return best
    try:
        return csv.Sniffer().sniff(line, delimiters="".join(_DELIMITERS)).delimiter
    except csv.Error:
        return ","


def _sniff(sample: Sample) -> bool:
    if sample.head.lstrip().startswith(("{", "[", "@")):
        return False
    header = set(_header(_first_line(sample.text), sniff_delimiter(sample.text)))
    return len(header) >= 2 and bool(header & set(COLUMNS["title"])) and bool(header & set(COLUMNS["abstract"]))


def _read(sample: Sample) -> list[RawRecord]:
    path, text = sample.path, sample.text
    delimiter = sniff_delimiter(text)
    # newline="" lets the csv module see \r\n, \r and \n endings and newlines inside quoted fields.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    csv.field_size_limit(max(csv.field_size_limit(), _CSV_FIELD_LIMIT))
    header = _header_row(path, reader)
    out = []
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise ParseError(path, reader.line_num, f"malformed CSV ({exc})") from exc
        # A quoted field may span lines: name the line the record starts on.
        lineno = reader.line_num - sum(len(split_lines(v)) - 1 for v in row)
        if not any(v.strip() for v in row):
            continue
        if len(row) != len(header):
            raise ParseError(path, lineno, f"row has {len(row)} fields; the header has {len(header)}")
        out.append(RawRecord(lineno, dict(zip(header, row, strict=True))))
    if not out:
        raise ParseError(path, None, "no records found")
    return out


def _header_row(path: Path, reader: Any) -> list[str]:
    """The first non-blank row's column names, normalised; a missing, unreadable or repeating header raises
    ParseError, since every record's fields are named by it."""
    header: list[str] = []
    try:
        while not any(h.strip() for h in header):
            header = [norm_key(h) for h in next(reader)]
    except StopIteration:
        header = []
    except csv.Error as exc:
        raise ParseError(path, 1, f"unreadable CSV header ({exc})") from exc
    if not any(header):
        raise ParseError(path, 1, "no header row")
    twice = sorted({h for h in header if h and header.count(h) > 1})
    if twice:
        what = f"column{'s' if len(twice) > 1 else ''} {', '.join(twice)}"
        raise ParseError(path, reader.line_num, f"CSV header names {what} more than once")
    return header


def _label(path: Path, data: Mapping[str, Any]) -> str:
    columns = set(data)
    for name, marker in EXPORTERS:
        if marker <= columns:
            return f"{name} ({path.name})"
    return path.name


FORMAT = Format(
    name="csv",
    label="CSV / tab-delimited exports (Zotero, Scopus, Web of Science, IEEE Xplore, EndNote)",
    extensions=(".csv", ".tsv", ".tab", ".txt"),
    sniff=_sniff,
    read=_read,
    fields=COLUMNS,
    source_label=_label,
    keys_are_case_insensitive=True,
    noun="CSV header",
    unit="column",
    example='"Key","Item Type","Publication Year","Author","Title",...,"DOI","Url","Abstract Note","Date"',
)
