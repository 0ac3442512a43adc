"""Hangs: a backend that never finishes its reply cannot hold an answer, a question, or the UI's queue.

One wall-clock deadline covers a question's LLM work (`llm_timeout x (llm_retries + 1)`, the condense step and the
answer together, retries and streams included); past it the user gets the extractive answer with a warning. The
fake backend here sends its headers at once and then trickles: a JSON body one byte at a time, or SSE keep-alive
comments that never carry text; each piece arrives well inside any read timeout."""

from __future__ import annotations

import json
import threading
import time

import pytest
from fake_llm import Trickle
from reltools import cli

from rag import Answer

QUESTION = "What FID does the four-step distilled student reach on CIFAR-10?"
DISTILL = "Distilling Diffusion Samplers into Few-Step Students"
# Retrieval, the fallback answer and scheduling on two busy cores: the most allowed beyond the deadline.
SLACK = 2.0


def workers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "rag-llm-request"]


def assert_fell_back(ans: Answer, *words: str) -> None:
    assert ans.generator == "extractive"
    assert not ans.refused and "3.1" in ans.answer
    assert [c.title for c in ans.citations] == [DISTILL]
    assert ans.warning and "extractive generator instead" in ans.warning
    for word in words:
        assert word in ans.warning, ans.warning


@pytest.mark.parametrize("kind", ["json", "sse"])
def test_rag_ask_on_a_trickling_backend_returns_within_the_deadline(
    tiny_home, shared_model, fake_llm, monkeypatch, kind
):
    """The must-show: `rag ask` with the fallback and a warning, within the deadline plus 2 s."""
    fake_llm.set_default(Trickle(kind, every=0.2))
    monkeypatch.setenv("RAG_HOME", str(tiny_home))
    monkeypatch.setenv("RAG_LLM_BASE_URL", fake_llm.base_url)
    monkeypatch.setenv("RAG_LLM_TIMEOUT", "1.5")
    monkeypatch.setenv("RAG_LLM_RETRIES", "1")
    deadline = 1.5 * 2
    t0 = time.perf_counter()
    result = cli(["ask", QUESTION, "--generator", "openai"])
    elapsed = time.perf_counter() - t0
    assert result.exit_code == 0, result.output
    assert elapsed < deadline + SLACK, f"{elapsed:.1f} s for a {deadline:.1f} s deadline"
    assert "3.1" in result.stdout
    assert "warning: the LLM backend timed out" in result.stderr and "extractive generator instead" in result.stderr
    assert 1 <= len(fake_llm.chat_requests) <= 2  # a retry only if it fits in the same deadline
    print(f"rag ask, {kind} trickle: {elapsed:.2f} s for a {deadline:.1f} s deadline")


@pytest.mark.parametrize("kind", ["json", "sse"])
def test_a_stream_on_a_trickling_backend_falls_back_at_the_deadline(llm_assistant, fake_llm, kind):
    fake_llm.set_default(Trickle(kind, every=0.1))
    t0 = time.perf_counter()
    pieces = list(llm_assistant(llm_timeout=1.0, llm_retries=1).stream(QUESTION))
    elapsed = time.perf_counter() - t0
    print(f"stream, {kind} trickle: {elapsed:.2f} s for a 2.0 s deadline")
    assert elapsed < 2.0 + SLACK
    assert isinstance(pieces[-1], Answer)
    assert_fell_back(pieces[-1], "timed out")


def test_the_abandoned_request_ends_soon_after_the_deadline(llm_assistant, fake_llm):
    """The caller stops waiting at the deadline; the request itself is cut at its next byte, not left running."""
    fake_llm.set_default(Trickle("json", every=0.1))
    llm_assistant(llm_timeout=0.8, llm_retries=0).ask(QUESTION)
    t0 = time.monotonic()
    while workers() and time.monotonic() - t0 < 3:
        time.sleep(0.05)
    assert not workers(), "a request thread outlived its deadline by 3 s"


def test_a_follow_up_shares_one_deadline_between_condense_and_answer(llm_assistant, fake_llm):
    history = [
        {"role": "user", "content": "Tell me about distilling diffusion samplers into few-step students."},
        {"role": "assistant", "content": "They train a student network [1]."},
    ]
    fake_llm.set_default(Trickle("json", every=0.1))
    timeout, retries = 1.0, 1
    t0 = time.perf_counter()
    ans = llm_assistant(llm_timeout=timeout, llm_retries=retries).ask("And its FID on CIFAR-10?", history=history)
    elapsed = time.perf_counter() - t0
    budget = timeout * (retries + 1)
    assert elapsed < budget + SLACK, f"{elapsed:.1f} s: condense and answer each took the whole budget"
    print(f"follow-up on a trickling backend: {elapsed:.2f} s for a {budget:.1f} s deadline")
    assert "3.1" in ans.answer and ans.generator == "extractive" and "timed out" in ans.warning


