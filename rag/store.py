"""The index: Chroma (dense vectors), a SQLite manifest (papers, chunks, settings) and BM25 beside it.

Consistency rules:
- The SQLite manifest is the record of what is committed. It changes in one transaction at the end of an
  ingest, after Chroma holds the new vectors; BM25 is rebuilt from it and carries its fingerprint.
- Dense hits are checked against the manifest (paper id and content hash), so a run killed half-way
  through writing Chroma never shows readers a mix: they see the last committed state.
- A journal names the papers an unfinished run was touching; the next ingest cleans their vectors first.
- One ingest at a time: a lock file in the index directory, held with `flock`.
- Client/server mode (`RAG_CHROMA_URL`): the server holds the vectors and everything needed to rebuild the
  manifest (chunk texts as documents; chunk 0's metadata carries the abstract); the collection's metadata
  carries the fingerprint of the last commit. Each client keeps its own manifest and BM25 in its `RAG_HOME`
  and rebuilds them from the collection whenever that fingerprint differs from the one it last synced with,
  so every client's BM25 matches what the server holds.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import math
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Hashable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ingest import Chunk, Paper, chunk_paper
from rag.bm25 import BM25Index
from rag.settings import Settings
from rag.types import IngestReport, Source

SCHEMA_VERSION = 1
Progress = Callable[[int, int], None]
# How stale a client's view of a shared server may get: at most one metadata round-trip per this many seconds.
SERVER_CHECK_SECONDS = 2.0
# Chunks per Chroma write; one HTTP request or one local transaction each.
WRITE_BATCH = 512
# Over-fetching more neighbours than this for a filtered dense search is slower than Chroma's own filter.
POSTFILTER_MAX_FETCH = 20_000
log = logging.getLogger(__name__)


class IndexProblem(RuntimeError):
    """Base class for index problems; messages end with the command that fixes them."""


class IndexMismatch(IndexProblem):
    pass


class IndexCorrupt(IndexProblem):
    pass


class IndexBusy(IndexProblem):
    pass


@dataclass(frozen=True)
class PaperMeta:
    paper_id: str
    title: str
    content_hash: str
    sources: tuple[str, ...]
    date: str | None
    url: str | None


def fingerprint_of(pairs: Iterable[tuple[str, str]]) -> str:
    h = hashlib.sha256()
    for pid, chash in sorted(pairs):
        h.update(f"{pid}\x00{chash}\n".encode())
    return h.hexdigest()[:24]


class Index:
    """Everything stateful about the collection. Thread-safe for readers; one writer at a time."""

    def __init__(self, settings: Settings, embeddings: Any = None) -> None:
        self.settings = settings
        self.home = Path(settings.home).expanduser()
        self._embeddings = embeddings
        self._client: Any = None
        self._collection: Any = None
        self._bm25: BM25Index | None = None
        self._papers: dict[str, PaperMeta] | None = None
        # BM25 row -> paper number, and paper id -> number: filter masks without a Python loop over chunks
        self._bm25_rows: tuple[np.ndarray, dict[str, int]] | None = None
        self._chunk_count: int | None = None
        self._matching: dict[Hashable, frozenset[str]] = {}
        self._local = threading.local()
        self._load_lock = threading.RLock()
        self._last_server_check = float("-inf")
        self._stray_on_server: set[str] = set()
        self._healthy: str | None = None  # the fingerprint `check_health` last passed
        self._force_refresh: set[str] = set()

    # ---- locations -------------------------------------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        return self.home / "manifest.sqlite"

    @property
    def bm25_dir(self) -> Path:
        return self.home / "bm25"

    @property
    def chroma_dir(self) -> Path:
        return self.home / "chroma"

    @property
    def journal_path(self) -> Path:
        return self.home / "ingest.journal"

    @property
    def location(self) -> str:
        return self.settings.chroma_url or str(self.chroma_dir)

    # ---- components ------------------------------------------------------------------------------------
    @property
    def embeddings(self) -> Any:
        with self._load_lock:
            if self._embeddings is None:
                from rag.embeddings import load_embeddings

                s = self.settings
                key = s.openai_api_key.get_secret_value() if s.openai_api_key else None
                self._embeddings = load_embeddings(s.embedding_model, s.embed_batch_size, s.llm_base_url, key)
            return self._embeddings

    def _client_(self) -> Any:
        if self._client is None:
            import chromadb
            from chromadb.config import Settings as ChromaSettings

            cs = ChromaSettings(anonymized_telemetry=False)
            if self.settings.chroma_url:
                from urllib.parse import urlparse

                u = urlparse(self.settings.chroma_url)
                self._client = chromadb.HttpClient(
                    host=u.hostname or "127.0.0.1", port=u.port or 8000, ssl=u.scheme == "https", settings=cs
                )
            else:
                self.chroma_dir.mkdir(parents=True, exist_ok=True)
                self._client = chromadb.PersistentClient(path=str(self.chroma_dir), settings=cs)
        return self._client

    @property
    def is_server(self) -> bool:
        return bool(self.settings.chroma_url)

    @property
    def collection(self) -> Any:
        with self._load_lock:
            if self._collection is None:
                self._collection = self._open_collection()
            return self._collection

    def _open_collection(self) -> Any:
        return self._client_().get_or_create_collection(
            self.settings.collection, configuration={"hnsw": {"space": "cosine"}}, embedding_function=None
        )

    def _db(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            self.home.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.manifest_path, timeout=30)
            try:
                self._init_manifest(conn)
            except sqlite3.DatabaseError as exc:
                conn.close()
                raise self._manifest_corrupt(exc) from exc
            self._local.conn = conn
        return conn

    def _manifest_corrupt(self, exc: BaseException) -> IndexCorrupt:
        return IndexCorrupt(
            f"the index manifest {self.manifest_path} is unreadable ({exc}); rebuild the index with: rag ingest --reset"
        )

    @staticmethod
    def _init_manifest(conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA journal_mode=WAL")
        # An ingest commits in one transaction, so the WAL grows to the size of the change (490 MB at 100k
        # papers); let checkpoints shrink it back instead of keeping the file at its high-water mark.
        conn.execute("PRAGMA journal_size_limit=67108864")
        conn.executescript(
            """
            CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS papers (
                paper_id TEXT PRIMARY KEY, title TEXT NOT NULL, abstract TEXT NOT NULL, hash TEXT NOT NULL,
                sources TEXT NOT NULL, date TEXT, url TEXT, authors TEXT, n_chunks INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS chunks (
                chunk_id TEXT PRIMARY KEY, paper_id TEXT NOT NULL, chunk_no INTEGER NOT NULL, text TEXT NOT NULL);
            CREATE INDEX IF NOT EXISTS chunks_by_paper ON chunks(paper_id);
            """
        )

    def meta(self) -> dict[str, str]:
        return dict(self._db().execute("SELECT key, value FROM meta").fetchall())

    def expected_meta(self) -> dict[str, str]:
        s = self.settings
        return {
            "schema": str(SCHEMA_VERSION),
            "embedding_model": s.embedding_model,
            "chunk_tokens": str(s.chunk_tokens),
            "chunk_overlap": str(s.chunk_overlap),
        }

    # ---- health ----------------------------------------------------------------------------------------
    def check_compatible(self) -> None:
        """Refuse to mix vectors from another embedding model or chunking with this one."""
        try:
            meta = self.meta()
        except sqlite3.DatabaseError as exc:
            raise self._manifest_corrupt(exc) from exc
        if not meta:
            return
        for key, want in self.expected_meta().items():
            have = meta.get(key)
            if have is not None and have != want:
                raise IndexMismatch(
                    f"the index at {self.home} was built with {key}={have}, but the settings say {key}={want}; "
                    "rebuild it with: rag ingest --reset (or set the setting back)"
                )

    def check_health(self) -> None:
        """Refuse, with one message naming the fix, an index that is unreadable, incomplete or written with other
        settings: a garbled manifest, a missing or unreadable vector store, vectors from another model, or a
        manifest whose vectors are gone (a `--reset` killed half-way). Readers never get a traceback or a silent
        BM25-only answer. The full check runs once per committed state; later calls cost one manifest query."""
        self.check_compatible()
        if self.is_server:
            return
        try:
            n_chunks = self._db().execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
            state = self.fingerprint()
        except sqlite3.DatabaseError as exc:
            raise self._manifest_corrupt(exc) from exc
        if not n_chunks:
            return
        fix = "rebuild the index with: rag ingest --reset"
        if not (self.chroma_dir / "chroma.sqlite3").exists():
            raise IndexCorrupt(
                f"the vector store {self.chroma_dir} is missing (the manifest lists {n_chunks} chunks); {fix}"
            )
        if self._healthy == state:
            return
        from chromadb.errors import NotFoundError

        try:
            collection = self._client_().get_collection(self.settings.collection, embedding_function=None)
            published, count = dict(collection.metadata or {}), collection.count()
        except NotFoundError:
            raise IndexCorrupt(
                f"the vector store {self.chroma_dir} has no collection {self.settings.collection!r} (an interrupted "
                f"--reset?); {fix}"
            ) from None
        except Exception as exc:
            raise self._vectors_unreadable(exc) from exc
        for key, want in self.expected_meta().items():
            have = published.get(f"rag_{key}")
            if have is not None and str(have) != want:
                raise IndexMismatch(
                    f"the vectors in {self.chroma_dir} were written with {key}={have}, but the manifest and settings "
                    f"say {key}={want}; {fix}"
                )
        if count == 0:
            raise IndexCorrupt(f"the vector store {self.chroma_dir} holds no vectors for {n_chunks} chunks; {fix}")
        self._healthy = state

    def _vectors_unreadable(self, exc: BaseException) -> IndexCorrupt:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        return IndexCorrupt(
            f"the vector store {self.chroma_dir} cannot be read ({reason}); rebuild the index with: rag ingest --reset"
        )

    def is_empty(self) -> bool:
        return not self.papers()

    # ---- reading ---------------------------------------------------------------------------------------
    def papers(self) -> dict[str, PaperMeta]:
        with self._load_lock:
            self.sync_with_server()
            if self._papers is None:
                rows = self._db().execute("SELECT paper_id, title, hash, sources, date, url FROM papers").fetchall()
                self._papers = {r[0]: PaperMeta(r[0], r[1], r[2], tuple(json.loads(r[3])), r[4], r[5]) for r in rows}
            return self._papers

    def papers_by_arxiv_id(self, arxiv_ids: list[str]) -> list[Source]:
        """The indexed papers with these arXiv ids (version suffixes ignored), as sources ranked 1, 2, ...
        in the order asked."""
        papers = self.papers()
        out: list[Source] = []
        for aid in arxiv_ids:
            pid = "arxiv-" + aid.split("v")[0] if "v" in aid else "arxiv-" + aid
            meta = papers.get(pid)
            if meta is None or any(s.paper_id == pid for s in out):
                continue
            text = self.abstracts([pid]).get(pid, "")
            out.append(
                Source(
                    rank=len(out) + 1,
                    title=meta.title,
                    paper_id=pid,
                    score=1.0,
                    text=text,
                    sources=list(meta.sources),
                    date=meta.date,
                    url=meta.url,
                )
            )
        return out

    def abstracts(self, paper_ids: list[str]) -> dict[str, str]:
        if not paper_ids:
            return {}
        q = ",".join("?" * len(paper_ids))
        return dict(self._db().execute(f"SELECT paper_id, abstract FROM papers WHERE paper_id IN ({q})", paper_ids))

    def chunk_texts(self, chunk_ids: list[str]) -> dict[str, str]:
        if not chunk_ids:
            return {}
        q = ",".join("?" * len(chunk_ids))
        return dict(self._db().execute(f"SELECT chunk_id, text FROM chunks WHERE chunk_id IN ({q})", chunk_ids))

    def fingerprint(self) -> str:
        return self.meta().get("fingerprint", "")

    def bm25(self) -> BM25Index:
        with self._load_lock:
            self.sync_with_server()
            if self._bm25 is None:
                fp = self.fingerprint()
                index = None
                for d in (self.bm25_dir, self.bm25_dir.with_name("bm25.old")):
                    if (d / "meta.json").exists():
                        try:
                            index = BM25Index.load(d)
                        except (OSError, ValueError):
                            index = None
                        if index is not None and index.fingerprint == fp:
                            break
                        index = None
                if index is None:
                    index = self._rebuild_bm25(fp)
                self._bm25 = index
            return self._bm25

    def _rebuild_bm25(self, fp: str) -> BM25Index:
        """One pass over the committed chunks: tokenise, count, weight, save."""
        rows = self._db().execute("SELECT chunk_id, text FROM chunks ORDER BY chunk_id").fetchall()
        index = BM25Index.build([r[0] for r in rows], [r[1] for r in rows], fingerprint=fp)
        if rows:
            index.save(self.bm25_dir)
        return index

    def _bm25_paper_rows(self, index: BM25Index) -> tuple[np.ndarray, dict[str, int]]:
        """For each BM25 row the number of its paper, and the numbering; built once per BM25 index."""
        with self._load_lock:
            if self._bm25_rows is None or self._bm25_rows[0].shape[0] != len(index):
                numbers: dict[str, int] = {}
                rows = np.fromiter(
                    (numbers.setdefault(cid.rsplit(":", 1)[0], len(numbers)) for cid in index.ids),
                    dtype=np.int64,
                    count=len(index),
                )
                self._bm25_rows = (rows, numbers)
            return self._bm25_rows

    def dense_search(
        self, query: str, n: int, paper_ids: Collection[str] | None = None
    ) -> list[tuple[str, str, float]]:
        """Top chunks by cosine similarity: (chunk id, paper id, similarity), checked against the manifest.
        `paper_ids` restricts the candidates."""
        papers = self.papers()
        if not papers or n <= 0 or (paper_ids is not None and not paper_ids):
            return []
        vector = self.embeddings.embed_query(query)
        hits = self._dense_postfiltered(vector, n, paper_ids) if paper_ids is not None else None
        if hits is None:
            where = {"paper_id": {"$in": list(paper_ids)}} if paper_ids is not None else None
            res = self.collection.query(
                query_embeddings=[vector], n_results=n, where=where, include=["metadatas", "distances"]
            )
            hits = list(zip(res["ids"][0], res["metadatas"][0], res["distances"][0], strict=False))
        out = []
        for cid, meta, dist in hits:
            pm = papers.get(meta.get("paper_id"))
            if pm is None or pm.content_hash != meta.get("hash"):
                continue  # an uncommitted or stale vector: readers see only the committed state
            out.append((cid, pm.paper_id, 1.0 - float(dist)))
        return out

    def _dense_postfiltered(
        self, vector: list[float], n: int, paper_ids: Collection[str]
    ) -> list[tuple[str, dict[str, Any], float]] | None:
        """A broad filter, answered by over-fetching unfiltered neighbours and keeping the allowed ones.

        Chroma's `$in` filter costs about 30-55 us per listed id (468 ms for 8,300 ids at 100k papers), while
        an unfiltered query costs about 8 us per result fetched without metadata. So when the allowed share
        is large enough that a few multiples of n/share results are cheaper than listing the ids, fetch
        those, keep the allowed ones, and read metadata for the top n only. If fewer than n allowed chunks
        come back, return None and let Chroma filter (exact either way)."""
        share = len(paper_ids) / max(len(self.papers()), 1)
        total = self.chunk_count()
        fetch = min(math.ceil(2 * n / share) + n, total)
        if fetch > 4 * len(paper_ids) or fetch > POSTFILTER_MAX_FETCH:
            return None
        allowed = paper_ids if isinstance(paper_ids, (set, frozenset)) else set(paper_ids)
        res = self.collection.query(query_embeddings=[vector], n_results=fetch, include=["distances"])
        ids, dists = res["ids"][0], res["distances"][0]
        kept = [(cid, d) for cid, d in zip(ids, dists, strict=False) if cid.rsplit(":", 1)[0] in allowed][:n]
        saw_everything = len(ids) < fetch or fetch >= total
        if len(kept) < n and not saw_everything:
            return None
        if not kept:
            return []
        got = self.collection.get(ids=[cid for cid, _ in kept], include=["metadatas"])
        metas = dict(zip(got["ids"], got["metadatas"], strict=False))
        return [(cid, metas.get(cid) or {}, d) for cid, d in kept]

    def papers_matching(self, key: Hashable, predicate: Callable[[PaperMeta], bool]) -> frozenset[str]:
        """Ids of the papers a filter admits, remembered per filter until the index changes: checking every
        paper costs about 250 ms at 100k papers, too much to repeat for each query with the same filter."""
        with self._load_lock:
            papers = self.papers()
            hit = self._matching.get(key)
            if hit is None:
                hit = frozenset(pid for pid, p in papers.items() if predicate(p))
                if len(self._matching) >= 64:
                    self._matching.pop(next(iter(self._matching)))
                self._matching[key] = hit
            return hit

    def chunk_count(self) -> int:
        """Committed chunks (from the manifest, cached with the paper list)."""
        with self._load_lock:
            self.papers()
            if self._chunk_count is None:
                self._chunk_count = int(self._db().execute("SELECT COUNT(*) FROM chunks").fetchone()[0])
            return self._chunk_count

    def bm25_search(self, query: str, n: int, paper_ids: Collection[str] | None = None) -> list[tuple[str, str, float]]:
        """Top chunks by BM25: (chunk id, paper id, score); `paper_ids` restricts the candidates."""
        index = self.bm25()
        mask = None
        if paper_ids is not None:
            rows, numbers = self._bm25_paper_rows(index)
            allowed = np.zeros(len(numbers), dtype=bool)
            allowed[[numbers[p] for p in paper_ids if p in numbers]] = True
            mask = allowed[rows]
        return [(cid, cid.rsplit(":", 1)[0], score) for cid, score in index.search(query, n, mask)]

    def stats(self) -> dict[str, Any]:
        papers = self.papers()
        n_chunks = self._db().execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        sources: dict[str, int] = {}
        for p in papers.values():
            for s in p.sources:
                sources[s] = sources.get(s, 0) + 1
        meta = self.meta()
        return {
            "papers": len(papers),
            "chunks": n_chunks,
            "sources": dict(sorted(sources.items())),
            "index": str(self.home),
            "chroma": self.location,
            "collection": self.settings.collection,
            "embedding_model": meta.get("embedding_model", self.settings.embedding_model),
            "chunk_tokens": int(meta.get("chunk_tokens", self.settings.chunk_tokens)),
            "chunk_overlap": int(meta.get("chunk_overlap", self.settings.chunk_overlap)),
            "fingerprint": meta.get("fingerprint", ""),
            "updated_at": meta.get("updated_at"),
        }

    # ---- writing ---------------------------------------------------------------------------------------
    @contextmanager
    def writer_lock(self, wait: float = 0.0) -> Iterator[None]:
        self.home.mkdir(parents=True, exist_ok=True)
        path = self.home / "ingest.lock"
        fh = open(path, "a+")  # noqa: SIM115 - held for the duration of the context
        deadline = time.monotonic() + wait
        try:
            while True:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        fh.seek(0)
                        holder = fh.read().strip() or "another process"
                        raise IndexBusy(
                            f"another ingest is running on {self.home} ({holder}); wait for it to finish and retry"
                        ) from None
                    time.sleep(0.2)
            fh.seek(0)
            fh.truncate()
            fh.write(f"pid {os.getpid()}")
            fh.flush()
            yield
        finally:
            fh.close()

    def _invalidate(self) -> None:
        with self._load_lock:
            self._papers = None
            self._bm25 = None
            self._bm25_rows = None
            self._chunk_count = None
            self._matching = {}

    def reset(self) -> None:
        """Drop everything: the Chroma collection, the manifest and BM25. Works on a damaged index too: an
        unreadable vector store or manifest is deleted and started afresh."""
        try:
            self._client_().delete_collection(self.settings.collection)
        except Exception as exc:
            if not self.is_server and type(exc).__name__ != "NotFoundError":
                self._discard_local_vectors()
        self._collection = None
        self._healthy = None
        try:
            db = self._db()
        except IndexCorrupt:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.manifest_path}{suffix}").unlink(missing_ok=True)
            db = self._db()
        with db:
            db.execute("DELETE FROM papers")
            db.execute("DELETE FROM chunks")
            db.execute("DELETE FROM meta")
        import shutil

        shutil.rmtree(self.bm25_dir, ignore_errors=True)
        self.journal_path.unlink(missing_ok=True)
        self._stray_on_server = set()
        self._last_server_check = float("-inf")
        self._invalidate()

    def _discard_local_vectors(self) -> None:
        """An unreadable local vector store: delete its directory and forget the client this process opened on
        it (chromadb caches one per path, a broken one included), so the next use starts an empty store."""
        import shutil

        from chromadb.api.shared_system_client import SharedSystemClient

        self._client = None
        with suppress(Exception):  # private cache; at worst a later open in this process fails loudly
            SharedSystemClient._identifier_to_system.pop(str(self.chroma_dir), None)
            SharedSystemClient._identifier_to_refcount.pop(str(self.chroma_dir), None)
        shutil.rmtree(self.chroma_dir, ignore_errors=True)

    # ---- client/server ---------------------------------------------------------------------------------
    def sync_with_server(self, force: bool = False) -> bool:
        """Server mode: rebuild the local manifest and BM25 from the shared collection if it changed since
        this client last looked. At most one metadata request per SERVER_CHECK_SECONDS unless `force`.
        Returns whether the local state was rebuilt."""
        if not self.is_server:
            return False
        with self._load_lock:
            now = time.monotonic()
            if not force and now - self._last_server_check < SERVER_CHECK_SECONDS:
                return False
            self._last_server_check = now
            # A fresh handle each time: another client may have reset (re-created) the collection, and a
            # handle caches the metadata it was opened with.
            self._collection = self._open_collection()
            published = dict(self._collection.metadata or {})
            self._check_server_compatible(published)
            server_fp = str(published.get("rag_fingerprint", ""))
            if server_fp == self.meta().get("server_fingerprint", ""):
                return False
            self._rebuild_from_server(server_fp, str(published.get("rag_updated_at", "")))
            return True

    def _check_server_compatible(self, published: dict[str, Any]) -> None:
        for key, want in self.expected_meta().items():
            have = published.get(f"rag_{key}")
            if have is not None and str(have) != want:
                raise IndexMismatch(
                    f"the shared collection {self.settings.collection!r} at {self.settings.chroma_url} was built with "
                    f"{key}={have}, but the settings say {key}={want}; set it back, or rebuild the shared collection "
                    "with: rag ingest --reset"
                )

    def _rebuild_from_server(self, server_fp: str, updated_at: str) -> None:
        """Replace the local manifest with the committed papers the collection holds, then drop BM25 so it is
        rebuilt from them. A paper whose chunks are incomplete or carry two hashes belongs to a write that has
        not committed; it is left out and its vectors are cleaned by the next ingest."""
        for attempt in range(3):
            papers, chunks, stray = _read_collection(self._collection)
            fp = fingerprint_of((row[0], row[3]) for row in papers)
            if not server_fp or fp == server_fp:
                break
            if attempt < 2:  # another client is between its vector writes and its commit: give it a moment
                time.sleep(0.5)
                server_fp = str((self._open_collection().metadata or {}).get("rag_fingerprint", ""))
        else:
            log.warning(
                "the shared collection %r holds papers its last commit does not name (an ingest is running or was "
                "interrupted); using the %d complete papers it holds",
                self.settings.collection,
                len(papers),
            )
        meta = {
            **self.expected_meta(),
            "fingerprint": fp,
            "server_fingerprint": server_fp,
            "updated_at": updated_at or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        db = self._db()
        with db:
            db.execute("DELETE FROM papers")
            db.execute("DELETE FROM chunks")
            db.execute("DELETE FROM meta")
            db.executemany("INSERT INTO papers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", papers)
            db.executemany("INSERT INTO chunks VALUES (?, ?, ?, ?)", chunks)
            db.executemany("INSERT INTO meta VALUES (?, ?)", list(meta.items()))
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._stray_on_server = stray
        self._invalidate()

    # ---- writing ---------------------------------------------------------------------------------------
    def _recover(self) -> None:
        """Clean up after an interrupted run. The journal names the papers it was changing: vectors of papers
        that never committed are removed, committed ones are re-embedded. Locally, Chroma is then compared with
        the manifest, which also catches what no journal names (a `--reset` killed after dropping the vectors,
        a vector store deleted by hand): vectors no committed chunk owns, or carrying a stale hash, are removed,
        and committed papers missing any vector are re-embedded from the manifest."""
        self._force_refresh = set()
        if self.journal_path.exists():
            try:
                pending = json.loads(self.journal_path.read_text())
            except ValueError:
                pending = {}
            committed = self.papers()
            stray = [pid for pid in pending.get("papers", []) if pid not in committed]
            touched = [pid for pid in pending.get("papers", []) if pid in committed]
            for batch in _batched(stray, 500):
                self.collection.delete(where={"paper_id": {"$in": batch}})
            # Papers that stayed committed keep their old manifest entry; their vectors may have been replaced
            # half-way, so they are re-embedded by marking them changed.
            self._force_refresh = set(touched)
            self.journal_path.unlink(missing_ok=True)
        if not self.is_server and self._vectors_may_differ():
            self._reconcile()

    def _vectors_may_differ(self) -> bool:
        """A cheap test before the full comparison, which reads every vector's metadata (39 s at 100k papers,
        in every ingest): the collection holds as many vectors as the manifest has chunks and carries the
        fingerprint of the manifest's last commit. Changes in place are covered by the journal."""
        try:
            collection = self._client_().get_collection(self.settings.collection, embedding_function=None)
            published, count = dict(collection.metadata or {}), collection.count()
        except Exception:
            return True  # absent or unreadable: the full comparison says which
        return count != self.chunk_count() or published.get("rag_fingerprint") != self.fingerprint()

    def _reconcile(self) -> None:
        committed = self.papers()
        owner = dict(self._db().execute("SELECT chunk_id, paper_id FROM chunks").fetchall())
        stale = []
        seen: set[str] = set()
        try:
            for got in _pages(self.collection, include=["metadatas"]):
                for cid, meta in zip(got["ids"], got["metadatas"] or [], strict=False):
                    seen.add(cid)
                    pid = owner.get(cid)
                    if pid is None or pid not in committed or (meta or {}).get("hash") != committed[pid].content_hash:
                        stale.append(cid)
        except Exception as exc:
            raise self._vectors_unreadable(exc) from exc
        for batch in _batched(stale, 500):
            self.collection.delete(ids=batch)
        present = seen - set(stale)
        missing = {pid for cid, pid in owner.items() if cid not in present}
        if stale or missing:
            log.warning(
                "index repair: removed %d stray vectors; re-embedding %d papers whose vectors are missing",
                len(stale),
                len(missing),
            )
        self._force_refresh |= missing

    def _papers_from_manifest(self, paper_ids: Iterable[str]) -> list[Paper]:
        """Committed papers rebuilt from the manifest (to re-embed those a source no longer names)."""
        out = []
        for pid in sorted(paper_ids):
            row = (
                self._db()
                .execute(
                    "SELECT title, abstract, hash, sources, date, url, authors FROM papers WHERE paper_id = ?", (pid,)
                )
                .fetchone()
            )
            if row is None:
                continue
            arxiv = pid.removeprefix("arxiv-") if pid.startswith("arxiv-") else None
            paper = Paper(row[0], row[1], json.loads(row[3]), url=row[5], date=row[4], authors=row[6], arxiv_id=arxiv)
            if paper.paper_id == pid and paper.content_hash == row[2]:
                out.append(paper)
            else:  # cannot happen for rows this code wrote; never write vectors under a different identity
                log.warning("cannot rebuild paper %s from the manifest; `rag ingest --reset` will", pid)
        return out

    def ingest(
        self,
        papers: list[Paper],
        prune: bool = False,
        reset: bool = False,
        progress: Progress | None = None,
        files: list[str] | None = None,
    ) -> IngestReport:
        start = time.perf_counter()
        with self.writer_lock():
            if reset:
                self.reset()
            else:
                self.check_compatible()
            # In server mode the diff is against what the server holds, not what this client saw last.
            self.sync_with_server(force=True)
            self._recover()
            committed = self.papers()
            incoming = {p.paper_id: p for p in papers}
            added = [p for pid, p in incoming.items() if pid not in committed]
            updated = [
                p
                for pid, p in incoming.items()
                if pid in committed and (committed[pid].content_hash != p.content_hash or pid in self._force_refresh)
            ]
            removed = [pid for pid in committed if pid not in incoming] if prune else []
            unchanged = len(incoming) - len(added) - len(updated)
            # Committed papers whose vectors were lost, and that this run's sources do not name: re-embed them
            # from the manifest, so that the index stays whole. Counted as updated.
            updated += self._papers_from_manifest(self._force_refresh - set(incoming) - set(removed))
            # Same content found in another file: record the file (filters use it), nothing to embed.
            changed_ids = {p.paper_id for p in updated}
            self._merge_sources(
                [
                    p
                    for pid, p in incoming.items()
                    if pid in committed and pid not in changed_ids and not set(p.sources) <= set(committed[pid].sources)
                ]
            )
            report = IngestReport(added=len(added), updated=len(updated), unchanged=unchanged, removed=len(removed))
            report.files = files or []
            if added or updated or removed or not self.meta():
                # Uncommitted vectors another client left on the server are cleaned with the replaced ones.
                replaced = [p.paper_id for p in updated] + removed + sorted(self._stray_on_server)
                report.embedded_chunks = self._write(added + updated, replaced, progress)
            stats = self.stats()
            report.papers, report.chunks = stats["papers"], stats["chunks"]
        report.seconds = round(time.perf_counter() - start, 3)
        return report

    def _merge_sources(self, papers: list[Paper]) -> None:
        """Add newly seen source files to unchanged papers, in one transaction; nothing is re-embedded."""
        if not papers:
            return
        committed = self.papers()
        db = self._db()
        with db:
            for p in papers:
                merged = list(dict.fromkeys([*committed[p.paper_id].sources, *p.sources]))
                db.execute("UPDATE papers SET sources = ? WHERE paper_id = ?", (json.dumps(merged), p.paper_id))
        self._invalidate()

    def _write(self, changed: list[Paper], replaced_ids: list[str], progress: Progress | None) -> int:
        s = self.settings
        by_paper = {p.paper_id: chunk_paper(p, s.chunk_tokens, s.chunk_overlap) for p in changed}
        chunks = [c for cs in by_paper.values() for c in cs]
        papers_by_id = {p.paper_id: p for p in changed}

        # 1. journal what we are about to touch, so a crash can be cleaned up
        touched = sorted(set(replaced_ids) | set(papers_by_id))
        tmp = self.journal_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"papers": touched, "pid": os.getpid(), "started": time.time()}))
        os.replace(tmp, self.journal_path)  # a crash mid-write must not leave a journal that names nothing

        # 2. vectors: embed and write, the writes overlapping the next batch's embedding. A chunk id is
        # `paper_id:chunk_no`, so a changed paper's vectors are overwritten in place: until the commit, readers
        # (who check each hit's hash against the manifest) keep every committed vector not yet overwritten, and all
        # of a paper being pruned. What the new state no longer has is dropped after the commit (step 4).
        collection = self.collection
        self._embed_and_write(
            collection, chunks, papers_by_id, {pid: len(cs) for pid, cs in by_paper.items()}, progress
        )
        new_ids = {c.chunk_id for c in chunks}
        leftover = [
            cid
            for batch in _batched(sorted(set(replaced_ids)), 500)
            for cid in collection.get(where={"paper_id": {"$in": batch}}, include=[])["ids"]
            if cid not in new_ids
        ]

        # 3. commit the manifest in one transaction, (4.) drop what it no longer names, rebuild BM25 from it,
        # publish, and drop the journal
        updated_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        db = self._db()
        with db:
            for pid in replaced_ids:
                db.execute("DELETE FROM papers WHERE paper_id = ?", (pid,))
                db.execute("DELETE FROM chunks WHERE paper_id = ?", (pid,))
            db.executemany(
                "INSERT OR REPLACE INTO papers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        p.paper_id,
                        p.title,
                        p.abstract,
                        p.content_hash,
                        json.dumps(p.sources),
                        p.date,
                        p.url,
                        p.authors,
                        len(by_paper[p.paper_id]),
                    )
                    for p in changed
                ],
            )
            db.executemany(
                "INSERT OR REPLACE INTO chunks VALUES (?, ?, ?, ?)",
                [(c.chunk_id, c.paper_id, c.chunk_no, c.text) for c in chunks],
            )
            pairs = db.execute("SELECT paper_id, hash FROM papers").fetchall()
            fp = fingerprint_of(pairs)
            meta = {**self.expected_meta(), "fingerprint": fp, "updated_at": updated_at}
            if self.is_server:
                meta["server_fingerprint"] = fp
            db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", list(meta.items()))
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        # 4. drop the vectors of pruned papers and the tail of papers that got shorter, before publishing, so a
        # server's other clients never rebuild from a mix. Killed here, the vectors left belong to no committed
        # chunk: readers ignore them and the next ingest removes them.
        for batch in _batched(leftover, 500):
            collection.delete(ids=batch)
        self._invalidate()
        self._bm25 = self._rebuild_bm25(fp)
        published = {**{f"rag_{k}": v for k, v in self.expected_meta().items()}, "rag_fingerprint": fp}
        published["rag_updated_at"] = updated_at
        if self.is_server:
            # Other clients rebuild from the collection when this changes: it must not fail silently.
            collection.modify(metadata=published)
            self._stray_on_server = set()
        else:
            with suppress(Exception):  # local mode: advisory; the manifest is the record
                collection.modify(metadata=published)
        self.journal_path.unlink(missing_ok=True)
        return len(chunks)

    def _embed_and_write(
        self,
        collection: Any,
        chunks: list[Chunk],
        papers: dict[str, Paper],
        n_chunks: dict[str, int],
        progress: Progress | None,
    ) -> None:
        """Embed groups of a few model batches (the model sorts each group by length, so its batches carry
        little padding) while a second thread writes the previous group to Chroma. Groups follow paper
        order, so a crash leaves whole papers written or untouched as far as possible."""
        total = len(chunks)
        if progress:
            progress(0, total)
        group = max(self.settings.embed_batch_size, 1) * 4
        done = 0
        with ThreadPoolExecutor(max_workers=1) as writer:
            pending = None
            for batch in _batched(chunks, group):
                vectors = self._encode_documents([c.text for c in batch])
                if pending is not None:
                    pending.result()
                pending = writer.submit(_upsert, collection, batch, vectors, papers, n_chunks)
                done += len(batch)
                if progress:
                    progress(done, total)
            if pending is not None:
                pending.result()

    def _encode_documents(self, texts: list[str]) -> Any:
        emb = self.embeddings
        encode_array = getattr(emb, "encode_array", None)
        if encode_array is not None:
            return encode_array(texts)
        return np.asarray(emb.embed_documents(texts), dtype=np.float32)


