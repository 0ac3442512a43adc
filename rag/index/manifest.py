"""The manifest: the SQLite catalogue of committed papers and chunks, and the settings the index was built with.

It is the record of what is committed. Readers open it read-only (so a reader never writes, and an index on a
read-only mount can be read); the writer changes it in single transactions, each of which stamps a new
`version` in `meta`: the cheap token readers compare before every query.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.index.errors import RESET, IndexCorrupt, write_failure_reason
from rag.index.rows import (
    META_COLUMNS,
    PAPER_COLUMNS,
    ChunkRow,
    PaperMeta,
    PaperRow,
    RecordRow,
    StoredRecord,
)

# The index's on-disk schema; an index written with another one is rebuilt (`rag ingest --reset`), never guessed at.
SCHEMA_VERSION = 2
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS papers (
    paper_id TEXT PRIMARY KEY, title TEXT NOT NULL, abstract TEXT NOT NULL, hash TEXT NOT NULL,
    sources TEXT NOT NULL, date TEXT, url TEXT, authors TEXT, n_chunks INTEGER NOT NULL,
    year INTEGER, arxiv_id TEXT, doi TEXT, categories TEXT, source_labels TEXT, listed TEXT);
CREATE TABLE IF NOT EXISTS chunks (
    chunk_id TEXT PRIMARY KEY, paper_id TEXT NOT NULL, chunk_no INTEGER NOT NULL, text TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS chunks_by_paper ON chunks(paper_id);
CREATE TABLE IF NOT EXISTS source_records (
    source TEXT NOT NULL, fingerprint TEXT NOT NULL, paper_id TEXT NOT NULL, line INTEGER NOT NULL,
    record_json TEXT NOT NULL, PRIMARY KEY (source, fingerprint));
CREATE INDEX IF NOT EXISTS records_by_paper ON source_records(paper_id);
"""
_TABLES = ("papers", "chunks", "source_records", "meta")
_MARKS = ", ".join("?" * len(PAPER_COLUMNS))


@dataclass(frozen=True)
class ManifestState:
    """One consistent read of the manifest: meta, the committed papers, the chunk count (and rows if asked)."""

    version: str
    meta: dict[str, str]
    papers: dict[str, PaperMeta]
    chunk_count: int
    chunk_rows: list[tuple[str, str]] = field(default_factory=list)


def schema_matches(meta: dict[str, str]) -> bool:
    """Whether a manifest's meta says it has this version's tables (an empty or new manifest says nothing)."""
    return meta.get("schema", str(SCHEMA_VERSION)) == str(SCHEMA_VERSION)


def fingerprint_of(pairs: Iterable[tuple[str, str]]) -> str:
    """A digest of the committed (paper id, content hash) pairs: equal fingerprints, equal content."""
    h = hashlib.sha256()
    for pid, chash in sorted(pairs):
        h.update(f"{pid}\x00{chash}\n".encode())
    return h.hexdigest()[:24]


def corrupt(path: Path, exc: BaseException) -> IndexCorrupt:
    return IndexCorrupt(f"the index manifest {path} is unreadable ({exc}); {RESET}")


