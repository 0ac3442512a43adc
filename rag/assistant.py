"""`Assistant`: the Python API. The CLI, the UI and the eval harness all go through it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ingest import Paper, ParsedFile, load_papers, parse_file
from ingest.identity import build_papers
from ingest.parsers import bundled_corpus, expand_paths
from rag.index import Index
from rag.query import search_query
from rag.retrieval import HybridSearch, Mode, SearchFilter
from rag.settings import Settings
from rag.text import counted
from rag.types import Answer, FilesCheck, FileSummary, IngestReport, SkippedRecord, Source

if TYPE_CHECKING:
    from rag.langchain_retriever import HybridRetriever

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

    # Settings that decide what the index is: a view may not change them (it shares this assistant's index).
    _INDEX_FIELDS = ("home", "chroma_url", "collection", "embedding_model", "chunk_tokens", "chunk_overlap")

    def with_settings(self, **overrides: Any) -> Assistant:
        """An assistant over the same index (same snapshot, same loaded model) that answers with other settings,
        e.g. another LLM endpoint for one UI session. Unlike `Settings.with_overrides`, a None value clears a
        field (`openai_api_key=None` sends no key). Raises ValueError for a setting that would change the index."""
        changed = [k for k in self._INDEX_FIELDS if k in overrides and overrides[k] != getattr(self.settings, k)]
        if changed:
            raise ValueError(f"a view shares this assistant's index; it cannot change {', '.join(changed)}")
        settings = type(self.settings).model_validate({**self.settings.model_dump(), **overrides})
        view = Assistant.__new__(Assistant)
        view.settings, view.index, view._llm = settings, self.index, None
        view._chain, view._lock = None, threading.Lock()
        return view

    # ---- retrieval -------------------------------------------------------------------------------------
    def retriever(
        self, k: int | None = None, mode: Mode | None = None, filters: SearchFilter | None = None
    ) -> HybridRetriever:
        """Hybrid search with these settings as a LangChain retriever (`invoke(query)` -> one Document per paper)."""
        from rag.langchain_retriever import HybridRetriever

        engine = self.searcher(k, mode, filters)
        return HybridRetriever(**{f: getattr(engine, f) for f in engine.__dataclass_fields__})

    def searcher(
        self, k: int | None = None, mode: Mode | None = None, filters: SearchFilter | None = None
    ) -> HybridSearch:
        """Hybrid search with these settings, without LangChain (`search(query, k)` -> list[Source])."""
        s = self.settings
        return HybridSearch(
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
        author: str | None = None,
    ) -> list[Source]:
        """Ranked papers for `query`, one entry per paper, best first. The query is prepared as `ask` prepares
        a question (control characters, length cut, instructions stripped), so both retrieve alike.

        `source`, `date`, `title_contains` and `author` build a `SearchFilter` (see there) when `filters` is
        not given."""
        if filters is None and (source or date or title_contains or author):
            filters = SearchFilter(source=source, date=date, title_contains=title_contains, author=author)
        self.index.check_health()
        prepared = search_query(query, self.settings.max_question_tokens)
        return self.searcher(k=k, mode=mode).search(prepared, k=k, filters=filters)

    # ---- ingest ----------------------------------------------------------------------------------------
    def ingest(
        self,
        paths: Sequence[str | Path] | None = None,
        *,
        prune: bool = False,
        reset: bool = False,
        progress: Callable[[int, int], None] | None = None,
        strict: bool = False,
        field_map: Mapping[str, str] | None = None,
        sentence_progress: Callable[[int, int], None] | None = None,
        confirm: bool = True,
    ) -> IngestReport:
        """Parse `paths` (files or directories; the bundled corpus when None), then store what each file says
        and add/update/prune the index's papers (the same paper from several files is one paper).

        Parsing happens completely before anything is written, so a malformed file (ParseError, `FILE:LINE`)
        leaves the index untouched. Records without an abstract are skipped and listed in the report's
        `skipped`; with `strict` the first one is a ParseError. `field_map` names a file's own field for a
        canonical one ({"abstract": "Abstract Note"}; `ingest.parse_field_map` reads `FIELD=COLUMN` strings).
        `prune` also drops the records of files not given, and so the papers only they named. Readers (this
        assistant's chain included) see the new state on their next question. `progress(done, total)` follows
        the chunks embedded; `sentence_progress` the abstract sentences embedded for answers (`embed_sentences`).

        With `prune` and `confirm=False` (the CLI without `--yes`), raises PruneRefused when pruning would remove
        more than PRUNE_CONFIRM_SHARE of the papers, or anything while some path could not be read."""
        files = expand_paths(paths) if paths else bundled_corpus()
        parsed = [parse_file(f, strict=strict, field_map=field_map) for f in files]
        check_prune = prune and not reset and not confirm
        # the papers these files make, merged once for both the prune check and the sentence vectors
        incoming = (
            build_papers(r for f in parsed for r in f.records)[0]
            if check_prune or self.settings.sentence_vectors_at_ingest
            else []
        )
        if check_prune:
            self._check_prune({p.paper_id for p in incoming}, getattr(files, "unreadable", []))
        report = self.index.ingest(parsed, prune=prune, reset=reset, progress=progress)
        if self.settings.sentence_vectors_at_ingest:
            self.embed_sentences(incoming, sentence_progress)
        return report

    @staticmethod
    def parse_files(
        paths: Sequence[str | Path] | None = None,
        *,
        strict: bool = False,
        field_map: Mapping[str, str] | None = None,
    ) -> list[ParsedFile]:
        """Every file's records, all parsed before any is returned (ParseError for the first broken one)."""
        files = expand_paths(paths) if paths else bundled_corpus()
        return [parse_file(f, strict=strict, field_map=field_map) for f in files]

    @staticmethod
    def check_files(
        paths: Sequence[str | Path], *, strict: bool = False, field_map: Mapping[str, str] | None = None
    ) -> FilesCheck:
        """Parse files without touching any index (an upload's check): how many distinct papers they make,
        each file's format and record count, the skipped records (file, line, reason) and the identity
        warnings. Raises ParseError (`FILE:LINE: reason`) for a file that cannot be ingested."""
        result = load_papers(paths, strict=strict, field_map=field_map)
        return FilesCheck(
            papers=len(result),
            records=result.records,
            files=[
                FileSummary(file=str(f.path), format=f.format, records=len(f.records), skipped=len(f.skipped))
                for f in result.files
            ],
            skipped=[SkippedRecord(file=s.path, line=s.line, reason=s.reason, title=s.title) for s in result.skipped],
            warnings=list(result.warnings),
        )

    def delete(self, paper_ids: Sequence[str]) -> IngestReport:
        """Remove papers from the index by id (their catalogue rows, chunks, vectors and BM25 entries) in one
        commit through the index writer; ids not in the index are ignored. Returns a report whose `removed`
        counts the papers deleted. A paper comes back if a file that contains it is ingested again. Raises
        IndexBusy while another process writes, IndexWriteFailed on a full disk or read-only index."""
        return self.index.delete(list(paper_ids))

    def embed_sentences(self, papers: Sequence[Paper], progress: Callable[[int, int], None] | None = None) -> int:
        """Store the vector of every sentence the extractive answerer may weigh (`evidence_sentences` of each
        abstract) in the embedding model's persistent cache, for papers not done before; returns how many
        sentences were embedded. A no-op for models without such a cache (injected or OpenAI embeddings).
        About 100 sentences/s on one busy core: the bundled corpus's 3,959 take 15-40 s once."""
        from rag.encoders import SMALL_INPUT
        from rag.untrusted import evidence_sentences

        emb = self.index.embeddings
        cache = getattr(emb, "vector_cache", None)
        if cache is None or not cache.enabled:
            return 0
        todo = {p.content_hash: p for p in papers}
        pending = [todo[h] for h in cache.papers_missing(todo)]
        texts = list(dict.fromkeys(s for p in pending for s in evidence_sentences(p.abstract)))
        stored = cache.get(texts)
        missing = [t for t in texts if t not in stored]
        for i in range(0, len(missing), SMALL_INPUT):
            emb.encode(missing[i : i + SMALL_INPUT])  # stores them
            if progress:
                progress(min(i + SMALL_INPUT, len(missing)), len(missing))
        cache.mark_papers(p.content_hash for p in pending)
        return len(missing)

    def warm(self) -> None:
        """Load everything a first question needs (the index snapshot, BM25, the embedding runtime, the answering
        chain and its models) by answering one throwaway question extractively: a server calls this before it
        says it is running, so that its first answer costs what any answer costs."""
        self.index.check_health()
        if not self.index.is_empty():
            self.ask("Which papers in the collection study language models?", generator="extractive")

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
            f"{counted(len(unreadable), 'path')} could not be read ({unreadable[0]}{', ...' if len(unreadable) > 1 else ''})"
            if unreadable
            else f"that is {share:.0%} of the index"
        )
        raise PruneRefused(
            f"--prune would remove {len(gone)} of {counted(len(committed), 'paper')} ({shown}); {why}. Nothing was changed: "
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
