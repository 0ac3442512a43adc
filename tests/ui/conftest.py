"""UI fixtures: real Gradio servers on 127.0.0.1 (built once and closed at teardown) and a real Chromium."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from uitools import CHROMIUM, CHROMIUM_ARGS, Served, serve


@pytest.fixture(scope="session")
def ui_server(corpus_assistant) -> Iterator[Served]:
    """The app over the whole bundled corpus (extractive answers), one server for the session."""
    served = serve(corpus_assistant)
    yield served
    served.close()


@pytest.fixture(scope="session")
def chromium_browser() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright; tests using it are skipped only when the binary is missing."""
    if not CHROMIUM.exists() or shutil.which(str(CHROMIUM)) is None:
        pytest.skip("browser test needs /usr/bin/chromium (apt-get install chromium); it is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium_browser) -> Iterator[Any]:
    context = chromium_browser.new_context(viewport={"width": 1440, "height": 960})
    page = context.new_page()
    page.set_default_timeout(120_000)
    yield page
    context.close()
