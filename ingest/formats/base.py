"""What every format shares: reading a file as text, the `Format` entry, and raw record -> `SourceRecord`."""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from ingest import fields as fv
from ingest.errors import ParseError
from ingest.records import SourceRecord, clean_text, latex_to_text, normalise_title

MAX_TITLE_CHARS = 500
MAX_ABSTRACT_CHARS = 20_000
# The canonical fields a format maps its own names to, and that `field_map` (`--map`) may name.
FIELDS = ("title", "abstract", "authors", "date", "year", "month", "arxiv_id", "doi", "url", "categories", "listed")
# Fields whose value must be text when present (numbers are read as written for ids, years and dates).
_TEXT_FIELDS = {"title", "abstract", "url", "doi", "listed"}
_LINE_END = re.compile(r"\r\n|\r|\n")


def read_text(path: Path) -> str:
    """The file as text (UTF-8, with or without a BOM); unreadable, empty, binary or UTF-16 files raise ParseError."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ParseError(path, None, f"cannot read file ({exc.strerror or exc})") from exc
    if not data or data.isspace():
        raise ParseError(path, 1, "empty file, no papers in it")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ParseError(path, 1, "the file is UTF-16; re-save it as UTF-8")
    if b"\x00" in data:
        raise ParseError(path, line_of(data, data.index(b"\x00")), "binary data (NUL byte): not a text file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = line_of(data, exc.start)
        raise ParseError(
            path, line, f"not valid UTF-8 (byte 0x{data[exc.start]:02x}); re-save the file as UTF-8"
        ) from exc


def line_of(data: bytes, offset: int) -> int:
    return len(re.findall(rb"\r\n|\r|\n", data[:offset])) + 1


def split_lines(text: str) -> list[str]:
    """Lines as editors count them. Not str.splitlines(): it also splits at U+2028, U+0085 and form feeds,
    which JSON allows inside strings, so a valid JSON Lines record would be cut in two."""
    return _LINE_END.split(text)


class LineIndex:
    """Character offset -> 1-based line number, for parsers that report offsets."""

    def __init__(self, text: str) -> None:
        self._starts = [m.end() for m in _LINE_END.finditer(text)]

    def line(self, offset: int) -> int:
        return bisect.bisect_right(self._starts, offset) + 1


@dataclass(frozen=True)
class RawRecord:
    """One record as the file has it: a mapping of the format's own field names (None for a JSON `null`)."""

    line: int
    data: Mapping[str, Any] | None


@dataclass(frozen=True)
class Skipped:
    """A record left out of the collection, and why (e.g. no abstract)."""

    path: str
    line: int
    reason: str
    title: str | None = None

    def __str__(self) -> str:
        what = f" ({self.title[:60]!r})" if self.title else ""
        return f"{self.path}:{self.line}: skipped{what}: {self.reason}"