# ---- chunk metadata: what the server holds about each chunk, enough to rebuild a client's manifest ----------
def chunk_metadata(chunk: Chunk, paper: Paper, n_chunks: int) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "paper_id": chunk.paper_id,
        "chunk_no": chunk.chunk_no,
        "n_chunks": n_chunks,
        "title": paper.title,
        "hash": paper.content_hash,
        "sources": ",".join(paper.sources),
    }
    if paper.date:
        meta["date"] = paper.date
    if paper.url:
        meta["url"] = paper.url
    if chunk.chunk_no == 0:  # once per paper: the abstract and the fields only the manifest needs
        meta["abstract"] = paper.abstract
        meta["sources_json"] = json.dumps(paper.sources)
        if paper.authors:
            meta["authors"] = paper.authors
    return meta


def _upsert(
    collection: Any, batch: list[Chunk], vectors: Any, papers: dict[str, Paper], n_chunks: dict[str, int]
) -> None:
    """Write vectors, chunk texts (a server's clients rebuild from them; any Chroma or LangChain reader of
    the collection sees them) and metadata."""
    for i in range(0, len(batch), WRITE_BATCH):
        part = batch[i : i + WRITE_BATCH]
        collection.upsert(
            ids=[c.chunk_id for c in part],
            embeddings=vectors[i : i + WRITE_BATCH],
            documents=[c.text for c in part],
            metadatas=[chunk_metadata(c, papers[c.paper_id], n_chunks[c.paper_id]) for c in part],
        )


