"""Cited answers over machine-learning paper abstracts: the core (settings, index, retrieval, chain, API)."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from rag.settings import Settings  # sets the offline environment before anything heavy loads

if TYPE_CHECKING:
    from rag.assistant import Assistant
    from rag.retrieval import HybridRetriever, SearchFilter
    from rag.types import Answer, Citation, Grounding, IngestReport, Source

__all__ = [
    "Answer",
    "Assistant",
    "Citation",
    "Grounding",
    "HybridRetriever",
    "IngestReport",
    "SearchFilter",
    "Settings",
    "Source",
]

# Imported on first use: a command that needs a part does not pay for the others (the LangChain retriever alone
# takes about 0.5 s to import).
_WHERE = {
    "Assistant": "rag.assistant",
    "HybridRetriever": "rag.retrieval",
    "SearchFilter": "rag.retrieval",
    "Answer": "rag.types",
    "Citation": "rag.types",
    "Grounding": "rag.types",
    "IngestReport": "rag.types",
    "Source": "rag.types",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(import_module(_WHERE[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'rag' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
