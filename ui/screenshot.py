"""Screenshots of the UI answering questions: `python -m ui.screenshot --out docs/`.

Serves the app over the index in RAG_HOME (ingesting the bundled corpus if it is empty) on 127.0.0.1, drives
Debian's Chromium with Playwright (the `playwright` package; its own browser download does not work offline),
asks each question of `SHOTS` in a fresh page in the shot's colour scheme, opens a citation's source card and
saves the page. The browser tests use `ask_and_open_citation`.
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
# (file name, colour scheme, question, which citation to open): a list, a comparison and a figure question,
# over the bundled corpus, in both schemes.
SHOTS = [
    ("ui-list.png", "light", QUESTION, 1),
    ("ui-list-dark.png", "dark", QUESTION, 1),
    (
        "ui-compare-dark.png",
        "dark",
        "How does S4D differ from the original S4 in how the state matrix is handled?",
        2,
    ),
    ("ui-figure.png", "light", "What speed-ups does the Switch Transformer report for pre-training?", 1),
]


# The chat scrolls to the end of a long answer; a screenshot reads better from the question down.
SHOW_QUESTION = """() => document.querySelectorAll('#rag-chat *').forEach(function (el) {
  if (el.scrollHeight > el.clientHeight + 4 && getComputedStyle(el).overflowY !== 'visible') el.scrollTop = 0;
})"""


def ask(page: Any, url: str, question: str, timeout_ms: float = 180_000) -> None:
    """Open the app, ask `question` and wait for the final answer and its cards."""
    page.goto(url)
    page.wait_for_selector("#rag-question textarea", timeout=timeout_ms)
    page.fill("#rag-question textarea", question)
    page.click("#rag-send")
    page.wait_for_selector("#rag-chat .rag-answer:not(.rag-pending):not(.rag-streaming)", timeout=timeout_ms)
    page.wait_for_selector("#rag-sources .src-card, #rag-sources .src-empty", timeout=timeout_ms)


def ask_and_open_citation(
    page: Any, url: str, question: str, timeout_ms: float = 180_000, which: int = 1
) -> str | None:
    """Open the app, ask `question`, wait for the final answer, click its `which`-th [n] link (the last one when
    there are fewer); returns that link's target id (e.g. "src-1-1": answer 1, card 1), or None when the answer
    has no citation (a refusal)."""
    ask(page, url, question, timeout_ms)
    links = page.query_selector_all("#rag-chat a.cite")
    if not links:
        return None
    link = links[min(which, len(links)) - 1]
    target = (link.get_attribute("href") or "").lstrip("#")
    link.click()
    page.wait_for_selector(f"#{target}.rag-flash", timeout=5_000)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs"), help="directory for the PNG files")
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
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for name, scheme, question, which in SHOTS:
                context = browser.new_context(
                    viewport={"width": args.width, "height": args.height}, color_scheme=scheme
                )
                page = context.new_page()
                target = ask_and_open_citation(page, demo.local_url, question, which=which)
                page.wait_for_timeout(900)  # let the smooth scroll to the card finish and KaTeX typeset
                page.evaluate(SHOW_QUESTION)
                page.wait_for_timeout(300)
                page.screenshot(path=str(args.out / name))
                context.close()
                print(f"saved {args.out / name} ({scheme}; opened citation: {target or 'none'})", file=sys.stderr)
            browser.close()
    finally:
        demo.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
