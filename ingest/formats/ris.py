"""RIS (`.ris`, EndNote / Zotero / Mendeley / Scopus / PubMed exports) through rispy, with each record's line."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import rispy

from ingest.errors import ParseError
from ingest.formats.base import Format, RawRecord, Sample, split_lines

_START = re.compile(r"^TY  - ")


def _sniff(sample: Sample) -> bool:
    # rispy's own writer puts a record number ("1.") above each record
    return any(_START.match(line) for line in sample.head.split("\n")[:3])


class _LineTrackingParser(rispy.RisParser):
    """rispy's parser, noting the line each record starts on (rispy itself keeps no positions)."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.lineno = 0
        self.starts: list[int] = []

    def _iter_till_start(self, lines: Iterator[str]) -> dict:
        record = super()._iter_till_start(lines)
        self.starts.append(self.lineno)
        return record


def _read(sample: Sample) -> list[RawRecord]:
    lines = split_lines(sample.text)
    parser = _LineTrackingParser()

    def numbered() -> Iterator[str]:
        for parser.lineno, line in enumerate(lines, start=1):
            yield line

    records = parser.parse_lines(numbered())
    if len(parser.starts) > len(records):  # rispy drops a record whose "ER  -" never comes
        raise ParseError(sample.path, parser.starts[len(records)], 'RIS record has no end tag ("ER  -")')
    if not records:
        raise ParseError(sample.path, None, 'no RIS records found (they start with "TY  - ")')
    return [RawRecord(line, rec) for line, rec in zip(parser.starts, records, strict=True)]


FORMAT = Format(
    name="ris",
    label="RIS",
    extensions=(".ris", ".txt"),
    sniff=_sniff,
    read=_read,
    fields={
        "title": ("title", "primary_title", "translated_title"),
        "abstract": ("abstract", "notes_abstract"),
        "authors": ("authors", "first_authors"),
        "date": ("date",),
        "year": ("year", "publication_year"),
        "doi": ("doi",),
        "url": ("urls[0]",),
    },
    source_label=lambda path, data: f"RIS ({path.name})",
    example="TY  - JOUR / TI  - Attention Is All You Need / AU  - Vaswani, Ashish / PY  - 2017 / AB  - The dominant ... / ER  -",
)
