"""Load: many threads sharing one `Assistant`, and concurrent UI users each in their own session. No errors, and
no cross-talk: every thread gets the answer its own question and history call for, every UI session keeps its
own conversation. (Throughput under load is measured by tests/ui/test_ui_load.py.)"""

from __future__ import annotations

import json
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fake_llm import Reply, last_user_text
from reltools import serve, tiny_rows

from rag import Answer, Assistant, Settings

pytestmark = pytest.mark.slow

# Six tiny-corpus papers, a first question about each, and a follow-up that only the history ties to it.
TOPICS = [
    ("FastDiff: Training-Free Acceleration of Diffusion Sampling", "Tell me about the FastDiff sampler."),
    ("Step Skipping for Diffusion Models via Cached Attention", "Tell me about step skipping with cached attention."),
    ("Distilling Diffusion Samplers into Few-Step Students", "Tell me about distilling samplers into students."),
    ("Graph Transformers for Molecular Property Prediction", "Tell me about the MolGT graph transformer."),
    ("Sparse Mixture of Experts for Speech Recognition", "Tell me about mixture of experts for speech."),
    ("Curriculum Learning for Low-Resource Machine Translation", "Tell me about curriculum learning for translation."),
]
FOLLOW_UP = "What does it report?"


WORDS = "alpha bravo charlie delta echo foxtrot golf hotel india juliett kilo lima mike".split()


def token(i: int) -> str:
    """A per-request tag made of words: a number would fail grounding (numbers must occur in the abstract)."""
    return f"ref-{WORDS[i // len(WORDS)]}-{WORDS[i % len(WORDS)]}"


def history_for(first_question: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": first_question}, {"role": "assistant", "content": "It is a paper [1]."}]


@pytest.fixture(scope="module")
def shared(tiny_home, embeddings) -> Assistant:
    """One assistant shared by every thread, as the UI shares one."""
    return Assistant(Settings(home=tiny_home, generator="extractive", k=4), embeddings=embeddings)


def test_many_threads_asking_at_once_get_their_own_answers(shared):
    """48 requests from 16 threads: the same answers as asked one at a time, follow-ups resolved with their own
    history, and no exception."""
    jobs = [(t, i) for i in range(8) for t in range(len(TOPICS))]
    expected = {t: shared.ask(FOLLOW_UP, history=history_for(TOPICS[t][1])) for t in range(len(TOPICS))}
    for t, (title, _) in enumerate(TOPICS):  # each sequential answer is about its own paper, so equality says so
        assert [c.title for c in expected[t].citations] == [title], expected[t].answer

    barrier = threading.Barrier(16)

    def ask(k: int) -> tuple[int, Answer]:
        t, i = jobs[k]
        if k < 16:
            barrier.wait(timeout=60)  # the first 16 requests start together
        history = history_for(TOPICS[t][1])
        if i % 2:
            return t, list(shared.stream(FOLLOW_UP, history=history))[-1]
        return t, shared.ask(FOLLOW_UP, history=history)

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(ask, range(len(jobs))))
    assert len(results) == len(jobs)
    for t, ans in results:
        assert ans.answer == expected[t].answer, TOPICS[t][0]
        assert ans.citations == expected[t].citations
        assert ans.standalone_question == expected[t].standalone_question


def test_many_threads_on_the_llm_path_never_get_each_others_replies(tiny_home, embeddings, fake_llm):
    """Each question carries a token; the fake LLM cites the paper the question names and repeats the token.
    Every answer must carry its own token and nobody else's."""

    def respond(request: dict) -> Reply:
        prompt = last_user_text(request)
        token = re.search(r"ref-[a-z]+-[a-z]+", prompt[prompt.index("<question>") :]).group(0)
        title = re.search(r"about the paper (.+?) \(ref", prompt).group(1)
        n = re.search(r"\[(\d+)\] " + re.escape(title), prompt).group(1)
        abstract = next(r["abstract"] for r in tiny_rows() if r["title"] == title)
        first = re.split(r"(?<=\.)\s", abstract)[0].rstrip(".")
        return Reply(f"{first} ({token}) [{n}].", piece_delay=0.002)

    fake_llm.set_default(respond)
    settings = Settings(home=tiny_home, generator="openai", llm_base_url=fake_llm.base_url, llm_model="fake-model", k=4)
    shared = Assistant(settings, embeddings=embeddings)
    titles = [t for t, _ in TOPICS]

    def ask(i: int) -> tuple[int, Answer]:
        q = f"What is reported about the paper {titles[i % len(titles)]} ({token(i)})?"
        return i, (shared.ask(q) if i % 2 else list(shared.stream(q))[-1])

    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(ask, range(36)))
    for i, ans in results:
        assert ans.generator == "openai", ans.warning
        assert set(re.findall(r"ref-[a-z]+-[a-z]+", ans.answer)) == {token(i)}
        assert [c.title for c in ans.citations] == [titles[i % len(titles)]]
    assert len(fake_llm.chat_requests) == 36 and not fake_llm.errors


@pytest.mark.server
def test_concurrent_ui_users_keep_their_own_conversations(tiny_home, embeddings):
    """Six gradio_client users chat at once, each in its own session: their follow-ups are resolved with their
    own first question, and each conversation holds only its own turns."""
    from gradio_client import Client

    demo = serve(Assistant(Settings(home=tiny_home, generator="extractive", k=4), embeddings=embeddings))
    try:
        clients = [Client(demo.local_url, verbose=False) for _ in TOPICS]
        barrier = threading.Barrier(len(TOPICS))

        def chat(t: int) -> tuple[int, Any, Any]:
            client = clients[t]
            barrier.wait(timeout=120)
            first = client.predict(TOPICS[t][1], 4, "extractive", api_name="/chat")
            barrier.wait(timeout=300)  # everyone has a first turn before anyone follows up
            second = client.predict(FOLLOW_UP, 4, "extractive", api_name="/chat")
            return t, first, second

        with ThreadPoolExecutor(max_workers=len(TOPICS)) as pool:
            results = list(pool.map(chat, range(len(TOPICS))))
    finally:
        demo.close()
    for t, _first, second in results:
        title, first_question = TOPICS[t]
        messages = second[1]
        assert len(messages) == 4, f"session {t} holds {len(messages)} messages"
        shown = json.dumps(messages, ensure_ascii=False)
        assert first_question in shown
        for other, (_, other_question) in enumerate(TOPICS):
            if other != t:
                assert other_question not in shown, f"session {t} shows session {other}'s question"
        assert title in second[2], f"session {t}'s sources panel does not show its paper"
