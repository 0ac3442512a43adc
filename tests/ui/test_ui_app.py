"""The app built without a server: its endpoints, the conversation state, and the upload path of the Collection tab."""

from __future__ import annotations

import json

import gradio as gr
import pytest

from rag import Assistant, Settings
from ui import app


@pytest.fixture(scope="module")
def demo(tmp_path_factory, embeddings) -> gr.Blocks:
    home = tmp_path_factory.mktemp("ui-app") / "index"
    return app.create_app(Assistant(Settings(home=home, generator="extractive"), embeddings=embeddings))


def test_create_app_builds_blocks_with_the_named_api(demo):
    assert isinstance(demo, gr.Blocks)
    config = demo.get_config_file()
    public = {d["api_name"] for d in config["dependencies"] if d.get("api_visibility", "public") == "public"}
    assert public == {"chat", "ask", "search"}


def test_answering_endpoints_share_one_concurrency_group(demo):
    groups = {fn.api_name: fn.concurrency_id for fn in demo.fns.values() if fn.api_name in ("chat", "ask", "search")}
    assert groups["chat"] == groups["ask"] == "answer"
    assert groups["search"] == "retrieval"


def _turn(q: str, a: str | None, error: str | None = None, cites: tuple[str, ...] = ()) -> dict:
    citations = [{"n": n, "title": f"Paper {p}", "paper_id": p, "supporting": "s"} for n, p in enumerate(cites, 1)]
    sources = [
        {"rank": n, "title": f"Paper {p}", "paper_id": p, "score": 1.0, "text": "t"} for n, p in enumerate(cites, 1)
    ]
    answer = (
        None if a is None else {"question": q, "answer": a, "citations": citations, "sources": sources, "grounding": {}}
    )
    return {"question": q, "answer": answer, "partial": "", "error": error}


def test_history_holds_finished_turns_with_the_papers_each_answer_cited():
    turns = [_turn("q1 <b>", "a1 [1]", cites=("p1",)), _turn("q2", None, error="failed"), _turn("q3", None)]
    assert app.history_of(turns) == [
        {"role": "user", "content": "q1 <b>"},
        {"role": "assistant", "content": "a1 [1]", "citations": [{"n": 1, "paper_id": "p1", "title": "Paper p1"}]},
    ]


def test_every_answer_links_its_markers_to_its_own_cards():
    turns = [_turn("q1", "a1 [1]", cites=("p1",)), _turn("q2", "a2 [1] [2]", cites=("p2", "p3"))]
    messages = app.chat_messages(turns)
    assert 'href="#src-1-1"' in messages[1]["content"] and 'href="#src-2-2"' in messages[3]["content"]
    panel = app.sources_of(turns)
    first, second = panel.index('id="src-group-1"'), panel.index('id="src-group-2"')
    assert 'id="src-1-1"' in panel[first:second] and "Paper p1" in panel[first:second]
    assert 'id="src-2-1"' in panel[second:] and 'id="src-2-2"' in panel[second:] and "Paper p1" not in panel[second:]
    assert 'data-turn="1" hidden' in panel and 'data-turn="2">' in panel  # the latest answer's cards are shown
    pending = app.sources_of([*turns, _turn("q3", None)], pending=True)
    assert "Finding the papers" in pending and 'data-turn="2" hidden' in pending  # older cards stay reachable


def test_chat_messages_render_each_turn_escaped():
    turns = [_turn("q1 <b>", "a1"), _turn("q2", None, error="Could not answer: x"), _turn("q3", None)]
    messages = app.chat_messages(turns)
    assert [m["role"] for m in messages] == ["user", "assistant"] * 3
    assert "q1 &lt;b&gt;" in messages[0]["content"]
    assert "rag-error" in messages[3]["content"]
    assert "rag-pending" in messages[5]["content"]


def test_answer_options_pass_k_and_generator_to_the_chain():
    assert app.answer_options(7.0, "extractive") == {"k": 7, "generator": "extractive"}
    assert app.answer_options(None, None) == {}


def test_auth_pair_splits_at_the_first_colon(tmp_path):
    assert app.auth_pair(Settings(home=tmp_path)) is None
    assert app.auth_pair(Settings(home=tmp_path, ui_auth="ann:pa:ss")) == ("ann", "pa:ss")


def test_upload_with_a_bad_line_is_refused_with_its_line_number_and_nothing_is_written(make_assistant, tmp_path):
    bad = tmp_path / "papers.jsonl"
    good_row = {"title": "Tiny Paper", "abstract": "A tiny abstract about sparse attention for long documents."}
    bad.write_text(json.dumps(good_row) + "\n" + '{"title": "No abstract here", "abstract": \n')
    assistant = make_assistant()
    message, ok = app.validate_files([str(bad)])
    assert not ok
    assert "papers.jsonl:2:" in message and "invalid JSON" in message
    assert str(tmp_path) not in message  # the server's upload path is not shown, only the file's name
    message = app.ingest_files(assistant, [str(bad)])
    assert "nothing was written" in message and "papers.jsonl:2:" in message
    assert assistant.stats()["papers"] == 0


def test_csv_upload_without_the_header_names_line_1(tmp_path):
    bad = tmp_path / "papers.csv"
    bad.write_text("name,summary\nx,y\n")
    message, ok = app.validate_files([str(bad)])
    assert not ok and "papers.csv:1:" in message


