"""The UI's features in a real Chromium: contrast in both colour schemes, copy as Markdown, the exported file,
citations numbered 1, 2, 3 everywhere, typeset LaTeX, cards with authors and links, the session's LLM endpoint,
and browsing and deleting papers."""

from __future__ import annotations

import json
import re

import pytest
from fake_llm import FakeLLMServer, Reply, last_user_text
from gradio_client import Client
from typer.testing import CliRunner
from uitools import Reshaped, serve, with_metadata

from ingest.sentences import split_sentences
from rag import Assistant, Settings
from rag.cli import app as cli_app
from rag.types import AnswerCheck
from ui.screenshot import ask

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.server]

S4_QUESTION = "How does S4D differ from the original S4 in how the state matrix is handled?"
SWITCH_QUESTION = "What speed-ups does the Switch Transformer report for pre-training?"
LIST_QUESTION = "Which papers reduce the memory footprint of 3D Gaussian Splatting?"
REFUSED_QUESTION = "What is the boiling point of tungsten in kelvin?"

# The WCAG 2 contrast ratio of each selector's least readable visible element: its text colour composited over
# the backgrounds behind it (ancestors' colours, alpha included), as the browser computed them.
CONTRAST = """(selectors) => {
  const parse = (c) => { const m = c.match(/^rgba?\\(([^)]+)\\)$/); if (!m) return null;
    const p = m[1].split(/[\\s,\\/]+/).filter(Boolean).map(parseFloat); return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; };
  const over = (top, base) => [0, 1, 2].map(i => top[i] * top[3] + base[i] * (1 - top[3])).concat([1]);
  const background = (el) => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
    }
    let base = [255, 255, 255, 1];
    for (const l of layers.reverse()) base = over(l, base);
    return base;
  };
  const lum = (c) => { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); };
  const out = {};
  for (const sel of selectors) {
    let worst = null;
    for (const el of document.querySelectorAll(sel)) {
      const st = getComputedStyle(el);
      if (!el.getClientRects().length || !el.textContent.trim() || st.visibility === "hidden") continue;
      const bg = background(el), fg = over(parse(st.color), bg);
      const a = lum(fg), b = lum(bg), r = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
      if (!worst || r < worst.ratio) worst = {ratio: Math.round(r * 100) / 100, color: st.color,
        background: "rgb(" + bg.slice(0, 3).map(Math.round).join(",") + ")", text: el.textContent.trim().slice(0, 50)};
    }
    out[sel] = worst;
  }
  return out;
}"""
ANSWER_PARTS = [
    "#rag-chat .rag-answer p",
    "#rag-chat .rag-answer li",
    "#rag-chat .rag-answer a.cite",
    "#rag-chat .rag-signals .sig",
    "#rag-chat .rag-foot",
    "#rag-chat button.rag-copy",
]
CARD_PARTS = [
    "#rag-sources .src-head",
    "#rag-sources .src-n",
    "#rag-sources .src-title",
    "#rag-sources .src-meta",
    "#rag-sources .src-meta a",
    "#rag-sources .src-supports li",
    "#rag-sources .src-supports .src-label",
    "#rag-sources .src-abstract",
]
PALETTE_PARTS = [
    "#rag-chat .rag-answer .unsupported",
    "#rag-chat .rag-signals .sig.warn",
    "#rag-chat .rag-signals .sig.low",
    "#rag-chat .rag-warning",
    "#rag-chat .rag-note",
    "#rag-sources .src-byline",
    "#rag-sources mark.support",
    "#rag-sources .src-supports li.unsupported",
    "#rag-sources .src-flag",
]


def _palette(answer):
    """The Switch answer with every warning style at once: an unsupported sentence, a low-confidence signal, a
    note and a warning, on top of the index's metadata."""
    answer = with_metadata(answer)
    if not answer.question.startswith("What speed-ups"):
        return answer
    scores = [dict(s) for s in answer.grounding.sentence_scores]
    scores[0] |= {"supported": False}
    grounding = answer.grounding.model_copy(update={"sentence_scores": scores, "supported_fraction": 0.0})
    check = AnswerCheck(answers=False, expected="a figure", found_expected=False, confidence="low")
    return answer.model_copy(
        update={
            "grounding": grounding,
            "answers_question": False,
            "answer_check": check,
            "warning": "the LLM backend was unreachable; answered with the extractive generator",
            "note": "3 more papers report speed-ups.",
        }
    )