class Sample:
    """A file being identified: its path, its text, and (parsed once, on demand) its JSON records."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.text = text
        self.suffix = path.suffix.lower()

    @cached_property
    def head(self) -> str:
        """The start of the file without blank lines and `%` comment lines (BibTeX)."""
        lines = [ln for ln in split_lines(self.text[:20_000]) if ln.strip() and not ln.lstrip().startswith("%")]
        return "\n".join(lines[:50])

    @cached_property
    def json(self) -> list[RawRecord] | ParseError:
        """The JSON records of the file, or the error that reading them as JSON gives (kept, not raised)."""
        from ingest.formats.json_records import read_json

        if not self.head.lstrip().startswith(("{", "[")):
            return ParseError(self.path, 1, "not JSON")
        try:
            return read_json(self.path, self.text)
        except ParseError as exc:
            return exc

    def json_records(self, limit: int = 20) -> list[Mapping[str, Any]]:
        got = self.json
        return [] if isinstance(got, ParseError) else [r.data for r in got[:limit] if isinstance(r.data, Mapping)]


@dataclass(frozen=True)
class Format:
    """One input format: how to recognise it, read it into raw records, and name its fields.

    `fields` maps each canonical field (see `FIELDS`) to the format's own names for it, best first; a
    dotted name reaches into nested objects (`paper.title`, `authors[].name`, `versions[0].created`).
    `refine(data, values)` adjusts the extracted values where a format needs more than a lookup.
    `latex` marks formats whose titles and abstracts are LaTeX (BibTeX, the arXiv snapshot).
    """

    name: str
    label: str
    extensions: tuple[str, ...]
    sniff: Callable[[Sample], bool]
    read: Callable[[Sample], list[RawRecord]]
    fields: Mapping[str, Sequence[str]]
    example: str
    source_label: Callable[[Path, Mapping[str, Any]], str] = lambda path, data: path.name
    refine: Callable[[Mapping[str, Any], dict[str, Any]], None] | None = None
    latex: bool = False
    keys_are_case_insensitive: bool = False
    noun: str = "records"
    unit: str = "field"
    hint: str = ""


def _pick(data: Mapping[str, Any], names: Sequence[str]) -> tuple[str | None, Any]:
    for name in names:
        value = fv.lookup(data, name)
        if value not in (None, "", [], {}):
            return name, value
    return None, None


def _text(path: Path, line: int, name: str, value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ParseError(path, line, f'"{name}" must be a string, got {type(value).__name__}')
    text = fv.text_of(value)
    if text is not None:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # JSON can escape a lone surrogate ("\ud800"), which no text can hold
            raise ParseError(path, line, f'"{name}" holds an invalid Unicode escape (a lone surrogate)') from None
        if "\x00" in text:  # an escaped NUL ("\u0000"): refused as a raw one is (`read_text`)
            raise ParseError(path, line, f'"{name}" holds a NUL character (\\u0000): not text')
        if not any(_visible(c) for c in text):
            return None  # only zero-width or format characters: as empty as whitespace
    return text


def _visible(char: str) -> bool:
    """A character that shows: not whitespace, not a control, format (zero-width, BOM) or separator one."""
    return not char.isspace() and unicodedata.category(char) not in ("Cc", "Cf", "Zs", "Zl", "Zp")


def field_names(fmt: Format, field_map: Mapping[str, str] | None) -> dict[str, list[str]]:
    """The names looked up for each canonical field: the user's `field_map` entry first, then the format's."""
    names = {f: list(fmt.fields.get(f, ())) for f in FIELDS}
    for canonical, own in (field_map or {}).items():
        names[canonical] = [norm_key(own) if fmt.keys_are_case_insensitive else own, *names[canonical]]
    return names


def norm_key(name: str) -> str:
    """Column names compared the way people read them: "Abstract Note", "abstract_note", " ABSTRACT NOTE "."""
    return re.sub(r"[\s_]+", " ", name.replace("\ufeff", "")).strip().casefold()


def to_source_record(
    fmt: Format, path: Path, raw: RawRecord, names: Mapping[str, Sequence[str]]
) -> SourceRecord | Skipped:
    """Map one raw record to a `SourceRecord`, or to `Skipped` when it has no abstract.

    A record that has an abstract but is unusable otherwise (no title, a title of punctuation, a value of the
    wrong type, an over-long field) raises ParseError at its line: that is a broken file, not a sparse one.
    """
    line = raw.line
    if raw.data is None:
        return Skipped(str(path), line, "empty record (null)")
    data = raw.data
    values = _field_values(fmt, path, line, data, names)
    title = values["title"] or ""
    abstract = values["abstract"]
    if fmt.latex:
        title = clean_text(latex_to_text(title))
        abstract = clean_text(latex_to_text(abstract)) if abstract else abstract
    if fv.is_placeholder_abstract(abstract):
        why = 'missing or empty "abstract"' if not abstract else f'placeholder abstract "{abstract[:40]}"'
        return Skipped(str(path), line, why, title or None)
    assert abstract is not None
    _check_title_and_abstract(path, line, title, abstract)
    arxiv, doi, url = _identifiers(values)
    return SourceRecord(
        source=path.name,
        line=line,
        format=fmt.name,
        title=title,
        abstract=abstract,
        authors=fv.author_names(values["authors"]),
        date=_publication_date(values),
        listed=values["listed"],
        arxiv_id=arxiv,
        doi=doi,
        url=url,
        categories=fv.categories(values["categories"]),
        label=fmt.source_label(path, data),
    )


def _field_values(
    fmt: Format, path: Path, line: int, data: Mapping[str, Any], names: Mapping[str, Sequence[str]]
) -> dict[str, Any]:
    """Each canonical field's value as the record gives it (text fields checked), after the format's `refine`."""
    values: dict[str, Any] = {}
    for name in FIELDS:
        _used, value = _pick(data, names[name])
        if name in _TEXT_FIELDS:
            value = _text(path, line, name, value)
        values[name] = value
    if fmt.refine is not None:
        fmt.refine(data, values)
    return values


def _check_title_and_abstract(path: Path, line: int, title: str, abstract: str) -> None:
    # A record with an abstract is meant to be read: a title it cannot be known by is a broken file, not a skip.
    if not title:
        raise ParseError(path, line, 'missing or empty "title"')
    if not normalise_title(title):
        # Its id would be the same as every other title made only of punctuation.
        raise ParseError(path, line, f"title {title[:60]!r} has no letters or digits")
    if len(title) > MAX_TITLE_CHARS:
        raise ParseError(path, line, f"title is {len(title):,} characters; the limit is {MAX_TITLE_CHARS:,}")
    if len(abstract) > MAX_ABSTRACT_CHARS:
        raise ParseError(path, line, f"abstract is {len(abstract):,} characters; the limit is {MAX_ABSTRACT_CHARS:,}")


def _identifiers(values: Mapping[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(arXiv id, DOI, URL): an arXiv DOI counts as the arXiv id, not as a DOI; a missing URL is made from either."""
    arxiv = fv.arxiv_id(values["arxiv_id"]) or fv.arxiv_id(values["doi"]) or fv.arxiv_id(values["url"])
    doi = None if fv.arxiv_id(values["doi"]) else fv.doi(values["doi"])
    url = values["url"] or (f"https://arxiv.org/abs/{arxiv}" if arxiv else None)
    if url is None and doi:
        url = f"https://doi.org/{doi}"
    return arxiv, doi, url


