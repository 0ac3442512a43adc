"""JSON records of any shape we know: a `.json` array, JSON Lines, or an object holding a list (`{"data": [...]}`),
and the generic record shape (`title`, `abstract`, optional `authors`, `date`, `id`, `doi`, `url`, ...)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from ingest.errors import ParseError
from ingest.formats.base import Format, LineIndex, RawRecord, Sample, split_lines

# Where APIs put the list of records in an object (Semantic Scholar search and bulk: "data").
LIST_KEYS = ("data", "papers", "results", "records", "items")
_DECODER = json.JSONDecoder()


def _decode(path: Any, text: str, pos: int, lines: LineIndex) -> tuple[Any, int]:
    try:
        return _DECODER.raw_decode(text, pos)
    except json.JSONDecodeError as exc:
        if text[pos:].strip() and not text[exc.pos :].strip():
            # the file ends inside the value (`{"title": "Broken"` with or without a final newline): the place to
            # fix is the record that is never closed, not the empty end of the file
            where = lines.line(pos)
            raise ParseError(path, where, f"invalid JSON (this record is not closed: {exc.msg})") from exc
        raise ParseError(path, exc.lineno, f"invalid JSON ({exc.msg} at column {exc.colno})") from exc
    except (ValueError, RecursionError) as exc:  # an integer of 5,000 digits, arrays nested 100,000 deep
        raise ParseError(path, lines.line(pos), f"unreadable JSON ({str(exc).split(':')[0]})") from exc


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _record(path: Any, line: int, value: Any) -> RawRecord:
    if value is None:
        return RawRecord(line, None)
    if not isinstance(value, dict):
        raise ParseError(path, line, f"expected a JSON object, got {type(value).__name__}")
    return RawRecord(line, value)


def _read_array(path: Any, text: str, start: int, lines: LineIndex) -> tuple[list[RawRecord], int]:
    """The elements of the array opening at `start`, each with the line it starts on, and the end offset."""
    out: list[RawRecord] = []
    pos = _skip_ws(text, start + 1)
    if pos < len(text) and text[pos] == "]":
        return out, pos + 1
    while True:
        value, end = _decode(path, text, pos, lines)
        out.append(_record(path, lines.line(pos), value))
        pos = _skip_ws(text, end)
        if pos < len(text) and text[pos] == ",":
            pos = _skip_ws(text, pos + 1)
            continue
        if pos < len(text) and text[pos] == "]":
            return out, pos + 1
        raise ParseError(path, lines.line(pos), "invalid JSON (expected ',' or ']' between array elements)")


def _list_start(text: str, key: str, value: list) -> int:
    """Where the list under `key` opens in the text (the key may also appear deeper: match the value too)."""
    for m in re.finditer(rf'"{re.escape(key)}"\s*:\s*\[', text):
        try:
            if _DECODER.raw_decode(text, m.end() - 1)[0] == value:
                return m.end() - 1
        except ValueError:
            continue
    raise AssertionError("a decoded list has no place in its text")  # pragma: no cover


def _read_lines(path: Any, text: str) -> list[RawRecord]:
    out = []
    for lineno, raw in enumerate(split_lines(text), start=1):
        if not raw.strip():
            continue
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ParseError(path, lineno, f"invalid JSON ({exc.msg} at column {exc.colno})") from exc
        except (ValueError, RecursionError) as exc:
            raise ParseError(path, lineno, f"unreadable JSON ({str(exc).split(':')[0]})") from exc
        out.append(_record(path, lineno, value))
    return out


def read_json(path: Any, text: str) -> list[RawRecord]:
    """Records from a JSON array, an object with a list under one of `LIST_KEYS`, one object, or JSON Lines.

    Which one is decided by the content, not the extension: a `.json` file holding JSON Lines reads fine.
    Each record carries the line its object starts on; a syntax error raises ParseError at its line.
    """
    lines = LineIndex(text)
    pos = _skip_ws(text, 0)
    if pos < len(text) and text[pos] == "[":
        records, end = _read_array(path, text, pos, lines)
        end = _skip_ws(text, end)
        if end < len(text):
            raise ParseError(path, lines.line(end), "invalid JSON (extra data after the array)")
        return records
    if pos < len(text) and text[pos] == "{":
        first, end = _decode(path, text, pos, lines)
        rest = _skip_ws(text, end)
        if rest >= len(text):  # one object: a list holder or a single record
            if isinstance(first, dict):
                for key in LIST_KEYS:
                    if isinstance(first.get(key), list):
                        return _read_array(path, text, _list_start(text, key, first[key]), lines)[0]
            return [_record(path, lines.line(pos), first)]
    return _read_lines(path, text)


def _generic_sniff(sample: Sample) -> bool:
    return any(_has_title_and_abstract(r) for r in sample.json_records())


def _has_title_and_abstract(record: Mapping[str, Any]) -> bool:
    return any(k in record for k in GENERIC_FIELDS["title"]) and any(k in record for k in GENERIC_FIELDS["abstract"])


def json_read(sample: Sample) -> list[RawRecord]:
    """The sample's JSON records (parsed once); a syntax error raises ParseError at its line."""
    got = sample.json
    if isinstance(got, ParseError):
        if got.reason != "not JSON":
            raise got
        got = read_json(sample.path, sample.text)  # gives the precise syntax error
    if not got:
        raise ParseError(sample.path, None, "no records found")
    return got


GENERIC_FIELDS = {
    "title": ("title",),
    "abstract": ("abstract", "summary"),
    "authors": ("authors", "author"),
    "date": ("date", "published", "publicationDate", "publication_date", "publishedAt"),
    "year": ("year",),
    "arxiv_id": ("arxiv_id", "arxivId", "arxiv", "id"),
    "doi": ("doi", "DOI"),
    "url": ("url", "link"),
    "categories": ("categories",),
}

FORMAT = Format(
    name="json",
    label="JSON or JSON Lines records",
    extensions=(".json", ".jsonl", ".ndjson"),
    sniff=_generic_sniff,
    read=json_read,
    noun="JSON records",
    hint=" (or a known shape: Hugging Face Daily Papers API, Semantic Scholar, arXiv snapshot)",
    fields=GENERIC_FIELDS,
    example='{"title": "Attention Is All You Need", "abstract": "The dominant ...", "authors": ["Ashish Vaswani"], "date": "2017-06-12", "id": "1706.03762"}',
)
