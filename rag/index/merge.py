"""An ingest's plan: which source records the index keeps after reading files F, the papers recomputed from all
of them, and which record rows change. Pure: the writer reads the stored rows, calls `plan_ingest`, and writes.

The index keeps one row per (source file, record), the file named by its full path (`source_records`). Ingesting
files F replaces F's rows by what F says now and recomputes every paper from the records of every file
(`ingest.identity.build_papers`), so the same paper from two sources is one paper with both, whichever file came
first. Stored rows keep their paper ids (`known_ids`). A record that vanished from a re-ingested file is dropped
when the file now holds another version of it (same normalised title, arXiv id or DOI: an edited abstract, a
corrected title), and otherwise kept until `--prune`, which also drops the rows of every file not in the run:
without it, an ingest never removes a paper.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ingest import Paper, ParsedFile, SourceRecord, build_papers, normalise_title
from ingest.identity import record_key
from rag.index.rows import RecordRow, StoredRecord, row_hash


@dataclass
class Entry:
    """A record with the file it is stored under."""

    path: str
    line: int
    fingerprint: str
    record: SourceRecord
    new: bool  # read in this run (else a stored row)
    json: str | None = None  # the stored row's record JSON (written again only when the row changes)

    @property
    def order(self) -> tuple[str, int, str]:
        return (self.path, self.line, self.fingerprint)

    def row(self, paper_id: str) -> RecordRow:
        return (self.path, self.fingerprint, paper_id, self.line, self.json or self.record.to_json())


@dataclass
class IngestPlan:
    """`papers`: every paper the kept records make, with `hashes` (paper id -> row hash); `run_papers`: the ids
    of those the run's files name; `dropped`/`rows`: the record rows to delete and to write; `warnings`: the
    identity warnings that concern the run's files."""

    papers: list[Paper]
    hashes: dict[str, str]
    run_papers: set[str]
    dropped: list[tuple[str, str]] = field(default_factory=list)
    rows: list[RecordRow] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    entries: dict[str, list[Entry]] = field(default_factory=dict, repr=False)  # every kept record, per paper

    def records_of(self, paper_id: str) -> list[RecordRow]:
        """The record rows of one paper (what a server's chunk 0 carries for other clients)."""
        return [e.row(paper_id) for e in self.entries.get(paper_id, [])]


def file_key(path: str | Path) -> str:
    """How the index names a source file: its full path, so that two `papers.csv` in different folders stay two
    files."""
    return str(Path(path).expanduser().resolve())


def _build(entries: list[Entry], known: dict[tuple[str, str], str]) -> tuple[list[Paper], list[str]]:
    # One canonical order (file, line, fingerprint): the papers, and so their hashes, do not depend on which
    # file was ingested first.
    entries.sort(key=lambda e: e.order)
    return build_papers((e.record for e in entries), known)


def _new_entries(files: Sequence[ParsedFile]) -> list[Entry]:
    out: dict[tuple[str, str], Entry] = {}
    for f in files:
        path = file_key(f.path)
        for r in f.records:
            # The same record twice in one file is one row (the first); it would merge into one paper anyway.
            out.setdefault((path, r.fingerprint), Entry(path, r.line, r.fingerprint, r, new=True))
    return list(out.values())


def plan_ingest(stored: Sequence[StoredRecord], files: Sequence[ParsedFile], prune: bool = False) -> IngestPlan:
    """The papers and record rows after ingesting `files` into an index holding the `stored` rows."""
    run = {file_key(f.path) for f in files}
    new = _new_entries(files)
    new_keys = {(e.path, e.fingerprint) for e in new}
    others: list[Entry] = []
    vanished: list[Entry] = []
    known: dict[tuple[str, str], str] = {}
    for s in stored:
        record = s.record
        record.__dict__["fingerprint"] = s.fingerprint  # stored with the row: not hashed again (cached_property)
        entry = Entry(s.path, s.line, s.fingerprint, record, new=False, json=s.record_json)
        known[record_key(record)] = s.paper_id
        if s.path in run:
            if (s.path, s.fingerprint) not in new_keys:
                vanished.append(entry)
        elif not prune:
            others.append(entry)
    kept = [] if prune else _still_needed(vanished, new)
    _inherit_ids(vanished, kept, new, known)
    entries = others + new + kept
    papers, warnings = _build(entries, known)

    by_object = {id(e.record): e for e in entries}
    stored_rows = {(s.path, s.fingerprint): (s.paper_id, s.line) for s in stored}
    plan = IngestPlan(papers, {p.paper_id: row_hash(p) for p in papers}, set())
    keep_keys = set()
    for p in papers:
        for r in p.records:
            e = by_object[id(r)]
            plan.entries.setdefault(p.paper_id, []).append(e)
            keep_keys.add((e.path, e.fingerprint))
            if e.new:
                plan.run_papers.add(p.paper_id)
            if stored_rows.get((e.path, e.fingerprint)) != (p.paper_id, e.line):
                plan.rows.append(e.row(p.paper_id))
    plan.dropped = sorted(key for key in stored_rows if key not in keep_keys)
    plan.warnings = _about(warnings, {Path(f.path).name for f in files})
    return plan


def _still_needed(vanished: list[Entry], new: list[Entry]) -> list[Entry]:
    """The vanished records to keep: those their file did not replace by another version of the same paper (a
    new record of that file with the same normalised title, arXiv id or DOI). The others name papers the file
    dropped, which only `--prune` removes."""
    if not vanished:
        return []
    present: dict[str, set[str]] = {}
    for e in new:
        present.setdefault(e.path, set()).update(_keys(e.record))
    return [e for e in vanished if not _keys(e.record) & present.get(e.path, set())]


def _inherit_ids(vanished: list[Entry], kept: list[Entry], new: list[Entry], known: dict[tuple[str, str], str]) -> None:
    """A new version of a record (same file; same title, arXiv id or DOI) takes the paper id of the version it
    replaces, so a corrected title updates its paper instead of adding one and removing the other."""
    kept_ids = {id(e) for e in kept}
    ids: dict[tuple[str, str], str] = {}
    for e in vanished:
        if id(e) not in kept_ids:
            for key in _keys(e.record):
                ids.setdefault((e.path, key), known[record_key(e.record)])
    for e in new:
        inherited = next((ids[(e.path, k)] for k in sorted(_keys(e.record)) if (e.path, k) in ids), None)
        if inherited is not None:
            known.setdefault(record_key(e.record), inherited)


def _keys(r: SourceRecord) -> set[str]:
    keys = {"title:" + normalise_title(r.title)}
    if r.arxiv_id:
        keys.add("arxiv:" + r.arxiv_id.lower())
    if r.doi:
        keys.add("doi:" + r.doi.lower())
    return keys


def _about(warnings: list[str], names: set[str]) -> list[str]:
    """The warnings that name a place (`FILE:LINE`) in one of the run's files: the others were said when their
    files were ingested."""
    if not names:
        return []
    places = re.compile(r"(?:^|[\s(,])(?:" + "|".join(re.escape(n) for n in sorted(names)) + r"):\d")
    return [w for w in warnings if places.search(w)]
