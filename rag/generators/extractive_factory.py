"""Registers the extractive generator, wired to the assistant's index (embeddings and BM25 idf)."""

from __future__ import annotations

from typing import Any

from rag.generators.extractive import ExtractiveGenerator
from rag.generators.registry import register


@register("extractive")
def make_extractive(assistant: Any, get: Any) -> ExtractiveGenerator:
    index = assistant.index
    emb = index.embeddings
    encode = getattr(emb, "encode", None) or emb.embed_documents
    return ExtractiveGenerator(embed=encode, idf=lambda term: index.bm25().idf(term), embed_query=emb.embed_query)
