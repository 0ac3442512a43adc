"""A persistent, content-addressed store of text vectors for one embedding model (SQLite): the abstract sentences
the extractive answerer weighs are embedded once, at ingest or by the first answer that needs them, and read back
by every later answer in any process. Keys are hashes of the texts, so an entry is never stale; a damaged or
unwritable store is skipped (vectors are then computed as if it were empty), never an error."""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from contextlib import suppress
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

# SQLite binds at most 32,766 variables per statement; lookups go in pages well under that.
_PAGE = 500
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS vectors (key BLOB PRIMARY KEY, vector BLOB NOT NULL) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS papers (content_hash TEXT PRIMARY KEY) WITHOUT ROWID",
)


def text_key(text: str) -> bytes:
    """16 bytes of the text's sha256: collisions are out of reach for any corpus this product holds."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()[:16]


class VectorCache:
    """`get(texts) -> {text: vector}` and `put(texts, vectors)` for float32 vectors of `dimension` components, in
    the SQLite file `path`; `papers_missing` / `mark_papers` record which papers' sentences were all stored.
    Thread-safe. Every failure (a full disk, a read-only directory, a damaged file) disables the store for this
    process with one log line."""

    def __init__(self, path: Path, dimension: int) -> None:
        self.path = Path(path)
        self.dimension = dimension
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._broken = False

    def _open(self) -> sqlite3.Connection | None:
        if self._db is not None or self._broken:
            return self._db
        try:
            self._db = self._connect()
        except sqlite3.OperationalError as exc:  # unwritable, locked past the timeout, a full disk
            self._disable(exc)
        except sqlite3.DatabaseError as exc:  # not a database any more: it holds only derived data, so start again
            log.warning("the vector cache %s is damaged (%s); starting it again", self.path, exc)
            for suffix in ("", "-wal", "-shm"):
                with suppress(OSError):
                    Path(f"{self.path}{suffix}").unlink()
            try:
                self._db = self._connect()
            except sqlite3.Error as again:
                self._disable(again)
        except OSError as exc:
            self._disable(exc)
        return self._db

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=5.0, check_same_thread=False, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # a lost last write costs a recomputation, nothing more
            for statement in _SCHEMA:
                db.execute(statement)
        except BaseException:
            db.close()
            raise
        return db

    def _disable(self, exc: Exception) -> None:
        log.warning("not caching vectors in %s: %s", self.path, exc)
        self._broken = True
        self._db = None

    def get(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """The stored vectors of those `texts` that have one."""
        keys = {text_key(t): t for t in texts}
        out: dict[str, np.ndarray] = {}
        with self._lock:
            db = self._open()
            if db is None or not keys:
                return out
            listed = list(keys)
            try:
                for i in range(0, len(listed), _PAGE):
                    page = listed[i : i + _PAGE]
                    marks = ",".join("?" * len(page))
                    for key, blob in db.execute(f"SELECT key, vector FROM vectors WHERE key IN ({marks})", page):
                        if len(blob) == 4 * self.dimension:
                            out[keys[key]] = np.frombuffer(blob, dtype=np.float32)
            except sqlite3.Error as exc:
                self._disable(exc)
        return out

    def put(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        """Store one vector per text (rows of `vectors`)."""
        rows = [(text_key(t), np.asarray(v, dtype=np.float32).tobytes()) for t, v in zip(texts, vectors, strict=True)]
        self._write("INSERT OR REPLACE INTO vectors (key, vector) VALUES (?, ?)", rows)

    def papers_missing(self, content_hashes: Iterable[str]) -> list[str]:
        """Those content hashes not yet marked done, in the order given (all of them when the store is off)."""
        wanted = list(dict.fromkeys(content_hashes))
        with self._lock:
            db = self._open()
            if db is None:
                return wanted
            done: set[str] = set()
            try:
                for i in range(0, len(wanted), _PAGE):
                    page = wanted[i : i + _PAGE]
                    marks = ",".join("?" * len(page))
                    done.update(
                        r[0]
                        for r in db.execute(f"SELECT content_hash FROM papers WHERE content_hash IN ({marks})", page)
                    )
            except sqlite3.Error as exc:
                self._disable(exc)
        return [h for h in wanted if h not in done]

    def mark_papers(self, content_hashes: Iterable[str]) -> None:
        """Record that every sentence of these papers is stored."""
        self._write("INSERT OR IGNORE INTO papers (content_hash) VALUES (?)", [(h,) for h in content_hashes])

    @property
    def enabled(self) -> bool:
        with self._lock:
            return self._open() is not None

    def _write(self, sql: str, rows: list[tuple]) -> None:
        if not rows:
            return
        with self._lock:
            db = self._open()
            if db is None:
                return
            try:
                db.execute("BEGIN IMMEDIATE")
                db.executemany(sql, rows)
                db.execute("COMMIT")
            except sqlite3.OperationalError as exc:  # busy past the timeout, or a full disk: skip this write
                with suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
                log.info("vectors not cached in %s: %s", self.path, exc)
            except sqlite3.Error as exc:
                self._disable(exc)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
