"""The answering pipeline as one LangChain Runnable (LCEL):

    prepare -> condense (with history) -> retrieve -> generate + verify -> Answer

`chain.invoke({"question": ..., "history": [...]})` returns an `Answer`; `chain.stream(...)` yields text
pieces as they are produced and then the same final `Answer`. `batch` and `ainvoke` come from Runnable.

Condense: `rag.conversation` resolves a follow-up against the history (assistant entries may carry the papers they
cited) into a `Resolution`: the standalone query, the earlier papers referred to, and any ambiguity, which becomes
part of the answer's warning. With the `openai` generator the LLM rewrites the question (its prompt gets the
citations too) and the resolver is its fallback. Retrieval for a resolved follow-up puts the referred papers
first, then the rest of the normal ranking.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda

from ingest.sentences import split_sentences
from ingest.tokenizer import get_encoding
from rag.conversation import FollowUpResolver, Resolution
from rag.generators.base import Draft
from rag.generators.extractive import ExtractiveGenerator, strip_injections
from rag.generators.llm import LLMGenerator, condense_with_llm
from rag.retrieval import SearchFilter
from rag.types import Answer, Citation, Source
from rag.verify import cited_numbers, ground, remove_invalid_markers

if TYPE_CHECKING:
    from rag.assistant import Assistant

N_RELATED = 3


_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def readable(text: str) -> str:
    """Text safe to tokenise, embed and send on: lone surrogates (from undecodable command-line bytes) become "?",
    terminal escapes and control characters become spaces."""
    text = text.encode("utf-8", "replace").decode("utf-8")
    return _CONTROL.sub(" ", _ANSI_ESCAPE.sub(" ", text))


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def build_generator(assistant: Assistant, name: str) -> Any:
    index = assistant.index
    emb = index.embeddings
    encode = getattr(emb, "encode", None) or emb.embed_documents
    extractive = ExtractiveGenerator(embed=encode, idf=index.bm25().idf, embed_query=emb.embed_query)
    if name == "openai":
        return LLMGenerator(assistant.settings, fallback=extractive, chat_model=assistant._llm)
    return extractive


def _prepare(inputs: Any) -> dict[str, Any]:
    if isinstance(inputs, str):
        inputs = {"question": inputs}
    state = dict(inputs)
    state["question"] = str(state.get("question") or "")
    state["history"] = [
        {**h, "content": readable(str(h["content"]))}
        for h in (state.get("history") or [])
        if isinstance(h, dict) and h.get("content")
    ]
    state["started"] = time.perf_counter()
    state["notes"] = []
    return state


class AnswerPipeline:
    """The steps of the chain, bound to one assistant."""

    def __init__(self, assistant: Assistant) -> None:
        self.assistant = assistant
        self._generators: dict[str, Any] = {}

    def resolver(self) -> FollowUpResolver:
        """The follow-up resolver over the index's abstracts and BM25 idf (loaded once per question, if needed)."""
        index = self.assistant.index
        bm25: list[Any] = []

        def idf(stem: str) -> float:
            if not bm25:
                bm25.append(index.bm25())
            return float(bm25[0].idf(stem))

        return FollowUpResolver(paper_text=index.abstracts, idf=idf)

    def generator(self, name: str) -> Any:
        if name not in self._generators:
            self._generators[name] = build_generator(self.assistant, name)
        return self._generators[name]

    def generator_name(self, state: dict[str, Any]) -> str:
        requested = state.get("generator")
        s = self.assistant.settings
        if requested in (None, "", "auto"):
            return s.resolved_generator if requested is None else s.with_overrides(generator="auto").resolved_generator
        return str(requested)

    def condense(self, state: dict[str, Any]) -> dict[str, Any]:
        question = " ".join(readable(state["question"]).split())
        max_tokens = self.assistant.settings.max_question_tokens
        enc = get_encoding()
        tokens = enc.encode(question)
        if len(tokens) > max_tokens:
            question = enc.decode(tokens[:max_tokens])
            state["notes"].append(f"the question was cut to its first {max_tokens} tokens")
        state["question_used"] = question
        resolution = Resolution(question, question)
        if question and state["history"]:
            resolution = self.resolver().resolve(question, state["history"])
        standalone = resolution.query
        if state["history"] and question and self.generator_name(state) == "openai":
            try:
                standalone = condense_with_llm(self.assistant.settings, question, state["history"], self.assistant._llm)
            except Exception:  # the backend failed: the resolver's query stands
                standalone = resolution.query
        if resolution.note:
            state["notes"].append(resolution.note)
        state["resolution"] = resolution
        state["standalone"] = standalone
        return state

    def retrieve(self, state: dict[str, Any]) -> dict[str, Any]:
        t0 = time.perf_counter()
        self.assistant.index.check_health()  # never answer from a damaged index (e.g. BM25 alone, vectors gone)
        query, _ = strip_injections(state["standalone"])
        k = int(state.get("k") or self.assistant.settings.k)
        filters = state.get("filters")
        if isinstance(filters, dict):
            filters = SearchFilter(**filters)
        retriever = self.assistant.retriever(k=k, mode=state.get("retriever"))
        about = [p.paper_id for p in state["resolution"].papers]
        if not query:
            state["sources"] = []
        elif about:
            state["sources"] = referred_first(retriever, query, k, filters, about)
            state["referred"] = sum(s.paper_id in about for s in state["sources"])
        else:
            state["sources"] = retriever.search(query, k=k, filters=filters)
        state["retrieve_ms"] = _ms(time.perf_counter() - t0)
        return state

    def finish(self, state: dict[str, Any], draft: Draft, generate_s: float) -> Answer:
        """Verify the draft and build the `Answer`: invalid markers removed, grounding scored, citations resolved."""
        sources: list[Source] = state["sources"]
        text, removed = remove_invalid_markers(draft.text, len(sources))
        emb = self.assistant.index.embeddings
        refused = draft.refused
        citations: list[Citation] = []
        grounding = None
        if not refused:
            grounding = ground(text, sources, getattr(emb, "encode", None) or emb.embed_documents)
            best_for: dict[int, tuple[float, str]] = {}
            for entry in grounding.sentence_scores:
                for n in entry["cited"]:
                    if entry.get("best_evidence") and entry["score"] > best_for.get(n, (-1.0, ""))[0]:
                        best_for[n] = (entry["score"], entry["best_evidence"])
            for n in sorted(cited_numbers(text)):
                src = sources[n - 1]
                supporting = draft.supporting.get(n) or best_for.get(n, (0.0, ""))[1]
                citations.append(Citation(n=n, title=src.title, paper_id=src.paper_id, supporting=supporting))
        warnings = [w for w in (draft.warning, *state["notes"]) if w]
        if removed:
            warnings.append(
                f"removed citation markers that matched no retrieved paper: {', '.join(f'[{n}]' for n in removed)}"
            )
        answer = Answer(
            question=state["question"],
            answer=text,
            refused=refused,
            citations=citations,
            sources=sources,
            related=sources[:N_RELATED] if refused else [],
            warning="; ".join(warnings) or None,
            generator=draft.generator or self.generator_name(state),
            timings_ms={
                "retrieve": state.get("retrieve_ms", 0.0),
                "generate": _ms(generate_s),
                "total": _ms(time.perf_counter() - state["started"]),
            },
            standalone_question=state["standalone"] if state["standalone"] != state["question_used"] else None,
            about=[p for p in state["resolution"].papers if p.paper_id in {s.paper_id for s in sources}],
            settings=self.assistant.settings.public_dict(),
        )
        if grounding is not None:
            grounding.removed_citations = removed
            answer.grounding = grounding
        elif removed:
            answer.grounding.removed_citations = removed
        return answer

    def overrule_unsupported(self, state: dict[str, Any], answer: Answer, t0: float) -> Answer:
        """An LLM answer that not one cited abstract supports is not shown: it is what a model produces when it
        follows an instruction planted in a source or in the question, or makes things up. The extractive
        answer replaces it, with a warning."""
        g = answer.grounding
        if answer.generator != "openai" or answer.refused or not g.sentence_scores or g.supported_fraction > 0:
            return answer
        draft = self.generator("extractive").generate(state["standalone"], state["sources"])
        draft.warning = (
            "the LLM answer was not supported by the abstracts it cited; answered with the extractive generator instead"
        )
        return self.finish(state, draft, time.perf_counter() - t0)

    def source_lists(self, state: dict[str, Any]) -> list[list[Source]]:
        """What the generator reads, in turn: a resolved follow-up's referred papers alone, then, when they do not
        answer it, the widened ranking (they stay first in it, so their [n] are the same in both)."""
        n, sources = state.get("referred", 0), state["sources"]
        return [sources[:n], sources] if 0 < n < len(sources) else [sources]

    def generate(self, state: dict[str, Any]) -> Answer:
        t0 = time.perf_counter()
        generator = self.generator(self.generator_name(state))
        for sources in self.source_lists(state):
            draft = generator.generate(state["standalone"], sources)
            if not draft.refused:
                break
        return self.overrule_unsupported(state, self.finish(state, draft, time.perf_counter() - t0), t0)

    def stream(self, state: dict[str, Any]) -> Iterator[str | Answer]:
        t0 = time.perf_counter()
        generator = self.generator(self.generator_name(state))
        *narrow, wide = self.source_lists(state)
        for sources in narrow:  # not streamed: a refusal from the referred papers alone is never shown
            draft = generator.generate(state["standalone"], sources)
            if not draft.refused:
                yield from _sentences(draft.text)
                yield self.overrule_unsupported(state, self.finish(state, draft, time.perf_counter() - t0), t0)
                return
        for piece in generator.stream(state["standalone"], wide):
            if isinstance(piece, Draft):
                answer = self.finish(state, piece, time.perf_counter() - t0)
                yield self.overrule_unsupported(state, answer, t0)
                return
            yield piece


