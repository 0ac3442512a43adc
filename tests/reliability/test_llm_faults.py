"""LLM backend faults against a real OpenAI-compatible server on 127.0.0.1: retries where they help, then the
extractive fallback with a visible warning, and never a wait past the call's time budget.

Complements tests/rag/test_llm_generator.py (which pins 500/429/malformed/refused after retries, a single
timeout, a cut stream and an answer without citations on the non-streaming path)."""

from __future__ import annotations

import email.utils
import re
import time

import pytest
from fake_llm import CutStream, Delay, Malformed, Refuse, Reply, Status, closed_base_url, last_user_text
from reltools import cli

from rag import Answer

QUESTION = "What FID does the four-step distilled student reach on CIFAR-10?"
DISTILL = "Distilling Diffusion Samplers into Few-Step Students"
# Backoff and scheduling on two busy cores: the most any answer may take beyond its budget.
SLACK = 2.0


def cite_distill(request: dict) -> Reply:
    m = re.search(r"\[(\d+)\] " + re.escape(DISTILL), last_user_text(request))
    assert m, "the distillation paper is not in the prompt"
    return Reply(f"The four-step student reaches an FID of 3.1 on CIFAR-10 [{m.group(1)}].")


def final(pieces: list) -> Answer:
    assert isinstance(pieces[-1], Answer)
    assert all(isinstance(p, str) for p in pieces[:-1])
    return pieces[-1]


def run(assistant, mode: str) -> Answer:
    return assistant.ask(QUESTION) if mode == "invoke" else final(list(assistant.stream(QUESTION)))


def assert_fell_back(ans: Answer, *words: str) -> None:
    """The extractive answer, still right, with a warning that says what happened."""
    assert ans.generator == "extractive"
    assert not ans.refused and "3.1" in ans.answer
    assert [c.title for c in ans.citations] == [DISTILL]
    assert ans.warning and "extractive generator instead" in ans.warning
    for word in words:
        assert word in ans.warning, ans.warning


MODES = ["invoke", "stream"]


@pytest.mark.parametrize("mode", MODES)
def test_429_with_retry_after_in_seconds_is_waited_for_then_succeeds(llm_assistant, fake_llm, mode):
    fake_llm.script(Status(429, headers={"retry-after": "1"}), cite_distill)
    ans = run(llm_assistant(llm_retries=2, llm_timeout=5), mode)
    first, second = fake_llm.requests[-2:]
    assert second.received_at - first.received_at >= 0.95  # the backend's Retry-After was honoured
    assert ans.generator == "openai" and ans.warning is None
    assert "3.1" in ans.answer


@pytest.mark.parametrize("mode", MODES)
def test_429_asking_to_wait_past_the_budget_falls_back_at_once(llm_assistant, fake_llm, mode):
    fake_llm.set_default(Status(429, headers={"retry-after": "120"}))
    t0 = time.perf_counter()
    ans = run(llm_assistant(llm_retries=3, llm_timeout=2), mode)
    elapsed = time.perf_counter() - t0
    assert len(fake_llm.chat_requests) == 1  # no pointless attempt: it could not be waited for
    assert elapsed < 2 + SLACK
    assert_fell_back(ans, "HTTP 429", "retry after 120 s")


def test_429_with_retry_after_as_an_http_date_past_the_budget_is_not_waited_for(llm_assistant, fake_llm):
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    fake_llm.set_default(Status(429, headers={"retry-after": when}))
    t0 = time.perf_counter()
    ans = llm_assistant(llm_retries=2, llm_timeout=1).ask(QUESTION)
    assert time.perf_counter() - t0 < 3 + SLACK
    assert len(fake_llm.chat_requests) == 1
    assert_fell_back(ans, "HTTP 429")


@pytest.mark.parametrize("mode", MODES)
def test_a_500_then_success_is_retried_into_a_normal_answer(llm_assistant, fake_llm, mode):
    fake_llm.script(Status(500), Status(503), cite_distill)
    ans = run(llm_assistant(llm_retries=2), mode)
    assert len(fake_llm.chat_requests) == 3
    assert ans.generator == "openai" and ans.warning is None


@pytest.mark.parametrize("mode", MODES)
def test_persistent_500_uses_every_retry_then_falls_back(llm_assistant, fake_llm, mode):
    fake_llm.set_default(Status(500))
    ans = run(llm_assistant(llm_retries=2), mode)
    assert len(fake_llm.chat_requests) == 3
    assert_fell_back(ans, "HTTP 500")


@pytest.mark.parametrize(("status", "mode"), [(400, "invoke"), (401, "stream"), (404, "invoke")])
def test_client_errors_are_not_retried(llm_assistant, fake_llm, status, mode):
    fake_llm.set_default(Status(status))
    ans = run(llm_assistant(llm_retries=3), mode)
    assert len(fake_llm.chat_requests) == 1
    assert_fell_back(ans, f"HTTP {status}")