@pytest.fixture(scope="module")
def meta_server(corpus_assistant):
    """The corpus app whose sources carry the metadata the index will give (see `uitools.with_metadata`)."""
    served = serve(Reshaped(corpus_assistant, with_metadata))
    yield served
    served.close()


def _new_page(browser, **kw):
    context = browser.new_context(viewport={"width": 1440, "height": 960}, **kw)
    page = context.new_page()
    page.set_default_timeout(120_000)
    return context, page


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_colour_meets_wcag_aa_contrast_in_both_schemes(corpus_assistant, chromium_browser, scheme):
    served = serve(Reshaped(corpus_assistant, _palette))
    context, page = _new_page(chromium_browser, color_scheme=scheme)
    low: dict[str, dict] = {}
    seen: set[str] = set()
    try:
        for question, parts in (
            (S4_QUESTION, ANSWER_PARTS + CARD_PARTS + ["#rag-sources .src-byline", "#rag-sources mark.support"]),
            (SWITCH_QUESTION, ANSWER_PARTS + CARD_PARTS + PALETTE_PARTS),
            (REFUSED_QUESTION, ["#rag-chat .rag-badge.refusal", "#rag-chat .rag-answer p", *CARD_PARTS[:4]]),
        ):
            if question != S4_QUESTION:
                page.fill("#rag-question textarea", question)
                page.click("#rag-send")
                page.wait_for_function(
                    "n => document.querySelectorAll('#rag-chat .rag-answer.rag-answered, #rag-chat .rag-refusal')"
                    ".length >= n",
                    arg=2 if question == SWITCH_QUESTION else 3,
                )
                page.wait_for_timeout(300)
            else:
                ask(page, served.url, question)
            assert page.evaluate("document.body.classList.contains('dark')") == (scheme == "dark")
            ratios = page.evaluate(CONTRAST, parts)
            for selector, worst in ratios.items():
                if worst is not None:
                    seen.add(selector)
                    if worst["ratio"] < 4.5:
                        low[f"{question[:20]} {selector}"] = worst
    finally:
        context.close()
        served.close()
    assert not low, f"below WCAG AA (4.5:1) in the {scheme} scheme: {json.dumps(low, indent=1)}"
    assert set(ANSWER_PARTS + CARD_PARTS + PALETTE_PARTS + ["#rag-chat .rag-badge.refusal"]) <= seen


def _cite_order(page) -> list[int]:
    """The [n] markers of the latest answer in order of first appearance."""
    numbers = page.eval_on_selector_all(
        "#rag-chat .rag-answer:last-of-type .cite",
        "els => els.filter(e => !e.closest('.rag-note')).map(e => parseInt(e.textContent.slice(1)))",
    )
    return list(dict.fromkeys(numbers))


def test_citations_are_numbered_1_2_3_in_text_cards_api_and_cli(ui_server, page, corpus_home, shared_model):
    client = Client(ui_server.url, verbose=False)
    for question in (LIST_QUESTION, S4_QUESTION, SWITCH_QUESTION):
        ask(page, ui_server.url, question)
        order = _cite_order(page)
        assert order == list(range(1, len(order) + 1)) and order, f"{question}: markers {order}"
        group = page.locator("#rag-sources .src-group:not([hidden])")
        numbers = group.locator(".src-card .src-n").all_inner_texts()
        assert numbers == [f"[{n}]" for n in order]
        count = len(order)
        assert group.locator(".src-head").inner_text().lower() == f"{count} cited paper{'s' if count != 1 else ''}"
        titles = group.locator(".src-card .src-title").all_inner_texts()
        api = client.predict(question, api_name="/ask")
        assert [c["n"] for c in api["citations"]] == order
        assert [c["title"] for c in api["citations"]] == titles
        assert [s["rank"] for s in api["sources"][:count]] == order  # cited sources first, in the same order
        result = CliRunner().invoke(
            cli_app,
            ["ask", question, "--json", "--generator", "extractive"],
            env={"RAG_HOME": str(corpus_home)},
            catch_exceptions=False,
        )
        cli = json.loads(result.stdout)
        assert [(c["n"], c["title"]) for c in cli["citations"]] == list(zip(order, titles, strict=True))
        markers = list(dict.fromkeys(int(n) for n in re.findall(r"\[(\d+)\]", cli["answer"])))
        assert markers == order


