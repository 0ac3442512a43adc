"""Pure parts of the UI without a browser: Markdown and BibTeX export, LaTeX segmentation, cards with metadata,
the session's LLM endpoint (where the API key may go), and the Collection tab's filter and pages."""

from __future__ import annotations

import re

import pytest

from rag import Settings
from rag.types import Answer, Citation, Grounding, Source
from ui import cards, collection, export, latex, settings_tab

S4 = Source(
    rank=1,
    title="Efficiently Modeling Long Sequences with Structured State Spaces",
    paper_id="s4",
    score=0.9,
    text="We propose S4. The SSM \\( x'(t) = Ax(t) + Bu(t) \\) is simulated.",
    sources=["001_bf2de4deb3b23c5a.txt"],
    date="Aug 14",
    authors=["Albert Gu", "Karan Goel", "Christopher Ré"],
    year=2021,
    arxiv_id="2111.00396",
    doi="10.48550/arXiv.2111.00396",
    categories=["cs.LG"],
    source_labels=["Daily Papers, Aug 14"],
)
BARE = Source(rank=2, title="A Paper With { Brace", paper_id="bare", score=0.5, text="Plain text.", sources=["a.jsonl"])


def _answer(**kw) -> dict:
    base = {
        "question": "What is S4?",
        "answer": "S4 simulates an SSM [1]. Another paper exists [2].",
        "citations": [
            Citation(n=1, title=S4.title, paper_id="s4", supporting="We propose S4."),
            Citation(n=2, title=BARE.title, paper_id="bare", supporting="Plain text."),
        ],
        "sources": [S4, BARE],
        "grounding": Grounding(),
        "note": "2 more papers match.",
    }
    base.update(kw)
    return Answer(**base).model_dump(mode="json")


def test_answer_markdown_is_the_text_with_its_reference_list():
    md = export.answer_markdown(_answer())
    assert md.startswith("S4 simulates an SSM [1]. Another paper exists [2].\n\n*2 more papers match.*")
    refs = md[md.index("References:") :].splitlines()[2:]
    assert refs[0].startswith("- [1] Albert Gu, Karan Goel and Christopher Ré (2021). *Efficiently Modeling")
    assert "arXiv:2111.00396" in refs[0] and "doi:10.48550/arXiv.2111.00396" in refs[0]
    assert refs[1] == "- [2] *A Paper With { Brace*."
    assert "<" not in md.replace("<https://", "")  # Markdown, not HTML


def test_a_refusal_exports_its_closest_papers_as_not_citations():
    md = export.answer_markdown(
        _answer(answer="The collection does not answer this.", refused=True, citations=[], related=[S4])
    )
    assert "References" not in md and "Closest papers (not citations):" in md and "- Albert Gu" in md


def test_bibtex_has_one_entry_per_paper_and_marks_the_ones_without_metadata_incomplete_and_they_parse_back():
    bib = export.bibtex([S4.model_dump(), BARE.model_dump(), S4.model_dump()])
    assert bib.count("@misc{") == 2  # the repeated one is written once
    assert bib.startswith("@misc{gu2021efficiently,")
    complete, bare = bib.split("@misc{")[1:]
    assert "note" not in complete and "howpublished" not in complete
    assert bare.startswith("paper,") and "title = {A Paper With \\{ Brace}" in bare
    assert "howpublished = {a.jsonl}" in bare and f"note = {{{export.INCOMPLETE}}}" in bare
    for field in (
        "author = {Albert Gu and Karan Goel and Christopher R\\'e}",
        "year = 2021",
        "eprint = {2111.00396}",
        "archivePrefix = {arXiv}",
        "primaryClass = {cs.LG}",
        "doi = {10.48550/arXiv.2111.00396}",
        "url = {https://arxiv.org/abs/2111.00396}",
    ):
        assert field in bib
    odd = {"title": "100% $O(n)$ & a { brace", "paper_id": "x", "year": 2020, "authors": ["Zoë Ng"]}
    import bibtexparser
    from bibtexparser import middlewares as mw

    parsed = bibtexparser.parse_string(export.bibtex([odd]), append_middleware=[mw.LatexDecodingMiddleware()])
    assert not parsed.failed_blocks
    entry = parsed.entries[0]
    assert (entry.key, entry["title"], entry["author"]) == ("ng2020100", odd["title"], "Zoë Ng")


