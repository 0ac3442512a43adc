"""Health checks: is this index readable, complete, and built with the settings and the embedding model in use?
Each failure is one `IndexProblem` whose message names the fix."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rag.embeddings import EmbeddingIdentity, canonical_model_name
from rag.index.errors import RESET, IndexCorrupt, IndexMismatch
from rag.index.manifest import SCHEMA_VERSION
from rag.settings import Settings
from rag.text import counted

IDENTITY_KEYS = ("embedding_dimension", "embedding_files")


def expected_meta(settings: Settings) -> dict[str, str]:
    """The settings an index must have been built with to be read or extended with these settings."""
    return {
        "schema": str(SCHEMA_VERSION),
        "embedding_model": canonical_model_name(settings.embedding_model),
        "chunk_tokens": str(settings.chunk_tokens),
        "chunk_overlap": str(settings.chunk_overlap),
    }


def identity_meta(identity: EmbeddingIdentity) -> dict[str, str]:
    """What the manifest records about the model that wrote the vectors."""
    out = {}
    if identity.dimension:
        out["embedding_dimension"] = str(identity.dimension)
    if identity.files:
        out["embedding_files"] = identity.files
    return out


def check_meta(meta: Mapping[str, str], settings: Settings, home: Path) -> None:
    """The recorded settings against the ones in use; a reset killed half-way is reported as such."""
    if "reset_started" in meta:
        raise IndexCorrupt(
            f"the index at {home} is being rebuilt, or a `rag ingest --reset` was interrupted (started "
            f"{meta['reset_started']}); if no ingest is running, {RESET}"
        )
    check_schema(meta.get("schema"), f"the index at {home}")
    for key, want in expected_meta(settings).items():
        have = meta.get(key)
        if key == "schema":
            continue
        if key == "embedding_model" and have is not None:
            have = canonical_model_name(have)
        if have is not None and have != want:
            raise IndexMismatch(
                f"the index at {home} was built with {key}={have}, but the settings say {key}={want}; "
                "rebuild it with: rag ingest --reset (or set the setting back)"
            )


def check_schema(have: Any, where: str) -> None:
    """An index written by another version of rag (other tables, other vector metadata) is rebuilt, not read:
    one line naming the reset. Schema 2 (issue 14) added the source records and the bibliographic columns."""
    if have is None or str(have) == str(SCHEMA_VERSION):
        return
    known = str(have).isdigit()
    age = "an older" if known and int(have) < SCHEMA_VERSION else "a newer" if known else "another"
    raise IndexMismatch(
        f"{where} was written by {age} version of rag (schema={have}; this version reads schema={SCHEMA_VERSION}); "
        "rebuild it with: rag ingest --reset"
    )


def check_identity(meta: Mapping[str, str], identity: EmbeddingIdentity | None, home: Path) -> None:
    """The model about to embed against the one that wrote the vectors: another dimension or other files
    (a different model under the same name) would give meaningless similarities or a Chroma error."""
    if identity is None:
        return
    recorded = EmbeddingIdentity(
        canonical_model_name(meta.get("embedding_model", identity.name)),
        int(meta["embedding_dimension"]) if meta.get("embedding_dimension") else None,
        meta.get("embedding_files"),
    )
    other_dimension = bool(recorded.dimension and identity.dimension and recorded.dimension != identity.dimension)
    other_files = bool(recorded.files and identity.files and recorded.files != identity.files)
    if other_dimension or other_files:
        raise IndexMismatch(
            f"the index at {home} was built with the embedding model {recorded.describe()}, but the model in use "
            f"is {identity.describe()}; {RESET}, or use the model the index was built with"
        )


def check_published(published: Mapping[str, Any], settings: Settings, where: str, fix: str = RESET) -> None:
    """The settings a vector collection says it was written with (its `rag_*` metadata)."""
    check_schema(published.get("rag_schema"), where)
    for key, want in expected_meta(settings).items():
        have = published.get(f"rag_{key}")
        if key == "schema":
            continue
        if key == "embedding_model" and have is not None:
            have = canonical_model_name(str(have))
        if have is not None and str(have) != want:
            raise IndexMismatch(f"{where} was written with {key}={have}, but the settings say {key}={want}; {fix}")


def check_vectors(collection: Any, n_chunks: int, location: str, settings: Settings) -> None:
    """A manifest that lists chunks needs a collection that holds vectors written with the same settings."""
    if collection is None:
        raise IndexCorrupt(
            f"the vector store {location} has no collection {settings.collection!r} (an interrupted --reset?); {RESET}"
        )
    check_published(dict(collection.metadata or {}), settings, f"the vectors in {location}")
    if collection.count() == 0:
        raise IndexCorrupt(f"the vector store {location} holds no vectors for {counted(n_chunks, 'chunk')}; {RESET}")
