"""Chunk vectors remembered between test sessions, so that the session's corpus index is built without running
MiniLM over its ~1,000 chunks again (about 100 s on 2 cores, most of a cold run's setup).

Each vector is the real model's output for that exact text, recorded by an earlier session; they are keyed by
the model's file digest and the text's sha256, and kept in pytest's cache directory (`pytest --cache-clear`
forgets them; without the cache plugin nothing is remembered). Everything else in the ingest runs for real.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from rag.files import atomic_write


def _key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class RecordedEmbeddings(Embeddings):
    """`model` (a SentenceTransformerEmbeddings) with its document vectors looked up before they are computed."""

    def __init__(self, model: Any, directory: Path | None) -> None:
        self.model = model
        self.identity = model.identity
        self.path = directory / f"{self.identity.files}.npz" if directory is not None else None
        self.vectors: dict[str, np.ndarray] = {}
        self.computed = 0
        if self.path is not None and self.path.exists():
            with np.load(self.path, allow_pickle=False) as data:
                self.vectors = dict(zip(data["keys"].tolist(), data["vectors"], strict=True))

    def encode_array(self, texts: list[str], batch_size: int | None = None) -> np.ndarray:
        keys = [_key(t) for t in texts]
        missing = [i for i, k in enumerate(keys) if k not in self.vectors]
        if missing:
            fresh = self.model.encode_array([texts[i] for i in missing], batch_size)
            self.vectors.update({keys[i]: fresh[j] for j, i in enumerate(missing)})
            self.computed += len(missing)
        return np.stack([self.vectors[k] for k in keys]) if keys else self.model.encode_array([])

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encode_array(list(texts)).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.model.embed_query(text)

    def save(self) -> None:
        if self.path is None or not self.computed:
            return
        keys = list(self.vectors)
        buffer = io.BytesIO()
        np.savez(buffer, keys=np.array(keys), vectors=np.stack([self.vectors[k] for k in keys]))
        atomic_write(self.path, buffer.getvalue())