def test_conversation_markdown_has_every_turn_and_bibtex():
    turns = [
        {"question": "What is S4?", "answer": _answer(), "error": None},
        {"question": "Broken one", "answer": None, "error": "Could not answer: backend down"},
    ]
    md = export.conversation_markdown(turns)
    assert "## 1. What is S4?" in md and "## 2. Broken one" in md and "> Could not answer: backend down" in md
    assert md.index("## 1.") < md.index("References:") < md.index("## 2.") < md.index("## BibTeX")
    assert re.search(r"```bibtex\n@misc\{gu2021efficiently,.*?\n```", md, re.S)
    assert "1 of the 2 entries below is incomplete (title and source only)" in md
    none = export.conversation_markdown([{"question": "q", "answer": _answer(sources=[BARE], citations=[])}])
    assert "No paper was cited in this conversation" in none and "```bibtex" not in none


def test_a_conversation_citing_only_dump_papers_still_exports_bibtex_saying_it_is_incomplete():
    dump = BARE.model_copy(
        update={"title": "Gaussian Mixture Convolution Networks", "source_labels": ["Daily Papers (dump 3)"]}
    )
    answer = _answer(
        answer="It convolves mixtures [1].",
        citations=[Citation(n=1, title=dump.title, paper_id="bare", supporting="Plain text.")],
        sources=[dump],
    )
    md = export.conversation_markdown([{"question": "What are GMCNs?", "answer": answer, "error": None}])
    assert "The entry below is incomplete (title and source only)" in md and "(the Daily Papers dumps give none)" in md
    bib = re.search(r"```bibtex\n(.*?)\n```", md, re.S).group(1)
    assert bib.startswith("@misc{gaussian,") and "title = {Gaussian Mixture Convolution Networks}" in bib
    assert "howpublished = {Daily Papers (dump 3)}" in bib


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a \\( x^2 \\) b", [("a ", None), ("x^2", "inline"), (" b", None)]),
        ("costs $5 and $10 today", [("costs $5 and $10 today", None)]),
        ("loss $O(n^2)$.", [("loss ", None), ("O(n^2)", "inline"), (".", None)]),
        ("$$\\sum_i x_i$$", [("\\sum_i x_i", "display")]),
        ("\\[a+b\\] end", [("a+b", "display"), (" end", None)]),
        ("lost $sum_{i=1}^k w_i, i.e. no end", [("lost $sum_{i=1}^k w_i, i.e. no end", None)]),
    ],
)
def test_split_math_finds_formulas_but_not_prices_or_stray_dollars(text, expected):
    assert latex.split_math(text) == expected


def test_formulas_go_out_as_escaped_source_for_katex_and_markers_inside_stay_math():
    html = latex.esc_math("see \\( a<b \\href{javascript:alert(1)}{x} \\) <img src=x>")
    assert '<span class="rag-math">a&lt;b \\href{javascript:alert(1)}{x}</span>' in html
    assert "<img" not in html and "&lt;img src=x&gt;" in html
    from ui import render

    answer = render.answer_html(_answer(answer="Index \\( a[1] \\) is cited [1]."))
    assert '<span class="rag-math">a[1]</span>' in answer and 'href="#src-1"' in answer


def test_a_highlight_never_cuts_a_formula_in_two():
    text = "First. The SSM \\( x'(t) = Ax(t) \\) is linear. Last."
    html = cards.marked(text, [(7, 20)], "support")  # ends inside the formula
    assert '<mark class="support">The SSM <span class="rag-math">x&#x27;(t) = Ax(t)</span></mark>' in html


def test_card_shows_authors_year_label_and_links():
    html = cards.sources_html(_answer())
    card = html[html.index('id="src-1"') : html.index('id="src-2"')]
    assert '<div class="src-byline" title="Albert Gu, Karan Goel, Christopher Ré">' in card
    assert "Albert Gu, Karan Goel and Christopher Ré (2021)" in card
    assert "Daily Papers, Aug 14 · score" in card and "001_bf2de4deb3b23c5a.txt" not in card
    assert '<a href="https://arxiv.org/abs/2111.00396" target="_blank" rel="noopener noreferrer">' in card
    assert 'href="https://doi.org/10.48550/arXiv.2111.00396"' in card
    bare = html[html.index('id="src-2"') :]
    assert "src-byline" not in bare and "a.jsonl" in bare and "<a href" not in bare  # the file name as label