class Manifest:
    """The catalogue at `path`. Read methods are thread-safe (one read-only connection per thread)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._local = threading.local()

    # ---- reading ---------------------------------------------------------------------------------------
    def exists(self) -> bool:
        return self.path.exists()

    def _reader(self) -> sqlite3.Connection | None:
        """This thread's read-only connection, reopened when the file was replaced; None if there is no file."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        ident = (st.st_dev, st.st_ino)
        held = getattr(self._local, "conn", None)
        if held is not None and held[1] == ident:
            return held[0]
        if held is not None:
            held[0].close()
        conn = self._open_read_only()
        self._local.conn = (conn, ident)
        return conn

    def _open_read_only(self) -> sqlite3.Connection:
        uri = self.path.resolve().as_uri()
        for mode in ("mode=ro", "immutable=1"):
            try:
                conn = sqlite3.connect(f"{uri}?{mode}", uri=True, isolation_level=None, check_same_thread=False)
                conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
                return conn
            except sqlite3.OperationalError as exc:
                # A read-only directory without the write-ahead log's side files: nothing can change the file
                # there, so SQLite may read it as immutable.
                if mode != "mode=ro" or os.access(self.path.parent, os.W_OK):
                    raise corrupt(self.path, exc) from exc
            except sqlite3.DatabaseError as exc:
                raise corrupt(self.path, exc) from exc
        raise AssertionError("unreachable")

    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[tuple]:
        conn = self._reader()
        if conn is None:
            return []
        try:
            return conn.execute(sql, tuple(params)).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []
            raise corrupt(self.path, exc) from exc
        except sqlite3.DatabaseError as exc:
            raise corrupt(self.path, exc) from exc

    def version(self) -> str:
        """The token of the last commit: it changes with every write, including a reset."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return ""
        rows = self._query("SELECT value FROM meta WHERE key = 'version'")
        return f"{st.st_ino}:{rows[0][0] if rows else ''}"

    def meta(self) -> dict[str, str]:
        """The settings the index was built with and its fingerprint (not the commit token)."""
        return dict(self._query("SELECT key, value FROM meta WHERE key != 'version'"))

    def read_state(self, with_chunks: bool = False) -> ManifestState:
        """Meta, papers and chunk count (and every chunk's id and text) from one read transaction."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return ManifestState("", {}, {}, 0)
        conn = self._reader()
        if conn is None:
            return ManifestState("", {}, {}, 0)
        try:
            conn.execute("BEGIN")
            try:
                meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
                if not schema_matches(meta):  # other columns: only meta is read, and the health check says why
                    return ManifestState(f"{st.st_ino}:{meta.pop('version', '')}", meta, {}, 0)
                rows = conn.execute(f"SELECT {META_COLUMNS} FROM papers").fetchall()
                count = int(conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])
                chunks = (
                    conn.execute("SELECT chunk_id, text FROM chunks ORDER BY chunk_id").fetchall()
                    if with_chunks
                    else []
                )
            finally:
                conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return ManifestState(f"{st.st_ino}:", {}, {}, 0)
            raise corrupt(self.path, exc) from exc
        except sqlite3.DatabaseError as exc:
            raise corrupt(self.path, exc) from exc
        version = f"{st.st_ino}:{meta.pop('version', '')}"
        papers = {r[0]: PaperMeta.from_row(r) for r in rows}
        return ManifestState(version, meta, papers, count, chunks)

    def abstracts(self, paper_ids: list[str]) -> dict[str, tuple[str, str]]:
        """paper id -> (abstract, content hash) for the committed papers among `paper_ids`."""
        if not paper_ids:
            return {}
        marks = ",".join("?" * len(paper_ids))
        rows = self._query(f"SELECT paper_id, abstract, hash FROM papers WHERE paper_id IN ({marks})", paper_ids)
        return {r[0]: (r[1], r[2]) for r in rows}

    def chunk_ids(self) -> set[str]:
        return {r[0] for r in self._query("SELECT chunk_id FROM chunks")}

    # ---- writing (the writer's connection) -----------------------------------------------------------------
    @contextmanager
    def writing(self) -> Iterator[ManifestWriter]:
        """A read-write connection for one ingest; creates the file and its tables when missing."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        try:
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                # An ingest commits in one transaction, so the WAL grows to the size of the change (490 MB at
                # 100k papers); let checkpoints shrink it back instead of keeping it at its high-water mark.
                conn.execute("PRAGMA journal_size_limit=67108864")
                conn.executescript(_SCHEMA)
            except sqlite3.DatabaseError as exc:
                if write_failure_reason(exc) is None:
                    raise corrupt(self.path, exc) from exc
                raise
            yield ManifestWriter(conn)
        finally:
            conn.close()

    def delete_files(self) -> None:
        """Remove an unreadable manifest (and its write-ahead log) so that it can be created afresh."""
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)


class ManifestWriter:
    """Writes to the manifest; every method is one transaction that stamps a new version."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def meta(self) -> dict[str, str]:
        return dict(self.conn.execute("SELECT key, value FROM meta WHERE key != 'version'").fetchall())

    def papers(self) -> dict[str, PaperMeta]:
        rows = self.conn.execute(f"SELECT {META_COLUMNS} FROM papers").fetchall()
        return {r[0]: PaperMeta.from_row(r) for r in rows}

    def texts(self, paper_ids: list[str]) -> dict[str, tuple[str, str]]:
        """paper id -> (title, abstract) of the committed papers among `paper_ids` (what their chunks hold)."""
        out = {}
        for i in range(0, len(paper_ids), 500):
            batch = paper_ids[i : i + 500]
            marks = ",".join("?" * len(batch))
            sql = f"SELECT paper_id, title, abstract FROM papers WHERE paper_id IN ({marks})"
            out.update({r[0]: (r[1], r[2]) for r in self.conn.execute(sql, batch)})
        return out

    def records(self, paper_ids: list[str] | None = None) -> list[StoredRecord]:
        """The stored source records (of these papers only, if given), ordered by file, line and fingerprint:
        the order papers are rebuilt in, so that a rebuild gives the same paper."""
        sql = "SELECT source, fingerprint, paper_id, line, record_json FROM source_records"
        if paper_ids is None:
            rows = self.conn.execute(sql).fetchall()
        else:
            rows = []
            for i in range(0, len(paper_ids), 500):
                batch = paper_ids[i : i + 500]
                marks = ",".join("?" * len(batch))
                rows += self.conn.execute(f"{sql} WHERE paper_id IN ({marks})", batch).fetchall()
        return sorted((StoredRecord(*r) for r in rows), key=lambda r: (r.path, r.line, r.fingerprint))

    def chunk_owners(self) -> dict[str, str]:
        return dict(self.conn.execute("SELECT chunk_id, paper_id FROM chunks").fetchall())

    def chunk_count(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])

    def chunk_rows(self) -> tuple[list[str], list[str]]:
        """Every committed chunk's id and text, ordered by id (what BM25 is built from)."""
        rows = self.conn.execute("SELECT chunk_id, text FROM chunks ORDER BY chunk_id").fetchall()
        return [r[0] for r in rows], [r[1] for r in rows]

    def _stamp(self, meta: dict[str, str]) -> None:
        self.conn.executemany(
            "INSERT OR REPLACE INTO meta VALUES (?, ?)", [*meta.items(), ("version", secrets.token_hex(8))]
        )

    def _write_records(self, dropped: Iterable[tuple[str, str]], rows: Iterable[RecordRow]) -> None:
        self.conn.executemany("DELETE FROM source_records WHERE source = ? AND fingerprint = ?", list(dropped))
        self.conn.executemany("INSERT OR REPLACE INTO source_records VALUES (?, ?, ?, ?, ?)", list(rows))

    def commit(
        self,
        replaced: Iterable[str],
        papers: list[PaperRow],
        chunks: list[ChunkRow],
        meta: dict[str, str],
        records: tuple[Iterable[tuple[str, str]], Iterable[RecordRow]] = ((), ()),
        server: bool = False,
    ) -> str:
        """Replace the papers in `replaced` (rows and chunks) by `papers` and `chunks`, write `papers` rows whose
        chunks stay (a metadata change), and apply `records` = (dropped (file, fingerprint) keys, new rows).
        Returns the new fingerprint. In server mode the commit is also what this home has mirrored."""
        with self.conn:
            for pid in replaced:
                self.conn.execute("DELETE FROM papers WHERE paper_id = ?", (pid,))
                self.conn.execute("DELETE FROM chunks WHERE paper_id = ?", (pid,))
            self.conn.executemany(f"INSERT OR REPLACE INTO papers VALUES ({_MARKS})", papers)
            self.conn.executemany("INSERT OR REPLACE INTO chunks VALUES (?, ?, ?, ?)", chunks)
            self._write_records(*records)
            fp = fingerprint_of(self.conn.execute("SELECT paper_id, hash FROM papers").fetchall())
            self.conn.execute("DELETE FROM meta WHERE key = 'reset_started'")
            self._stamp({**meta, "fingerprint": fp, **({"server_fingerprint": fp} if server else {})})
        self.checkpoint()
        return fp

    def update_records(self, dropped: Iterable[tuple[str, str]], rows: Iterable[RecordRow]) -> None:
        """Record changes that change no paper (a record moved to another line of its file)."""
        with self.conn:
            self._write_records(dropped, rows)
            self._stamp({})

    def replace_all(
        self, papers: list[PaperRow], chunks: list[ChunkRow], records: list[RecordRow], meta: dict[str, str]
    ) -> None:
        """Make the manifest exactly this content (a server client rebuilding its local copy)."""
        with self.conn:
            for table in _TABLES:
                self.conn.execute(f"DELETE FROM {table}")
            self.conn.executemany(f"INSERT INTO papers VALUES ({_MARKS})", papers)
            self.conn.executemany("INSERT INTO chunks VALUES (?, ?, ?, ?)", chunks)
            self._write_records((), records)
            self._stamp(meta)
        self.checkpoint()

    def clear(self, started: str) -> None:
        """Empty the manifest for a reset, marked so that readers of a reset killed half-way are told. The tables
        are made afresh: a reset is also how an index written with an older schema is rebuilt."""
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")  # DDL opens no transaction by itself: readers see all or nothing
            for table in _TABLES:
                self.conn.execute(f"DROP TABLE IF EXISTS {table}")
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self.conn.execute(statement)
            self._stamp({"reset_started": started})

    def checkpoint(self) -> None:
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
