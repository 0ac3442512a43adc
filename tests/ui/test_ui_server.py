"""The app served for real on 127.0.0.1 and driven through gradio_client: /ask, /search, streaming chat,
follow-ups, errors, login and the concurrency limit."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from fake_llm import FakeLLMServer, Reply, closed_base_url
from gradio_client import Client
from uitools import llm_assistant, serve

from rag.conversation import history_messages
from rag.settings import Settings
from rag.types import Answer, Source

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def client(ui_server) -> Client:
    return Client(ui_server.url, verbose=False)


def _last_assistant_html(chat_output: tuple) -> str:
    messages = chat_output[1]
    content = messages[-1]["content"]
    return content[0]["text"] if isinstance(content, list) else content


def test_ask_returns_the_answer_object_with_citations(client):
    result = client.predict("Which papers reduce the memory footprint of 3D Gaussian Splatting?", api_name="/ask")
    answer = Answer.model_validate(result)  # the `rag ask --json` object, invariants included
    assert not answer.refused
    assert answer.citations, result["answer"]
    assert {c.paper_id for c in answer.citations} <= {s.paper_id for s in answer.sources}
    assert any("Gaussian" in c.title for c in answer.citations)
    assert f"[{answer.citations[0].n}]" in answer.answer
    assert set(result) >= {
        "question",
        "answer",
        "refused",
        "citations",
        "sources",
        "grounding",
        "related",
        "warning",
        "generator",
        "timings_ms",
    }


def test_ask_takes_a_history_whose_answers_carry_their_citations(client):
    first = client.predict("Which papers reduce the memory footprint of 3D Gaussian Splatting?", api_name="/ask")
    history = history_messages(first["question"], first)
    second_paper = next(c for c in first["citations"] if c["n"] == max(c["n"] for c in first["citations"]))
    follow_up = client.predict(f"what does [{second_paper['n']}] propose?", history, api_name="/ask")
    assert [a["title"] for a in follow_up["about"]] == [second_paper["title"]]
    assert follow_up["sources"][0]["title"] == second_paper["title"]
    plain = [{"role": h["role"], "content": h["content"]} for h in history]  # without citations: still accepted
    assert Answer.model_validate(client.predict("how much memory does it save?", plain, api_name="/ask"))


def test_search_returns_ranked_papers(client, corpus_assistant):
    results = client.predict("mixture of experts routing", 7, api_name="/search")
    hits = [Source.model_validate(r) for r in results]
    assert [h.rank for h in hits] == list(range(1, 8))
    assert len({h.paper_id for h in hits}) == 7
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert any("expert" in h.title.lower() for h in hits[:3])
    # the same ranking the Python API gives: the UI does not re-implement retrieval
    assert [h.paper_id for h in hits] == [
        s.paper_id for s in corpus_assistant.search("mixture of experts routing", k=7)
    ]


def test_empty_question_is_an_error_not_a_crash(client):
    with pytest.raises(Exception, match="question is empty"):
        client.predict("   ", api_name="/ask")


def test_chat_streams_partial_output_before_the_final_answer(ui_server):
    client = Client(ui_server.url, verbose=False)
    job = client.submit("How do state space models like S4 handle long sequences?", 5, "extractive", api_name="/chat")
    outputs = list(job)
    final = job.result()
    final_html = _last_assistant_html(final)
    partial = [_last_assistant_html(o) for o in outputs[:-1] if isinstance(o[1], list) and o[1]]
    assert "rag-answered" in final_html
    streamed = [h for h in partial if "rag-streaming" in h]
    assert streamed, "no partial answer text was streamed before the final answer"
    assert len(streamed[0]) < len(final_html)
    assert '<a class="cite" href="#src-' in final_html
    assert 'id="src-' in final[2]  # the sources panel has the cards


def test_follow_up_question_uses_the_conversation(ui_server):
    client = Client(ui_server.url, verbose=False)  # one session: the conversation lives in its state
    client.predict("What does the Switch Transformer do?", 5, "extractive", api_name="/chat")
    second = client.predict("How much faster is its pre-training?", 5, "extractive", api_name="/chat")
    messages = second[1]
    assert len(messages) == 4  # both turns are in the conversation
    html = _last_assistant_html(second)
    assert "searched as:" in html and "Switch Transformer" in html  # the follow-up was condensed with history
    assert "about: <em>Switch Transformers" in html  # the paper the first answer cited, carried in the history
    first_answer = messages[1]["content"][0]["text"]
    assert '<a class="cite" href="#src-1-' in first_answer  # every answer links to its own cards
    assert '<a class="cite" href="#src-2-' in html
    panel = second[2]
    assert 'id="src-group-1" data-turn="1" hidden' in panel and 'id="src-1-' in panel
    assert 'id="src-group-2" data-turn="2">' in panel  # the latest answer's cards are the ones shown


class _SlowFakeAssistant:
    """Stands in for `Assistant` where only the server behaviour matters: counts concurrent answers."""

    def __init__(self, settings: Settings, fail_with: str | None = None) -> None:
        self.settings = settings
        self.fail_with = fail_with
        self.active = 0
        self.peak = 0
        self._lock = threading.Lock()

    def stats(self) -> dict[str, Any]:
        return {"papers": 0, "chunks": 0, "sources": {}}

    def search(self, query: str, k: int = 10, **kw: Any) -> list[Source]:
        return []

    def ask(self, question: str, history: list | None = None, **kw: Any) -> Answer:
        with self._lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        try:
            time.sleep(0.6)
            return Answer(question=question, answer="No papers.", refused=True)
        finally:
            with self._lock:
                self.active -= 1

    def stream(self, question: str, history: list | None = None, **kw: Any):
        yield "Partial "
        raise RuntimeError(self.fail_with or "boom")


def test_concurrency_limit_caps_simultaneous_answers(tmp_path):
    fake = _SlowFakeAssistant(Settings(home=tmp_path, ui_concurrency=2))
    served = serve(fake)
    try:
        client = Client(served.url, verbose=False)
        jobs = [client.submit(f"q{i}", api_name="/ask") for i in range(6)]
        results = [j.result(timeout=60) for j in jobs]
    finally:
        served.close()
    assert all(r["refused"] for r in results)
    assert fake.peak == 2


def test_a_failing_answer_shows_one_escaped_line_not_a_stack(tmp_path):
    fake = _SlowFakeAssistant(Settings(home=tmp_path), fail_with="backend <b>down</b>\nTraceback (most recent call)")
    served = serve(fake)
    try:
        out = Client(served.url, verbose=False).predict("hello", 5, "auto", api_name="/chat")
    finally:
        served.close()
    html = _last_assistant_html(out)
    assert "Could not answer: backend &lt;b&gt;down&lt;/b&gt;" in html
    assert "Traceback" not in html and "<b>" not in html


def test_login_is_required_when_ui_auth_is_set(tmp_path):
    fake = _SlowFakeAssistant(Settings(home=tmp_path, ui_auth="alice:s3cret:with-colon"))
    served = serve(fake)
    try:
        with pytest.raises(Exception):  # noqa: B017 - gradio_client raises a plain error on a login page
            Client(served.url, verbose=False).predict("q", api_name="/ask")
        ok = Client(served.url, auth=("alice", "s3cret:with-colon"), verbose=False).predict("q", api_name="/ask")
        assert ok["refused"] is True
    finally:
        served.close()


def test_llm_backend_down_shows_the_fallback_warning(corpus_home, embeddings):
    served = serve(llm_assistant(corpus_home, embeddings, closed_base_url()))
    try:
        out = Client(served.url, verbose=False).predict(
            "What does the Switch Transformer do?", 5, "openai", api_name="/chat"
        )
    finally:
        served.close()
    html = _last_assistant_html(out)
    assert 'class="rag-warning"' in html and "could not be reached" in html and "extractive" in html


def test_llm_answer_streams_word_by_word(corpus_home, embeddings):
    # grounded in the abstract: an unsupported sentence would be left out of the final answer (issue 17)
    text = "The Switch Transformer simplifies the MoE routing algorithm [1]. It reduces communication and computational costs [1]."
    with FakeLLMServer(default=Reply(text=text, piece_delay=0.05)) as llm:
        served = serve(llm_assistant(corpus_home, embeddings, llm.base_url))
        try:
            job = Client(served.url, verbose=False).submit(
                "What does the Switch Transformer do?", 5, "openai", api_name="/chat"
            )
            partial = [_last_assistant_html(o) for o in job if isinstance(o[1], list) and o[1]]
            final = _last_assistant_html(job.result())
        finally:
            served.close()
        assert llm.chat_requests and llm.chat_requests[-1].get("stream") is True
    streamed = [h for h in partial if "rag-streaming" in h]
    assert len(streamed) >= 3, "expected several growing partial answers while the LLM streams"
    assert len(set(streamed)) >= 3
    assert "routing algorithm" in final and '<a class="cite" href="#src-1-1"' in final
