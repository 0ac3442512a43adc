"""The `openai` generator: any OpenAI-compatible chat endpoint through langchain-openai's `ChatOpenAI`.

Retrieved abstracts are fenced as data in the prompt. Failures never surface as tracebacks: a backend
that refuses, times out, rate-limits past its retries, returns garbage or an answer without a single
valid citation hands over to the extractive generator, and the answer carries a visible warning.

Retries are ours, not the client's: every call gets a budget of `llm_timeout * (llm_retries + 1)` seconds that
covers all its attempts, the waits between them and a slow stream, so no answer waits on the backend longer
than that. A `Retry-After` that does not fit in what is left of the budget ends the retries at once.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from prompts import load_prompt
from rag.generators.base import REFUSAL, Draft, is_refusal, refusal_text
from rag.generators.registry import register
from rag.intent import Analysis, Intent
from rag.settings import Settings
from rag.types import Source
from rag.untrusted import fence_safe
from rag.verify import cited_numbers

MAX_SENTENCES = 5
# Waits between attempts when the backend names none: 0.5 s, 1 s, 2 s, then 4 s.
BACKOFF_FIRST, BACKOFF_MAX = 0.5, 4.0
# HTTP statuses worth another attempt: timeouts, conflicts, rate limits and server errors.
RETRY_STATUSES = frozenset({408, 409, 429})
T = TypeVar("T")


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

    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else "not-needed"
    return ChatOpenAI(
        model=settings.llm_model,
        base_url=settings.llm_base_url,
        api_key=key,
        timeout=settings.llm_timeout,
        max_retries=settings.llm_retries if max_retries is None else max_retries,
        temperature=settings.llm_temperature,
        max_tokens=settings.llm_max_tokens,
        streaming=streaming,
    )


def describe_error(exc: BaseException) -> str:
    """A short, secret-free description of a backend failure."""
    name = type(exc).__name__
    status = getattr(exc, "status_code", None)
    if isinstance(exc, OutOfTime):
        return str(exc)
    if status:
        return f"the LLM backend answered HTTP {status}"
    if "Timeout" in name:
        return "the LLM backend timed out"
    if "Connection" in name:
        return "the LLM backend could not be reached"
    return f"the LLM backend failed ({name})"


class OutOfTime(TimeoutError):
    """The call's time budget ran out; the message says why, without anything from the backend's reply."""


def retry_after(exc: BaseException) -> float | None:
    """Seconds the backend asked us to wait (`retry-after-ms`, or `retry-after` in seconds or as an HTTP date)."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    try:
        if headers.get("retry-after-ms"):
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
        value = headers.get("retry-after")
        if not value:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            when = email.utils.parsedate_to_datetime(value)
            return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError, OverflowError):
        return None


def is_retryable(exc: BaseException) -> bool:
    """Worth another attempt: no connection, a timeout, a rate limit or a server error. Not: a bad key, a bad
    request, or a body we could not parse (the same request would get the same answer)."""
    import httpx

    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        return status in RETRY_STATUSES or status >= 500
    if isinstance(exc, httpx.TransportError):  # a connection dropped mid-body ("incomplete chunked read")
        return True
    name = type(exc).__name__
    return "Timeout" in name or "Connection" in name


def call_with_retries(settings: Settings, attempt: Callable[[float], T], deadline: float | None = None) -> T:
    """Run `attempt(timeout)` until it succeeds, a failure is not worth retrying, the retries are used up or
    the budget ends. `deadline` (a `time.monotonic()` value) defaults to `llm_timeout * (llm_retries + 1)` from now.
    """
    deadline = deadline or time.monotonic() + settings.llm_timeout * (settings.llm_retries + 1)
    for n in range(settings.llm_retries + 1):
        left = deadline - time.monotonic()
        if left <= 0:
            raise OutOfTime("the LLM backend timed out")
        try:
            return attempt(min(settings.llm_timeout, left))
        except Exception as exc:
            if n == settings.llm_retries or not is_retryable(exc):
                raise
            asked = retry_after(exc)
            wait = asked if asked is not None else min(BACKOFF_FIRST * 2**n, BACKOFF_MAX)
            left = deadline - time.monotonic()
            if wait >= left:
                if asked is not None:
                    raise OutOfTime(
                        f"{describe_error(exc)} and asked to retry after {asked:.0f} s, past this answer's time limit"
                    ) from exc
                raise
            time.sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


class LLMGenerator:
    name = "openai"

    def __init__(self, settings: Settings, fallback: Any, chat_model: Any = None) -> None:
        self.settings = settings
        self.fallback = fallback
        self._chat = chat_model
        self._stream_chat: Any = None

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
        return Draft(text=text, generator=self.name, analysis=analysis)

    def _fallback(self, question: str, sources: Sequence[Source], why: str, analysis: Analysis | None = None) -> Draft:
        draft = self.fallback.generate(question, sources, analysis)
        draft.warning = f"{why}; answered with the extractive generator instead"
        return draft

    def generate(self, question: str, sources: Sequence[Source], analysis: Analysis | None = None) -> Draft:
        if not sources:
            return self.fallback.generate(question, sources, analysis)
        model, messages = self._model(streaming=False), self.messages(question, sources, analysis)
        try:
            msg = call_with_retries(self.settings, lambda timeout: model.invoke(messages, timeout=timeout))
        except Exception as exc:
            return self._fallback(question, sources, describe_error(exc), analysis)
        content = msg.content if isinstance(msg.content, str) else str(msg.content)
        return self._finish(content, question, sources, analysis)

    def stream(
        self, question: str, sources: Sequence[Source], analysis: Analysis | None = None
    ) -> Iterator[str | Draft]:
        if not sources:
            yield from self.fallback.stream(question, sources, analysis)
            return
        model, messages = self._model(streaming=True), self.messages(question, sources, analysis)
        s = self.settings
        deadline = time.monotonic() + s.llm_timeout * (s.llm_retries + 1)
        parts: list[str] = []
        stream: Iterator[Any] = iter(())

        def first_piece(timeout: float) -> Any:
            # Only a stream that has not said anything yet can be retried: text already shown cannot be unsaid.
            nonlocal stream
            stream = iter(model.stream(messages, timeout=timeout))
            for chunk in stream:
                if isinstance(chunk.content, str) and chunk.content:
                    return chunk
                if time.monotonic() > deadline:
                    raise OutOfTime("the LLM backend timed out")
            return None

        try:
            chunk = call_with_retries(s, first_piece, deadline)
            while chunk is not None:
                piece = chunk.content if isinstance(chunk.content, str) else ""
                if piece:
                    parts.append(piece)
                    yield piece
                if time.monotonic() > deadline:  # a stream that trickles on forever is a timeout too
                    raise OutOfTime("the LLM backend timed out")
                chunk = next(stream, None)
        except Exception as exc:
            yield self._fallback(question, sources, describe_error(exc) + (" mid-answer" if parts else ""), analysis)
            return
        yield self._finish("".join(parts), question, sources, analysis)


def condense_with_llm(settings: Settings, question: str, history: list[dict[str, Any]], chat_model: Any = None) -> str:
    """Rewrite a follow-up into a standalone question with the LLM; raises on backend failure.

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
    out = call_with_retries(settings, lambda timeout: model.invoke([("human", prompt)], timeout=timeout))
    text = (out.content if isinstance(out.content, str) else "").strip().strip('"').strip()
    return text.splitlines()[0].strip() if text else question
