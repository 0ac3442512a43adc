"""`HybridRetriever`: hybrid search (`rag.retrieval.HybridSearch`) as a LangChain `BaseRetriever`, one `Document`
per paper, and the conversions between `Source` and `Document`."""

from __future__ import annotations

from typing import Any, Literal

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables.config import run_in_executor
from pydantic import ConfigDict

from rag.retrieval import HybridSearch, Mode, SearchFilter
from rag.types import Source


class HybridRetriever(BaseRetriever):
    """A LangChain retriever over the index: `invoke(query, k=..., filters=...)` returns one Document per paper."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    index: Any
    k: int = 10
    mode: Mode = "hybrid"
    candidates: int = 50
    rrf_k: int = 60
    filters: SearchFilter | None = None
    complete: bool = True
    fusion: Literal["convex", "rrf"] = "convex"
    alpha: float = 0.3

    def search(
        self, query: str, k: int | None = None, filters: SearchFilter | None = None, mode: Mode | None = None
    ) -> list[Source]:
        """Ranked papers for `query` as `Source` records (`HybridSearch.search` with this retriever's parameters)."""
        return self.engine().search(query, k=k, filters=filters, mode=mode)

    def engine(self) -> HybridSearch:
        return HybridSearch(
            index=self.index,
            k=self.k,
            mode=self.mode,
            candidates=self.candidates,
            rrf_k=self.rrf_k,
            filters=self.filters,
            complete=self.complete,
            fusion=self.fusion,
            alpha=self.alpha,
        )

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        sources = self.search(query, k=kwargs.get("k"), filters=kwargs.get("filters"), mode=kwargs.get("mode"))
        return [source_to_document(s) for s in sources]

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        # BaseRetriever's default drops invoke-time kwargs, so `ainvoke(q, k=3)` raised TypeError.
        return await run_in_executor(
            None, self._get_relevant_documents, query, run_manager=run_manager.get_sync(), **kwargs
        )


def source_to_document(source: Source) -> Document:
    meta = source.model_dump(exclude={"text"})
    return Document(page_content=source.text, metadata=meta, id=source.paper_id)


def document_to_source(doc: Document) -> Source:
    return Source(text=doc.page_content, **doc.metadata)
