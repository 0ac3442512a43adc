"""The one registry of input formats: adding a format is one module with a `FORMAT` entry plus one line here.

Order matters twice: content sniffing tries the formats in this order (specific JSON shapes before the
generic one), and a file whose content no format recognises falls back to the first format claiming its
extension, whose reader then names the exact syntax error.
"""

from __future__ import annotations

from ingest.errors import ParseError
from ingest.formats import (
    arxiv_snapshot,
    bibtex,
    csv_table,
    daily_dump,
    hf_daily_papers,
    json_records,
    ris,
    semantic_scholar,
)
from ingest.formats.base import Format, Sample

FORMATS: tuple[Format, ...] = (
    hf_daily_papers.FORMAT,
    semantic_scholar.FORMAT,
    arxiv_snapshot.FORMAT,
    json_records.FORMAT,
    bibtex.FORMAT,
    ris.FORMAT,
    csv_table.FORMAT,
    daily_dump.FORMAT,
)
BY_NAME = {f.name: f for f in FORMATS}
EXTENSIONS = tuple(dict.fromkeys(ext for f in FORMATS for ext in f.extensions))


def detect(sample: Sample) -> Format:
    """The format of a file, by content first (a `.json` holding JSON Lines, a `.txt` holding RIS or BibTeX),
    preferring a format that claims the file's extension; by extension alone when no content matches."""
    fits = [f for f in FORMATS if f.sniff(sample)]
    by_extension = [f for f in fits if sample.suffix in f.extensions]
    if fits:
        return (by_extension or fits)[0]
    # The dump comes first so that a `.txt` nothing else recognises is read as one.
    for f in (daily_dump.FORMAT, json_records.FORMAT, bibtex.FORMAT, ris.FORMAT, csv_table.FORMAT):
        if sample.suffix in f.extensions:
            return f
    names = ", ".join(EXTENSIONS)
    raise ParseError(
        sample.path,
        None,
        f"unsupported file type {sample.suffix or '(none)'} and content of no known format; use {names}",
    )


__all__ = ["BY_NAME", "EXTENSIONS", "FORMATS", "Format", "Sample", "detect"]
