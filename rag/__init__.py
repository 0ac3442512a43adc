"""Cited answers over machine-learning paper abstracts: the core (settings, index, retrieval, chain, API)."""

from rag.settings import Settings  # noqa: I001 - sets the offline environment before anything heavy loads
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
