"""Embedding models behind LangChain's `Embeddings` interface: the bundled MiniLM, any local sentence-transformers
directory (small inputs on onnxruntime, batches on torch), or OpenAI-compatible embeddings (`openai:<model>`)."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from rag.embeddings import (
    BUNDLED_MODEL,
    EmbeddingIdentity,
    cache_name,
    cached_files_digest,
    canonical_model_name,
    resolve_model_path,
)
from rag.settings import default_model_cache
from rag.vector_cache import VectorCache

log = logging.getLogger(__name__)

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
    """Normalised sentence-transformers embeddings on the CPU, with a small query cache.

    Small inputs (a query, the few dozen sentences an answer weighs) run on onnxruntime from a copy of the model
    exported once into `cache_dir` (see `rag.onnx_encoder`): the same vectors within 1e-5, without importing torch
    (which, with transformers and sentence-transformers, is most of a CLI command's start-up). Batches (ingest)
    run on sentence-transformers, loaded on first use. A model the exporter cannot run, or an export that fails,
    stays on torch for everything. `cache_dir` defaults to `rag.settings.default_model_cache()`.
    """

    def __init__(
        self,
        model: str = BUNDLED_MODEL,
        batch_size: int = 64,
        cache_size: int = 1024,
        cache_dir: Path | str | None = None,
    ) -> None:
        from rag.onnx_encoder import layout

        self.name = model
        self.batch_size = batch_size
        self._path = resolve_model_path(model)
        self._cache_dir = Path(cache_dir) if cache_dir is not None else default_model_cache()
        self._layout = layout(self._path)
        self._model: Any = None
        self._onnx: Any = None  # an OnnxEncoder once loaded; False when this model stays on torch
        self._lock = threading.RLock()
        self._cache: OrderedDict[str, list[float]] = OrderedDict()
        self._cache_size = cache_size
        self._vectors: VectorCache | None = None
        if self._layout is None:
            self._load_torch()  # the dimension and the sequence length come from the loaded model
            self._onnx = False

    @property
    def dimension(self) -> int:
        return self._layout.dimension if self._layout else int(self._dim())

    @property
    def max_seq_length(self) -> int:
        return self._layout.max_seq_length if self._layout else int(self._load_torch().max_seq_length)

    def _dim(self) -> int:
        m = self._load_torch()
        return int((getattr(m, "get_embedding_dimension", None) or m.get_sentence_embedding_dimension)())

    @property
    def identity(self) -> EmbeddingIdentity:
        """Canonical name, dimension and file digest of this model (what the index records)."""
        return EmbeddingIdentity(
            canonical_model_name(self.name), self.dimension, cached_files_digest(self._path, self._cache_dir)
        )

    @property
    def model(self) -> Any:
        """The underlying SentenceTransformer, loaded on first use (benchmarks measure its raw throughput)."""
        return self._load_torch()

    def _load_torch(self) -> Any:
        with self._lock:
            if self._model is None:
                from sentence_transformers import SentenceTransformer

                self._model = SentenceTransformer(str(self._path), device="cpu")
            return self._model

    def query_encoder(self, texts: list[str]) -> np.ndarray | None:
        """Vectors from the onnxruntime copy of the model (exported on first use), or None when this model runs
        on torch only. Uncached; callers hold no lock."""
        with self._lock:
            encoder = self._onnx_encoder()
            return encoder(list(texts)) if encoder else None

    def _onnx_encoder(self) -> Any:
        if self._onnx is None:
            self._onnx = self._open_onnx() or False
        return self._onnx

    def _open_onnx(self) -> Any:
        from rag.onnx_encoder import OnnxEncoder, export, onnx_file

        assert self._layout is not None
        path = onnx_file(self._cache_dir, canonical_model_name(self.name), self.identity.files or "")
        try:
            if path.is_file():
                try:
                    return OnnxEncoder(path, self._path, self._layout)
                except Exception as exc:  # a damaged file: written again below
                    log.warning("the exported model %s could not be read (%s); exporting it again", path, exc)
            export(self._load_torch(), self._path, self._layout, path)
            return OnnxEncoder(path, self._path, self._layout)
        except Exception as exc:
            log.warning("embedding on torch only: the onnxruntime copy of %s is unavailable (%s)", self.name, exc)
            return None

    def encode_array(self, texts: list[str], batch_size: int | None = None) -> np.ndarray:
        """Unit-length float32 vectors, one row per text: what the index writes, with no list round-trip."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            if len(texts) <= SMALL_INPUT and self._onnx_encoder():
                return self._onnx(list(texts))
            model = self._load_torch()
            with _threads(1 if len(texts) <= SMALL_INPUT else None):
                vectors = model.encode(
                    list(texts),
                    batch_size=batch_size or self.batch_size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
            if self._onnx is None and self._layout is not None:
                self._onnx_encoder()  # torch is loaded now (an ingest): export while it is cheap, for later queries
        return np.asarray(vectors, dtype=np.float32)

    def encode(self, texts: list[str], batch_size: int | None = None) -> list[list[float]]:
        """Unit-length vectors for short texts (answer and abstract sentences): up to SMALL_INPUT texts are read
        from, and added to, the persistent `vector_cache`; larger inputs are computed (an ingest's batches)."""
        if not texts:
            return []
        cache = self.vector_cache if len(texts) <= SMALL_INPUT else None
        if cache is None:
            return self.encode_array(texts, batch_size).tolist()
        found = cache.get(texts)
        missing = list(dict.fromkeys(t for t in texts if t not in found))
        if missing:
            fresh = self.encode_array(missing, batch_size)
            cache.put(missing, fresh)
            found.update(zip(missing, fresh, strict=True))
        return [found[t].tolist() for t in texts]

    @property
    def vector_cache(self) -> VectorCache:
        """The persistent store of this model's sentence vectors (`cache_dir/vectors/`, keyed by model digest)."""
        with self._lock:
            if self._vectors is None:
                name = cache_name(canonical_model_name(self.name), self.identity.files or "")
                self._vectors = VectorCache(self._cache_dir / "vectors" / f"{name}.sqlite", self.dimension)
            return self._vectors

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
        vector = self.encode_array([text])[0].tolist()  # questions are not kept on disk
        self._cache[text] = vector
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return vector


def load_embeddings(
    name: str,
    batch_size: int = 64,
    base_url: str | None = None,
    api_key: str | None = None,
    cache_dir: Path | None = None,
) -> Embeddings:
    """The embedding model a settings value names; `cache_dir` holds its onnxruntime copy (settings.model_cache)."""
    if name.startswith("openai:"):
        from langchain_openai import OpenAIEmbeddings

        emb = OpenAIEmbeddings(model=name.split(":", 1)[1], base_url=base_url, api_key=api_key or "unset")
        emb.name = name  # type: ignore[attr-defined]
        return emb
    return SentenceTransformerEmbeddings(name, batch_size=batch_size, cache_dir=cache_dir)
