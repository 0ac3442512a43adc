"""The UI in a real Chromium: a streamed answer, a citation opening its source card with the supporting sentence
highlighted, a screenshot, and injected markup in an abstract staying inert text."""

from __future__ import annotations

import json
import re

import pytest
from fake_llm import FakeLLMServer, Reply, last_user_text
from uitools import llm_assistant, serve

from ingest.sentences import split_sentences
from ui.screenshot import ask_and_open_citation

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.server]

# Records the length of the answer text each time the DOM shows it still streaming.
WATCH_STREAM = """() => {
  window.__streamLens = [];
  new MutationObserver(() => {
    const el = document.querySelector('#rag-chat .rag-answer.rag-streaming');
    if (el) window.__streamLens.push(el.textContent.length);
  }).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


def test_question_gets_a_cited_answer_whose_citation_opens_a_highlighted_card(ui_server, page, tmp_path):
    target = ask_and_open_citation(
        page, ui_server.url, "Which papers reduce the memory footprint of 3D Gaussian Splatting?"
    )
    assert target == "src-1-1"
    answer = page.inner_text("#rag-chat .rag-answer.rag-answered")
    assert "[1]" in answer and "Gaussian" in answer
    card = page.locator("#src-1-1")
    assert card.is_visible()
    highlighted = card.locator("mark.support").first.inner_text()
    assert len(highlighted) > 20 and highlighted in card.locator(".src-abstract").inner_text()
    assert "answer sentences this paper supports" in card.inner_text().lower()
    # the click scrolled the sources panel so the card is in view
    panel_box, card_box = page.locator("#rag-sources").bounding_box(), card.bounding_box()
    assert panel_box["y"] - 1 <= card_box["y"] <= panel_box["y"] + panel_box["height"]
    shot = tmp_path / "ui.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 20_000


def test_llm_answer_is_seen_streaming_in_the_browser(corpus_home, embeddings, page):
    said: list[str] = []

    def quote_first_source(request):
        # A grounded answer: the opening sentence of source [1], cited (an unsupported one would be overruled).
        abstract = re.search(r"\[1\] [^\n]*\n([^\n]+)", last_user_text(request)).group(1)
        said.append(split_sentences(abstract)[0].rstrip(".") + " [1].")
        return Reply(text=said[-1], piece_delay=0.12)

    with FakeLLMServer(default=quote_first_source) as llm:
        served = serve(llm_assistant(corpus_home, embeddings, llm.base_url))
        try:
            page.goto(served.url)
            page.wait_for_selector("#rag-question textarea")
            page.evaluate(WATCH_STREAM)
            page.fill("#rag-question textarea", "What does the Switch Transformer do?")
            page.click("#rag-send")
            page.wait_for_selector("#rag-chat .rag-answer.rag-answered")
            lengths = page.evaluate("window.__streamLens")
            final = page.inner_text("#rag-chat .rag-answer.rag-answered")
        finally:
            served.close()
    growing = sorted(set(lengths))
    assert len(growing) >= 3, f"the answer did not visibly grow while streaming: {lengths}"
    assert growing[0] < len(said[-1]) // 2
    assert said[-1][:40] in final
    assert "extractive" not in final  # the LLM's own (grounded) answer was kept


EVIL_TITLE = 'Kangaroo Nets <img src=x onerror="window.__pwned=1">'
EVIL_ABSTRACT = (
    "Kangaroo networks learn hopping policies for marsupial robots. "
    '<script>window.__pwned=2</script> <img src=x onerror="window.__pwned=3"> '
    "Kangaroo networks hop twice as far as baseline robots in our experiments."
)


def test_markup_in_an_abstract_or_question_renders_as_text_and_never_runs(make_assistant, page, tmp_path):
    papers = tmp_path / "evil.jsonl"
    rows = [
        {"title": EVIL_TITLE, "abstract": EVIL_ABSTRACT},
        {"title": "Wombat Vision", "abstract": "Wombat vision models detect burrows in aerial photographs reliably."},
        {"title": "Koala Language", "abstract": "Koala language models chew through eucalyptus corpora very slowly."},
    ]
    papers.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assistant = make_assistant()
    assistant.ingest([papers])
    served = serve(assistant)
    try:
        page.goto(served.url)
        page.wait_for_selector("#rag-question textarea")
        question = 'How far do kangaroo networks hop? <img src=x onerror="window.__pwned=4">'
        page.fill("#rag-question textarea", question)
        page.click("#rag-send")
        page.wait_for_selector("#rag-chat .rag-answer:not(.rag-pending):not(.rag-streaming)")
        page.wait_for_selector("#rag-sources .src-card")
        page.click("button[role=tab]:has-text('Search')")
        page.fill("input[placeholder^='Search titles'], textarea[placeholder^='Search titles']", "kangaroo networks")
        page.keyboard.press("Enter")
        page.wait_for_selector(".src-card.hit")
        page.wait_for_timeout(500)
        assert page.evaluate("typeof window.__pwned") == "undefined"
        assert (
            page.evaluate("document.querySelectorAll('img[src=x], #rag-sources script, .src-card script').length") == 0
        )
        page.click("button[role=tab]:has-text('Chat')")
        chat, sources = page.inner_text("#rag-chat"), page.inner_text("#rag-sources")
        assert question in chat  # the question is shown literally
        assert "<script>window.__pwned=2</script>" in sources  # the abstract's markup is visible text
        assert EVIL_TITLE in sources
        page.click("button[role=tab]:has-text('Search')")
        assert EVIL_TITLE in page.inner_text(".src-card.hit >> nth=0")
    finally:
        served.close()


def test_collection_upload_is_validated_and_errors_name_the_line(make_assistant, page, tmp_path):
    bad, good = tmp_path / "bad.jsonl", tmp_path / "good.csv"
    bad.write_text(
        '{"title": "Fine", "abstract": "A fine abstract about graph neural networks."}\n{"title": "Broken"\n'
    )
    good.write_text("title,abstract\nPlatypus Nets,Platypus networks detect electric fields in murky rivers.\n")
    assistant = make_assistant()
    served = serve(assistant)
    try:
        page.goto(served.url)
        page.click("button[role=tab]:has-text('Collection')")
        add = page.locator("button:has-text('Add to the index')")
        page.set_input_files("#rag-upload input[type=file]", str(bad))
        page.wait_for_selector("#rag-upload-status .rag-status.error")
        status = page.inner_text("#rag-upload-status")
        assert "bad.jsonl:2:" in status and "invalid JSON" in status
        assert add.is_disabled()
        assert assistant.stats()["papers"] == 0
        page.click("button[aria-label='Clear']")
        page.set_input_files("#rag-upload input[type=file]", str(good))
        page.wait_for_selector("#rag-upload-status .rag-status.info")
        assert "1 valid paper" in page.inner_text("#rag-upload-status")
        add.click()
        page.wait_for_selector("#rag-upload-status .rag-status.ok")
        assert "Added 1" in page.inner_text("#rag-upload-status")
        assert "good.csv" in page.inner_text(".rag-stats")
        assert assistant.stats()["papers"] == 1
    finally:
        served.close()


def test_an_example_asks_itself_and_clear_resets_the_conversation(ui_server, page):
    page.goto(ui_server.url)
    example = page.locator("#rag-chat button:has-text('Switch Transformer')").first
    example.click()
    page.wait_for_selector("#rag-chat .rag-answer:not(.rag-pending):not(.rag-streaming)")
    page.wait_for_selector("#rag-sources .src-card")
    assert "Switch Transformer" in page.inner_text("#rag-chat .rag-question")
    page.click("#rag-clear")
    page.wait_for_selector("#rag-sources .src-empty")
    assert page.locator("#rag-chat .rag-answer").count() == 0
    assert page.locator("#rag-sources .src-card").count() == 0


def _ask(page, question: str, n_answers: int) -> None:
    page.fill("#rag-question textarea", question)
    page.click("#rag-send")
    page.wait_for_function(
        "n => document.querySelectorAll('#rag-chat .rag-answer.rag-answered, #rag-chat .rag-answer.rag-refusal')"
        ".length >= n && document.querySelector('#rag-sources .src-empty') === null",
        arg=n_answers,
    )


# Whether the card with this id is displayed (its answer's group is the one shown).
SHOWN = "id => { const c = document.getElementById(id); return !!c && c.offsetParent !== null; }"


def _shown_cards(page) -> list[str]:
    return page.evaluate(
        "[...document.querySelectorAll('#rag-sources .src-card')].filter(c => c.offsetParent !== null).map(c => c.id)"
    )


def test_a_citation_in_an_earlier_answer_shows_that_answers_cards(ui_server, page):
    page.goto(ui_server.url)
    page.wait_for_selector("#rag-question textarea")
    _ask(page, "What does the Switch Transformer do?", 1)
    _ask(page, "How much faster is its pre-training?", 2)
    _ask(page, "Which papers reduce the memory footprint of 3D Gaussian Splatting?", 3)
    answers = page.locator("#rag-chat .rag-answer")
    assert "about: Switch Transformers" in answers.nth(1).inner_text()  # the follow-up says what it was about
    assert "about:" not in answers.nth(0).inner_text() and "about:" not in answers.nth(2).inner_text()
    assert all(c.startswith("src-3-") for c in _shown_cards(page))  # the latest answer's cards

    link = answers.nth(0).locator("a.cite").first  # the first [n] of the first answer
    target = link.get_attribute("href").lstrip("#")
    assert target.startswith("src-1-")
    link.click()
    page.wait_for_function(SHOWN, arg=target)
    shown = _shown_cards(page)
    assert target in shown and all(c.startswith("src-1-") for c in shown)
    card = page.locator(f"#{target}")
    assert card.is_visible() and "Switch Transformer" in card.inner_text()
    assert card.locator("mark.support").count() >= 1  # its supporting sentence, from that answer
    assert not page.locator("#src-group-3").is_visible()

    link = answers.nth(2).locator("a.cite").first  # and back to the latest answer's cards
    target = link.get_attribute("href").lstrip("#")
    link.click()
    page.wait_for_function(SHOWN, arg=target)
    assert target.startswith("src-3-") and all(c.startswith("src-3-") for c in _shown_cards(page))
    assert "Gaussian" in page.inner_text("#src-group-3")