def test_copy_puts_markdown_with_its_references_on_the_clipboard(meta_server, chromium_browser):
    context, page = _new_page(chromium_browser, permissions=["clipboard-read", "clipboard-write"])
    try:
        ask(page, meta_server.url, SWITCH_QUESTION)
        answer_text = page.inner_text("#rag-chat .rag-answer p")
        page.click("#rag-chat .rag-answer button.rag-copy")
        page.wait_for_function("document.querySelector('#rag-chat button.rag-copy').textContent === 'Copied'")
        copied = page.evaluate("navigator.clipboard.readText()")
    finally:
        context.close()
    assert "<" not in copied.replace("<https://", "").replace(">\n", "\n"), copied  # text, not the message's HTML
    body, refs = copied.split("References:")
    assert body.strip().startswith(answer_text.replace(" [1]", "")[:40].strip())
    assert "[1]" in body
    assert "- [1] William Fedus, Barret Zoph and Noam Shazeer (2021). *Switch Transformers" in refs
    assert "arXiv:2101.03961" in refs and "<https://arxiv.org/abs/2101.03961>" in refs


def test_export_downloads_the_conversation_as_markdown_with_bibtex(meta_server, page, tmp_path):
    ask(page, meta_server.url, SWITCH_QUESTION)
    page.fill("#rag-question textarea", S4_QUESTION)
    page.click("#rag-send")
    page.wait_for_function("document.querySelectorAll('#rag-chat .rag-answer.rag-answered').length >= 2")
    page.wait_for_selector("#rag-export:not([disabled]), #rag-export button:not([disabled])")
    page.wait_for_timeout(500)
    with page.expect_download() as info:
        page.click("#rag-export")
    download = info.value
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    text = saved.read_text(encoding="utf-8")
    assert download.suggested_filename.endswith(".md")
    assert f"## 1. {SWITCH_QUESTION}" in text and f"## 2. {S4_QUESTION}" in text
    assert text.count("References:") == 2 and "- [1] William Fedus" in text
    bib = re.search(r"```bibtex\n(.*?)\n```", text, re.S).group(1)
    assert "@misc{fedus2021switch," in bib and "@misc{gu2021efficiently," in bib
    assert "eprint = {2111.00396}" in bib and "doi = {10.48550/arXiv.2111.00396}" in bib
    assert "author = {William Fedus and Barret Zoph and Noam Shazeer}" in bib


def test_card_shows_authors_year_readable_source_and_links(meta_server, page, make_assistant, tmp_path):
    ask(page, meta_server.url, SWITCH_QUESTION)
    card = page.locator("#rag-sources .src-group:not([hidden]) .src-card", has_text="Switch Transformers").first
    assert card.locator(".src-byline").inner_text() == "William Fedus, Barret Zoph and Noam Shazeer (2021)"
    meta = card.locator(".src-meta").first.inner_text()
    assert meta.startswith("Daily Papers, Mar 11") and ".txt" not in meta
    link = card.locator(".src-title a")
    assert link.get_attribute("href") == "https://arxiv.org/abs/2101.03961"
    assert link.get_attribute("target") == "_blank" and "noopener" in link.get_attribute("rel")
    # a paper's own url, from an uploaded file, through the real pipeline
    papers = tmp_path / "linked.jsonl"
    row = {
        "title": "Platypus Networks",
        "abstract": "Platypus networks detect electric fields in murky rivers with spiking sensors.",
        "url": "https://example.org/platypus",
        "authors": "Ann Lee, Bo Chen",
    }
    papers.write_text(json.dumps(row) + "\n")
    assistant = make_assistant()
    assistant.ingest([papers])
    served = serve(assistant)
    try:
        ask(page, served.url, "How do platypus networks detect electric fields?")
        card = page.locator("#rag-sources .src-card").first
        assert card.locator(".src-title a").get_attribute("href") == "https://example.org/platypus"
        shown = assistant.ask("How do platypus networks detect electric fields?").sources[0]
        byline = card.locator(".src-byline")
        if shown.authors:  # filled by the index once it reads authors: the card shows what the answer carries
            assert byline.inner_text().startswith(shown.authors[0])
        else:
            assert byline.count() == 0
        assert "linked.jsonl" in card.locator(".src-meta").inner_text()  # the file name until labels exist
    finally:
        served.close()