def _publication_date(values: Mapping[str, Any]) -> str | None:
    date = fv.iso_date(values["date"])
    year = fv.text_of(values["year"])
    if year and year[:4].isdigit() and (date is None or not date.startswith(year[:4])):
        # A year column beats a date it contradicts or that is missing; a month column refines it.
        month = fv.month_number(values["month"])
        date = fv.iso_date(f"{year[:4]}-{month:02d}" if month else year[:4])
    elif date and len(date) == 4 and (month := fv.month_number(values["month"])):
        date = f"{date}-{month:02d}"
    return date


def describe_keys(records: Sequence[Mapping[str, Any]], limit: int = 12) -> str:
    """The field names found in the first records, nested ones dotted ("paper.title"), for error messages."""

    def shown(key: Any) -> str:  # a key is input: one line, bounded, control characters escaped
        text = str(key)
        return text if text.isprintable() and len(text) <= 40 else repr(text[:40])

    seen: dict[str, None] = {}
    for rec in records[:5]:
        for key, value in rec.items():
            seen[shown(key)] = None
            if isinstance(value, Mapping):
                for inner in list(value)[:8]:
                    seen[f"{shown(key)}.{shown(inner)}"] = None
    names = list(seen)
    more = f" (+{len(names) - limit} more)" if len(names) > limit else ""
    return (", ".join(names[:limit]) or "none") + more


def check_shape(fmt: Format, path: Path, records: Sequence[RawRecord], names: Mapping[str, Sequence[str]]) -> None:
    """A file none of whose records has a title or an abstract field is a shape we do not know: say what was
    looked for and what was found, rather than skipping every record."""
    dicts = [r for r in records if r.data is not None]
    if not dicts:
        return
    missing = [f for f in ("title", "abstract") if not any(fv.has_path(r.data, n) for r in dicts for n in names[f])]
    if missing:
        looked = "; ".join(f"{f}: {', '.join(names[f])}" for f in missing)
        found = describe_keys([r.data for r in dicts])
        raise ParseError(
            path,
            dicts[0].line if fmt.unit == "field" else 1,
            f"{fmt.noun} lacks {fmt.unit}{'s' if len(missing) > 1 else ''} {', '.join(missing)}; looked for {looked}"
            f"{fmt.hint}; found {found}",
        )