PaperRow = tuple[str, str, str, str, str, str | None, str | None, str | None, int]
ChunkRow = tuple[str, str, int, str]


def _pages(collection: Any, include: list[str], page: int = 5000) -> Iterator[dict[str, Any]]:
    """A whole collection, read a page at a time: one unbounded `get` fails past about 32k records (Chroma's
    local store binds every id as one SQL variable)."""
    offset = 0
    while True:
        got = collection.get(include=include, limit=page, offset=offset)
        yield got
        offset += len(got["ids"])
        if len(got["ids"]) < page:
            return


def _read_collection(collection: Any) -> tuple[list[PaperRow], list[ChunkRow], set[str]]:
    """The complete papers in a collection as manifest rows, their chunks, and the ids of incomplete ones."""
    by_paper: dict[str, list[tuple[str, dict[str, Any], str]]] = {}
    for res in _pages(collection, include=["metadatas", "documents"]):
        for cid, meta, doc in zip(res["ids"], res["metadatas"] or [], res["documents"] or [], strict=False):
            pid = (meta or {}).get("paper_id")
            if pid:
                by_paper.setdefault(str(pid), []).append((cid, meta, doc or ""))
    papers: list[PaperRow] = []
    chunks: list[ChunkRow] = []
    stray: set[str] = set()
    for pid, items in sorted(by_paper.items()):
        items.sort(key=lambda item: int(item[1].get("chunk_no", -1)))
        first = items[0][1]
        complete = (
            len({m.get("hash") for _, m, _ in items}) == 1
            and [int(m.get("chunk_no", -1)) for _, m, _ in items] == list(range(int(first.get("n_chunks", -1))))
            and "abstract" in first
        )
        if not complete:
            stray.add(pid)
            continue
        sources = json.loads(first.get("sources_json") or "[]")
        papers.append(
            (
                pid,
                str(first.get("title", "")),
                str(first["abstract"]),
                str(first["hash"]),
                json.dumps(sources),
                first.get("date"),
                first.get("url"),
                first.get("authors"),
                len(items),
            )
        )
        chunks.extend((cid, pid, int(m["chunk_no"]), doc) for cid, m, doc in items)
    return papers, chunks, stray


def _batched(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
