"""The answering pipeline as one LangChain Runnable (LCEL):

    prepare -> condense (with history) -> analyse -> retrieve -> generate + verify -> Answer

`chain.invoke({"question": ..., "history": [...]})` returns an `Answer`; `chain.stream(...)` yields text pieces as
they are produced and then the same final `Answer`. `batch` and `ainvoke` come from Runnable. The steps pass one
typed `AnswerState`.

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
from typing import TYPE_CHECKING, Any

from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda

from ingest.sentences import split_sentences
from rag.answer_state import AnswerState
from rag.authors import answer_author_question
from rag.conversation import FollowUpResolver, Resolution
from rag.followup import PaperNames, follow_up_analysis
from rag.generators import registry
from rag.generators.backend import budget
from rag.generators.base import Draft
from rag.intent import Intent, analyse
from rag.query import clean_question, retrieval_query
from rag.record import answer_from_record
from rag.sources import by_identifier, exact_title_first, named_first, referred_first
from rag.text import counted
from rag.types import Answer, Citation, Source
from rag.untrusted import strip_injections
from rag.verify import answer_check, cited_numbers, ground, remove_invalid_markers, renumber, supported_only

if TYPE_CHECKING:
    from rag.assistant import Assistant

N_RELATED = 3
# A list question draws from a wider pool than k: "list all" papers on a topic must not stop at five.
LIST_K, LIST_ALL_K = 30, 50


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


class AnswerPipeline:
    """The steps of the chain, bound to one assistant."""

    def __init__(self, assistant: Assistant) -> None:
        self.assistant = assistant
        self._generators: dict[str, Any] = {}
        self._names = PaperNames()

    def generator(self, name: str) -> Any:
        if name not in self._generators:
            self._generators[name] = registry.create(name, self.assistant, self.generator)
        return self._generators[name]

    def resolver(self) -> FollowUpResolver:
        """The follow-up resolver over the index's abstracts, BM25 idf and paper names (each loaded when needed)."""
        index = self.assistant.index
        return FollowUpResolver(paper_text=index.abstracts, idf=index.idf, paper_names=self.paper_names)

    def paper_names(self) -> set[str]:
        """Lower-cased names of the collection's papers (`PaperNames`), computed once per index version."""
        return self._names.of(self.assistant.index)

    def generator_name(self, state: AnswerState) -> str:
        requested = state.generator
        s = self.assistant.settings
        if requested in (None, "", "auto"):
            return s.resolved_generator if requested is None else s.with_overrides(generator="auto").resolved_generator
        return str(requested)

    def prepare(self, inputs: Any) -> AnswerState:
        state = AnswerState.from_input(inputs)
        state.llm_budget = budget(self.assistant.settings)
        return state

    def condense(self, state: AnswerState) -> AnswerState:
        question, notes = clean_question(state.question, self.assistant.settings.max_question_tokens)
        state.notes.extend(notes)
        state.question_used = question
        resolution = Resolution(question, question)
        if question and state.history:
            resolution = self.resolver().resolve(question, state.history)
        standalone = resolution.query
        if state.history and question and self.generator_name(state) == "openai":
            try:
                standalone = self.generator("openai").condense(question, state.history, state.llm_deadline())
            except Exception:  # the backend failed: the resolver's query stands
                standalone = resolution.query
        if resolution.note:
            state.notes.append(resolution.note)
        state.resolution = resolution
        state.standalone = standalone
        return state

    def analyse(self, state: AnswerState) -> AnswerState:
        cleaned, _ = strip_injections(state.standalone)
        state.analysis = follow_up_analysis(analyse(cleaned), state.question_used, state.resolution, state.history)
        return state

    def retrieve(self, state: AnswerState) -> AnswerState:
        t0 = time.perf_counter()
        self.assistant.index.check_health()  # never answer from a damaged index (e.g. BM25 alone, vectors gone)
        query = retrieval_query(state.standalone)
        k = int(state.k or self.assistant.settings.k)
        # `ranking_depth` asks for a deeper ranking than the k papers the generator reads (the eval scores @10);
        # one search serves both.
        analysis = state.analysis
        if analysis is not None and analysis.intent in (Intent.LIST, Intent.SUMMARY):
            k = max(k, LIST_ALL_K if analysis.list_all else LIST_K)
        depth = max(k, int(state.ranking_depth or 0))
        retriever = self.assistant.searcher(k=depth, mode=state.retriever)
        about = [p.paper_id for p in state.resolution.papers] if state.resolution else []
        if not query:
            sources = []
        elif about:
            sources = referred_first(retriever, query, depth, state.filters, about)
            state.referred = sum(s.paper_id in about for s in sources)
        else:
            sources = retriever.search(query, k=depth, filters=state.filters)
        if analysis is not None and sources and (not about or analysis.intent == Intent.COMPARE):
            sources, added = named_first(analysis, sources, retriever, state.filters, k)
            k += added
        if analysis is not None and analysis.arxiv_ids:
            sources = by_identifier(self.assistant.index, analysis.arxiv_ids, sources)
        state.ranking = exact_title_first(query, sources)
        if by_author := answer_author_question(self.assistant.index, retriever, state.standalone, state.filters):
            state.ranking, k, state.drafted = by_author.sources, len(by_author.sources), by_author.draft
        else:  # "who wrote X?", "when was X published?": from X's record (rag/record.py)
            state.drafted = answer_from_record(analysis, state.ranking[: max(k, state.referred)], state.referred)
        state.sources = state.ranking[: max(k, state.referred)]
        state.retrieve_ms = _ms(time.perf_counter() - t0)
        return state

    def finish(self, state: AnswerState, draft: Draft, generate_s: float) -> Answer:
        """Verify the draft and build the `Answer`: invalid markers removed, citations numbered 1, 2, 3 in order of
        first appearance (sources reordered to match), grounding scored, the answer checked against the question."""
        sources: list[Source] = state.sources
        text, removed = remove_invalid_markers(draft.text, len(sources))
        refused = draft.refused
        if not refused:
            text, sources, mapping = renumber(text, sources)
            draft.supporting = {mapping[n]: s for n, s in draft.supporting.items() if n in mapping}
            for q in draft.quotes:
                q.cites = [mapping[n] for n in q.cites if n in mapping]
                q.text = re.sub(r"\[(\d+)\]", lambda m: f"[{mapping.get(int(m.group(1)), int(m.group(1)))}]", q.text)
        citations: list[Citation] = []
        grounding = None
        if not refused:
            grounding = ground(text, sources, self.assistant.index.encode, draft.quotes)
            citations = _citations(text, sources, draft, grounding)
        analysis = state.analysis or draft.analysis
        check = answer_check(analysis, text, refused, [sources[c.n - 1] for c in citations])
        warnings = [w for w in (draft.warning, *state.notes) if w]
        if removed:
            warnings.append(
                f"removed citation markers that matched no retrieved paper: {', '.join(f'[{n}]' for n in removed)}"
            )
        answer = Answer(
            question=state.question,
            answer=text,
            refused=refused,
            citations=citations,
            sources=sources,
            related=sources[:N_RELATED] if refused else [],
            warning="; ".join(warnings) or None,
            note=draft.note,
            generator=draft.generator or self.generator_name(state),
            intent=analysis.intent.value if analysis else None,
            answers_question=check.answers,
            answer_check=check,
            timings_ms={
                "retrieve": state.retrieve_ms,
                "generate": _ms(generate_s),
                "total": _ms(time.perf_counter() - state.started),
            },
            standalone_question=state.standalone if state.standalone != state.question_used else None,
            about=[
                p
                for p in (state.resolution.papers if state.resolution else [])
                if p.paper_id in {s.paper_id for s in sources}
            ],
            settings=self.assistant.settings.public_dict(),
            ranking=state.ranking or sources,
        )
        if grounding is not None:
            grounding.removed_citations = removed
            answer.grounding = grounding
        elif removed:
            answer.grounding.removed_citations = removed
        answer.supported = bool(not refused and answer.grounding.supported_fraction >= 1.0)
        return answer

    def overrule_unsupported(self, state: AnswerState, draft: Draft, answer: Answer, t0: float) -> Answer:
        """An LLM answer is shown only as far as the cited abstracts support it (what a model that follows a planted
        instruction or makes things up produces is not): unsupported sentences are left out with a warning; with
        none supported, the extractive answer replaces it."""
        g = answer.grounding
        if answer.generator != "openai" or answer.refused or not g.sentence_scores or g.supported_fraction >= 1:
            return answer
        kept, dropped = supported_only(draft.text, g) if g.supported_fraction > 0 else ("", 0)
        if dropped and cited_numbers(kept):
            trimmed = Draft(text=kept, generator=draft.generator, analysis=draft.analysis)
            first, answer = answer, self.finish(state, trimmed, time.perf_counter() - t0)
            why = f"left out {counted(dropped, 'sentence')} of the LLM answer that no cited abstract supports"
            answer.warning = "; ".join(w for w in (first.warning, why) if w)
            answer.grounding.removed_citations = first.grounding.removed_citations
            if answer.grounding.supported_fraction > 0:
                return answer
        draft = self.generator("extractive").generate(state.standalone, state.sources, state.analysis)
        draft.warning = (
            "the LLM answer was not supported by the abstracts it cited; answered with the extractive generator instead"
        )
        return self.finish(state, draft, time.perf_counter() - t0)

    def _empty_index(self, state: AnswerState) -> Answer | None:
        """An index with no papers is said to be empty, from every entry point, not refused as "not relevant"."""
        if state.drafted is not None:  # answered in `retrieve` from the metadata (rag/authors.py, rag/record.py)
            return self.finish(state, state.drafted, 0.0)
        if state.sources or not self.assistant.index.is_empty():
            return None
        draft = Draft(
            text="The index is empty: no papers have been ingested yet. Run `rag ingest` (or `Assistant.ingest()`) first.",
            refused=True,
            reason="the index is empty",
            generator=self.generator_name(state),
        )
        answer = self.finish(state, draft, 0.0)
        answer.warning = "the index is empty; run `rag ingest` first"
        return answer

    def source_lists(self, state: AnswerState) -> list[list[Source]]:
        """What the generator reads, in turn: a resolved follow-up's referred papers alone, then, when they do not
        answer it, the widened ranking (they stay first in it, so their [n] are the same in both)."""
        n, sources = state.referred, state.sources
        several = state.analysis is not None and state.analysis.multi_paper
        # a list or comparison needs the other papers too: no pass over the referred ones alone
        return [sources[:n], sources] if 0 < n < len(sources) and not several else [sources]

    def generate(self, state: AnswerState) -> Answer:
        empty = self._empty_index(state)
        if empty is not None:
            return empty
        t0 = time.perf_counter()
        generator = self.generator(self.generator_name(state))
        for sources in self.source_lists(state):
            draft = generator.generate(state.standalone, sources, state.analysis, deadline=state.llm_deadline())
            if not draft.refused:
                break
        return self.overrule_unsupported(state, draft, self.finish(state, draft, time.perf_counter() - t0), t0)

    def stream(self, state: AnswerState) -> Iterator[str | Answer]:
        empty = self._empty_index(state)
        if empty is not None:
            yield empty.answer
            yield empty
            return
        t0 = time.perf_counter()
        generator = self.generator(self.generator_name(state))
        *narrow, wide = self.source_lists(state)
        for sources in narrow:  # not streamed: a refusal from the referred papers alone is never shown
            draft = generator.generate(state.standalone, sources, state.analysis, deadline=state.llm_deadline())
            if not draft.refused:
                yield from _sentences(draft.text)
                answer = self.finish(state, draft, time.perf_counter() - t0)
                yield self.overrule_unsupported(state, draft, answer, t0)
                return
        for piece in generator.stream(state.standalone, wide, state.analysis, deadline=state.llm_deadline()):
            if isinstance(piece, Draft):
                answer = self.finish(state, piece, time.perf_counter() - t0)
                yield self.overrule_unsupported(state, piece, answer, t0)
                return
            yield piece


