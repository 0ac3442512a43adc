"""The dense store: Chroma holding one vector per chunk, in local files or on a `chroma run` server.

The client is injectable (tests, a caller's own server client). In server mode the collection is also the
shared record: chunk texts as documents and, on chunk 0 of each paper, the abstract and the fields a client
needs to rebuild its manifest; the collection's metadata carries the fingerprint of the last commit.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import weakref
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ingest import Chunk, Paper
from rag.index.errors import IndexProblem, IndexUnavailable, unreadable, write_failure_reason
from rag.index.merge import IngestPlan
from rag.index.rows import PAPER_COLUMNS, ChunkRow, PaperRow, RecordRow, paper_row
from rag.redact import redact_url

# Chunks per Chroma write; one HTTP request or one local transaction each.
WRITE_BATCH = 512
# Ids per `$in` filter or `get`/`delete` call.
ID_BATCH = 500
log = logging.getLogger(__name__)


def chunk_metadata(
    chunk: Chunk, paper: Paper, n_chunks: int, hash_: str, records: list[RecordRow] | None = None
) -> dict[str, Any]:
    """What the store holds about a chunk: enough for readers to check it (the row hash) and, on chunk 0, for a
    server's other clients to rebuild the manifest: the paper's row and its source records."""
    meta: dict[str, Any] = {
        "paper_id": chunk.paper_id,
        "chunk_no": chunk.chunk_no,
        "n_chunks": n_chunks,
        "title": paper.title,
        "hash": hash_,
        "sources": ",".join(paper.sources),
    }
    if paper.date:
        meta["date"] = paper.date
    if paper.url:
        meta["url"] = paper.url
    if chunk.chunk_no == 0:  # once per paper: the abstract and the fields only the manifest needs
        meta["abstract"] = paper.abstract
        row = dict(zip(PAPER_COLUMNS, paper_row(paper, hash_, n_chunks), strict=True))
        meta["row_json"] = json.dumps({k: v for k, v in row.items() if k != "abstract"})
        meta["records_json"] = json.dumps(records or [])
    return meta


class ChunkLabels:
    """The metadata each written chunk carries (its paper's row hash; on chunk 0 the row and its records)."""

    def __init__(self, plan: IngestPlan, n_chunks: dict[str, int], papers: dict[str, Paper]) -> None:
        self.plan, self.n_chunks, self.papers = plan, n_chunks, papers

    def of(self, chunk: Chunk) -> dict[str, Any]:
        pid = chunk.paper_id
        records = self.plan.records_of(pid) if chunk.chunk_no == 0 else None
        return chunk_metadata(chunk, self.papers[pid], self.n_chunks[pid], self.plan.hashes[pid], records)


def batched(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def pages(collection: Any, include: list[str], page: int = 5000) -> Iterator[dict[str, Any]]:
    """A whole collection, a page at a time: one unbounded `get` fails past about 32k records (Chroma's local
    store binds every id as one SQL variable)."""
    offset = 0
    while True:
        got = collection.get(include=include, limit=page, offset=offset)
        yield got
        offset += len(got["ids"])
        if len(got["ids"]) < page:
            return


def _complete(items: list[tuple[str, dict[str, Any], str]]) -> bool:
    first = items[0][1]
    return (
        len({m.get("hash") for _, m, _ in items}) == 1
        and [int(m.get("chunk_no", -1)) for _, m, _ in items] == list(range(int(first.get("n_chunks", -1))))
        and "abstract" in first
        and "row_json" in first  # written by this schema (an older one's papers are rebuilt by a reset)
    )


def read_collection(collection: Any) -> tuple[list[PaperRow], list[ChunkRow], list[RecordRow], set[str]]:
    """The complete papers in a collection as manifest rows, their chunks and source records, and the ids of
    incomplete ones."""
    by_paper: dict[str, list[tuple[str, dict[str, Any], str]]] = {}
    for res in pages(collection, include=["metadatas", "documents"]):
        for cid, meta, doc in zip(res["ids"], res["metadatas"] or [], res["documents"] or [], strict=False):
            pid = (meta or {}).get("paper_id")
            if pid:
                by_paper.setdefault(str(pid), []).append((cid, meta, doc or ""))
    papers: list[PaperRow] = []
    chunks: list[ChunkRow] = []
    records: list[RecordRow] = []
    stray: set[str] = set()
    for pid, items in sorted(by_paper.items()):
        items.sort(key=lambda item: int(item[1].get("chunk_no", -1)))
        if not _complete(items):
            stray.add(pid)
            continue
        first = items[0][1]
        row = {**json.loads(first["row_json"]), "paper_id": pid, "abstract": str(first["abstract"])}
        row |= {"hash": str(first["hash"]), "n_chunks": len(items)}
        papers.append(tuple(row.get(c) for c in PAPER_COLUMNS))
        records.extend(tuple(r) for r in json.loads(first.get("records_json") or "[]"))
        chunks.extend((cid, pid, int(m["chunk_no"]), doc) for cid, m, doc in items)
    return papers, chunks, records, stray


def _is_http(client: Any) -> bool:
    try:
        return "fastapi" in str(client.get_settings().chroma_api_impl).lower()
    except Exception:
        return False


def first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]


class DenseStore:
    """The Chroma side of one index: `settings.chroma_url` names a server, else `directory` holds the files."""

    def __init__(self, directory: Path, collection: str, url: str | None = None, client: Any = None) -> None:
        self.directory = Path(directory)
        self.name = collection
        self.url = url
        self._client = client
        self._injected = client is not None
        self._copy: Path | None = None
        self._http = bool(url) or (client is not None and _is_http(client))

    @property
    def is_server(self) -> bool:
        """A shared server (a URL, or an injected HTTP client): the collection is the record clients mirror."""
        return self._http

    @property
    def location(self) -> str:
        if self._injected and not self.url:
            return f"an injected {'HTTP' if self._http else 'local'} Chroma client"
        return redact_url(self.url) or str(self.directory)  # a URL's user, password and query are secrets

    def present(self) -> bool:
        """Whether there is a store to read (a server always counts; local files must exist)."""
        return self.is_server or self._injected or (self.directory / "chroma.sqlite3").exists()

    # ---- the client --------------------------------------------------------------------------------------
    def client(self) -> Any:
        """The Chroma client (IndexUnavailable when a server does not answer)."""
        if self._client is None:
            if self.url:
                try:
                    self._client = self._http_client()
                except Exception as exc:  # chromadb raises a bare ValueError when nothing listens
                    raise self.unreadable(exc) from exc
            else:
                self._client = self._local_client(self.directory)
        return self._client

    def refresh(self) -> None:
        """Forget the client, so the next use opens a new one. Local mode: chromadb shares one in-memory vector
        index per directory and process, which never sees another process's writes; a new one reads them."""
        if self._injected or self.is_server:
            return
        self._client = None
        self._forget_system(self._copy or self.directory)
        if self._copy is not None:  # a read-only store was copied: copy it again, it may have been replaced
            shutil.rmtree(self._copy, ignore_errors=True)
            self._copy = None

    def _http_client(self) -> Any:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        u = urlparse(self.url or "")
        return chromadb.HttpClient(
            host=u.hostname or "127.0.0.1",
            port=u.port or 8000,
            ssl=u.scheme == "https",
            settings=ChromaSettings(anonymized_telemetry=False),
        )

    def _local_client(self, path: Path, copied: bool = False) -> Any:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        path.mkdir(parents=True, exist_ok=True)
        try:
            return chromadb.PersistentClient(path=str(path), settings=ChromaSettings(anonymized_telemetry=False))
        except Exception as exc:
            self._forget_system(path)  # chromadb keeps a client that failed to start; the next try must not get it
            if copied or write_failure_reason(exc) != "the location is read-only":
                raise
        return self._local_client(self._private_copy(), copied=True)

    def _private_copy(self) -> Path:
        """Chroma opens its files for writing even to read them; a read-only store is read from a private copy
        (removed when this store is)."""
        copy = Path(tempfile.mkdtemp(prefix="rag-readonly-vectors-"))
        shutil.copytree(self.directory, copy, dirs_exist_ok=True)
        weakref.finalize(self, shutil.rmtree, str(copy), True)
        log.info("the vector store %s is read-only: reading a private copy in %s", self.directory, copy)
        self._copy = copy
        return copy

    @staticmethod
    def _forget_system(path: Path) -> None:
        from chromadb.api.shared_system_client import SharedSystemClient

        with suppress(Exception):  # a private cache of chromadb; at worst a later open in this process fails loudly
            SharedSystemClient._identifier_to_system.pop(str(path), None)
            SharedSystemClient._identifier_to_refcount.pop(str(path), None)

    # ---- the collection ----------------------------------------------------------------------------------
    def open(self) -> Any:
        """The collection for writing, created when missing."""
        return self.client().get_or_create_collection(
            self.name, configuration={"hnsw": {"space": "cosine"}}, embedding_function=None
        )

    def get(self) -> Any | None:
        """The collection for reading, or None when it does not exist."""
        from chromadb.errors import NotFoundError

        try:
            return self.client().get_collection(self.name, embedding_function=None)
        except NotFoundError:
            return None

    def unreadable(self, exc: BaseException) -> IndexProblem:
        """IndexCorrupt naming the fix; IndexUnavailable when a full disk blocks the read, or a server does not
        answer (nothing says its data is damaged)."""
        if self.is_server:
            return IndexUnavailable(
                f"the Chroma server at {self.location} did not answer ({first_line(exc)}); check that it is running and "
                "that RAG_CHROMA_URL names it"
            )
        return unreadable(self.location, self.directory, exc)

    def drop(self) -> None:
        """Delete the collection. An unreadable local store is deleted with its directory instead."""
        try:
            self.client().delete_collection(self.name)
        except Exception as exc:
            if self.is_server or type(exc).__name__ == "NotFoundError":
                return
            self._client = None
            self._forget_system(self.directory)
            shutil.rmtree(self.directory, ignore_errors=True)
