"""Parsers from source files to `Paper` records: Hugging Face Daily Papers page dumps, JSON Lines and CSV.

Parsers are pure: they read files and return records, and a malformed record raises `ParseError`
naming the file and line before anything downstream runs.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

from ingest.records import Paper, clean_text, normalise_title

MAX_TITLE_CHARS = 500
MAX_ABSTRACT_CHARS = 20_000
MIN_ABSTRACT_CHARS = 20

BOILERPLATE = {
    "new",
    "subscribe",
    "get trending papers in your email inbox!",
    "get trending papers in your email inbox once a day!",
    "byak and the research community",
    "daily papers",
}
_DATE_LINE = re.compile(r"^(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]* \d{1,2}(, \d{4})?$")
# One dump has the page's "Subscribe" button glued to the first title ("SubscribeGaussian Mixture ...").
_GLUED_PREFIX = re.compile(r"^Subscribe(?=[A-Z0-9])")
_ARXIV_ID = re.compile(r"^(?:arxiv:)?(\d{4}\.\d{4,5})(?:v\d+)?$", re.IGNORECASE)
# Line ends as editors count them. Not str.splitlines(): it also splits at U+2028, U+0085 and form feeds, which
# JSON allows inside strings, so a valid JSON Lines record would be cut in two.
_LINE_END = re.compile(r"\r\n|\r|\n")
# Python's csv refuses fields over 128 KiB with a bare "field larger than field limit"; read them and let
# the abstract length check give the real reason.
_CSV_FIELD_LIMIT = 64 * 1024 * 1024


class ParseError(ValueError):
    """A source file is malformed; the message is `FILE:LINE: what is wrong`."""

    def __init__(self, path: str | Path, line: int | None, message: str) -> None:
        self.path = str(path)
        self.line = line
        self.reason = message
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


def bundled_corpus() -> list[Path]:
    """The five Daily Papers dumps shipped as package data."""
    root = resources.files("ingest") / "corpus"
    return sorted(Path(str(p)) for p in root.iterdir() if p.name.endswith(".txt"))


def _line_of(data: bytes, offset: int) -> int:
    return len(re.findall(rb"\r\n|\r|\n", data[:offset])) + 1


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ParseError(path, None, f"cannot read file ({exc.strerror or exc})") from exc
    if not data.strip():
        raise ParseError(path, 1, "empty file, no papers in it")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ParseError(path, 1, "the file is UTF-16; re-save it as UTF-8")
    if b"\x00" in data:
        raise ParseError(path, _line_of(data, data.index(b"\x00")), "binary data (NUL byte): not a text file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = _line_of(data, exc.start)
        raise ParseError(
            path, line, f"not valid UTF-8 (byte 0x{data[exc.start]:02x}); re-save the file as UTF-8"
        ) from exc


def _lines(text: str) -> list[str]:
    return _LINE_END.split(text)


def _check_paper(path: Path, line: int, title: str, abstract: str) -> None:
    if not title:
        raise ParseError(path, line, 'missing or empty "title"')
    if not abstract:
        raise ParseError(path, line, 'missing or empty "abstract"')
    if not normalise_title(title):
        # Its id would be the same as every other title made only of punctuation.
        raise ParseError(path, line, f"title {title[:60]!r} has no letters or digits")
    if len(title) > MAX_TITLE_CHARS:
        raise ParseError(path, line, f"title is {len(title):,} characters; the limit is {MAX_TITLE_CHARS:,}")
    if len(abstract) > MAX_ABSTRACT_CHARS:
        raise ParseError(path, line, f"abstract is {len(abstract):,} characters; the limit is {MAX_ABSTRACT_CHARS:,}")


def parse_daily_papers(path: str | Path) -> list[tuple[int, Paper]]:
    """Parse a Hugging Face Daily Papers page dump: boilerplate, date lines, then title / abstract pairs."""
    path = Path(path)
    text = _read_text(path)
    out: list[tuple[int, Paper]] = []
    date: str | None = None
    pending: tuple[int, str] | None = None
    for lineno, raw in enumerate(_lines(text), start=1):
        line = clean_text(raw)
        if pending is None:
            # Only where a title is expected, and only before a capital: "Subscriber churn ..." stays intact.
            line = _GLUED_PREFIX.sub("", line)
        if not line or line.lower() in BOILERPLATE:
            continue
        if _DATE_LINE.match(line):
            if pending is not None:
                raise ParseError(path, pending[0], f"title {pending[1][:60]!r} has no abstract line after it")
            date = line
            continue
        if pending is None:
            if len(line) > MAX_TITLE_CHARS:
                raise ParseError(path, lineno, "expected a title line but found a long paragraph (a missing title?)")
            pending = (lineno, line)
            continue
        title_line, title = pending
        if len(line) < MIN_ABSTRACT_CHARS:
            raise ParseError(path, lineno, f"abstract for {title[:60]!r} is only {len(line)} characters")
        _check_paper(path, title_line, title, line)
        out.append((title_line, Paper(title=title, abstract=line, sources=[path.name], date=date)))
        pending = None
    if pending is not None:
        raise ParseError(path, pending[0], f"title {pending[1][:60]!r} has no abstract line after it")
    if not out:
        raise ParseError(path, None, "no title/abstract pairs found")
    return out


def _field(path: Path, line: int, record: dict, name: str) -> str | None:
    value = record.get(name)
    if value is None:
        return None
    if isinstance(value, list) and name == "authors":
        value = ", ".join(str(v) for v in value)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and name in ("id", "date"):
        value = str(value)
    if not isinstance(value, str):
        raise ParseError(path, line, f'"{name}" must be a string, got {type(value).__name__}')
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # JSON can escape a lone surrogate ("\ud800"), which no text can hold
        raise ParseError(path, line, f'"{name}" holds an invalid Unicode escape (a lone surrogate)') from None
    return clean_text(value) or None


def _record_to_paper(path: Path, line: int, record: dict) -> Paper:
    title = _field(path, line, record, "title") or ""
    abstract = _field(path, line, record, "abstract") or ""
    _check_paper(path, line, title, abstract)
    source_id = _field(path, line, record, "id")
    arxiv = None
    if source_id:
        m = _ARXIV_ID.match(source_id)
        arxiv = m.group(1) if m else source_id
    return Paper(
        title=title,
        abstract=abstract,
        sources=[path.name],
        url=_field(path, line, record, "url"),
        date=_field(path, line, record, "date"),
        authors=_field(path, line, record, "authors"),
        arxiv_id=arxiv,
    )


def parse_jsonl(path: str | Path) -> list[tuple[int, Paper]]:
    """JSON Lines, one object per line with `title`, `abstract` and optional `id`, `url`, `date`, `authors`."""
    path = Path(path)
    out = []
    for lineno, raw in enumerate(_lines(_read_text(path)), start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ParseError(path, lineno, f"invalid JSON ({exc.msg} at column {exc.colno})") from exc
        except (ValueError, RecursionError) as exc:  # an integer of 5,000 digits, arrays nested 100,000 deep
            raise ParseError(path, lineno, f"unreadable JSON ({str(exc).split(':')[0]})") from exc
        if not isinstance(record, dict):
            raise ParseError(path, lineno, f"expected a JSON object, got {type(record).__name__}")
        out.append((lineno, _record_to_paper(path, lineno, record)))
    if not out:
        raise ParseError(path, None, "no records found")
    return out


def parse_csv(path: str | Path) -> list[tuple[int, Paper]]:
    """CSV with a header row naming at least `title` and `abstract`."""
    path = Path(path)
    text = _read_text(path)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        header = [h.strip().lower() for h in (reader.fieldnames or [])]
    except csv.Error as exc:
        raise ParseError(path, 1, f"unreadable CSV header ({exc})") from exc
    twice = sorted({h for h in header if h and header.count(h) > 1})
    if twice:
        raise ParseError(path, 1, f"CSV header names column(s) {', '.join(twice)} more than once")
    missing = [c for c in ("title", "abstract") if c not in header]
    if missing:
        raise ParseError(
            path, 1, f"CSV header lacks column(s) {', '.join(missing)}; found {', '.join(header) or 'none'}"
        )
    reader.fieldnames = header
    csv.field_size_limit(max(csv.field_size_limit(), _CSV_FIELD_LIMIT))
    out = []
    rows = iter(reader)
    while True:
        try:
            row = next(rows)
        except StopIteration:
            break
        except csv.Error as exc:
            raise ParseError(path, reader.line_num, f"malformed CSV ({exc})") from exc
        # A quoted field may span lines: name the line the record starts on.
        lineno = reader.line_num - sum(len(_LINE_END.findall(v)) for v in row.values() if isinstance(v, str))
        if None in row:
            raise ParseError(
                path, lineno, f"row has {len(header) + len(row[None])} fields; the header has {len(header)}"
            )
        if not any((v or "").strip() for v in row.values()):
            continue
        if None in row.values():  # DictReader fills the columns a short row lacks with None
            given = sum(v is not None for v in row.values())
            raise ParseError(path, lineno, f"row has {given} fields; the header has {len(header)}")
        out.append((lineno, _record_to_paper(path, lineno, row)))
    if not out:
        raise ParseError(path, None, "no records found")
    return out


PARSERS = {".txt": parse_daily_papers, ".jsonl": parse_jsonl, ".ndjson": parse_jsonl, ".csv": parse_csv}


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files named directly, plus the supported files inside any directory named."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in PARSERS)
            if not found:
                # An empty source set would make `--prune` remove every paper in the index.
                raise ParseError(p, None, "directory holds no .txt, .jsonl or .csv files")
            files.extend(found)
        elif p.exists():
            files.append(p)
        else:
            raise ParseError(p, None, "no such file or directory")
    return files


def parse_file(path: str | Path) -> list[tuple[int, Paper]]:
    path = Path(path)
    parser = PARSERS.get(path.suffix.lower())
    if parser is None:
        raise ParseError(
            path, None, f"unsupported file type {path.suffix or '(none)'}; use .txt (Daily Papers dump), .jsonl or .csv"
        )
    return parser(path)


def load_papers(paths: Iterable[str | Path] | None = None) -> list[Paper]:
    """Parse every source (the bundled corpus when none is given) and merge duplicates by paper id.

    A duplicate with identical content records each source it came from; the same id with a different
    abstract is an error naming both places, since silently picking one would lose data.
    """
    files = expand_paths(paths) if paths else bundled_corpus()
    merged: dict[str, Paper] = {}
    first_seen: dict[str, str] = {}
    for f in files:
        for lineno, paper in parse_file(f):
            pid = paper.paper_id
            known = merged.get(pid)
            if known is None:
                merged[pid] = paper
                first_seen[pid] = f"{f}:{lineno}"
                continue
            if known.abstract != paper.abstract or known.title != paper.title:
                raise ParseError(
                    f, lineno, f"paper {paper.title[:60]!r} (id {pid}) differs from the one at {first_seen[pid]}"
                )
            for s in paper.sources:
                if s not in known.sources:
                    known.sources.append(s)
            known.date = known.date or paper.date
            known.url = known.url or paper.url
    return list(merged.values())
