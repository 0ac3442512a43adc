"""The writer: the only code that changes an index (manifest, vectors, BM25 files, journal, lock).

The commit protocol, in order:
1. journal the papers about to be touched, so that a killed run can be cleaned up (rag/index/recovery.py);
2. embed and write vectors. A chunk id is `paper_id:chunk_no`, so a changed paper's vectors are overwritten in
   place; readers check each vector's hash against the manifest, so they keep seeing the committed state;
3. commit the manifest in one transaction: the moment the new state becomes visible;
4. drop the vectors the new state no longer names, save BM25, publish the fingerprint on the collection,
   remove the journal. A failure here loses nothing: readers rebuild BM25, and the next ingest cleans vectors.
One writer at a time (a file lock). A full disk or a read-only location before step 3 leaves the index as it
was and is reported in one line.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock, Timeout

from ingest import Chunk, Paper, ParsedFile, chunk_paper
from rag.embeddings import EmbeddingIdentity
from rag.files import atomic_write
from rag.index import recovery
from rag.index.dense import ID_BATCH, WRITE_BATCH, ChunkLabels, DenseStore, batched, first_line
from rag.index.errors import RESET, IndexBusy, IndexCorrupt, IndexMismatch, IndexProblem, write_failed
from rag.index.errors import write_failure_reason as failure_reason
from rag.index.health import IDENTITY_KEYS, check_identity, check_meta, check_published, expected_meta, identity_meta
from rag.index.manifest import Manifest, ManifestWriter
from rag.index.merge import IngestPlan, plan_ingest
from rag.index.rows import paper_row
from rag.index.sparse import BM25Index
from rag.settings import Settings
from rag.types import IngestReport, SkippedRecord

Progress = Callable[[int, int], None]
log = logging.getLogger(__name__)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Writer:
    """Writes one index: `home` holds the manifest, BM25, the journal and the lock (and the local vectors)."""

    def __init__(
        self,
        settings: Settings,
        manifest: Manifest,
        dense: DenseStore,
        embeddings: Callable[[], Any],
        identity: Callable[[], EmbeddingIdentity | None],
    ) -> None:
        self.settings = settings
        self.home = Path(settings.home).expanduser()
        self.manifest = manifest
        self.dense = dense
        self._embeddings = embeddings
        self._identity = identity
        self.stray_on_server: set[str] = set()  # uncommitted papers another client left on the server
        self._mirror_lock = threading.Lock()

    @property
    def journal_path(self) -> Path:
        return self.home / "ingest.journal"

    @property
    def bm25_dir(self) -> Path:
        return self.home / "bm25"

    # ---- the lock ----------------------------------------------------------------------------------------
    @contextmanager
    def lock(self, wait: float = 0.0) -> Iterator[None]:
        """Hold the index's writer lock (waiting up to `wait` seconds); IndexBusy names the holder."""
        self.home.mkdir(parents=True, exist_ok=True)
        path = self.home / "ingest.lock"

        def record_holder(fd: int) -> None:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()}".encode(), 0)

        lock = FileLock(path, timeout=wait, thread_local=False, on_acquired=record_holder)
        try:
            lock.acquire()
        except Timeout:
            try:
                holder = path.read_text().strip() or "another process"
            except OSError:
                holder = "another process"
            raise IndexBusy(
                f"another ingest is running on {self.home} ({holder}); wait for it to finish and retry"
            ) from None
        try:
            yield
        finally:
            lock.release()

    # ---- ingest ----------------------------------------------------------------------------------------
    def ingest(
        self,
        files: list[ParsedFile],
        prune: bool = False,
        reset: bool = False,
        progress: Progress | None = None,
    ) -> IngestReport:
        """Replace the stored records of `files` by what they hold now and recompute the papers from every
        file's records (see rag/index/merge.py): add, update (and with `prune` remove) papers, or start over
        with `reset`; one report.

        Raises IndexBusy, IndexMismatch, IndexCorrupt, or IndexWriteFailed (full disk, read-only location:
        the index is left as it was)."""
        start = time.perf_counter()
        try:
            with self.lock():
                if reset:
                    self._discard_unreadable_manifest()
                with self.manifest.writing() as db:
                    report = self._ingest(db, files, prune, reset, progress)
        except IndexProblem:
            raise
        except Exception as exc:
            reason = failure_reason(exc, self.home)
            if reason is None:
                raise
            raise write_failed(self.home, reason) from exc
        report.files = [str(f.path) for f in files]
        report.skipped = [
            SkippedRecord(file=str(s.path), line=s.line, reason=s.reason, title=s.title)
            for f in files
            for s in f.skipped
        ]
        report.seconds = round(time.perf_counter() - start, 3)
        return report

    def _ingest(
        self, db: ManifestWriter, files: list[ParsedFile], prune: bool, reset: bool, progress: Progress | None
    ) -> IngestReport:
        if reset:
            self._reset(db)
        else:
            check_meta(db.meta(), self.settings, self.home)
            check_identity(db.meta(), self._identity(), self.home)
        if self.dense.is_server:  # the diff is against what the server holds, not what this client saw last
            collection = self.dense.open()
            self.mirror_server(collection)
        refresh = recovery.recover(self, db)
        committed = db.papers()
        plan = plan_ingest(db.records(), files, prune)
        incoming = {p.paper_id: p for p in plan.papers}
        added = [p for pid, p in incoming.items() if pid not in committed]
        changed = [
            p
            for pid, p in incoming.items()
            if pid in committed and (committed[pid].content_hash != plan.hashes[pid] or pid in refresh)
        ]
        removed = [pid for pid in committed if pid not in incoming]  # no record names them any more
        # A paper whose title and abstract stay has the same chunks: only its metadata is rewritten.
        texts = db.texts([p.paper_id for p in changed])
        relabel = [p for p in changed if p.paper_id not in refresh and texts.get(p.paper_id) == (p.title, p.abstract)]
        embed = [p for p in changed if p.paper_id not in {r.paper_id for r in relabel}]
        updated = {p.paper_id for p in changed}
        report = IngestReport(
            added=len(added),
            updated=len(updated),
            unchanged=len(plan.run_papers - updated - {p.paper_id for p in added}),
            removed=len(removed),
            warnings=plan.warnings,
        )
        if added or changed or removed or not db.meta().get("fingerprint"):
            # Uncommitted vectors another client left on the server are cleaned with the replaced ones.
            replaced = [p.paper_id for p in embed] + removed + sorted(self.stray_on_server)
            report.embedded_chunks = self._write(db, plan, added + embed, relabel, replaced, progress)
        elif plan.rows or plan.dropped:
            db.update_records(plan.dropped, plan.rows)
        report.papers, report.chunks = len(db.papers()), db.chunk_count()
        return report

    # ---- delete -------------------------------------------------------------------------------------------
    def delete(self, paper_ids: Collection[str]) -> IngestReport:
        """Remove these papers from the index in one commit; see `rag.index.deletion.delete_papers`."""
        from rag.index.deletion import delete_papers

        return delete_papers(self, paper_ids)

    def _discard_unreadable_manifest(self) -> None:
        """`--reset` works on a damaged index too: an unreadable manifest is deleted and created afresh."""
        try:
            with self.manifest.writing() as db:
                db.meta()
        except IndexCorrupt:
            self.manifest.delete_files()

    def _reset(self, db: ManifestWriter) -> None:
        """Drop everything. The manifest goes first, marked, so that readers of a reset killed half-way are
        told to finish it rather than shown a half-empty index."""
        db.clear(started=_now())
        self.dense.drop()
        shutil.rmtree(self.bm25_dir, ignore_errors=True)
        self.journal_path.unlink(missing_ok=True)
        self.stray_on_server = set()

    # ---- the commit protocol -------------------------------------------------------------------------------
    def _write(
        self,
        db: ManifestWriter,
        plan: IngestPlan,
        embed: list[Paper],
        relabel: list[Paper],
        replaced: list[str],
        progress: Progress | None,
    ) -> int:
        """The commit protocol for `embed` (new or changed text: new vectors) and `relabel` (same chunks, new
        metadata: the vectors' metadata is rewritten); returns the number of chunks embedded."""
        s = self.settings
        by_paper = {p.paper_id: chunk_paper(p, s.chunk_tokens, s.chunk_overlap) for p in [*embed, *relabel]}
        chunks = [c for p in embed for c in by_paper[p.paper_id]]
        papers = {p.paper_id: p for p in [*embed, *relabel]}
        labels = ChunkLabels(plan, {pid: len(cs) for pid, cs in by_paper.items()}, papers)

        # 1. the journal: a crash mid-write must not leave one that names nothing
        touched = sorted(set(replaced) | set(papers))
        atomic_write(self.journal_path, json.dumps({"papers": touched, "pid": os.getpid(), "started": time.time()}))

        # 2. vectors, the writes overlapping the next group's embedding; then the metadata of relabelled papers
        collection = self.dense.open()
        dimension = self._embed_and_write(collection, chunks, labels, db.meta(), progress)
        relabelled = [c for p in relabel for c in by_paper[p.paper_id]]
        for part in batched(relabelled, WRITE_BATCH):
            collection.update(ids=[c.chunk_id for c in part], metadatas=[labels.of(c) for c in part])
        new_ids = {c.chunk_id for c in chunks}
        leftover = [
            cid
            for batch in batched(sorted(set(replaced)), ID_BATCH)
            for cid in collection.get(where={"paper_id": {"$in": batch}}, include=[])["ids"]
            if cid not in new_ids
        ]

        # 3. the commit
        identity = self._identity()
        meta = {**expected_meta(s), "updated_at": _now()}
        if identity is not None:
            meta.update(identity_meta(identity))
        if dimension:
            meta["embedding_dimension"] = str(dimension)
        fp = db.commit(
            replaced,
            [paper_row(p, plan.hashes[p.paper_id], len(by_paper[p.paper_id])) for p in papers.values()],
            [(c.chunk_id, c.paper_id, c.chunk_no, c.text) for c in chunks],
            meta,
            records=(plan.dropped, plan.rows),
            server=self.dense.is_server,
        )
        self._after_commit(db, collection, leftover, fp, meta)
        return len(chunks)

    def _after_commit(self, db: ManifestWriter, collection: Any, leftover: list[str], fp: str, meta: dict) -> None:
        """4. Drop the vectors of pruned papers and the tail of papers that got shorter before publishing, so a
        server's other clients never rebuild from a mix. Killed here, the vectors left belong to no committed
        chunk: readers ignore them and the next ingest removes them."""
        try:
            for batch in batched(leftover, ID_BATCH):
                collection.delete(ids=batch)
        except Exception as exc:
            if failure_reason(exc, self.home) is None:
                raise
            log.warning("could not remove %d replaced vectors (%s); the next ingest will", len(leftover), exc)
        self.save_bm25(BM25Index.build(*db.chunk_rows(), fingerprint=fp))
        published = {f"rag_{k}": v for k, v in meta.items()} | {"rag_fingerprint": fp}
        if self.dense.is_server:
            # Other clients rebuild from the collection when this changes: it must not fail silently.
            collection.modify(metadata=published)
            self.stray_on_server = set()
        else:
            with suppress(Exception):  # local mode: advisory; the manifest is the record
                collection.modify(metadata=published)
        with suppress(OSError):  # left behind, it only makes the next ingest re-embed what it names
            self.journal_path.unlink(missing_ok=True)

    def save_bm25(self, index: BM25Index) -> None:
        """Save BM25 beside the manifest; a cache, so a full disk or a read-only index only costs a rebuild."""
        if not len(index):
            return
        try:
            index.save(self.bm25_dir)
        except OSError as exc:
            log.info("BM25 not saved (%s); it is rebuilt from the manifest when needed", exc)

    def _embed_and_write(
        self,
        collection: Any,
        chunks: list[Chunk],
        labels: ChunkLabels,
        meta: dict[str, str],
        progress: Progress | None,
    ) -> int | None:
        """Embed groups of a few model batches (the model sorts each group by length, so its batches carry
        little padding) while a second thread writes the previous group to Chroma. Groups follow paper order,
        so a crash leaves whole papers written or untouched as far as possible. Returns the vector dimension."""
        total = len(chunks)
        if progress:
            progress(0, total)
        group = max(self.settings.embed_batch_size, 1) * 4
        done, dimension = 0, None
        with ThreadPoolExecutor(max_workers=1) as writer:
            pending = None
            for batch in batched(chunks, group):
                vectors = self._encode([c.text for c in batch])
                dimension = self._check_dimension(vectors, meta)
                if pending is not None:
                    pending.result()
                pending = writer.submit(self._upsert, collection, batch, vectors, labels)
                done += len(batch)
                if progress:
                    progress(done, total)
            if pending is not None:
                pending.result()
        return dimension

    def _check_dimension(self, vectors: np.ndarray, meta: dict[str, str]) -> int:
        dimension = int(vectors.shape[1])
        recorded = meta.get("embedding_dimension")
        if recorded and int(recorded) != dimension:
            raise IndexMismatch(
                f"the index at {self.home} holds {recorded}-dimension vectors, but the embedding model gives "
                f"{dimension}; {RESET}, or use the model the index was built with"
            )
        return dimension

    def _encode(self, texts: list[str]) -> np.ndarray:
        emb = self._embeddings()
        encode_array = getattr(emb, "encode_array", None)
        if encode_array is not None:
            return encode_array(texts)
        return np.asarray(emb.embed_documents(texts), dtype=np.float32)

    def _upsert(self, collection: Any, batch: list[Chunk], vectors: Any, labels: ChunkLabels) -> None:
        """Vectors, chunk texts (a server's clients rebuild from them) and metadata, in Chroma-sized writes."""
        for i in range(0, len(batch), WRITE_BATCH):
            part = batch[i : i + WRITE_BATCH]
            try:
                collection.upsert(
                    ids=[c.chunk_id for c in part],
                    embeddings=vectors[i : i + WRITE_BATCH],
                    documents=[c.text for c in part],
                    metadatas=[labels.of(c) for c in part],
                )
            except Exception as exc:
                if "dimension" in str(exc).lower():  # vectors written before dimensions were recorded
                    raise IndexMismatch(
                        f"the vector store {self.dense.location} holds vectors of another dimension "
                        f"({first_line(exc)}); {RESET}, or use the model the index was built with"
                    ) from exc
                raise

    # ---- server mode -----------------------------------------------------------------------------------------
    def mirror_server(self, collection: Any) -> bool:
        """Server mode: rebuild the local manifest (and BM25) from the shared collection when its published
        fingerprint differs from the one this home last mirrored. Returns whether it did."""
        with self._mirror_lock:
            published = dict(collection.metadata or {})
            check_published(
                published,
                self.settings,
                f"the shared collection {self.settings.collection!r} at {self.dense.location}",
                "set it back, or rebuild the shared collection with: rag ingest --reset",
            )
            server_fp = str(published.get("rag_fingerprint", ""))
            if server_fp == self.manifest.meta().get("server_fingerprint", ""):
                return False
            papers, chunks, records, stray, fp, server_fp = recovery.read_server(self.dense, collection, server_fp)
            meta = {
                **expected_meta(self.settings),
                "fingerprint": fp,
                "server_fingerprint": server_fp,
                "updated_at": str(published.get("rag_updated_at", "")) or _now(),
            }
            meta |= {key: str(published[f"rag_{key}"]) for key in IDENTITY_KEYS if published.get(f"rag_{key}")}
            with self.manifest.writing() as db:
                db.replace_all(papers, chunks, records, meta)
                rows = db.chunk_rows()
            self.save_bm25(BM25Index.build(*rows, fingerprint=fp))
            self.stray_on_server = stray
            return True
