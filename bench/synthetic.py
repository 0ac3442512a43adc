"""Synthetic corpora for the scale benchmark, and the precomputed vectors that stand in for the model there.

Corpora: the 451 real papers first, then synthetic ones whose abstracts recombine real sentences (the same
sentence-count distribution as the real abstracts) under a real title made unique by a number. So the text
statistics BM25 sees are realistic, and every dev question still has its real gold paper in the corpus,
among many hard distractors built from the same sentences.

Vectors: embedding ~200k chunks with MiniLM takes hours on 2 cores, so at 10k and 100k the index is fed
*composed* vectors: each chunk's vector is the normalised mean of the real MiniLM vectors of its title and
its sentences, embedded once. Queries are still embedded by the real model.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings

from ingest import Paper, load_papers
from ingest.sentences import split_sentences

_NUMBERED = re.compile(r" \[\d+\]$")
MONTHS = [f"2024-{m:02d}" for m in range(1, 13)]


def real_papers() -> list[Paper]:
    """The bundled corpus, one record per paper."""
    return list({p.paper_id: p for p in load_papers()}.values())


def synthetic_records(n: int, seed: int = 7) -> Iterator[dict[str, str]]:
    """`n` JSONL records: the real papers, then synthetic ones. Record i depends only on i and the seed,
    so a smaller corpus is a prefix of a larger one."""
    papers = real_papers()
    sentences = [split_sentences(p.abstract) for p in papers]
    for i in range(n):
        if i < len(papers):
            p = papers[i]
            yield {"title": p.title, "abstract": p.abstract, "date": p.date or MONTHS[i % 12] + "-01"}
            continue
        rng = random.Random(seed * 1_000_003 + i)
        base = papers[rng.randrange(len(papers))]
        count = len(sentences[rng.randrange(len(papers))])
        picked = []
        for _ in range(count):
            pool = sentences[rng.randrange(len(papers))]
            picked.append(pool[rng.randrange(len(pool))])
        yield {
            "title": f"{base.title} [{i}]",
            "abstract": " ".join(picked),
            "date": f"{MONTHS[i % 12]}-{i % 28 + 1:02d}",
        }


def write_corpus(path: Path, n: int) -> Path:
    """Write the n-paper corpus as JSON Lines (once; reused if present)."""
    path = Path(path)
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        with tmp.open("w") as fh:
            for record in synthetic_records(n):
                fh.write(json.dumps(record) + "\n")
        tmp.replace(path)
    return path


def vocabulary() -> list[str]:
    """Every text a composed vector is made of: real titles and real sentences."""
    texts: dict[str, None] = {}
    for p in real_papers():
        texts[p.title] = None
        for s in split_sentences(p.abstract):
            texts[s] = None
    return list(texts)


def save_vectors(path: Path, texts: list[str], vectors: np.ndarray) -> None:
    np.savez(path, vectors=vectors.astype(np.float32), texts=np.array(texts, dtype=object))


def load_vectors(path: Path) -> dict[str, np.ndarray]:
    data = np.load(path, allow_pickle=True)
    return dict(zip(data["texts"].tolist(), data["vectors"], strict=True))


class ComposedEmbeddings(Embeddings):
    """Documents: the normalised mean of the precomputed vectors of a chunk's title and sentences (a piece
    with no precomputed vector, e.g. a sentence cut by the chunker, gets a fixed pseudo-random vector and is
    counted). Queries: the real model.

    `precompute(texts)` composes ahead of time, so that during a timed ingest "embedding" is a lookup and
    the figures measure the index, not this stand-in for the model."""

    def __init__(self, model: Embeddings, table: dict[str, np.ndarray]) -> None:
        self.model = model
        self.table = table
        self.dimension = len(next(iter(table.values())))
        self.pieces = 0
        self.missing = 0
        self._rows: dict[int, int] = {}
        self._ready = np.zeros((0, self.dimension), dtype=np.float32)

    @property
    def precomputed_mb(self) -> float:
        return round((self._ready.nbytes + 100 * len(self._rows)) / 1024 / 1024, 1)

    def precompute(self, texts: list[str]) -> None:
        self._ready = self._compose(texts)
        self._rows = {hash(t): i for i, t in enumerate(texts)}

    def _vector(self, text: str) -> np.ndarray:
        self.pieces += 1
        hit = self.table.get(text)
        if hit is not None:
            return hit
        self.missing += 1
        seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
        v = np.random.default_rng(seed).standard_normal(self.dimension).astype(np.float32)
        return v / np.linalg.norm(v)

    def _compose(self, texts: list[str]) -> np.ndarray:
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            title, _, body = text.partition("\n")
            parts = [self._vector(_NUMBERED.sub("", title))] + [self._vector(s) for s in split_sentences(body)]
            v = np.mean(parts, axis=0)
            out[row] = v / max(float(np.linalg.norm(v)), 1e-12)
        return out

    def encode_array(self, texts: list[str]) -> np.ndarray:
        rows = [self._rows.get(hash(t)) for t in texts]
        if all(r is not None for r in rows):
            return self._ready[rows]
        return self._compose(texts)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encode_array(list(texts)).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.model.embed_query(text)
