"""Helpers for the UI tests: serve the app on a free loopback port, an LLM-backed assistant, Chromium settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rag import Assistant, Settings
from ui.app import launch
from ui.screenshot import CHROMIUM as CHROMIUM_PATH
from ui.screenshot import CHROMIUM_ARGS

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "Served", "llm_assistant", "serve"]

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