TEXTS = "els => els.map(e => e.textContent)"  # MathML elements have no innerText
LATEX_ROWS = [
    {
        "title": "Kangaroo State Spaces \\( x'(t) = Ax(t) + Bu(t) \\) for Hopping Robots",
        "abstract": "Kangaroo state spaces model hopping with a linear system in $O(n \\log n)$ time. "
        "A hostile formula \\( \\href{javascript:window.__pwned=1}{click} \\) stays inert. "
        'So does $$\\htmlData{onclick=alert(1)}{x}$$ and <img src=x onerror="window.__pwned=2">.',
    },
    {"title": "Wombat Vision", "abstract": "Wombat vision models detect burrows in aerial photographs reliably."},
]


def test_latex_in_titles_and_abstracts_is_typeset_and_stays_inert(ui_server, page, make_assistant, tmp_path):
    ask(page, ui_server.url, S4_QUESTION)  # the bundled S4 abstract writes its SSM in \( ... \)
    page.wait_for_function("window.__ragKatex === true")
    s4 = page.locator("#rag-sources .src-card", has_text="Efficiently Modeling Long Sequences").first
    tex = s4.locator(".src-abstract .katex annotation").evaluate_all(TEXTS)
    assert "x'(t) = Ax(t) + Bu(t), y(t) = Cx(t) + Du(t)" in tex
    assert "\\(" not in s4.locator(".src-abstract").inner_text()
    papers = tmp_path / "latex.jsonl"
    papers.write_text("\n".join(json.dumps(r) for r in LATEX_ROWS) + "\n")
    assistant = make_assistant()
    assistant.ingest([papers])
    served = serve(assistant)
    try:
        ask(page, served.url, "How do kangaroo state spaces model hopping?")
        card = page.locator("#rag-sources .src-card", has_text="Kangaroo").first
        title_math = card.locator(".src-title .katex")
        assert title_math.locator("annotation").evaluate_all(TEXTS) == ["x'(t) = Ax(t) + Bu(t)"]
        assert title_math.locator(".katex-html").bounding_box()["width"] > 40  # typeset, not raw source
        assert "O(n \\log n)" in card.locator(".src-abstract .katex annotation").evaluate_all(TEXTS)
        for where in ("Search",):
            page.click(f"button[role=tab]:has-text('{where}')")
            page.fill("input[placeholder^='Search titles'], textarea[placeholder^='Search titles']", "kangaroo")
            page.keyboard.press("Enter")
            page.wait_for_selector(".src-card.hit .src-title .katex")
        page.wait_for_timeout(300)
        assert page.evaluate("typeof window.__pwned") == "undefined"
        assert page.locator("a[href^='javascript']").count() == 0
        assert page.locator("#rag-sources img, .src-card.hit img").count() == 0
    finally:
        served.close()


