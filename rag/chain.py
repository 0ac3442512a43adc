"""The answering pipeline as one LangChain Runnable (LCEL):

    prepare -> condense (with history) -> retrieve -> generate + verify -> Answer

`chain.invoke({"question": ..., "history": [...]})` returns an `Answer`; `chain.stream(...)` yields text
pieces as they are produced and then the same final `Answer`. `batch` and `ainvoke` come from Runnable.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda

from rag.generators.base import Draft
from rag.generators.extractive import ExtractiveGenerator
from rag.generators.llm import LLMGenerator, condense_with_llm
from rag.query import clean_question, readable, retrieval_query
from rag.retrieval import SearchFilter
from rag.types import Answer, Citation, Source
from rag.verify import cited_numbers, ground, remove_invalid_markers

if TYPE_CHECKING:
    from rag.assistant import Assistant

N_RELATED = 3
_FOLLOW_UP = re.compile(
    r"\b(it|its|they|them|their|this|that|these|those|the (paper|method|model|approach|first|second|third|latter|former|same)|"
    r"above|previous|earlier|also|what about|how about)\b",
    re.I,
)


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def build_generator(assistant: Assistant, name: str) -> Any:
    # The index's callables read its current snapshot, so a changed index never leaves a stale idf here.
    index = assistant.index
    extractive = ExtractiveGenerator(embed=index.encode, idf=index.idf, embed_query=index.embed_query)
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


def heuristic_condense(question: str, history: list[dict[str, Any]]) -> str:
    """Without an LLM: a short or referring follow-up is retrieved together with the previous user question."""
    previous = [str(h["content"]) for h in history if h.get("role") == "user"]
    if not previous or not (_FOLLOW_UP.search(question) or len(question.split()) <= 5):
        return question
    return f"{question} ({previous[-1][:500]})"


class AnswerPipeline:
    """The steps of the chain, bound to one assistant."""

    def __init__(self, assistant: Assistant) -> None:
        self.assistant = assistant
        self._generators: dict[str, Any] = {}

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
        question, notes = clean_question(state["question"], self.assistant.settings.max_question_tokens)
        state["notes"].extend(notes)
        state["question_used"] = question
        standalone = question
        if state["history"] and question:
            if self.generator_name(state) == "openai":
                try:
                    standalone = condense_with_llm(
                        self.assistant.settings, question, state["history"], self.assistant._llm
                    )
                except Exception:
                    standalone = heuristic_condense(question, state["history"])
            else:
                standalone = heuristic_condense(question, state["history"])
        state["standalone"] = standalone
        return state

    def retrieve(self, state: dict[str, Any]) -> dict[str, Any]:
        t0 = time.perf_counter()
        self.assistant.index.check_health()  # never answer from a damaged index (e.g. BM25 alone, vectors gone)
        query = retrieval_query(state["standalone"])
        k = int(state.get("k") or self.assistant.settings.k)
        # `ranking_depth` asks for a deeper ranking than the k papers the generator reads (the eval scores @10).
        depth = max(k, int(state.get("ranking_depth") or 0))
        filters = state.get("filters")
        if isinstance(filters, dict):
            filters = SearchFilter(**filters)
        retriever = self.assistant.retriever(k=depth, mode=state.get("retriever"))
        state["ranking"] = retriever.search(query, k=depth, filters=filters) if query else []
        state["sources"] = state["ranking"][:k]
        state["retrieve_ms"] = _ms(time.perf_counter() - t0)
        return state

    def finish(self, state: dict[str, Any], draft: Draft, generate_s: float) -> Answer:
        """Verify the draft and build the `Answer`: invalid markers removed, grounding scored, citations resolved."""
        sources: list[Source] = state["sources"]
        text, removed = remove_invalid_markers(draft.text, len(sources))
        refused = draft.refused
        citations: list[Citation] = []
        grounding = None
        if not refused:
            grounding = ground(text, sources, self.assistant.index.encode)
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
            ranking=state.get("ranking") or sources,
            related=sources[:N_RELATED] if refused else [],
            warning="; ".join(warnings) or None,
            generator=draft.generator or self.generator_name(state),
            timings_ms={
                "retrieve": state.get("retrieve_ms", 0.0),
                "generate": _ms(generate_s),
                "total": _ms(time.perf_counter() - state["started"]),
            },
            standalone_question=state["standalone"] if state["standalone"] != state["question_used"] else None,
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

    def generate(self, state: dict[str, Any]) -> Answer:
        t0 = time.perf_counter()
        draft = self.generator(self.generator_name(state)).generate(state["standalone"], state["sources"])
        return self.overrule_unsupported(state, self.finish(state, draft, time.perf_counter() - t0), t0)

    def stream(self, state: dict[str, Any]) -> Iterator[str | Answer]:
        t0 = time.perf_counter()
        for piece in self.generator(self.generator_name(state)).stream(state["standalone"], state["sources"]):
            if isinstance(piece, Draft):
                answer = self.finish(state, piece, time.perf_counter() - t0)
                yield self.overrule_unsupported(state, answer, t0)
                return
            yield piece


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
