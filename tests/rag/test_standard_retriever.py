"""LangChain's standard retriever contract (langchain-tests) for `HybridRetriever` over the bundled corpus."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_tests.integration_tests import RetrieversIntegrationTests

from rag.retrieval import HybridRetriever


class TestHybridRetrieverStandard(RetrieversIntegrationTests):
    """The suite builds the retriever from `retriever_constructor(**retriever_constructor_params)` and checks
    `k` both in the constructor and in `invoke(query, k=...)`, sync and async."""

    @pytest.fixture(autouse=True)
    def _corpus_index(self, corpus_assistant) -> None:
        # Properties cannot take fixtures; an autouse fixture runs first and hands over the shared index.
        self._index = corpus_assistant.index

    @property
    def retriever_constructor(self) -> type[HybridRetriever]:
        return HybridRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"index": self._index, "k": 5}

    @property
    def retriever_query_example(self) -> str:
        return "diffusion models for fast image generation"