@pytest.mark.parametrize("mode", MODES)
def test_malformed_json_is_not_retried_and_falls_back(llm_assistant, fake_llm, mode):
    fake_llm.set_default(Malformed())
    ans = run(llm_assistant(llm_retries=3), mode)
    assert len(fake_llm.chat_requests) == 1
    assert_fell_back(ans, "failed")


@pytest.mark.parametrize("mode", MODES)
def test_a_closed_socket_is_retried_then_falls_back(llm_assistant, fake_llm, mode):
    fake_llm.set_default(Refuse())
    ans = run(llm_assistant(llm_retries=1), mode)
    assert len(fake_llm.chat_requests) == 2
    assert_fell_back(ans, "could not be reached")


@pytest.mark.parametrize("mode", MODES)
def test_refused_connection_falls_back(llm_assistant, mode):
    t0 = time.perf_counter()
    ans = run(llm_assistant(llm_base_url=closed_base_url(), llm_retries=2, llm_timeout=2), mode)
    assert time.perf_counter() - t0 < 6 + SLACK
    assert_fell_back(ans, "could not be reached")


@pytest.mark.parametrize("mode", MODES)
def test_timeouts_across_all_retries_stay_within_the_budget(llm_assistant, fake_llm, mode):
    fake_llm.set_default(Delay(30, then=Reply("late [1].")))
    timeout, retries = 0.6, 3
    t0 = time.perf_counter()
    ans = run(llm_assistant(llm_timeout=timeout, llm_retries=retries), mode)
    elapsed = time.perf_counter() - t0
    budget = timeout * (retries + 1)
    assert elapsed < budget + SLACK, f"{elapsed:.1f}s for a {budget:.1f}s budget"
    assert 2 <= len(fake_llm.chat_requests) <= retries + 1  # retried, but backoff counts against the budget
    assert_fell_back(ans, "timed out")


def test_a_stream_that_trickles_past_the_budget_is_cut_and_falls_back(llm_assistant, fake_llm):
    """Each word arrives within the read timeout, so only a budget on the whole call stops it."""
    fake_llm.set_default(Reply("The four-step student " + "keeps talking " * 200 + "[1].", piece_delay=0.1))
    t0 = time.perf_counter()
    pieces = list(llm_assistant(llm_timeout=1.0, llm_retries=0).stream(QUESTION))
    elapsed = time.perf_counter() - t0
    assert elapsed < 1.0 + SLACK
    assert len(pieces) > 2  # some text was streamed before the cut
    assert_fell_back(final(pieces), "timed out mid-answer")


def test_a_stream_cut_before_any_text_is_retried(llm_assistant, fake_llm):
    fake_llm.script(CutStream(""), cite_distill)
    ans = final(list(llm_assistant(llm_retries=1).stream(QUESTION)))
    assert len(fake_llm.chat_requests) == 2
    assert ans.generator == "openai" and ans.warning is None


def test_a_stream_cut_after_some_text_is_not_retried(llm_assistant, fake_llm):
    fake_llm.set_default(CutStream("The four-step student"))
    ans = final(list(llm_assistant(llm_retries=3).stream(QUESTION)))
    assert len(fake_llm.chat_requests) == 1  # what was shown cannot be unsaid
    assert_fell_back(ans, "mid-answer")


def test_a_streamed_answer_without_citations_falls_back(llm_assistant, fake_llm):
    fake_llm.set_default(Reply("The student is good and fast."))
    ans = final(list(llm_assistant().stream(QUESTION)))
    assert_fell_back(ans, "cited no retrieved paper")


def test_a_failing_condense_step_falls_back_to_the_heuristic_and_still_answers(llm_assistant, fake_llm):
    history = [
        {"role": "user", "content": "Tell me about distilling diffusion samplers into few-step students."},
        {"role": "assistant", "content": "They train a student network [1]."},
    ]
    fake_llm.script(Status(500), Status(500))  # the condense call and its retry
    fake_llm.set_default(cite_distill)
    t0 = time.perf_counter()
    ans = llm_assistant(llm_retries=1).ask("And its FID on CIFAR-10?", history=history)
    assert time.perf_counter() - t0 < 3 * 2 * 2 + SLACK
    assert ans.standalone_question and "distilling diffusion samplers" in ans.standalone_question.lower()
    assert ans.generator == "openai" and "3.1" in ans.answer


def test_the_cli_shows_the_fallback_warning_on_stderr_and_exits_0(tiny_home, shared_model, monkeypatch):
    monkeypatch.setenv("RAG_HOME", str(tiny_home))
    monkeypatch.setenv("RAG_LLM_BASE_URL", closed_base_url())
    monkeypatch.setenv("RAG_LLM_RETRIES", "0")
    result = cli(["ask", QUESTION, "--generator", "openai"])
    assert result.exit_code == 0
    assert "3.1" in result.stdout
    assert "warning: the LLM backend could not be reached" in result.stderr
