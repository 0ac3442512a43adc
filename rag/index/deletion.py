"""Deleting papers from an index: the writer's commit protocol with nothing to embed (`Writer.delete`)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Collection
from typing import TYPE_CHECKING

from rag.files import atomic_write
from rag.index.dense import ID_BATCH, batched
from rag.index.errors import IndexProblem, write_failed
from rag.index.errors import write_failure_reason as failure_reason
from rag.index.health import check_meta
from rag.types import IngestReport

if TYPE_CHECKING:
    from rag.index.writer import Writer


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def delete_papers(writer: Writer, paper_ids: Collection[str]) -> IngestReport:
    """Remove these papers (catalogue rows, chunks, vectors, BM25 entries); ids not in the index are ignored.

    Under the writer lock: journal, manifest commit (the moment the papers disappear for every reader), then
    their vectors are dropped and BM25 is rebuilt; killed half-way, the next write removes the vectors left
    (`rag.index.recovery`). Returns a report whose `removed` counts the papers deleted, `papers` and `chunks`
    what is left. Raises IndexBusy, IndexMismatch, IndexCorrupt or IndexWriteFailed, as an ingest does."""
    start = time.perf_counter()
    try:
        with writer.lock(), writer.manifest.writing() as db:
            check_meta(db.meta(), writer.settings, writer.home)
            collection = writer.dense.open()
            if writer.dense.is_server:
                writer.mirror_server(collection)
            gone = sorted(set(paper_ids) & set(db.papers()))
            if gone:
                atomic_write(writer.journal_path, json.dumps({"papers": gone, "pid": os.getpid()}))
                leftover = [
                    cid
                    for batch in batched(gone, ID_BATCH)
                    for cid in collection.get(where={"paper_id": {"$in": batch}}, include=[])["ids"]
                ]
                kept = {k: v for k, v in db.meta().items() if k not in ("fingerprint", "server_fingerprint")}
                meta = {**kept, "updated_at": _now()}
                # their source records go too, or the next ingest (which rebuilds papers from every stored record)
                # would bring them back; ingesting a file that holds them again does
                dropped = [(r.path, r.fingerprint) for r in db.records(gone)]
                fp = db.commit(gone, [], [], meta, records=(dropped, ()), server=writer.dense.is_server)
                writer._after_commit(db, collection, leftover, fp, meta)
            report = IngestReport(removed=len(gone), papers=len(db.papers()), chunks=db.chunk_count())
    except IndexProblem:
        raise
    except Exception as exc:
        reason = failure_reason(exc, writer.home)
        if reason is None:
            raise
        raise write_failed(writer.home, reason) from exc
    report.seconds = round(time.perf_counter() - start, 3)
    return report
