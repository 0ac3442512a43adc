"""Source files -> papers: find the files, detect each one's format, read its records, merge them into papers.

Everything is parsed before anything is returned, so a syntactically broken file raises `ParseError`
(`FILE:LINE: what is wrong`) before a caller writes anything. Records without an abstract are skipped and
reported in the `LoadResult`, not fatal, unless `strict=True`.
"""

from __future__ import annotations

import os
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
    "FileList",
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
                n = len(f.skipped)
                what = f"{n} record{'s' if n != 1 else ''} ({'; '.join(reasons)}) at line{'s' if n != 1 else ''}"
                out.append(f"{f.path}: skipped {what} {lines}")
        return out + self.warnings


def bundled_corpus() -> list[Path]:
    """The five Daily Papers dumps shipped as package data."""
    root = resources.files("ingest") / "corpus"
    return sorted(Path(str(p)) for p in root.iterdir() if p.name.endswith(".txt"))


class FileList(list[Path]):
    """The files to read (a list), plus what the walk could not read: `unreadable`, one `PATH: reason` each
    (a folder without permission, a broken symbolic link). A caller that removes papers whose files it did not
    see (`--prune`) must not trust an incomplete walk."""

    def __init__(self, files: Iterable[Path] = (), unreadable: Iterable[str] = ()) -> None:
        super().__init__(files)
        self.unreadable = list(unreadable)


def expand_paths(paths: Iterable[str | Path]) -> FileList:
    """Files named directly, plus the files with a supported extension inside any directory named, walked the
    way a user expects: symbolic links to folders and files are followed, a folder reached twice (a link loop,
    two links to one folder) is read once, and what cannot be read is recorded in `FileList.unreadable`.

    Raises ParseError for a named path that does not exist (or is a broken link) and for a directory with no
    supported file in it (an empty source set would make `--prune` remove every paper)."""
    files: list[Path] = []
    unreadable: list[str] = []
    seen: set[tuple[int, int]] = set()  # (device, inode) of every folder and file taken, links followed
    for p in map(Path, paths):
        if p.is_dir():
            found = _walk(p, seen, unreadable)
            if not found:
                raise ParseError(p, None, f"directory holds no supported files ({', '.join(EXTENSIONS)})")
            files.extend(found)
        elif p.exists():
            files.append(p)
        elif p.is_symlink():
            raise ParseError(p, None, f"broken symbolic link (to {os.readlink(p)})")
        else:
            raise ParseError(p, None, "no such file or directory")
    return FileList(files, unreadable)


def _walk(root: Path, seen: set[tuple[int, int]], unreadable: list[str]) -> list[Path]:
    def failed(exc: OSError) -> None:
        unreadable.append(f"{exc.filename}: {(exc.strerror or str(exc)).lower()}")

    found: list[Path] = []
    for folder, subfolders, names in os.walk(root, onerror=failed, followlinks=True):
        here = os.stat(folder)
        if (here.st_dev, here.st_ino) in seen:  # a loop or a second link to a folder already read
            subfolders[:] = []
            continue
        seen.add((here.st_dev, here.st_ino))
        subfolders.sort()
        for name in sorted(names):
            path = Path(folder) / name
            if path.suffix.lower() not in EXTENSIONS:
                continue
            try:
                st = path.stat()
            except OSError as exc:  # a broken link, or no permission to look
                unreadable.append(f"{path}: {(exc.strerror or str(exc)).lower()}")
                continue
            if (st.st_dev, st.st_ino) not in seen and path.is_file():
                seen.add((st.st_dev, st.st_ino))
                found.append(path)
    return sorted(found)


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
