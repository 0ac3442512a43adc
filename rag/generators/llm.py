"""The `openai` generator: any OpenAI-compatible chat endpoint through langchain-openai's `ChatOpenAI`.

Retrieved abstracts are fenced as data in the prompt. Failures never surface as tracebacks: a backend
that refuses, times out, rate-limits past its retries, returns garbage or an answer without a single
valid citation hands over to the extractive generator, and the answer carries a visible warning.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

from prompts import load_prompt
from rag.generators.base import REFUSAL, Draft, is_refusal, refusal_text
from rag.settings import Settings
from rag.types import Source
from rag.verify import cited_numbers

_FENCE_TAG = re.compile(r"</?\s*(sources|question|conversation|candidate|system)\b[^>]*>", re.I)
MAX_SENTENCES = 5


def fence_safe(text: str) -> str:
    """Untrusted text must not close or open our fences."""
    return _FENCE_TAG.sub("[tag removed]", text)


def make_chat_model(settings: Settings, streaming: bool = False) -> Any:
    from langchain_openai import ChatOpenAI

    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else "not-needed"
    return ChatOpenAI(
        model=settings.llm_model,
        base_url=settings.llm_base_url,
        api_key=key,
        timeout=settings.llm_timeout,
        max_retries=settings.llm_retries,
        temperature=settings.llm_temperature,
        max_tokens=settings.llm_max_tokens,
        streaming=streaming,
    )


def describe_error(exc: BaseException) -> str:
    """A short, secret-free description of a backend failure."""
    name = type(exc).__name__
    status = getattr(exc, "status_code", None)
    if status:
        return f"the LLM backend answered HTTP {status}"
    if "Timeout" in name:
        return "the LLM backend timed out"
    if "Connection" in name:
        return "the LLM backend could not be reached"
    return f"the LLM backend failed ({name})"


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
                self._stream_chat = make_chat_model(self.settings, streaming=True)
            return self._stream_chat
        if self._chat is None:
            self._chat = make_chat_model(self.settings)
        return self._chat

    def messages(self, question: str, sources: Sequence[Source]) -> list[tuple[str, str]]:
        system = load_prompt("system").render(refusal=REFUSAL, max_sentences=MAX_SENTENCES)
        user = load_prompt("answer").render(
            sources=[{"title": fence_safe(s.title), "text": fence_safe(s.text)} for s in sources],
            question=fence_safe(question),
            refusal=REFUSAL,
        )
        return [("system", system), ("human", user)]

    def _finish(self, text: str, question: str, sources: Sequence[Source]) -> Draft:
        text = text.strip()
        if not text:
            return self._fallback(question, sources, "the LLM returned an empty answer")
        if is_refusal(text) and not cited_numbers(text):
            return Draft(
                text=refusal_text(),
                refused=True,
                reason="the model found no answer in the sources",
                generator=self.name,
            )
        valid = [n for n in cited_numbers(text) if 1 <= n <= len(sources)]
        if not valid:
            return self._fallback(question, sources, "the LLM answer cited no retrieved paper")
        return Draft(text=text, generator=self.name)

    def _fallback(self, question: str, sources: Sequence[Source], why: str) -> Draft:
        draft = self.fallback.generate(question, sources)
        draft.warning = f"{why}; answered with the extractive generator instead"
        return draft

    def generate(self, question: str, sources: Sequence[Source]) -> Draft:
        if not sources:
            return self.fallback.generate(question, sources)
        try:
            msg = self._model(streaming=False).invoke(self.messages(question, sources))
        except Exception as exc:
            return self._fallback(question, sources, describe_error(exc))
        content = msg.content if isinstance(msg.content, str) else str(msg.content)
        return self._finish(content, question, sources)

    def stream(self, question: str, sources: Sequence[Source]) -> Iterator[str | Draft]:
        if not sources:
            yield from self.fallback.stream(question, sources)
            return
        parts: list[str] = []
        try:
            for chunk in self._model(streaming=True).stream(self.messages(question, sources)):
                piece = chunk.content if isinstance(chunk.content, str) else ""
                if piece:
                    parts.append(piece)
                    yield piece
        except Exception as exc:
            yield self._fallback(question, sources, describe_error(exc) + (" mid-answer" if parts else ""))
            return
        yield self._finish("".join(parts), question, sources)


def condense_with_llm(settings: Settings, question: str, history: list[dict[str, str]], chat_model: Any = None) -> str:
    """Rewrite a follow-up into a standalone question with the LLM; raises on backend failure."""
    prompt = load_prompt("condense").render(
        history=[
            {"role": h.get("role", "user"), "content": fence_safe(str(h.get("content", "")))[:2000]}
            for h in history[-6:]
        ],
        question=fence_safe(question),
    )
    model = chat_model or make_chat_model(settings)
    out = model.invoke([("human", prompt)])
    text = (out.content if isinstance(out.content, str) else "").strip().strip('"').strip()
    return text.splitlines()[0].strip() if text else question