def test_after_a_timeout_the_next_question_does_not_wait_on_the_backend(llm_assistant, fake_llm):
    fake_llm.set_default(Trickle("json", every=0.1))
    assistant = llm_assistant(llm_timeout=3.0, llm_retries=0)
    assistant.ask(QUESTION)
    asked = len(fake_llm.chat_requests)
    t0 = time.perf_counter()
    ans = assistant.ask(QUESTION)
    assert time.perf_counter() - t0 < SLACK
    assert len(fake_llm.chat_requests) == asked  # not asked again while it cools down
    assert_fell_back(ans, "timed out on a recent question")


def test_a_busy_backend_does_not_hold_more_than_its_share_of_callers(llm_assistant, fake_llm):
    """With every LLM slot taken by a hung request, a further question is answered at once, extractively."""
    fake_llm.set_default(Trickle("json", every=0.1))
    assistant = llm_assistant(llm_timeout=4.0, llm_retries=0, llm_concurrency=2)
    hung = [threading.Thread(target=assistant.ask, args=(QUESTION,)) for _ in range(2)]
    for t in hung:
        t.start()
    t0 = time.monotonic()
    while len(fake_llm.chat_requests) < 2 and time.monotonic() - t0 < 5:
        time.sleep(0.05)
    t0 = time.perf_counter()
    ans = assistant.ask(QUESTION)
    assert time.perf_counter() - t0 < SLACK
    assert_fell_back(ans, "busy")
    for t in hung:
        t.join(10)


def ask_in_threads(n: int, fn) -> tuple[list[threading.Thread], dict[int, tuple[float, str]]]:
    """Start `fn(i)` for i in 0..n-1 in threads; each records (seconds it took, what it got) under its i."""
    results: dict[int, tuple[float, str]] = {}

    def run(i: int) -> None:
        t0 = time.perf_counter()
        got = fn(i)
        results[i] = (time.perf_counter() - t0, got)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    return threads, results


@pytest.mark.server
def test_eight_ui_users_keep_getting_extractive_answers_while_llm_requests_hang(tiny_home, embeddings, fake_llm):
    """The must-show. The backend takes every request and never finishes one. Two users' LLM questions hang (all
    the LLM slots: `llm_concurrency=2`); meanwhile eight more users are answered at once: four chat with the
    extractive generator, four ask `/ask` with the default (openai) one and are told the backend is busy. The two
    hung questions end at their deadline, extractively, with a warning."""
    from gradio_client import Client
    from reltools import serve

    from rag import Assistant, Settings

    fake_llm.set_default(Trickle("sse", every=0.2))
    timeout = 12.0
    settings = Settings(
        home=tiny_home, llm_base_url=fake_llm.base_url, llm_model="fake-model", llm_timeout=timeout, llm_retries=0
    ).with_overrides(k=4, ui_concurrency=2, llm_concurrency=2)
    demo = serve(Assistant(settings, embeddings=embeddings))

    def ask(i: int) -> str:
        return json.dumps(Client(demo.local_url, verbose=False).predict(QUESTION, [], api_name="/ask"))

    def chat(i: int) -> str:
        client = Client(demo.local_url, verbose=False)
        if i % 2:  # the default generator: openai, whose slots are all taken
            return ask(i)
        return json.dumps(client.predict(QUESTION, 4, "extractive", api_name="/chat"), default=str)

    try:
        t_start = time.perf_counter()
        hanging, hung = ask_in_threads(2, ask)
        while len(fake_llm.chat_requests) < 2 and time.perf_counter() - t_start < 30:
            time.sleep(0.05)
        assert len(fake_llm.chat_requests) == 2
        users, served = ask_in_threads(8, chat)
        for t in users:
            t.join(60)
        done_at = time.perf_counter() - t_start
        assert sorted(served) == list(range(8)) and not hung  # all eight served while both still hang
        assert done_at < timeout, f"the eight users waited {done_at:.1f} s, as long as the hung questions"
        assert all("3.1" in text for _, text in served.values())
        busy = [json.loads(text) for i, (_, text) in served.items() if i % 2]
        assert all(a["generator"] == "extractive" and "the LLM backend is busy" in a["warning"] for a in busy)
        print("eight users answered in", sorted(round(s, 1) for s, _ in served.values()), "s")

        for t in hanging:
            t.join(timeout + 30)
        assert sorted(hung) == [0, 1]
        for elapsed, text in hung.values():
            answer = json.loads(text)
            assert elapsed < timeout + SLACK + 2
            assert (
                answer["generator"] == "extractive" and "3.1" in answer["answer"] and "timed out" in answer["warning"]
            )
        assert len(fake_llm.chat_requests) == 2  # the busy users never reached the hung backend
    finally:
        demo.close()