def test_valid_upload_is_validated_then_ingested(make_assistant, tmp_path):
    good = tmp_path / "new.jsonl"
    rows = [
        {"title": "Sparse Attention for Long Documents", "abstract": "We make attention sparse over long documents."},
        {"title": "Tiny <b>Paper</b>", "abstract": "A tiny abstract about pruning convolutional networks quickly."},
    ]
    good.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    message, ok = app.validate_files([str(good)])
    assert ok and "2 valid papers" in message
    assistant = make_assistant()
    message = app.ingest_files(assistant, [str(good)])
    assert "Added 2" in message and "rag-status ok" in message
    stats = assistant.stats()
    assert stats["papers"] == 2 and stats["sources"] == {"new.jsonl": 2}


def test_the_page_never_carries_the_api_key_or_the_login_password(tmp_path, embeddings):
    settings = Settings(
        home=tmp_path / "index",
        openai_api_key="sk-test-abcdef123456",
        llm_base_url="http://user:pw-in-url@127.0.0.1:9/v1",
        ui_auth="ann:hunter2-pass",
    )
    demo = app.create_app(Assistant(settings, embeddings=embeddings))
    page_config = json.dumps(demo.get_config_file(), default=str)
    assert "sk-test-abcdef123456" not in page_config
    assert "hunter2-pass" not in page_config and "pw-in-url" not in page_config
    assert "http://127.0.0.1:9/v1" in page_config  # the base URL is shown, without its credentials


# ---- the bundled corpus: no authors, no years, hashed file names ---------------------------------------------


def test_an_author_or_year_filter_on_a_collection_without_that_metadata_says_why_nothing_matches(corpus_assistant):
    search = app.search_fn(corpus_assistant)
    by_author = search("mixture of experts", 5, app.ALL_SOURCES, "", "", "Jane Doe")
    assert "No papers match: no paper in this collection records its authors" in by_author
    by_year = search("mixture of experts", 5, app.ALL_SOURCES, "2024", "", "")
    assert "no paper in this collection records a year; filter on a listing day such as “Aug 14” instead" in by_year
    assert "Try other words" not in by_author + by_year
    listed = search("mixture of experts", 5, app.ALL_SOURCES, "Aug 14", "", "")  # what the dumps do record
    assert 'class="src-card hit"' in listed
    other = search("mixture of experts", 5, app.ALL_SOURCES, "", "no such title anywhere", "")
    assert "Try other words or loosen the filters" in other  # a filter that could match keeps the plain message


def test_sources_are_offered_and_counted_by_readable_label_not_file_hash(corpus_assistant):
    from ui import render

    stats = corpus_assistant.stats()
    choices = app._source_choices(stats)
    assert choices[0] == app.ALL_SOURCES and "Daily Papers (dump 3)" in choices
    assert not any(".txt" in c for c in choices)
    assert "Daily Papers, Mar 11 (dump 2)" in choices
    hits = corpus_assistant.search("neural networks", k=50, source="Daily Papers, Mar 11 (dump 2)")
    assert hits and all(
        s.sources == ["002_eaa1cd8e17f6e22e.txt"] or "002_eaa1cd8e17f6e22e.txt" in s.sources for s in hits
    )
    table = render.stats_html(stats)
    assert "<th>Source</th>" in table and "Daily Papers (dump 3)</td><td>191" in table and ".txt" not in table


def test_the_collection_table_leaves_out_authors_nobody_has_and_shows_the_listing_day(corpus_assistant):
    from ui import collection

    table, label, _, ids = collection.list_fn(corpus_assistant)("", 1)
    value = table["value"]
    assert value["headers"] == ["Title", "Date", "Source"] and len(value["data"]) == 20 == len(ids)
    assert all(row[1] in {"Mar 11", "Aug 14", "Jul 17", ""} for row in value["data"])
    assert any(row[1] for row in value["data"]) and all(".txt" not in row[2] for row in value["data"])
    assert "451 papers in the index" in label and "no paper here records its authors" in label
    _, none, _, _ = collection.list_fn(corpus_assistant)("1999", 1)
    assert "No paper matches this filter: no paper here records a year." in none


def test_the_collection_table_shows_authors_and_dates_when_papers_have_them(make_assistant, tmp_path):
    from ui import collection

    path = tmp_path / "mine.jsonl"
    row = {"title": "Wombat Vision", "abstract": "Wombat vision detects burrows.", "authors": ["Ada Lovelace"]}
    path.write_text(json.dumps({**row, "date": "2024-03-08"}) + "\n")
    assistant = make_assistant()
    assistant.ingest([path])
    table, label, _, _ = collection.list_fn(assistant)("wombat", 1)
    assert table["value"]["headers"] == ["Title", "Authors", "Date", "Source"]
    assert table["value"]["data"] == [["Wombat Vision", "Ada Lovelace", "2024-03-08", "mine.jsonl"]]
    assert "1 paper matches" in label and "authors" not in label


def test_the_upload_help_names_every_format_and_extension_ingest_reads():
    from ingest.formats import EXTENSIONS, FORMATS

    text = app.upload_help()
    for f in FORMATS:
        assert f.label in text
    for ext in EXTENSIONS:
        assert f"`{ext}`" in text
    assert "BibTeX" in text and "RIS" in text and "title,abstract" not in text
