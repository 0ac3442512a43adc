"""`Assistant`: the Python API. The CLI, the UI and the eval harness all go through it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ingest import load_papers
from ingest.parsers import bundled_corpus, expand_paths
from rag.index import Index
from rag.query import search_query
from rag.retrieval import HybridRetriever, Mode, SearchFilter
from rag.settings import Settings
from rag.types import Answer, IngestReport, Source

# `--prune` removing more than this share of the index asks to be confirmed (`confirm=True`, the CLI's `--yes`):
# a folder moved, renamed or half-mounted looks exactly like papers deleted on purpose.
PRUNE_CONFIRM_SHARE = 0.25


class PruneRefused(ValueError):
    """An ingest with `prune` would remove a large share of the index, or its sources could not all be read; the
    message says what would be removed and how to confirm. Nothing was written."""


class Assistant:
    """Cited answers over the indexed paper abstracts.

    >>> a = Assistant()                       # settings from RAG_* environment / .env
    >>> a.ingest()                            # the bundled corpus
    >>> a.search("diffusion sampling", k=5)   # ranked papers
    >>> a.ask("which papers speed up diffusion sampling?").answer

    `embeddings` (a LangChain `Embeddings`), `llm` (a chat model) and `chroma_client` (a Chroma client, e.g.
    `chromadb.HttpClient(...)`) replace what the settings would load. An assistant stays current: each question
    reads the index as it is then, whoever changed it.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        embeddings: Any = None,
        llm: Any = None,
        chroma_client: Any = None,
        **overrides: Any,
    ) -> None:
        base = settings or Settings()
        self.settings = base.with_overrides(**overrides) if overrides else base
        self.index = Index(self.settings, embeddings=embeddings, client=chroma_client)
        self._llm = llm
        self._chain: Any = None
        self._lock = threading.Lock()

    # ---- retrieval -------------------------------------------------------------------------------------
    def retriever(
        self, k: int | None = None, mode: Mode | None = None, filters: SearchFilter | None = None
    ) -> HybridRetriever:
        s = self.settings
        return HybridRetriever(
            index=self.index,
            k=k or s.search_k,
            mode=mode or s.retriever,
            candidates=s.candidates,
            rrf_k=s.rrf_k,
            fusion=s.fusion,
            alpha=s.alpha,
            filters=filters,
        )

    def search(
        self,
        query: str,
        k: int = 10,
        *,
        filters: SearchFilter | None = None,
        mode: Mode | None = None,
        source: str | None = None,
        date: str | None = None,
        title_contains: str | None = None,
    ) -> list[Source]:
        """Ranked papers for `query`, one entry per paper, best first. The query is prepared as `ask` prepares
        a question (control characters, length cut, instructions stripped), so both retrieve alike."""
        if filters is None and (source or date or title_contains):
            filters = SearchFilter(source=source, date=date, title_contains=title_contains)
        self.index.check_health()
        prepared = search_query(query, self.settings.max_question_tokens)
        return self.retriever(k=k, mode=mode).search(prepared, k=k, filters=filters)

    # ---- ingest ----------------------------------------------------------------------------------------
    def ingest(
        self,
        paths: Sequence[str | Path] | None = None,
        *,
        prune: bool = False,
        reset: bool = False,
        progress: Callable[[int, int], None] | None = None,
        confirm: bool = True,
    ) -> IngestReport:
        """Parse `paths` (the bundled corpus when None), then add/update/prune the index. Parsing happens
        completely before anything is written, so a malformed file leaves the index untouched. Readers (this
        assistant's chain included) see the new state on their next question.

        With `prune` and `confirm=False` (the CLI without `--yes`), raises PruneRefused when pruning would remove
        more than PRUNE_CONFIRM_SHARE of the papers, or anything while some path could not be read."""
        files = expand_paths(paths) if paths else bundled_corpus()
        papers = load_papers(files)
        if prune and not reset and not confirm:
            self._check_prune({p.paper_id for p in papers}, getattr(files, "unreadable", []))
        return self.index.ingest(papers, prune=prune, reset=reset, progress=progress, files=[str(f) for f in files])

    def _check_prune(self, incoming: set[str], unreadable: list[str]) -> None:
        committed = self.index.papers()
        gone = [meta.title for pid, meta in committed.items() if pid not in incoming]
        if not gone:
            return
        share = len(gone) / len(committed)
        if not unreadable and share <= PRUNE_CONFIRM_SHARE:
            return
        shown = ", ".join(f'"{t[:60]}"' for t in sorted(gone)[:3]) + (
            f" and {len(gone) - 3} more" if len(gone) > 3 else ""
        )
        why = (
            f"{len(unreadable)} path(s) could not be read ({unreadable[0]}{', ...' if len(unreadable) > 1 else ''})"
            if unreadable
            else f"that is {share:.0%} of the index"
        )
        raise PruneRefused(
            f"--prune would remove {len(gone)} of {len(committed)} papers ({shown}); {why}. Nothing was changed: "
            "check the paths, or run again with --yes to remove them"
        )

    def stats(self) -> dict[str, Any]:
        return self.index.stats()

    # ---- answering -------------------------------------------------------------------------------------
    @property
    def chain(self) -> Any:
        """The whole pipeline as a LangChain Runnable: input {"question", "history"?} (or a plain string),
        output `Answer`."""
        with self._lock:
            if self._chain is None:
                from rag.chain import build_chain

                self._chain = build_chain(self)
            return self._chain

    def ask(self, question: str, history: list[dict[str, Any]] | None = None, **options: Any) -> Answer:
        """Answer `question` with `[n]` citations to retrieved papers, or refuse.

        `history` is the conversation so far, oldest first, in Gradio's messages shape:
        `[{"role": "user" | "assistant", "content": str}, ...]`. An assistant entry may also carry the papers that
        answer cited, `"citations": [{"n": int, "paper_id": str, "title": str}, ...]` (`rag.conversation.
        history_messages(question, answer)` builds both entries from an `Answer`); with them "it", "the second one",
        "[2]" or "both" are resolved to those papers, which are then retrieved first (`Answer.about`). Plain entries
        work too: a follow-up is then read against the earlier question's text. Malformed entries are skipped.
        `options` override settings for this call (`k`, `generator`, `retriever`, `filters`).
        """
        return self.chain.invoke({"question": question, "history": history or [], **options})

    def stream(
        self, question: str, history: list[dict[str, Any]] | None = None, **options: Any
    ) -> Iterator[str | Answer]:
        """Yield the answer text as it is produced (strings), then the final `Answer`; `history` as in `ask`."""
        yield from self.chain.stream({"question": question, "history": history or [], **options})
