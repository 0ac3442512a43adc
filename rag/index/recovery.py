"""Recovery, run by the writer before it writes: clean up after an interrupted ingest, and repair vectors that
no longer match the manifest; plus reading a shared server collection back into manifest rows.

The journal names the papers an unfinished run was changing: vectors of papers that never committed are
removed, committed ones are re-embedded. Locally, Chroma is then compared with the manifest, which also catches
what no journal names (a `--reset` killed after dropping the vectors, a vector store deleted by hand): vectors
no committed chunk owns, or carrying a stale hash, are removed, and committed papers missing any vector are
re-embedded (rebuilt from their stored source records, as every paper is on each ingest).
"""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING, Any

from rag.index.dense import ID_BATCH, DenseStore, batched, pages, read_collection
from rag.index.manifest import ManifestWriter, fingerprint_of
from rag.index.rows import ChunkRow, PaperRow, RecordRow

if TYPE_CHECKING:
    from rag.index.writer import Writer

log = logging.getLogger(__name__)


def recover(writer: Writer, db: ManifestWriter) -> set[str]:
    """Clean up after an interrupted run; returns the committed papers to re-embed."""
    refresh: set[str] = set()
    if writer.journal_path.exists():
        try:
            pending = json.loads(writer.journal_path.read_text())
        except ValueError:
            pending = {}
        names = pending.get("papers", []) if isinstance(pending, dict) else []
        committed = db.papers()
        stray = [pid for pid in names if pid not in committed]
        collection = writer.dense.open()
        for batch in batched(stray, ID_BATCH):
            collection.delete(where={"paper_id": {"$in": batch}})
        # Papers that stayed committed keep their old manifest entry; their vectors may have been replaced
        # half-way, so they are re-embedded.
        refresh = {pid for pid in names if pid in committed}
        writer.journal_path.unlink(missing_ok=True)
    if not writer.dense.is_server and _vectors_may_differ(writer.dense, db):
        refresh |= _reconcile(writer.dense, db)
    return refresh


def _vectors_may_differ(dense: DenseStore, db: ManifestWriter) -> bool:
    """A cheap test before the full comparison, which reads every vector's metadata (39 s at 100k papers, in
    every ingest): the collection holds as many vectors as the manifest has chunks and carries the fingerprint
    of the manifest's last commit. Changes in place are covered by the journal."""
    try:
        collection = dense.get()
        if collection is None:
            return True
        published, count = dict(collection.metadata or {}), collection.count()
    except Exception:
        return True  # absent or unreadable: the full comparison says which
    return count != db.chunk_count() or published.get("rag_fingerprint") != db.meta().get("fingerprint", "")


def _reconcile(dense: DenseStore, db: ManifestWriter) -> set[str]:
    """Remove vectors no committed chunk owns; return the committed papers missing a vector."""
    committed = db.papers()
    owner = db.chunk_owners()
    stale: list[str] = []
    seen: set[str] = set()
    try:
        collection = dense.open()
        for got in pages(collection, include=["metadatas"]):
            for cid, meta in zip(got["ids"], got["metadatas"] or [], strict=False):
                seen.add(cid)
                pid = owner.get(cid)
                if pid is None or pid not in committed or (meta or {}).get("hash") != committed[pid].content_hash:
                    stale.append(cid)
    except Exception as exc:
        raise dense.unreadable(exc) from exc
    for batch in batched(stale, ID_BATCH):
        collection.delete(ids=batch)
    present = seen - set(stale)
    missing = {pid for cid, pid in owner.items() if cid not in present}
    if stale or missing:
        log.warning(
            "index repair: removed %d stray vectors; re-embedding %d papers whose vectors are missing",
            len(stale),
            len(missing),
        )
    return missing


def read_server(
    dense: DenseStore, collection: Any, server_fp: str
) -> tuple[list[PaperRow], list[ChunkRow], list[RecordRow], set[str], str, str]:
    """The committed papers a shared collection holds, as manifest rows: (papers, chunks, source records, ids
    of incomplete papers, their fingerprint, the server's fingerprint). A paper whose chunks are incomplete or carry two
    hashes belongs to a write that has not committed; it is left out and cleaned by the next ingest."""
    for attempt in range(3):
        papers, chunks, records, stray = read_collection(collection)
        fp = fingerprint_of((row[0], row[3]) for row in papers)
        if not server_fp or fp == server_fp:
            break
        if attempt < 2:  # another client is between its vector writes and its commit: give it a moment
            time.sleep(0.5)
            collection = dense.get() or collection
            server_fp = str((collection.metadata or {}).get("rag_fingerprint", ""))
    else:
        log.warning(
            "the shared collection %r holds papers its last commit does not name (an ingest is running or was "
            "interrupted); using the %d complete papers it holds",
            dense.name,
            len(papers),
        )
    return papers, chunks, records, stray, fp, server_fp
