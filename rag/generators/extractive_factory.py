"""Registers the extractive generator, wired to the assistant's index (embeddings and BM25 idf)."""

from __future__ import annotations

from typing import Any

from rag.generators.extractive import ExtractiveGenerator
from rag.generators.registry import register


@register("extractive")
def make_extractive(assistant: Any, get: Any) -> ExtractiveGenerator:
    # The index's callables read its current snapshot, so a changed index never leaves a stale idf here.
    index = assistant.index
    return ExtractiveGenerator(embed=index.encode, idf=index.idf, embed_query=index.embed_query)