def test_the_answer_carries_its_markdown_and_a_copy_button():
    from ui import render

    html = render.answer_html(_answer(answer="Quote <b>bold</b> [1]."))
    assert '<button class="rag-copy" type="button"' in html
    md = re.search(r'<pre class="rag-md" hidden>(.*?)</pre>', html, re.S).group(1)
    assert md.startswith("Quote &lt;b&gt;bold&lt;/b&gt; [1].") and "References:" in md


def test_the_environment_key_goes_only_to_the_endpoint_it_was_configured_for(tmp_path):
    keyed = Settings(home=tmp_path, openai_api_key="sk-env-secret", llm_base_url="http://llm.local:8000/v1")
    same, msg = settings_tab.session_endpoint("http://llm.local:8000/v1/", "m2", keyed)
    assert same == {"base_url": "http://llm.local:8000/v1/", "model": "m2", "send_key": True} and "rag-status ok" in msg
    other, msg = settings_tab.session_endpoint("http://127.0.0.1:9999/v1", "", keyed)
    assert other["send_key"] is False and other["model"] == keyed.llm_model and "without" in msg
    openai_default = Settings(home=tmp_path, openai_api_key="sk-env-secret")
    assert settings_tab.session_endpoint("https://api.openai.com/v1", "gpt-x", openai_default)[0]["send_key"] is True
    for bad in ("javascript:alert(1)", "ftp://x/v1", "not a url", "http://user:pw@llm.local/v1"):
        endpoint, msg = settings_tab.session_endpoint(bad, "m", keyed)
        assert endpoint is None and "rag-status error" in msg
    assert "sk-env-secret" not in msg


def test_session_views_share_the_index_and_drop_the_key_for_other_endpoints(tmp_path, fake_embeddings):
    from rag import Assistant

    base = Assistant(Settings(home=tmp_path / "i", openai_api_key="sk-env-secret"), embeddings=fake_embeddings)
    views = settings_tab.SessionViews(base, limit=2)
    assert views.get(None) is base
    view = views.get({"base_url": "http://127.0.0.1:1/v1", "model": "m", "send_key": False})
    assert view.index is base.index and view.settings.openai_api_key is None
    assert view.settings.llm_base_url == "http://127.0.0.1:1/v1" and view.settings.resolved_generator == "openai"
    assert views.get({"base_url": "http://127.0.0.1:1/v1", "model": "m", "send_key": False}) is view
    keyed = views.get({"base_url": "https://api.openai.com/v1", "model": "m", "send_key": True})
    assert keyed.settings.openai_api_key.get_secret_value() == "sk-env-secret"
    views.get({"base_url": "http://127.0.0.1:2/v1", "model": "m", "send_key": False})
    assert len(views._views) == 2  # bounded
    with pytest.raises(ValueError, match="home"):
        base.with_settings(home=tmp_path / "elsewhere")


def test_collection_filter_and_pages():
    papers = [
        {"paper_id": f"p{i}", "title": f"Paper {i:02d}", "authors": ["Ada Lovelace"] if i == 7 else [], "sources": []}
        for i in range(45)
    ]
    assert [p["paper_id"] for p in collection.filter_papers(papers, "lovelace")] == ["p7"]
    assert [p["paper_id"] for p in collection.filter_papers(papers, "LOVELACE paper")] == ["p7"]  # every word
    assert [p["paper_id"] for p in collection.filter_papers(papers, "paper 07")] == ["p7"]
    assert collection.filter_papers(papers, "lovelace babbage") == []
    rows, page, pages = collection.page_of(papers, 3)
    assert (len(rows), page, pages) == (5, 3, 3)
    assert collection.page_of(papers, 99)[1] == 3 and collection.page_of(papers, 0)[1] == 1
    assert collection.page_of([], 1) == ([], 1, 1)
    assert "45 papers in the index · page 3 of 3 · 5 shown" in collection.page_label(45, 5, 3, 3, "")


def test_settings_text_says_how_retrieval_really_fuses(tmp_path):
    from ui import render

    convex = render.settings_html(Settings(home=tmp_path).public_dict())
    assert "convex fusion" in convex and "0.30 dense + 0.70 BM25" in convex and "RRF" not in convex
    rrf = render.settings_html(Settings(home=tmp_path, fusion="rrf").public_dict())
    assert "reciprocal rank fusion (k=60)" in rrf
