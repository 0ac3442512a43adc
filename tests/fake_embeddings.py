"""A small deterministic embedding model for unit tests: a hashed bag of stemmed words and word pairs.

384 dimensions, unit length, the same vector for the same text in every process. Texts that share words are
similar, which is what the index tests rely on (a paper found by its title or by a phrase from its abstract);
meaning beyond shared words is not modelled, so tests that need it use the real MiniLM. About 10,000 texts/s.
"""

from __future__ import annotations

import hashlib
from itertools import pairwise

import numpy as np
from langchain_core.embeddings import Embeddings

from rag.embeddings import EmbeddingIdentity
from rag.index.sparse import tokenize

DIMENSION = 384


def _bucket(feature: str) -> tuple[int, float]:
    digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
    value = int.from_bytes(digest, "little")
    return value % DIMENSION, 1.0 if value >> 63 else -1.0


class HashingEmbeddings(Embeddings):
    """The `SentenceTransformerEmbeddings` surface the product uses: encode_array, encode, embed_*, identity."""

    dimension = DIMENSION
    identity = EmbeddingIdentity("test-hashing", DIMENSION, "hashing-v1")

    def __init__(self) -> None:
        self.calls = 0

    def encode_array(self, texts: list[str], batch_size: int | None = None) -> np.ndarray:
        self.calls += 1
        out = np.zeros((len(texts), DIMENSION), dtype=np.float32)
        for row, text in enumerate(texts):
            words = tokenize(text)
            for feature in [*words, *(f"{a} {b}" for a, b in pairwise(words))]:
                col, sign = _bucket(feature)
                out[row, col] += sign
            norm = np.linalg.norm(out[row])
            if norm:
                out[row] /= norm
            else:
                out[row, 0] = 1.0  # no words: one fixed direction, still unit length
        return out

    def encode(self, texts: list[str], batch_size: int | None = None) -> list[list[float]]:
        return self.encode_array(list(texts)).tolist()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encode(texts)

    def embed_query(self, text: str) -> list[float]:
        return self.encode([text])[0]
