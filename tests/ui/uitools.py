"""Helpers for the UI tests: serve the app on a free loopback port, an LLM-backed assistant, Chromium settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rag import Assistant, Settings
from ui.app import launch
from ui.screenshot import CHROMIUM as CHROMIUM_PATH
from ui.screenshot import CHROMIUM_ARGS

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "METADATA", "Reshaped", "Served", "llm_assistant", "serve", "with_metadata"]

CHROMIUM = Path(CHROMIUM_PATH)


class Served:
    """A launched app: its URL and the Blocks (closed by the fixture that made it)."""

    def __init__(self, demo: Any, assistant: Any) -> None:
        self.demo = demo
        self.assistant = assistant
        self.url: str = demo.local_url

    def close(self) -> None:
        self.demo.close()


def serve(assistant: Any, **kw: Any) -> Served:
    """Launch the app for `assistant` on a free loopback port without blocking."""
    options = {"server_name": "127.0.0.1", "server_port": 0, "prevent_thread_lock": True, "quiet": True, **kw}
    return Served(launch(assistant, **options), assistant)


def llm_assistant(corpus_home: Path, embeddings: Any, base_url: str) -> Assistant:
    """An assistant over the bundled corpus answering with an OpenAI-compatible server at `base_url`."""
    settings = Settings(
        home=corpus_home, generator="openai", llm_base_url=base_url, llm_model="fake-model", llm_retries=0
    )
    return Assistant(settings, embeddings=embeddings)


class Reshaped:
    """A real assistant whose final answers pass through `change` before the UI gets them.

    It stands in for what the UI must render but this branch's pipeline does not produce yet (bibliographic
    metadata, filled by the index) or rarely produces at once (a warning, an unsupported sentence and a
    low-confidence signal in one answer). Retrieval, answering, numbering and the index stay real."""

    def __init__(self, assistant: Any, change: Any) -> None:
        self._assistant = assistant
        self._change = change

    def __getattr__(self, name: str) -> Any:
        return getattr(self._assistant, name)

    def stream(self, question: str, history: list | None = None, **options: Any) -> Any:
        from rag.types import Answer

        for piece in self._assistant.stream(question, history, **options):
            yield self._change(piece) if isinstance(piece, Answer) else piece

    def ask(self, question: str, history: list | None = None, **options: Any) -> Any:
        return self._change(self._assistant.ask(question, history, **options))

    def with_settings(self, **overrides: Any) -> Reshaped:
        return Reshaped(self._assistant.with_settings(**overrides), self._change)


# Metadata as the index will give it for two bundled papers (arXiv listings), by title prefix.
METADATA = {
    "Efficiently Modeling Long Sequences": {
        "authors": ["Albert Gu", "Karan Goel", "Christopher Ré"],
        "year": 2021,
        "arxiv_id": "2111.00396",
        "doi": "10.48550/arXiv.2111.00396",
        "categories": ["cs.LG"],
        "source_labels": ["Daily Papers, Aug 14"],
    },
    "Switch Transformers": {
        "authors": ["William Fedus", "Barret Zoph", "Noam Shazeer"],
        "year": 2021,
        "arxiv_id": "2101.03961",
        "categories": ["cs.LG"],
        "url": "https://arxiv.org/abs/2101.03961",
        "source_labels": ["Daily Papers, Mar 11"],
    },
}


def with_metadata(answer: Any) -> Any:
    """`answer` with METADATA filled into its sources (what the index branch adds to `Source`)."""

    def fill(source: Any) -> Any:
        meta = next((m for prefix, m in METADATA.items() if source.title.startswith(prefix)), None)
        return source.model_copy(update=meta) if meta else source

    return answer.model_copy(update={"sources": [fill(s) for s in answer.sources]})
