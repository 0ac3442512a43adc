"""Hybrid retrieval: dense (Chroma) and BM25 chunk rankings, completed so that both score every candidate,
collapsed from chunks to papers and fused (a convex combination of normalised scores by default, reciprocal
rank fusion as an option). One entry per paper, its best chunks kept as evidence.

`HybridSearch` is plain Python; its LangChain face, `HybridRetriever` (a `BaseRetriever`), lives in
`rag.langchain_retriever` and is imported from here on first use, so that `rag search` never imports LangChain's
retriever and tracing machinery (about 0.5 s).

Why convex by default: on the dev set (alpha picked on the odd half from 0.3-0.6), convex fusion beats both
single retrievers on recall@5, while RRF only ties BM25 (see BENCHMARKS.md / eval/README.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from rag.index import Index, PaperMeta, Snapshot
from rag.paper_filters import any_author_matches, date_matches
from rag.types import Source

if TYPE_CHECKING:
    from rag.langchain_retriever import HybridRetriever, document_to_source, source_to_document

__all__ = [
    "HybridRetriever",
    "HybridSearch",
    "Mode",
    "Ranking",
    "SearchFilter",
    "complete_rankings",
    "convex_fuse",
    "document_to_source",
    "papers_from_chunks",
    "rrf_fuse",
    "source_to_document",
]

Mode = Literal["hybrid", "dense", "bm25"]


@dataclass(frozen=True)
class SearchFilter:
    """Metadata filters; all given ones must hold. Matching is case-insensitive.

    - `source`: part of a source file's name or of a source label ("003_", "Daily Papers, Mar 11", "zotero");
    - `date`: `2024`, `2024-03`, `2024-03-11`, a range `2023..2024-06` (open ends allowed), or a dump's
      listing date `Mar 11` (that day in any year); see `rag.paper_filters.date_spec`;
    - `author`: a name as people write it ("Jane Doe", "Doe", "J. Doe"; accents and case ignored);
    - `title_contains`: part of the title; `paper_ids`: only these papers (a follow-up's referred papers).
    """

    source: str | None = None
    date: str | None = None
    title_contains: str | None = None
    paper_ids: frozenset[str] | None = None
    author: str | None = None

    def __bool__(self) -> bool:
        return bool(self.source or self.date or self.title_contains or self.author or self.paper_ids is not None)

    def matches(self, paper: PaperMeta) -> bool:
        if self.paper_ids is not None and paper.paper_id not in self.paper_ids:
            return False
        if self.source:
            want = self.source.lower().strip()
            if not any(want in s.lower() for s in (*paper.sources, *paper.source_labels)):
                return False
        if self.date and not date_matches(self.date, paper.date, paper.listed):
            return False
        if self.author and not any_author_matches(self.author, paper.authors):
            return False
        return not (self.title_contains and self.title_contains.lower() not in paper.title.lower())


def papers_from_chunks(hits: list[tuple[str, str, float]]) -> list[tuple[str, list[str], float]]:
    """Collapse a ranked chunk list to a ranked paper list: (paper id, its chunk ids best first, best score).

    A paper ranks where its best chunk ranks; later chunks of the same paper only add evidence.
    """
    order: list[str] = []
    chunks: dict[str, list[str]] = {}
    best: dict[str, float] = {}
    for chunk_id, paper_id, score in hits:
        if paper_id not in chunks:
            order.append(paper_id)
            chunks[paper_id] = []
            best[paper_id] = score
        chunks[paper_id].append(chunk_id)
    return [(pid, chunks[pid], best[pid]) for pid in order]


def convex_fuse(
    dense: list[tuple[str, list[str], float]], sparse: list[tuple[str, list[str], float]], alpha: float = 0.3
) -> list[tuple[str, float]]:
    """Convex combination of normalised scores: alpha * dense + (1 - alpha) * bm25.

    Cosine similarities are min-max scaled over the candidates, BM25 scores divided by the best one, so both
    lie in [0, 1]; a paper absent from one list contributes 0 there. Ties break by id.
    """
    scores: dict[str, float] = {}
    if dense:
        hi, lo = max(x[2] for x in dense), min(x[2] for x in dense)
        for pid, _, v in dense:
            scores[pid] = scores.get(pid, 0.0) + alpha * ((v - lo) / (hi - lo) if hi > lo else 1.0)
    if sparse:
        top = max(x[2] for x in sparse) or 1.0
        for pid, _, v in sparse:
            scores[pid] = scores.get(pid, 0.0) + (1 - alpha) * v / top
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


def rrf_fuse(rankings: list[list[str]], k: int = 60) -> list[tuple[str, float]]:
    """Reciprocal rank fusion: score(d) = sum over rankings of 1 / (k + rank), ranks from 1. Ties break by
    the best single rank, then by id, so the order is deterministic."""
    scores: dict[str, float] = {}
    best_rank: dict[str, int] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
            best_rank[item] = min(best_rank.get(item, rank), rank)
    return sorted(scores.items(), key=lambda kv: (-kv[1], best_rank[kv[0]], kv[0]))


Ranking = list[tuple[str, list[str], float]]


def complete_rankings(
    snapshot: Snapshot,
    query: str,
    vector: list[float],
    dense_hits: list[tuple[str, str, float]],
    sparse_hits: list[tuple[str, str, float]],
) -> tuple[Ranking, Ranking]:
    """Score every candidate chunk under both signals before fusing.

    Plain RRF over two top-n lists penalises a chunk that one retriever ranked highly and the other merely
    did not return: it gets credit from one list only. Here the chunks only BM25 found get their cosine
    similarity (their stored vectors, no re-embedding; `vector` is the query's) and the chunks only the dense
    search found get their BM25 score, so both rankings cover the same candidates.
    """
    dense = {cid: (pid, sim) for cid, pid, sim in dense_hits}
    sparse = {cid: (pid, score) for cid, pid, score in sparse_hits}
    dense.update(snapshot.similarities([cid for cid in sparse if cid not in dense], vector))
    need_scores = [cid for cid in dense if cid not in sparse]
    for cid, score in snapshot.bm25_scores(query, need_scores).items():
        if score > 0:
            sparse[cid] = (dense[cid][0], score)

    def ranked(hits: dict[str, tuple[str, float]]) -> Ranking:
        order = sorted(hits.items(), key=lambda kv: (-kv[1][1], kv[0]))
        return papers_from_chunks([(cid, pid, score) for cid, (pid, score) in order])

    return ranked(dense), ranked(sparse)


@dataclass
class HybridSearch:
    """Ranked papers over an `Index` with the settings' retrieval parameters; `HybridRetriever` wraps it."""

    index: Any
    k: int = 10
    mode: Mode = "hybrid"
    candidates: int = 50
    rrf_k: int = 60
    filters: SearchFilter | None = None
    complete: bool = True
    fusion: Literal["convex", "rrf"] = "convex"
    alpha: float = 0.3

    def search(
        self, query: str, k: int | None = None, filters: SearchFilter | None = None, mode: Mode | None = None
    ) -> list[Source]:
        """Ranked papers for `query` as `Source` records, read from one snapshot of the index (a fresh one if
        another process changed the index since the last query)."""
        index: Index = self.index
        k = self.k if k is None else k
        mode = mode or self.mode
        filters = filters if filters is not None else self.filters
        query = query.strip()
        if not query or k <= 0:
            return []
        return index.read(lambda snapshot: self._search(snapshot, query, k, filters, mode))

    def _search(self, snapshot: Snapshot, query: str, k: int, filters: SearchFilter | None, mode: Mode) -> list[Source]:
        if snapshot.is_empty():
            return []
        allowed = snapshot.papers_matching(filters, filters.matches) if filters else None
        if allowed is not None and not allowed:
            return []
        dense, sparse = self._rankings(snapshot, query, max(self.candidates, k * 4), allowed, mode)
        if mode == "dense":
            fused = [(pid, score) for pid, _, score in dense]
        elif mode == "bm25":
            fused = [(pid, score) for pid, _, score in sparse]
        elif self.fusion == "convex":
            fused = convex_fuse(dense, sparse, self.alpha)
        else:
            fused = rrf_fuse([[p for p, _, _ in dense], [p for p, _, _ in sparse]], self.rrf_k)
        return self._sources(snapshot, fused[:k], dense, sparse)

    def _rankings(
        self, snapshot: Snapshot, query: str, n: int, allowed: frozenset[str] | None, mode: Mode
    ) -> tuple[Ranking, Ranking]:
        """The dense and BM25 paper rankings over `n` candidate chunks each (completed in hybrid mode)."""
        vector = self.index.embed_query(query) if mode in ("hybrid", "dense") else []
        dense_hits = snapshot.dense_search(vector, n, allowed) if mode in ("hybrid", "dense") else []
        sparse_hits = snapshot.bm25_search(query, n, allowed) if mode in ("hybrid", "bm25") else []
        if mode == "hybrid" and self.complete:
            return complete_rankings(snapshot, query, vector, dense_hits, sparse_hits)
        return papers_from_chunks(dense_hits), papers_from_chunks(sparse_hits)

    @staticmethod
    def _sources(snapshot: Snapshot, fused: list[tuple[str, float]], dense: Ranking, sparse: Ranking) -> list[Source]:
        dense_rank = {pid: r for r, (pid, _, _) in enumerate(dense, start=1)}
        sparse_rank = {pid: r for r, (pid, _, _) in enumerate(sparse, start=1)}
        dense_score = {pid: score for pid, _, score in dense}
        sparse_score = {pid: score for pid, _, score in sparse}
        evidence: dict[str, list[str]] = {}
        for pid, chunk_ids, _ in dense + sparse:
            bucket = evidence.setdefault(pid, [])
            bucket.extend(c for c in chunk_ids if c not in bucket)
        abstracts = snapshot.abstracts([pid for pid, _ in fused])
        out = []
        for rank, (pid, score) in enumerate(fused, start=1):
            meta: PaperMeta = snapshot.papers[pid]
            out.append(
                Source(
                    **meta.source_fields(),
                    rank=rank,
                    score=round(float(score), 6),
                    text=abstracts[pid],
                    chunks=evidence.get(pid, []),
                    dense_rank=dense_rank.get(pid),
                    bm25_rank=sparse_rank.get(pid),
                    dense_score=round(dense_score[pid], 6) if pid in dense_score else None,
                    bm25_score=round(sparse_score[pid], 6) if pid in sparse_score else None,
                )
            )
        return out


_LANGCHAIN = ("HybridRetriever", "source_to_document", "document_to_source")


def __getattr__(name: str) -> Any:
    if name in _LANGCHAIN:
        from rag import langchain_retriever

        return getattr(langchain_retriever, name)
    raise AttributeError(f"module 'rag.retrieval' has no attribute {name!r}")