def _sentences(text: str) -> Iterator[str]:
    """A finished text as stream pieces, one sentence at a time."""
    for i, line in enumerate(text.split("\n")):
        for j, sentence in enumerate(split_sentences(line) or [line]):
            yield ("" if i == 0 and j == 0 else ("\n" if j == 0 else " ")) + sentence


def referred_first(retriever: Any, query: str, k: int, filters: SearchFilter | None, about: list[str]) -> list[Source]:
    """The referred papers first, in the order referred (each with its own score for `query`), then the normal
    ranking without them, `k` in all but never fewer than the referred papers. Ranks are renumbered from 1."""
    within = replace(filters or SearchFilter(), paper_ids=frozenset(about))
    found = {s.paper_id: s for s in retriever.search(query, k=len(about), filters=within)}
    first = [found[pid] for pid in about if pid in found]
    rest = [s for s in retriever.search(query, k=k + len(first), filters=filters) if s.paper_id not in found]
    ranked = [*first, *rest][: max(k, len(first))]
    return [s.model_copy(update={"rank": i}) for i, s in enumerate(ranked, start=1)]


class _GenerateStep(Runnable[dict, Answer]):
    """The last step: `invoke` returns the Answer; `transform`/`stream` yield text pieces, then the Answer."""

    def __init__(self, pipeline: AnswerPipeline) -> None:
        self.pipeline = pipeline

    def invoke(self, input: dict, config: RunnableConfig | None = None, **kwargs: Any) -> Answer:
        return self._call_with_config(self.pipeline.generate, input, config, run_type="chain")

    def transform(self, input: Iterator[dict], config: RunnableConfig | None = None, **kwargs: Any) -> Iterator[Any]:
        state = None
        for state in input:  # noqa: B007 - the previous step yields the whole state once
            pass
        if state is not None:
            yield from self.pipeline.stream(state)

    def stream(self, input: dict, config: RunnableConfig | None = None, **kwargs: Any) -> Iterator[Any]:
        yield from self.transform(iter([input]), config, **kwargs)


def build_chain(assistant: Assistant) -> Runnable:
    pipeline = AnswerPipeline(assistant)
    chain = (
        RunnableLambda(_prepare, name="prepare")
        | RunnableLambda(pipeline.condense, name="condense")
        | RunnableLambda(pipeline.retrieve, name="retrieve")
        | _GenerateStep(pipeline)
    )
    return chain.with_config(run_name="rag_answer")


def stream_answer(assistant: Assistant, inputs: dict[str, Any]) -> Iterator[str | Answer]:
    yield from assistant.chain.stream(inputs)
