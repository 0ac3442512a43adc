"""A screenshot of the UI answering a question: `python -m ui.screenshot --out docs/ui.png`.

Serves the app over the index in RAG_HOME (ingesting the bundled corpus if it is empty) on 127.0.0.1, drives
Debian's Chromium with Playwright (the `playwright` package; its own browser download does not work offline),
asks a question, opens a citation's source card and saves the page. The browser tests use `ask_and_open_citation`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
QUESTION = "Which papers reduce the memory footprint of 3D Gaussian Splatting?"


def ask_and_open_citation(page: Any, url: str, question: str, timeout_ms: float = 180_000) -> str | None:
    """Open the app, ask `question`, wait for the final answer, click its first [n] link; returns that link's
    target id (e.g. "src-1-1": answer 1, card 1), or None when the answer has no citation (a refusal)."""
    page.goto(url)
    page.wait_for_selector("#rag-question textarea", timeout=timeout_ms)
    page.fill("#rag-question textarea", question)
    page.click("#rag-send")
    page.wait_for_selector("#rag-chat .rag-answer:not(.rag-pending):not(.rag-streaming)", timeout=timeout_ms)
    page.wait_for_selector("#rag-sources .src-card, #rag-sources .src-empty", timeout=timeout_ms)
    link = page.query_selector("#rag-chat a.cite")
    if link is None:
        return None
    target = (link.get_attribute("href") or "").lstrip("#")
    link.click()
    page.wait_for_selector(f"#{target}.rag-flash", timeout=5_000)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/ui.png"))
    parser.add_argument("--question", default=QUESTION)
    parser.add_argument("--width", type=int, default=1440)
    parser.add_argument("--height", type=int, default=960)
    args = parser.parse_args(argv)

    from playwright.sync_api import sync_playwright

    from rag import Assistant
    from ui.app import launch

    assistant = Assistant()
    if assistant.index.is_empty():
        print("the index is empty; ingesting the bundled corpus first", file=sys.stderr)
        assistant.ingest()
    demo = launch(assistant, server_name="127.0.0.1", server_port=0, prevent_thread_lock=True, quiet=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": args.width, "height": args.height})
            target = ask_and_open_citation(page, demo.local_url, args.question)
            page.wait_for_timeout(800)  # let the smooth scroll to the card finish
            args.out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(args.out))
            browser.close()
    finally:
        demo.close()
    print(f"saved {args.out} (opened citation: {target or 'none'})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
