"""The UI's HTML: escaping of untrusted text, linked [n] markers, highlighted support, marked unsupported sentences."""

from __future__ import annotations

import re

import pytest

from rag.types import Answer, Citation, Grounding, PaperRef, Source
from ui import cards, render

EVIL = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'


def _source(rank: int, title: str, text: str, **kw) -> Source:
    return Source(rank=rank, title=title, paper_id=f"p{rank}", score=1.0 / rank, text=text, sources=["a.jsonl"], **kw)


def _answer(**kw) -> dict:
    s1 = _source(1, "Fast Sampling", "Intro sentence. We cut sampling steps to 4. Outro sentence.", date="Mar 11")
    s2 = _source(2, "Other Paper", "Something else entirely. It uses 8 GPUs.")
    base = {
        "question": "how fast?",
        "answer": "It cuts sampling to 4 steps [1]. It runs on 9 GPUs [2].",
        "citations": [
            Citation(n=1, title=s1.title, paper_id=s1.paper_id, supporting="We cut sampling steps to 4."),
            Citation(n=2, title=s2.title, paper_id=s2.paper_id, supporting="It uses 8 GPUs."),
        ],
        "sources": [s1, s2],
        "grounding": Grounding(
            supported_fraction=0.5,
            unsupported_sentences=["It runs on 9 GPUs."],
            sentence_scores=[
                {
                    "sentence": "It cuts sampling to 4 steps.",
                    "cited": [1],
                    "score": 0.9,
                    "supported": True,
                    "best_evidence": "We cut sampling steps to 4.",
                },
                {
                    "sentence": "It runs on 9 GPUs.",
                    "cited": [2],
                    "score": 0.5,
                    "supported": False,
                    "best_evidence": "It uses 8 GPUs.",
                },
            ],
        ),
        "generator": "extractive",
        "timings_ms": {"retrieve": 5.0, "generate": 5.0, "total": 1234.0},
    }
    base.update(kw)
    return Answer(**base).model_dump(mode="json")


def _no_live_markup(html: str) -> None:
    """No tag or handler that came from the untrusted text survives as markup."""
    assert "<script" not in html.lower()
    assert "<img" not in html.lower()
    assert not re.search(r"<[^>]*\sonerror\s*=", html, re.I)


def test_esc_escapes_markup_and_quotes():
    assert render.esc('<a href="x">&</a>') == "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;"
    assert render.esc(None) == ""


def test_markers_of_the_latest_answer_link_to_their_cards():
    html = render.answer_html(_answer())
    assert '<a class="cite" href="#src-1"' in html and '<a class="cite" href="#src-2"' in html


def test_markers_of_older_answers_are_not_links():
    html = render.answer_html(_answer(), linked=False)
    assert "href=" not in html
    assert '<span class="cite">[1]</span>' in html


def test_markers_of_a_numbered_answer_link_to_that_answers_own_cards():
    html = render.answer_html(_answer(), turn=3)
    assert '<a class="cite" href="#src-3-1"' in html and '<a class="cite" href="#src-3-2"' in html
    panel = cards.sources_html(_answer(), turn=3)
    assert 'id="src-3-1"' in panel and 'id="src-3-2"' in panel


def test_the_resolved_reference_is_shown_only_when_something_was_resolved():
    plain = render.answer_html(_answer())
    assert "searched as" not in plain and "about:" not in plain
    same = render.answer_html(_answer(standalone_question=None, about=[]))
    assert "rag-resolved" not in same
    resolved = render.answer_html(
        _answer(
            question="how fast is it?",
            standalone_question="how fast is Fast Sampling?",
            about=[PaperRef(paper_id="p1", title="Fast Sampling <b>")],
        )
    )
    line = re.search(r'<div class="rag-resolved">(.*?)</div>', resolved).group(1)
    assert line == "searched as: how fast is Fast Sampling? · about: <em>Fast Sampling &lt;b&gt;</em>"


def test_a_marker_without_a_citation_is_not_linked():
    html = render.answer_html(_answer(answer="It cuts sampling to 4 steps [1] [3]."))
    assert 'href="#src-3"' not in html and "[3]" in html


def test_unsupported_sentences_are_marked_in_the_answer():
    html = render.answer_html(_answer())
    marked = re.findall(r'<span class="unsupported"[^>]*>(.*?)</span>(?!</span>)', html)
    assert len(marked) == 1
    assert "9 GPUs" in marked[0] and "4 steps" not in marked[0]
    assert "1 sentence not supported by the cited abstracts" in html


def test_sentence_span_finds_a_sentence_whose_marker_sits_before_the_period():
    answer = "First one [1]. Second one. [2]\nThird, with [1][2] inside."
    assert answer[slice(*render.sentence_span(answer, "First one."))] == "First one [1]."
    assert answer[slice(*render.sentence_span(answer, "Second one."))] == "Second one. [2]"
    assert answer[slice(*render.sentence_span(answer, "Third, with inside."))] == "Third, with [1][2] inside."
    assert render.sentence_span(answer, "Not there.") is None