def test_the_session_endpoint_answers_the_next_question(corpus_home, embeddings, page):
    seen: list[dict] = []

    def quote_first_source(request):
        abstract = re.search(r"\[1\] [^\n]*\n([^\n]+)", last_user_text(request)).group(1)
        return Reply(text=split_sentences(abstract)[0].rstrip(".") + " [1].")

    settings = Settings(home=corpus_home, generator="extractive", openai_api_key="sk-env-secret-123", llm_retries=0)
    with FakeLLMServer(default=quote_first_source) as llm:
        served = serve(Assistant(settings, embeddings=embeddings))
        try:
            page.goto(served.url)
            page.click("button[role=tab]:has-text('Settings')")
            page.fill("#rag-llm-url input, #rag-llm-url textarea", llm.base_url)
            page.fill("#rag-llm-model input, #rag-llm-model textarea", "session-model")
            page.click("#rag-llm-apply")
            page.wait_for_selector("#rag-llm-status .rag-status.ok")
            assert "without the environment's API key" in page.inner_text("#rag-llm-status")
            assert "(this session)" in page.inner_text("#rag-config")
            page.click("button[role=tab]:has-text('Chat')")
            page.fill("#rag-question textarea", "What does the Switch Transformer do?")
            page.click("#rag-send")
            page.wait_for_selector("#rag-chat .rag-answer.rag-answered")
            assert "openai" in page.inner_text("#rag-chat .rag-answer .rag-foot")
            seen = list(llm.requests)
            assert page.content().count("sk-env-secret-123") == 0
            page.click("button[role=tab]:has-text('Settings')")
            page.click("#rag-llm-reset")
            page.wait_for_selector("#rag-llm-status .rag-status.info")
            page.click("button[role=tab]:has-text('Chat')")
            page.fill("#rag-question textarea", "What speed-ups does it report?")
            page.click("#rag-send")
            page.wait_for_function("document.querySelectorAll('#rag-chat .rag-answer.rag-answered').length >= 2")
            last_foot = page.locator("#rag-chat .rag-answer .rag-foot").last.inner_text()
            after = len(llm.requests)
        finally:
            served.close()
    chats = [r for r in seen if r.path.endswith("/chat/completions")]
    assert chats and all(r.json["model"] == "session-model" for r in chats)
    assert all("sk-env-secret-123" not in json.dumps(r.headers) for r in seen)  # the key stays home
    assert "extractive" in last_foot and after == len(seen)  # back to the configured generator


def test_browse_filter_page_open_and_delete_a_paper(make_assistant, page, tmp_path):
    papers = tmp_path / "many.jsonl"
    rows = [
        {"title": f"Marsupial Study {i:02d}", "abstract": f"Study {i} of marsupial locomotion on rough terrain."}
        for i in range(24)
    ]
    rows.append({"title": "Wombat Vision", "abstract": "Wombat vision models detect burrows in aerial photographs."})
    papers.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assistant = make_assistant()
    assistant.ingest([papers])
    served = serve(assistant)
    try:
        page.goto(served.url)
        page.click("button[role=tab]:has-text('Collection')")
        count = page.locator("#rag-paper-count")
        page.wait_for_function("document.querySelector('#rag-paper-count').innerText.includes('25 papers')")
        assert "page 1 of 2 · 20 shown" in count.inner_text()
        page.click("#rag-page-next")
        page.wait_for_function("document.querySelector('#rag-paper-count').innerText.includes('page 2 of 2')")
        assert "5 shown" in count.inner_text()
        page.fill("#rag-paper-filter input, #rag-paper-filter textarea", "wombat")
        page.wait_for_function("document.querySelector('#rag-paper-count').innerText.includes('1 paper matches')")
        page.locator("#rag-papers [role=gridcell]", has_text="Wombat Vision").first.click()
        page.wait_for_selector("#rag-paper .paper-detail")
        assert "detect burrows in aerial photographs" in page.inner_text("#rag-paper")
        page.click("#rag-delete")
        page.wait_for_selector("#rag-confirm:visible")
        assert "Wombat Vision" in page.inner_text("#rag-confirm")
        page.click("#rag-cancel-delete")
        page.wait_for_selector("#rag-confirm", state="hidden")
        assert assistant.stats()["papers"] == 25
        page.click("#rag-delete")
        page.click("#rag-confirm-delete")
        page.wait_for_selector("#rag-delete-status .rag-status.ok")
        assert "Deleted “Wombat Vision”. 24 papers left." in page.inner_text("#rag-delete-status")
        page.wait_for_function("document.querySelector('#rag-paper-count').innerText.includes('No paper matches')")
        page.wait_for_function("document.querySelector('.rag-stats').innerText.includes('24')")
        assert "About 24" in page.inner_text("#rag-header") or "24 machine-learning" in page.inner_text("#rag-header")
    finally:
        served.close()
    assert assistant.stats()["papers"] == 24
    assert all("Wombat" not in s.title for s in assistant.search("wombat burrows aerial photographs", k=25))
    assert assistant.index.dense.open().count() == assistant.stats()["chunks"]


def test_no_conversation_label_sits_over_the_chat(ui_server, page):
    ask(page, ui_server.url, LIST_QUESTION)
    labels = page.locator("#rag-chat label, #rag-chat [data-testid='block-label']")
    assert all(not label.is_visible() for label in labels.all())
