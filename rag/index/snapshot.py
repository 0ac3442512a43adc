"""Read snapshots: a frozen, versioned view of one committed state of the index, which retrieval and the
generators read from. A snapshot never changes; when the manifest's version moves on, the index builds a new
one and readers pick it up on their next query, while queries already running finish on the old one."""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Collection, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rag.index.errors import IndexMismatch
from rag.index.manifest import Manifest, PaperMeta
from rag.index.sparse import BM25Index

# Over-fetching more neighbours than this for a filtered dense search is slower than Chroma's own filter.
POSTFILTER_MAX_FETCH = 20_000
# Filters remembered per snapshot: checking every paper costs about 250 ms at 100k papers.
FILTER_CACHE = 64


class StaleSnapshot(RuntimeError):
    """The vector store changed under this snapshot (another process wrote or reset it): take a new one."""


@dataclass(frozen=True, eq=False)
class Snapshot:
    """One committed state: its papers, BM25 (and so idf), row maps and the vector collection it was read with.

    `version` changes with every commit; `fingerprint` only when papers or their content change.
    """

    version: str
    meta: Mapping[str, str]
    papers: Mapping[str, PaperMeta]
    chunk_count: int
    bm25: BM25Index
    collection: Any = None
    manifest: Manifest | None = None
    _matching: OrderedDict = field(default_factory=OrderedDict, repr=False)

    @property
    def fingerprint(self) -> str:
        return self.meta.get("fingerprint", "")

    @property
    def dimension(self) -> int | None:
        value = self.meta.get("embedding_dimension")
        return int(value) if value else None

    def is_empty(self) -> bool:
        return not self.papers

    # ---- lexical ---------------------------------------------------------------------------------------
    def idf(self, term: str) -> float:
        """BM25 inverse document frequency of a `tokenize`d term over this snapshot's chunks."""
        return self.bm25.idf(term)

    def bm25_search(self, query: str, n: int, paper_ids: Collection[str] | None = None) -> list[tuple[str, str, float]]:
        """Top chunks by BM25: (chunk id, paper id, score); `paper_ids` restricts the candidates."""
        return self.bm25.search_papers(query, n, paper_ids)

    def bm25_scores(self, query: str, chunk_ids: list[str]) -> dict[str, float]:
        return self.bm25.score_of(query, chunk_ids)

    # ---- filters ---------------------------------------------------------------------------------------
    def papers_matching(self, key: Hashable, predicate: Any) -> frozenset[str]:
        """Ids of the papers `predicate(PaperMeta)` admits, remembered under `key` for this snapshot."""
        hit = self._matching.get(key)
        if hit is None:
            hit = frozenset(pid for pid, p in self.papers.items() if predicate(p))
            self._matching[key] = hit
            while len(self._matching) > FILTER_CACHE:
                self._matching.popitem(last=False)
        return hit

    # ---- dense -----------------------------------------------------------------------------------------
    def _check_dimension(self, vector: list[float]) -> None:
        if self.dimension and len(vector) != self.dimension:
            raise IndexMismatch(
                f"the index holds {self.dimension}-dimension vectors but the embedding model gives {len(vector)}; "
                "rebuild the index with: rag ingest --reset (or use the model the index was built with)"
            )

    def _committed(self, chunk_id: str, meta: Mapping[str, Any] | None) -> PaperMeta | None:
        """The paper a stored vector belongs to, if it carries that paper's committed hash; otherwise it is an
        uncommitted, stale or deleted vector, and readers see only the committed state."""
        pm = self.papers.get((meta or {}).get("paper_id", ""))
        return pm if pm is not None and pm.content_hash == (meta or {}).get("hash") else None

    def _chroma(self, call: str, **kwargs: Any) -> Any:
        if self.collection is None:
            return None
        try:
            return getattr(self.collection, call)(**kwargs)
        except Exception as exc:  # a collection reset, or vectors rewritten by another process
            raise StaleSnapshot(f"{type(exc).__name__}: {exc}") from exc

    def dense_search(
        self, vector: list[float], n: int, paper_ids: Collection[str] | None = None
    ) -> list[tuple[str, str, float]]:
        """Top chunks by cosine similarity to `vector`: (chunk id, paper id, similarity), committed ones only."""
        if not self.papers or n <= 0 or (paper_ids is not None and not paper_ids) or self.collection is None:
            return []
        self._check_dimension(vector)
        hits = self._postfiltered(vector, n, paper_ids) if paper_ids is not None else None
        if hits is None:
            where = {"paper_id": {"$in": list(paper_ids)}} if paper_ids is not None else None
            res = self._chroma(
                "query", query_embeddings=[vector], n_results=n, where=where, include=["metadatas", "distances"]
            )
            hits = list(zip(res["ids"][0], res["metadatas"][0], res["distances"][0], strict=False))
        out = []
        for cid, meta, dist in hits:
            pm = self._committed(cid, meta)
            if pm is not None:
                out.append((cid, pm.paper_id, 1.0 - float(dist)))
        return out

    def _postfiltered(
        self, vector: list[float], n: int, paper_ids: Collection[str]
    ) -> list[tuple[str, Mapping[str, Any] | None, float]] | None:
        """A broad filter, answered by over-fetching unfiltered neighbours and keeping the allowed ones.

        Chroma's `$in` filter costs about 30-55 us per listed id (468 ms for 8,300 ids at 100k papers), while
        an unfiltered query costs about 8 us per result fetched without metadata. So when the allowed share
        is large enough that a few multiples of n/share results are cheaper than listing the ids, fetch
        those, keep the allowed ones, and read metadata for the top n only. If fewer than n allowed chunks
        come back, return None and let Chroma filter (exact either way)."""
        share = len(paper_ids) / max(len(self.papers), 1)
        fetch = min(math.ceil(2 * n / share) + n, self.chunk_count)
        if fetch > 4 * len(paper_ids) or fetch > POSTFILTER_MAX_FETCH:
            return None
        allowed = paper_ids if isinstance(paper_ids, (set, frozenset)) else set(paper_ids)
        res = self._chroma("query", query_embeddings=[vector], n_results=fetch, include=["distances"])
        ids, dists = res["ids"][0], res["distances"][0]
        kept = [(cid, d) for cid, d in zip(ids, dists, strict=False) if cid.rsplit(":", 1)[0] in allowed][:n]
        if len(kept) < n and not (len(ids) < fetch or fetch >= self.chunk_count):
            return None
        if not kept:
            return []
        got = self._chroma("get", ids=[cid for cid, _ in kept], include=["metadatas"])
        metas = dict(zip(got["ids"], got["metadatas"], strict=False))
        return [(cid, metas.get(cid), d) for cid, d in kept]

    def similarities(self, chunk_ids: list[str], vector: list[float]) -> dict[str, tuple[str, float]]:
        """Cosine similarity of `vector` to the stored vectors of `chunk_ids` (no re-embedding): chunk id ->
        (paper id, similarity), committed chunks only."""
        if not chunk_ids or self.collection is None:
            return {}
        self._check_dimension(vector)
        q = np.asarray(vector, dtype=np.float32)
        got = self._chroma("get", ids=chunk_ids, include=["embeddings", "metadatas"])
        out = {}
        for cid, vec, meta in zip(got["ids"], got["embeddings"], got["metadatas"], strict=False):
            pm = self._committed(cid, meta)
            if pm is not None:
                v = np.asarray(vec, dtype=np.float32)
                out[cid] = (pm.paper_id, float(v @ q / (np.linalg.norm(v) * np.linalg.norm(q) or 1.0)))
        return out

    # ---- text ------------------------------------------------------------------------------------------
    def abstracts(self, paper_ids: list[str]) -> dict[str, str]:
        """The committed abstracts of `paper_ids`. Raises StaleSnapshot when the manifest has moved on (a paper
        of this snapshot was changed or removed since), so the caller reads again from a new snapshot."""
        if self.manifest is None or not paper_ids:
            return {}
        rows = self.manifest.abstracts(paper_ids)
        out = {}
        for pid in paper_ids:
            row = rows.get(pid)
            pm = self.papers.get(pid)
            if row is None or pm is None or row[1] != pm.content_hash:
                raise StaleSnapshot(f"paper {pid} changed since this snapshot")
            out[pid] = row[0]
        return out
