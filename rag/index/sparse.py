"""The sparse index: BM25 over chunks as one sparse matrix, so query scoring is a sum of a few columns.

Chroma's own sparse index is not available in local mode, so this lives beside it, rebuilt from the manifest's
chunks after every commit and saved with the fingerprint of what it was built from. `tokenize` is the product's
one lexical tokenizer: the extractive answerer and the grounding check use it too, so that idf matches.
"""

from __future__ import annotations

import io
import json
import secrets
from collections.abc import Collection, Sequence
from functools import cached_property
from pathlib import Path

import numpy as np
from scipy import sparse

from rag.files import atomic_write

# One tokenizer and stop-word list for BM25 and every lexical overlap (rag/text.py).
from rag.text import STOPWORDS, tokenize  # noqa: F401


class BM25Index:
    """Okapi BM25 with Lucene's idf, log(1 + (N - n + 0.5) / (n + 0.5)), which is never negative."""

    def __init__(self, ids: list[str], matrix: sparse.csc_matrix, vocab: dict[str, int], fingerprint: str = "") -> None:
        self.ids = ids
        self.matrix = matrix
        self.vocab = vocab
        self.fingerprint = fingerprint
        self._df: np.ndarray | None = None
        self._row_of: dict[str, int] | None = None

    @classmethod
    def build(
        cls, ids: Sequence[str], texts: Sequence[str], k1: float = 1.5, b: float = 0.75, fingerprint: str = ""
    ) -> BM25Index:
        vocab: dict[str, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        vals: list[float] = []
        lengths = np.zeros(len(texts), dtype=np.float64)
        for row, text in enumerate(texts):
            counts: dict[int, int] = {}
            toks = tokenize(text)
            lengths[row] = len(toks)
            for t in toks:
                col = vocab.setdefault(t, len(vocab))
                counts[col] = counts.get(col, 0) + 1
            rows.extend([row] * len(counts))
            cols.extend(counts.keys())
            vals.extend(counts.values())
        n_docs = len(texts)
        tf = sparse.csr_matrix((vals, (rows, cols)), shape=(n_docs, len(vocab)), dtype=np.float64)
        if n_docs == 0:
            return cls(list(ids), tf.tocsc(), vocab, fingerprint)
        avgdl = max(lengths.mean(), 1e-9)
        df = np.bincount(tf.indices, minlength=len(vocab))
        idf = np.log1p((n_docs - df + 0.5) / (df + 0.5))
        norm = k1 * (1 - b + b * lengths / avgdl)
        tf = tf.tocoo()
        weights = idf[tf.col] * tf.data * (k1 + 1) / (tf.data + norm[tf.row])
        matrix = sparse.csc_matrix((weights.astype(np.float32), (tf.row, tf.col)), shape=tf.shape)
        return cls(list(ids), matrix, vocab, fingerprint)

    def __len__(self) -> int:
        return len(self.ids)

    def idf(self, term: str) -> float:
        """Inverse document frequency of an already tokenized term; unseen terms get the maximum."""
        if self._df is None:
            self._df = np.diff(self.matrix.indptr)
        n = len(self.ids)
        col = self.vocab.get(term)
        df = int(self._df[col]) if col is not None else 0
        return float(np.log1p((n - df + 0.5) / (df + 0.5)))

    def score_of(self, query: str, chunk_ids: list[str]) -> dict[str, float]:
        """BM25 scores of the given chunks (0 for chunks this index does not hold)."""
        if self._row_of is None:
            self._row_of = {cid: i for i, cid in enumerate(self.ids)}
        scores = self.scores(query)
        return {c: float(scores[self._row_of[c]]) if c in self._row_of else 0.0 for c in chunk_ids}

    def scores(self, query: str) -> np.ndarray:
        cols = [self.vocab[t] for t in tokenize(query) if t in self.vocab]
        if not cols or not self.ids:
            return np.zeros(len(self.ids), dtype=np.float32)
        return np.asarray(self.matrix[:, cols].sum(axis=1)).ravel()

    def search(self, query: str, k: int, mask: np.ndarray | None = None) -> list[tuple[str, float]]:
        """Top `k` (chunk id, score) with a positive score; `mask` (bool per chunk) restricts the candidates."""
        scores = self.scores(query)
        if mask is not None:
            scores = np.where(mask, scores, 0.0)
        positive = np.flatnonzero(scores > 0)
        if positive.size == 0:
            return []
        k = min(k, positive.size)
        top = positive[np.argpartition(-scores[positive], k - 1)[:k]]
        top = top[np.lexsort((top, -scores[top]))]
        return [(self.ids[i], float(scores[i])) for i in top]

    @cached_property
    def paper_rows(self) -> tuple[np.ndarray, dict[str, int]]:
        """For each row the number of its paper, and the numbering: filter masks without a loop over chunks."""
        numbers: dict[str, int] = {}
        rows = np.fromiter(
            (numbers.setdefault(cid.rsplit(":", 1)[0], len(numbers)) for cid in self.ids),
            dtype=np.int64,
            count=len(self),
        )
        return rows, numbers

    def search_papers(
        self, query: str, n: int, paper_ids: Collection[str] | None = None
    ) -> list[tuple[str, str, float]]:
        """Top `n` chunks as (chunk id, paper id, score); `paper_ids` restricts the candidates."""
        mask = None
        if paper_ids is not None:
            rows, numbers = self.paper_rows
            allowed = np.zeros(len(numbers), dtype=bool)
            allowed[[numbers[p] for p in paper_ids if p in numbers]] = True
            mask = allowed[rows]
        return [(cid, cid.rsplit(":", 1)[0], score) for cid, score in self.search(query, n, mask)]

    def save(self, directory: Path) -> None:
        """Write the matrix under a new name, then point `meta.json` at it: each step is one atomic write, so a
        reader (or a run killed in between) always finds a meta.json and the matrix it names."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        name = f"matrix-{secrets.token_hex(6)}.npz"
        buffer = io.BytesIO()
        sparse.save_npz(buffer, self.matrix.tocsc(), compressed=False)
        atomic_write(directory / name, buffer.getvalue())
        meta = {"ids": self.ids, "vocab": self.vocab, "fingerprint": self.fingerprint, "matrix": name}
        atomic_write(directory / "meta.json", json.dumps(meta))
        for old in directory.glob("matrix*.npz"):
            if old.name != name:
                old.unlink(missing_ok=True)

    @classmethod
    def load(cls, directory: Path) -> BM25Index:
        """Raises OSError or ValueError when the files are missing or damaged."""
        directory = Path(directory)
        meta = json.loads((directory / "meta.json").read_text())
        matrix = sparse.load_npz(directory / meta.get("matrix", "matrix.npz")).tocsc()
        if matrix.shape[0] != len(meta["ids"]):
            raise ValueError(f"{directory}: the matrix does not match meta.json")
        return cls(meta["ids"], matrix, meta["vocab"], meta.get("fingerprint", ""))