def test_refusal_is_shown_as_such_with_related_papers():
    related = [_source(1, "Closest Paper", "Some abstract.")]
    ans = _answer(
        answer="The collection does not answer this question.",
        refused=True,
        citations=[],
        related=related,
        grounding=Grounding(),
    )
    html = render.answer_html(ans)
    assert "Not answered by the collection" in html and "Closest Paper" in html
    panel = cards.sources_html(ans)
    assert "No citations" in panel and "Closest Paper" in panel and 'id="src-' not in panel


def test_warning_is_visible():
    html = render.answer_html(_answer(warning="LLM backend unreachable; fell back to extractive"))
    assert 'class="rag-warning"' in html and "fell back to extractive" in html


def test_source_cards_have_anchors_highlights_and_supported_sentences():
    panel = cards.sources_html(_answer())
    assert 'id="src-1"' in panel and 'id="src-2"' in panel
    assert '<mark class="support">We cut sampling steps to 4.</mark>' in panel
    assert "a.jsonl · Mar 11 · score 1.000" in panel
    card2 = panel[panel.index('id="src-2"') :]
    assert '<li class="unsupported">It runs on 9 GPUs.' in card2 and "not supported" in card2
    assert panel.index('id="src-1"') < panel.index('id="src-2"')


def test_untrusted_text_everywhere_is_escaped():
    s = _source(1, f"Title {EVIL}", f"Abstract sentence. {EVIL} More.", url="javascript:alert(1)")
    ans = Answer(
        question=EVIL,
        answer=f"Quote {EVIL} [1].",
        citations=[Citation(n=1, title=s.title, paper_id=s.paper_id, supporting=f"{EVIL} More.")],
        sources=[s],
        grounding=Grounding(sentence_scores=[{"sentence": f"Quote {EVIL}.", "cited": [1], "supported": False}]),
        warning=EVIL,
        standalone_question=EVIL,
        about=[PaperRef(paper_id=s.paper_id, title=s.title)],
    ).model_dump(mode="json")
    pieces = [
        render.user_html(EVIL),
        render.answer_html(ans),
        render.streaming_html(f"partial {EVIL} [1]"),
        cards.sources_html(ans),
        cards.sources_panel([(1, EVIL, ans), (2, EVIL, ans)]),
        cards.search_html("script onerror", [s.model_dump()]),
        render.error_html(EVIL),
        render.stats_html({"papers": 1, "sources": {EVIL: 1}, "embedding_model": EVIL}),
    ]
    for html in pieces:
        _no_live_markup(html)
        assert "&lt;script&gt;" in html or "&lt;" in html
    assert "javascript:" not in cards.sources_html(ans)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://arxiv.org/abs/1", "https://arxiv.org/abs/1"),
        ("javascript:alert(1)", None),
        ("data:text/html,x", None),
        ("//evil", None),
        (None, None),
    ],
)
def test_only_http_links_are_rendered(url, expected):
    assert render.safe_url(url) == expected


def test_search_highlights_query_words_but_not_stopwords():
    hit = _source(1, "Diffusion Models for Audio", "We train diffusion-based models. The models of the world.")
    html = cards.search_html("which papers use diffusion models", [hit.model_dump()])
    assert '<mark class="hit">Diffusion</mark>' in html and '<mark class="hit">diffusion</mark>-based' in html
    assert '<mark class="hit">models</mark>' in html
    assert '<mark class="hit">which' not in html and '<mark class="hit">the</mark>' not in html
    assert 'id="hit-1"' in html


def test_marked_merges_overlapping_spans_and_escapes_inside():
    assert cards.marked("a <b> c", [(0, 3), (2, 5)], "x") == '<mark class="x">a &lt;b&gt;</mark> c'


def test_find_passage_tolerates_whitespace_and_case():
    text = "One.  Two   words here. Three."
    assert cards.find_passage(text, "two words HERE.") == (6, 23)
    assert cards.find_passage(text, "") is None


def test_settings_panel_shows_model_and_url_but_never_credentials():
    public = {
        "generator": "auto",
        "resolved_generator": "openai",
        "llm_model": "gpt-4o-mini",
        "llm_base_url": "https://user:hunter2@llm.local:8000/v1?token=abc",
        "openai_api_key_set": True,
    }
    html = render.settings_html(public)
    assert "gpt-4o-mini" in html and "https://llm.local:8000/v1" in html
    assert "hunter2" not in html and "token=abc" not in html and ">set in the environment<" in html


def test_stats_lists_sources_and_counts():
    html = render.stats_html({"papers": 1200, "chunks": 3000, "sources": {"a.jsonl": 1200}, "updated_at": None})
    assert "1,200" in html and "a.jsonl" in html and "never" in html
