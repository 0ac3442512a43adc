"""The `openai` generator: any OpenAI-compatible chat endpoint through langchain-openai's `ChatOpenAI`.

Retrieved abstracts are fenced as data in the prompt. Failures never surface as tracebacks: a backend that
refuses, times out, rate-limits past its retries, returns garbage or an answer without a single valid citation
hands over to the extractive generator, and the answer carries a visible warning.

Time: a question's condense step and answer share one deadline (`rag.generators.backend`); the caller never waits
past it, whatever the backend sends. Links in an answer that are not in the abstracts it cites are removed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from prompts import load_prompt
from rag.generators.backend import (
    BackendGate,
    OutOfTime,
    Worker,
    call_with_retries,
    deadline_for,
    describe_error,
    http_client,
    is_retryable,
    retry_after,
)
from rag.generators.base import REFUSAL, Draft, is_refusal, refusal_text
from rag.generators.registry import register
from rag.intent import Analysis, Intent
from rag.settings import Settings
from rag.text import counted
from rag.types import Source
from rag.untrusted import fence_safe, unlinked
from rag.verify import cited_numbers

__all__ = [
    "LLMGenerator",
    "OutOfTime",
    "call_with_retries",
    "condense_with_llm",
    "describe_error",
    "is_retryable",
    "make_chat_model",
    "retry_after",
]

MAX_SENTENCES = 5
# Waits between attempts when the backend names none: 0.5 s, 1 s, 2 s, then 4 s.


# The answer's shape follows the question's intent, as the extractive composer's does (rag.intent).
SHAPES = {
    Intent.LIST: 'List every source that matches the question, one bullet per paper: "- <title> [n]: <one line on '
    'what it does>". Leave out sources that do not match. If more sources match than you list, say how many.',
    Intent.SUMMARY: 'Group the matching sources by approach, one bullet per paper: "- <title> [n]: <its approach in '
    'one line>".',
    Intent.COMPARE: 'Answer with parallel bullets, one per paper, in the order the question names them: "- <name> [n]: '
    'what it does; how; what it reports". Then one sentence on what differs or is shared, only where the abstracts '
    "say so.",
    Intent.QUANTITY: "Lead with the figure and its unit, then the sentence that states it.",
    Intent.DEFINITION: "Lead with the expansion or the definition.",
    Intent.LOOKUP: "Lead with the paper's title, then what it does.",
}


@register("openai")
def make_openai(assistant: Any, get: Callable[[str], Any]) -> LLMGenerator:
    return LLMGenerator(assistant.settings, fallback=get("extractive"), chat_model=assistant._llm)


def make_chat_model(settings: Settings, streaming: bool = False, max_retries: int | None = None) -> Any:
    """`ChatOpenAI` for the settings; `max_retries=0` when the caller retries itself (see `call_with_retries`)."""
    from langchain_openai import ChatOpenAI

    # A key withheld from a host a `.env` named (Settings.key_withheld) is not sent; a placeholder keeps the
    # client from reading OPENAI_API_KEY itself.
    key = settings.llm_api_key() or "not-needed"
    base_url, query = _split_query(settings.llm_base_url)
    return ChatOpenAI(
        model=settings.llm_model,
        base_url=base_url,
        default_query=query or None,  # a gateway's `?api-key=...` goes with every request, not before the path
        api_key=key,
        timeout=settings.llm_timeout,
        max_retries=settings.llm_retries if max_retries is None else max_retries,
        temperature=settings.llm_temperature,
        max_tokens=settings.llm_max_tokens,
        streaming=streaming,
        http_client=http_client(settings),
    )


class LLMGenerator:
    name = "openai"

    def __init__(self, settings: Settings, fallback: Any, chat_model: Any = None) -> None:
        self.settings = settings
        self.fallback = fallback
        self._chat = chat_model
        self._stream_chat: Any = None
        # One gate per assistant: a slow backend holds at most `llm_concurrency` of its callers at a time.
        self.gate = BackendGate(settings.llm_concurrency, cooldown=settings.llm_timeout)

    def _model(self, streaming: bool) -> Any:
        if streaming:
            if self._stream_chat is None:
                self._stream_chat = make_chat_model(self.settings, streaming=True, max_retries=0)
            return self._stream_chat
        if self._chat is None:
            self._chat = make_chat_model(self.settings, max_retries=0)
        return self._chat

    def messages(
        self, question: str, sources: Sequence[Source], analysis: Analysis | None = None
    ) -> list[tuple[str, str]]:
        system = load_prompt("system").render(refusal=REFUSAL, max_sentences=MAX_SENTENCES)
        user = load_prompt("answer").render(
            sources=[{"title": fence_safe(s.title), "text": fence_safe(s.text)} for s in sources],
            question=fence_safe(question),
            refusal=REFUSAL,
            shape=SHAPES.get(analysis.intent, "") if analysis else "",
        )
        return [("system", system), ("human", user)]

    def _finish(self, text: str, question: str, sources: Sequence[Source], analysis: Analysis | None = None) -> Draft:
        text = text.strip()
        if not text:
            return self._fallback(question, sources, "the LLM returned an empty answer", analysis)
        if is_refusal(text) and not cited_numbers(text):
            return Draft(
                text=refusal_text(),
                refused=True,
                reason="the model found no answer in the sources",
                generator=self.name,
                analysis=analysis,
            )
        valid = [n for n in cited_numbers(text) if 1 <= n <= len(sources)]
        if not valid:
            return self._fallback(question, sources, "the LLM answer cited no retrieved paper", analysis)
        # A link is shown only if an abstract the answer cites has it: an injected "visit ..." never is.
        text, removed = unlinked(text, " ".join(sources[n - 1].text for n in valid))
        warning = f"removed {counted(len(removed), 'link')} that no cited abstract contains" if removed else None
        return Draft(text=text, generator=self.name, analysis=analysis, warning=warning)

    def _fallback(self, question: str, sources: Sequence[Source], why: str, analysis: Analysis | None = None) -> Draft:
        draft = self.fallback.generate(question, sources, analysis)
        draft.warning = f"{why}; answered with the extractive generator instead"
        return draft

    def generate(
        self,
        question: str,
        sources: Sequence[Source],
        analysis: Analysis | None = None,
        deadline: float | None = None,
    ) -> Draft:
        """The answer to `question` from `sources`, or the extractive one with a warning; never later than
        `deadline` (a `time.monotonic()` value; default: this call's own budget)."""
        if not sources:
            return self.fallback.generate(question, sources, analysis)
        model, messages = self._model(streaming=False), self.messages(question, sources, analysis)
        until = deadline or deadline_for(self.settings)
        try:
            if until <= time.monotonic():
                raise OutOfTime("the LLM backend timed out")
            with self.gate.enter():
                msg = call_with_retries(self.settings, lambda timeout: model.invoke(messages, timeout=timeout), until)
        except Exception as exc:
            return self._fallback(question, sources, describe_error(exc), analysis)
        content = msg.content if isinstance(msg.content, str) else str(msg.content)
        return self._finish(content, question, sources, analysis)

    def stream(
        self,
        question: str,
        sources: Sequence[Source],
        analysis: Analysis | None = None,
        deadline: float | None = None,
    ) -> Iterator[str | Draft]:
        """Text pieces as the backend sends them, then the final `Draft`. A stream that has said nothing yet is
        retried; one cut (or out of time) after some text falls back to the extractive answer ("mid-answer")."""
        if not sources:
            yield from self.fallback.stream(question, sources, analysis)
            return
        model, messages = self._model(streaming=True), self.messages(question, sources, analysis)
        until = deadline or deadline_for(self.settings)
        parts: list[str] = []
        try:
            if until <= time.monotonic():
                raise OutOfTime("the LLM backend timed out")
            with self.gate.enter():
                worker, first = call_with_retries(self.settings, _first_piece(model, messages, until), until)
                try:
                    piece: Any = first
                    while piece is not None:
                        if piece:
                            parts.append(piece)
                            yield piece
                        more, chunk = worker.next()
                        piece = _text(chunk) if more else None
                finally:
                    worker.abandon()  # also when our own caller stops reading
        except Exception as exc:
            yield self._fallback(question, sources, describe_error(exc) + (" mid-answer" if parts else ""), analysis)
            return
        yield self._finish("".join(parts), question, sources, analysis)

    def condense(self, question: str, history: list[dict[str, Any]], deadline: float | None = None) -> str:
        """`condense_with_llm` through this generator's model and gate, within the question's deadline."""
        until = deadline or deadline_for(self.settings)
        if until <= time.monotonic():
            raise OutOfTime("the LLM backend timed out")
        with self.gate.enter():
            return condense_with_llm(self.settings, question, history, self._model(streaming=False), until)


def _split_query(url: str | None) -> tuple[str | None, dict[str, str]]:
    """`https://gw/v1?api-key=K` -> ("https://gw/v1", {"api-key": "K"}): the client appends paths to the base URL,
    which would otherwise land after the query."""
    if not url or "?" not in url:
        return url, {}
    from urllib.parse import parse_qsl, urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit(parts._replace(query="", fragment="")), dict(parse_qsl(parts.query, keep_blank_values=True))


def _text(chunk: Any) -> str:
    return chunk.content if isinstance(getattr(chunk, "content", None), str) else ""


def _first_piece(model: Any, messages: Any, until: float) -> Callable[[float], tuple[Worker, str | None]]:
    """An attempt for `call_with_retries`: open the stream in a worker and wait for its first text. Only a stream
    that has not said anything yet can be retried: text already shown cannot be unsaid. The worker stays
    bound to the question's deadline after that first piece."""

    def attempt(timeout: float) -> tuple[Worker, str | None]:
        worker = Worker(lambda: iter(model.stream(messages, timeout=timeout)), until)
        first_by = time.monotonic() + timeout
        while True:
            worker.limit.until = first_by  # the first text must come within this attempt's time
            try:
                more, chunk = worker.next()
            except BaseException:
                worker.abandon()
                raise
            worker.limit.until = until
            if not more:
                return worker, None
            if _text(chunk):
                return worker, _text(chunk)

    return attempt


def condense_with_llm(
    settings: Settings,
    question: str,
    history: list[dict[str, Any]],
    chat_model: Any = None,
    deadline: float | None = None,
) -> str:
    """Rewrite a follow-up into a standalone question with the LLM, by `deadline`; raises on backend failure.

    `history` is the chain's conversation; an assistant entry's `citations` ([{"n", "paper_id", "title"}]) are
    listed under it in the prompt as "[n] Title", so that "[2]" or "the second one" can be resolved."""
    turns = []
    for h in history[-6:]:
        cited = h.get("citations") if isinstance(h.get("citations"), list) else []
        turns.append(
            {
                "role": h.get("role", "user"),
                "content": fence_safe(str(h.get("content", "")))[:2000],
                "citations": [
                    {"n": int(c["n"]), "title": fence_safe(str(c["title"]))[:300]}
                    for c in cited[:20]
                    if isinstance(c, dict) and str(c.get("n", "")).isdigit() and c.get("title")
                ],
            }
        )
    prompt = load_prompt("condense").render(history=turns, question=fence_safe(question))
    model = chat_model or make_chat_model(settings, max_retries=0)
    out = call_with_retries(settings, lambda timeout: model.invoke([("human", prompt)], timeout=timeout), deadline)
    text = (out.content if isinstance(out.content, str) else "").strip().strip('"').strip()
    return text.splitlines()[0].strip() if text else question
