"""What a manifest row holds: the papers table's columns, `PaperMeta` (what readers keep in memory), the
`source_records` rows, and the row hash that vectors carry."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from ingest import Paper, SourceRecord

PAPER_COLUMNS = (
    "paper_id", "title", "abstract", "hash", "sources", "date", "url", "authors", "n_chunks",
    "year", "arxiv_id", "doi", "categories", "source_labels", "listed",
)  # fmt: skip
# Every column but the abstract: what readers keep in memory (`PaperMeta`).
META_COLUMNS = ", ".join(c for c in PAPER_COLUMNS if c != "abstract")
PaperRow = tuple  # the values of PAPER_COLUMNS, in order; JSON lists for sources, authors, categories, labels, listed
ChunkRow = tuple[str, str, int, str]  # chunk_id, paper_id, chunk_no, text
RecordRow = tuple[str, str, str, int, str]  # source file (full path), fingerprint, paper_id, line, record JSON


def _list(value: str | None) -> tuple[str, ...]:
    return tuple(json.loads(value)) if value else ()


@dataclass(frozen=True)
class PaperMeta:
    """What readers keep in memory about a committed paper (the abstract stays on disk).

    `content_hash` is the manifest's hash of the paper's row (content, provenance and records): the vectors
    carry it, so a reader can tell a committed vector from a stale one. `date` is ISO (`YYYY[-MM[-DD]]`) when
    a source gives a year, else a dump's listing date ("Mar 11"); `listed` every listing date of the paper.
    """

    paper_id: str
    title: str
    content_hash: str
    sources: tuple[str, ...]
    date: str | None
    url: str | None
    authors: tuple[str, ...] = ()
    year: int | None = None
    arxiv_id: str | None = None
    doi: str | None = None
    categories: tuple[str, ...] = ()
    source_labels: tuple[str, ...] = ()
    listed: tuple[str, ...] = ()

    @classmethod
    def from_row(cls, row: tuple) -> PaperMeta:
        """From the columns of `META_COLUMNS`, in order."""
        pid, title, chash, sources, date, url, authors, _n, year, arxiv_id, doi, cats, labels, listed = row
        return cls(
            pid, title, chash, _list(sources), date, url, _list(authors), year, arxiv_id, doi,
            _list(cats), _list(labels), _list(listed),
        )  # fmt: skip

    def source_fields(self) -> dict[str, Any]:
        """The `rag.types.Source` fields this paper fills (all but rank, score, text and the rank details)."""
        return {
            "title": self.title,
            "paper_id": self.paper_id,
            "sources": list(self.sources),
            "date": self.date,
            "url": self.url,
            "authors": list(self.authors),
            "year": self.year,
            "arxiv_id": self.arxiv_id,
            "doi": self.doi,
            "categories": list(self.categories),
            "source_labels": list(self.source_labels),
        }


def row_hash(paper: Paper) -> str:
    """The hash of a paper's row: its content (`Paper.content_hash`), where it came from (files, source labels)
    and the records it was merged from, so that any change to what the index holds about it changes the hash
    its vectors carry (a change of provenance alone rewrites their metadata, not the vectors)."""
    h = hashlib.sha256(paper.content_hash.encode())
    # A set: the same record read from a second path (the bundled corpus after a reinstall) changes nothing shown.
    keys = sorted({f"{r.source}\x1f{r.fingerprint}" for r in paper.records})
    for part in (*paper.sources, "\x00", *paper.source_labels, "\x00", *keys):
        h.update(part.encode())
        h.update(b"\x1e")
    return h.hexdigest()[:20]


def paper_row(paper: Paper, hash_: str, n_chunks: int) -> PaperRow:
    """A `Paper` as the values of PAPER_COLUMNS."""
    return (
        paper.paper_id, paper.title, paper.abstract, hash_, json.dumps(paper.sources), paper.date, paper.url,
        json.dumps(list(paper.author_names)), n_chunks, paper.year, paper.arxiv_id, paper.doi,
        json.dumps(list(paper.categories)), json.dumps(list(paper.source_labels)), json.dumps(list(paper.listed)),
    )  # fmt: skip


@dataclass(frozen=True)
class StoredRecord:
    """One row of `source_records`: what one source file (by full path) said about one paper."""

    path: str
    fingerprint: str
    paper_id: str
    line: int
    record_json: str

    @property
    def record(self) -> SourceRecord:
        return SourceRecord.from_json(self.record_json)

    def row(self) -> RecordRow:
        return (self.path, self.fingerprint, self.paper_id, self.line, self.record_json)
