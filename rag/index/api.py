"""`Index`: the index's public face. It hands out read snapshots, checked for freshness before every query, and
routes every write to the writer. Nothing outside `rag/index/` touches Chroma or the manifest."""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from ingest import LoadResult, ParsedFile
from rag.embeddings import EmbeddingIdentity, identity_for
from rag.index.dense import DenseStore
from rag.index.errors import RESET, IndexCorrupt, IndexProblem
from rag.index.health import check_identity, check_meta, check_vectors
from rag.index.manifest import Manifest, ManifestState, PaperMeta
from rag.index.snapshot import Snapshot, StaleSnapshot
from rag.index.sparse import BM25Index
from rag.index.writer import Progress, Writer
from rag.settings import Settings
from rag.text import counted
from rag.types import IngestReport, Source

T = TypeVar("T")


class Index:
    """One index (`settings.home`, and `settings.chroma_url` in server mode). Thread-safe; any number of
    readers in any number of processes, one writer at a time.

    `embeddings` (a LangChain `Embeddings`) and `client` (a Chroma client) may be injected; by default the model
    named by the settings is loaded on first use and the client is opened from the settings.
    """

    def __init__(self, settings: Settings, embeddings: Any = None, client: Any = None) -> None:
        self.settings = settings
        self.home = Path(settings.home).expanduser()
        self.manifest = Manifest(self.home / "manifest.sqlite")
        self.dense = DenseStore(self.home / "chroma", settings.collection, settings.chroma_url, client)
        self._embeddings = embeddings
        self.writer = Writer(settings, self.manifest, self.dense, lambda: self.embeddings, self.model_identity)
        self._snapshot: Snapshot | None = None
        self._token: tuple | None = None
        self._checked_model: tuple | None = None
        self._lock = threading.RLock()

    # ---- locations -------------------------------------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        return self.manifest.path

    @property
    def bm25_dir(self) -> Path:
        return self.writer.bm25_dir

    @property
    def chroma_dir(self) -> Path:
        return self.dense.directory

    @property
    def journal_path(self) -> Path:
        return self.writer.journal_path

    @property
    def location(self) -> str:
        return self.dense.location

    @property
    def is_server(self) -> bool:
        return self.dense.is_server

    # ---- the embedding model -----------------------------------------------------------------------------
    @property
    def embeddings(self) -> Any:
        """The embedding model (loaded on first use)."""
        with self._lock:
            if self._embeddings is None:
                from rag.embeddings import load_embeddings

                s = self.settings
                key = s.openai_api_key.get_secret_value() if s.openai_api_key else None
                self._embeddings = load_embeddings(
                    s.embedding_model, s.embed_batch_size, s.llm_base_url, key, cache_dir=s.model_cache
                )
            return self._embeddings

    def model_identity(self) -> EmbeddingIdentity | None:
        """The identity of the model in use: the loaded or injected one's, else the one the settings name."""
        if self._embeddings is not None:
            return getattr(self._embeddings, "identity", None)
        return identity_for(self.settings.embedding_model)

    def _check_model(self, snapshot: Snapshot) -> None:
        """Once per snapshot: the loaded model must be the one that wrote the vectors."""
        key = (snapshot.version, id(self.embeddings))
        if self._checked_model != key:
            check_identity(snapshot.meta, getattr(self.embeddings, "identity", None), self.home)
            self._checked_model = key

    def embed_query(self, text: str) -> list[float]:
        """The query vector, from the model that wrote the index's vectors (IndexMismatch otherwise)."""
        self._check_model(self.current())
        return self.embeddings.embed_query(text)

    def encode(self, texts: list[str]) -> list[list[float]]:
        """Unit-length vectors for short texts (answer sentences, evidence), with the index's model."""
        emb = self.embeddings
        return (getattr(emb, "encode", None) or emb.embed_documents)(texts)

    def idf(self, term: str) -> float:
        """BM25 idf of a tokenized term in the snapshot the last query read (no freshness check: per term)."""
        return self.current().idf(term)

    # ---- snapshots ---------------------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        """The current committed state: the one held if the manifest has not changed since (one small query,
        plus one metadata request in server mode), else a new snapshot, health-checked."""
        token, collection = self._peek()
        with self._lock:
            if self._snapshot is None or self._token != token:
                self._snapshot = self._load(collection)
                self._token = (self._snapshot.version, *token[1:])
            return self._snapshot

    def current(self) -> Snapshot:
        """The snapshot the last query took (taking one if there is none)."""
        return self._snapshot or self.snapshot()

    def read(self, fn: Callable[[Snapshot], T]) -> T:
        """`fn(snapshot)` on the current snapshot; if the vector store changed under it, once more on a new one."""
        try:
            return fn(self.snapshot())
        except StaleSnapshot:
            with self._lock:
                self._token = None
            try:
                return fn(self.snapshot())
            except StaleSnapshot as exc:
                raise self.dense.unreadable(exc) from exc

    def _peek(self) -> tuple[tuple, Any]:
        """What changes when the index changes: the manifest's commit token and whether a local vector store is
        there; in server mode also the collection (its id changes with a reset) and its published fingerprint.
        Server mode mirrors a changed collection into the local manifest first."""
        if not self.dense.is_server:
            return (self.manifest.version(), self.dense.present()), None
        try:
            collection = self.dense.get()
        except Exception as exc:
            raise self.dense.unreadable(exc) from exc
        if collection is not None:
            self.writer.mirror_server(collection)
            published = str((collection.metadata or {}).get("rag_fingerprint", ""))
            return (self.manifest.version(), str(collection.id), published), collection
        return (self.manifest.version(), None, ""), None

    def _load(self, collection: Any) -> Snapshot:
        state = self.manifest.read_state()
        check_meta(state.meta, self.settings, self.home)
        if state.chunk_count:
            collection = self._vectors(state, collection)
        bm25 = None
        if state.chunk_count:
            bm25 = self._saved_bm25(state)
            if bm25 is None:
                state = self.manifest.read_state(with_chunks=True)  # one consistent read with the chunk texts
                ids, texts = [r[0] for r in state.chunk_rows], [r[1] for r in state.chunk_rows]
                bm25 = BM25Index.build(ids, texts, fingerprint=state.meta.get("fingerprint", ""))
                self.writer.save_bm25(bm25)
        meta = dict(state.meta)
        return Snapshot(
            state.version,
            meta,
            state.papers,
            state.chunk_count,
            bm25 or BM25Index.build([], []),
            collection,
            self.manifest,
        )

    def _vectors(self, state: ManifestState, collection: Any) -> Any:
        fix = RESET
        if self.dense.is_server:
            if collection is None:
                raise IndexCorrupt(
                    f"the shared collection {self.settings.collection!r} at {self.location} does not exist (a "
                    f"--reset running or interrupted?); if no ingest is running, {fix}"
                )
            return collection
        if not self.dense.present():
            raise IndexCorrupt(
                f"the vector store {self.chroma_dir} is missing (the manifest lists {counted(state.chunk_count, 'chunk')}); {fix}"
            )
        self.dense.refresh()  # a new in-memory vector index: it sees what other processes wrote
        try:
            collection = self.dense.get()
            check_vectors(collection, state.chunk_count, str(self.chroma_dir), self.settings)
        except IndexProblem:
            raise
        except Exception as exc:
            raise self.dense.unreadable(exc) from exc
        return collection

    def _saved_bm25(self, state: ManifestState) -> BM25Index | None:
        try:
            index = BM25Index.load(self.bm25_dir)
        except Exception:  # missing or damaged: rebuilt from the manifest
            return None
        ok = index.fingerprint == state.meta.get("fingerprint", "") and len(index) == state.chunk_count
        return index if ok else None

    # ---- reading -----------------------------------------------------------------------------------------
    def check_health(self) -> None:
        """Raise IndexCorrupt / IndexMismatch, one line naming the fix, for an index that is unreadable,
        incomplete or built with other settings. Cheap when nothing changed since the last check."""
        self.snapshot()

    def check_compatible(self) -> None:
        """Only the recorded settings (no vector store access)."""
        check_meta(self.manifest.meta(), self.settings, self.home)

    def papers(self) -> dict[str, PaperMeta]:
        return dict(self.snapshot().papers)

    def is_empty(self) -> bool:
        return self.snapshot().is_empty()

    def fingerprint(self) -> str:
        return self.snapshot().fingerprint

    def meta(self) -> dict[str, str]:
        """What the manifest records: settings, embedding model identity, fingerprint, last update."""
        return self.manifest.meta()

    def abstracts(self, paper_ids: list[str]) -> dict[str, str]:
        return self.read(lambda snap: snap.abstracts(paper_ids))

    def papers_by_arxiv_id(self, arxiv_ids: list[str]) -> list[Source]:
        """The indexed papers with these arXiv ids (version suffixes and case ignored), as sources ranked 1, 2, ...
        in the order asked, score 1.0: found by the arXiv id a source recorded for them (never by a URL)."""
        wanted = [re.sub(r"v\d+$", "", aid.strip()).lower() for aid in arxiv_ids]

        def find(snap: Snapshot) -> list[Source]:
            by_id = {p.arxiv_id.lower(): p.paper_id for p in snap.papers.values() if p.arxiv_id}
            return _as_sources(snap, [by_id[a] for a in wanted if a in by_id])

        return self.read(find)

    def as_sources(self, paper_ids: list[str]) -> list[Source]:
        """Committed papers as sources, in the order given, ranked 1, 2, ... with score 1.0: papers looked up by
        their metadata rather than found by a search. Ids not in the index are left out."""
        return self.read(lambda snap: _as_sources(snap, paper_ids))

    def dense_search(
        self, query: str, n: int, paper_ids: Collection[str] | None = None
    ) -> list[tuple[str, str, float]]:
        """Top chunks by cosine similarity: (chunk id, paper id, similarity), committed ones only."""
        return self.read(lambda snap: snap.dense_search(self.embed_query(query), n, paper_ids))

    def bm25_search(self, query: str, n: int, paper_ids: Collection[str] | None = None) -> list[tuple[str, str, float]]:
        """Top chunks by BM25: (chunk id, paper id, score); `paper_ids` restricts the candidates."""
        return self.snapshot().bm25_search(query, n, paper_ids)

    def stats(self) -> dict[str, Any]:
        snap = self.snapshot()
        sources: Counter[str] = Counter()
        labels: Counter[str] = Counter()
        for p in snap.papers.values():
            sources.update(p.sources)
            labels.update(p.source_labels)
        meta = snap.meta
        return {
            "papers": len(snap.papers),
            "chunks": snap.chunk_count,
            "sources": dict(sorted(sources.items())),
            "labels": dict(sorted(labels.items())),
            "with_authors": sum(bool(p.authors) for p in snap.papers.values()),
            "index": str(self.home),
            "chroma": self.location,
            "collection": self.settings.collection,
            "embedding_model": meta.get("embedding_model", self.settings.embedding_model),
            "chunk_tokens": int(meta.get("chunk_tokens", self.settings.chunk_tokens)),
            "chunk_overlap": int(meta.get("chunk_overlap", self.settings.chunk_overlap)),
            "fingerprint": meta.get("fingerprint", ""),
            "updated_at": meta.get("updated_at"),
        }

    # ---- writing -----------------------------------------------------------------------------------------
    def ingest(
        self,
        files: list[ParsedFile] | LoadResult,
        prune: bool = False,
        reset: bool = False,
        progress: Progress | None = None,
    ) -> IngestReport:
        """Store what the parsed `files` say (`ingest.parse_file` results, or a `load_papers` result, whose
        `.files` are used) and recompute the papers; see `Writer.ingest`. Readers of this index see the result
        on their next query. A plain list of `Paper`s is refused (TypeError): the index keeps records per file."""
        parsed = list(getattr(files, "files", files))
        if any(not isinstance(f, ParsedFile) for f in parsed):
            raise TypeError("Index.ingest takes parsed files (ingest.parse_file) or a load_papers() result")
        return self.writer.ingest(parsed, prune=prune, reset=reset, progress=progress)

    def delete(self, paper_ids: Collection[str]) -> IngestReport:
        """See `Writer.delete`; readers of this index see the papers gone on their next query."""
        return self.writer.delete(paper_ids)

    @contextmanager
    def writer_lock(self, wait: float = 0.0) -> Iterator[None]:
        with self.writer.lock(wait):
            yield


def _as_sources(snap: Snapshot, paper_ids: list[str]) -> list[Source]:
    ids = [pid for pid in dict.fromkeys(paper_ids) if pid in snap.papers]
    texts = snap.abstracts(ids)
    return [
        Source(rank=i, score=1.0, text=texts[pid], **snap.papers[pid].source_fields())
        for i, pid in enumerate(ids, start=1)
    ]