def _sentences(text: str) -> Iterator[str]:
    """A finished text as stream pieces, one sentence (or list item) at a time."""
    for i, line in enumerate(text.split("\n")):
        pieces = [line] if line.startswith("- ") or line.endswith(":") else (split_sentences(line) or [line])
        for j, sentence in enumerate(pieces):
            yield ("" if i == 0 and j == 0 else ("\n" if j == 0 else " ")) + sentence


def _citations(text: str, sources: list[Source], draft: Draft, grounding: Any) -> list[Citation]:
    """One citation per cited paper, in number order, with the abstract sentence that supports it: the one the
    generator quoted, else the one the grounding check found closest."""
    best_for: dict[int, tuple[float, str]] = {}
    for entry in grounding.sentence_scores:
        for n in entry["cited"]:
            if entry.get("best_evidence") and entry["score"] > best_for.get(n, (-1.0, ""))[0]:
                best_for[n] = (entry["score"], entry["best_evidence"])
    out = []
    for n in sorted(cited_numbers(text)):
        src = sources[n - 1]
        supporting = draft.supporting.get(n) or best_for.get(n, (0.0, ""))[1]
        out.append(Citation(n=n, title=src.title, paper_id=src.paper_id, supporting=supporting))
    return out


class _GenerateStep(Runnable[AnswerState, Answer]):
    """The last step: `invoke` returns the Answer; `transform`/`stream` yield text pieces, then the Answer."""

    def __init__(self, pipeline: AnswerPipeline) -> None:
        self.pipeline = pipeline

    def invoke(self, input: AnswerState, config: RunnableConfig | None = None, **kwargs: Any) -> Answer:
        return self._call_with_config(self.pipeline.generate, input, config, run_type="chain")

    def transform(
        self, input: Iterator[AnswerState], config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[Any]:
        state = None
        for state in input:  # noqa: B007 - the previous step yields the whole state once
            pass
        if state is not None:
            yield from self.pipeline.stream(state)

    def stream(self, input: AnswerState, config: RunnableConfig | None = None, **kwargs: Any) -> Iterator[Any]:
        yield from self.transform(iter([input]), config, **kwargs)


def build_chain(assistant: Assistant) -> Runnable:
    pipeline = AnswerPipeline(assistant)
    chain = (
        RunnableLambda(pipeline.prepare, name="prepare")
        | RunnableLambda(pipeline.condense, name="condense")
        | RunnableLambda(pipeline.analyse, name="analyse")
        | RunnableLambda(pipeline.retrieve, name="retrieve")
        | _GenerateStep(pipeline)
    )
    return chain.with_config(run_name="rag_answer")
