"""Source files -> papers: find the files, detect each one's format, read its records, merge them into papers.

Everything is parsed before anything is returned, so a syntactically broken file raises `ParseError`
(`FILE:LINE: what is wrong`) before a caller writes anything. Records without an abstract are skipped and
reported in the `LoadResult`, not fatal, unless `strict=True`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from ingest.errors import ParseError
from ingest.formats import EXTENSIONS, detect
from ingest.formats.base import FIELDS, Sample, Skipped, check_shape, field_names, read_text, to_source_record
from ingest.formats.daily_dump import BOILERPLATE
from ingest.identity import RecordKey, build_papers
from ingest.records import Paper, SourceRecord

__all__ = [
    "BOILERPLATE",
    "LoadResult",
    "ParseError",
    "ParsedFile",
    "Skipped",
    "bundled_corpus",
    "expand_paths",
    "load_papers",
    "parse_field_map",
    "parse_file",
]


@dataclass
class ParsedFile:
    """One file's records and skipped records, and the format it was read as (a `FORMATS` name)."""

    path: Path
    format: str
    records: list[SourceRecord]
    skipped: list[Skipped] = field(default_factory=list)


class LoadResult(list[Paper]):
    """The papers (a list, so callers that only want papers use it as one) plus what the load noticed:

    - `files`: a `ParsedFile` per input file (format, records, skipped records with their lines);
    - `skipped`: every skipped record, `FILE:LINE: skipped ('title'): reason` when printed;
    - `warnings`: one line each, e.g. different papers sharing a title, or sources disagreeing on an abstract.
    """

    def __init__(self, papers: Iterable[Paper], files: list[ParsedFile], warnings: list[str]) -> None:
        super().__init__(papers)
        self.files = files
        self.warnings = warnings

    @property
    def skipped(self) -> list[Skipped]:
        return [s for f in self.files for s in f.skipped]

    @property
    def records(self) -> int:
        return sum(len(f.records) for f in self.files)

    def summary(self) -> list[str]:
        """Lines for stderr: per file with skipped records, how many and at which lines; then the warnings."""
        out = []
        for f in self.files:
            if f.skipped:
                lines = ", ".join(str(s.line) for s in f.skipped[:20]) + (" ..." if len(f.skipped) > 20 else "")
                reasons = sorted({s.reason for s in f.skipped})
                out.append(f"{f.path}: skipped {len(f.skipped)} record(s) ({'; '.join(reasons)}) at line(s) {lines}")
        return out + self.warnings


def bundled_corpus() -> list[Path]:
    """The five Daily Papers dumps shipped as package data."""
    root = resources.files("ingest") / "corpus"
    return sorted(Path(str(p)) for p in root.iterdir() if p.name.endswith(".txt"))


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files named directly, plus the files with a supported extension inside any directory named."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in EXTENSIONS)
            if not found:
                # An empty source set would make `--prune` remove every paper in the index.
                raise ParseError(p, None, f"directory holds no supported files ({', '.join(EXTENSIONS)})")
            files.extend(found)
        elif p.exists():
            files.append(p)
        else:
            raise ParseError(p, None, "no such file or directory")
    return files


def parse_field_map(pairs: Iterable[str]) -> dict[str, str]:
    """`["abstract=Abstract Note", "date=paper.publishedAt"]` -> {"abstract": "Abstract Note", ...}, for `--map`.

    Raises ValueError naming the bad pair and the fields that can be mapped.
    """
    out = {}
    for pair in pairs:
        name, sep, column = pair.partition("=")
        name, column = name.strip(), column.strip().strip("\"'")
        if not sep or not column or name not in FIELDS:
            raise ValueError(f"bad field mapping {pair!r}: use FIELD=COLUMN with FIELD one of {', '.join(FIELDS)}")
        out[name] = column
    return out


def parse_file(path: str | Path, *, field_map: Mapping[str, str] | None = None, strict: bool = False) -> ParsedFile:
    """Read one file in whatever supported format it is in.

    `field_map` names the file's own field (CSV column, or dotted JSON path) for canonical fields, ahead of
    the names the format knows. Raises ParseError for a broken file, an unknown shape (naming the fields
    looked for and found), a file none of whose records has an abstract, or, with `strict`, any skipped record.
    """
    path = Path(path)
    sample = Sample(path, read_text(path))
    fmt = detect(sample)
    raws = fmt.read(sample)
    names = field_names(fmt, field_map)
    check_shape(fmt, path, raws, names)
    parsed = ParsedFile(path, fmt.name, [])
    for raw in raws:
        got = to_source_record(fmt, path, raw, names)
        if isinstance(got, Skipped):
            if strict:
                raise ParseError(path, got.line, f"{got.reason} (strict: every record must have an abstract)")
            parsed.skipped.append(got)
        else:
            parsed.records.append(got)
    if not parsed.records and not parsed.skipped:
        raise ParseError(path, None, "no records found")
    if not parsed.records:
        first = parsed.skipped[0]
        raise ParseError(
            path, first.line, f"no record has an abstract; skipped {len(parsed.skipped)} (first: {first.reason})"
        )
    return parsed


def load_papers(
    paths: Iterable[str | Path] | None = None,
    *,
    strict: bool = False,
    field_map: Mapping[str, str] | None = None,
    known_ids: Mapping[RecordKey, str] | None = None,
) -> LoadResult:
    """Parse every source (the bundled corpus when none is given) and merge the records into papers.

    One paper per entry: records are matched by arXiv id / DOI, else by normalised title, and merged (see
    `ingest.identity`); different papers sharing a title stay apart with a warning. Returns a `LoadResult`
    (a list of `Paper` with `files`, `skipped` and `warnings`). Raises ParseError as `parse_file` does.
    """
    files = expand_paths(paths) if paths else bundled_corpus()
    parsed = [parse_file(f, field_map=field_map, strict=strict) for f in files]
    papers, warnings = build_papers((r for p in parsed for r in p.records), known_ids)
    return LoadResult(papers, parsed, warnings)
