"""Secrets: the API key never appears in logs (every logger at DEBUG), errors, CLI output (`rag stats`, `ask`,
`search`, `ingest`, `eval`), eval reports, the UI (page, config, API answers) or answer objects.

The fake LLM server only accepts this key, so the normal answers prove it was really sent; its error bodies
echo the key back, as some real servers do, to check that backend messages are never passed on verbatim."""

from __future__ import annotations

import json
import logging
import secrets
import urllib.request
from collections.abc import Iterator

import pytest
from fake_llm import FakeLLMServer, Malformed, Reply, Status, last_user_text
from reltools import cli, serve

from rag import Assistant, Settings

KEY = "sk-test-" + secrets.token_hex(16)
QUESTION = "What FID does the four-step distilled student reach on CIFAR-10?"
TINY_MOLGT = "Graph Transformers for Molecular Property Prediction"


def leaked(text: str) -> bool:
    """The key, or any 12 characters of its random part (a partial mask like 'sk-test-1234...' would match)."""
    tail = KEY.removeprefix("sk-test-")
    return KEY in text or any(tail[i : i + 12] in text for i in range(len(tail) - 11))


def cite_first_source(request: dict) -> Reply:
    import re

    m = re.search(r"\[1\] [^\n]*\n([^\n]+)", last_user_text(request))
    first = re.split(r"(?<=\.)\s", m.group(1))[0].rstrip(".") if m else "Nothing"
    return Reply(f"{first} [1].")


@pytest.fixture
def keyed_server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(api_key=KEY) as server:
        server.set_default(cite_first_source)
        yield server


@pytest.fixture
def keyed_env(tiny_copy, keyed_server, monkeypatch) -> FakeLLMServer:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("RAG_LLM_BASE_URL", keyed_server.base_url)
    monkeypatch.setenv("RAG_LLM_MODEL", "fake-model")
    monkeypatch.setenv("RAG_LLM_RETRIES", "1")
    monkeypatch.setenv("RAG_LLM_TIMEOUT", "5")
    return keyed_server


@pytest.fixture
def all_logs(caplog) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)  # every logger, openai's and httpx's included
    return caplog


def test_cli_output_and_debug_logs_never_show_the_key(keyed_env, all_logs, tmp_path):
    seen: list[str] = []
    for args in (
        ["stats"],
        ["stats", "--json"],
        ["search", "diffusion sampling", "--json"],
        ["ask", QUESTION],
        ["ask", QUESTION, "--json"],
        ["ask", QUESTION, "--generator", "extractive", "--json"],
        ["ingest", str(tmp_path / "missing.jsonl")],
    ):
        result = cli(args)
        seen += [result.stdout, result.stderr]
    answer = json.loads(cli(["ask", QUESTION, "--json"]).stdout)
    assert answer["generator"] == "openai" and not answer["warning"]  # the key was accepted by the server
    chat = [r for r in keyed_env.requests if r.path.endswith("/chat/completions")]
    assert chat and all(r.headers.get("authorization") == f"Bearer {KEY}" for r in chat)
    assert all_logs.records, "no log records captured: the check below would prove nothing"
    seen.append(all_logs.text)
    seen += [json.dumps(r.__dict__, default=str) for r in all_logs.records]
    assert not any(leaked(text) for text in seen)


@pytest.mark.parametrize(
    "fault",
    [
        Status(401, body={"error": {"message": f"Incorrect API key provided: {KEY}", "type": "invalid_request_error"}}),
        Status(500, body={"error": {"message": f"upstream rejected key {KEY}", "type": "server_error"}}),
        Status(429, body=f"rate limited for key {KEY}", headers={"retry-after": "1000"}),
        Malformed(body=f'{{"error": "bad key {KEY}"'.encode()),
    ],
    ids=["401-echoing-key", "500-echoing-key", "429-echoing-key", "malformed-echoing-key"],
)
def test_backend_errors_that_echo_the_key_are_never_passed_on(keyed_env, all_logs, fault):
    keyed_env.set_default(fault)
    texts = []
    result = cli(["ask", QUESTION])
    texts += [result.stdout, result.stderr]
    assert "warning: the LLM backend" in result.stderr  # the failure is visible, just not its body
    answer = json.loads(cli(["ask", QUESTION, "--json"]).stdout)
    texts.append(json.dumps(answer))
    texts.append(all_logs.text)
    assert not any(leaked(t) for t in texts)


def test_a_wrong_key_is_reported_without_the_key(tiny_copy, keyed_server, monkeypatch, all_logs):
    wrong = "sk-test-" + secrets.token_hex(16)
    monkeypatch.setenv("OPENAI_API_KEY", wrong)
    monkeypatch.setenv("RAG_LLM_BASE_URL", keyed_server.base_url)
    result = cli(["ask", QUESTION])
    assert "HTTP 401" in result.stderr
    assert wrong not in result.output + all_logs.text and not leaked(result.output)


def test_eval_reports_never_show_the_key(keyed_env, all_logs, tmp_path):
    questions = tmp_path / "questions.jsonl"
    rows = [
        ("q1", "fact", QUESTION, ["Distilling Diffusion Samplers into Few-Step Students"], "3.1"),
        ("q2", "fact", "What mean absolute error does MolGT reach on QM9?", [TINY_MOLGT], "0.012"),
        ("q3", "unanswerable", "Which paper trains a chess engine on Go games?", [], None),
    ]
    questions.write_text(
        "".join(
            json.dumps({"id": i, "type": t, "question": q, "gold_titles": g, "answer": a, "key_facts": []}) + "\n"
            for i, t, q, g, a in rows
        )
    )
    out = tmp_path / "run"
    result = cli(["eval", str(questions), "--out", str(out), "--generator", "openai"])
    assert result.exit_code == 0, result.output
    cmp = cli(["eval", "compare", str(out), str(out)])
    files = [p for p in out.rglob("*") if p.is_file()]
    assert any(p.name == "metrics.json" for p in files) and any(p.name == "per_question.jsonl" for p in files)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["settings"].get("openai_api_key_set") is True  # the run did see a key
    texts = [result.stdout, result.stderr, cmp.stdout, cmp.stderr, all_logs.text]
    texts += [p.read_bytes().decode("utf-8", "replace") for p in files]
    assert not any(leaked(t) for t in texts)


def test_python_objects_never_show_the_key(keyed_env, embeddings, tiny_copy):
    settings = Settings()
    a = Assistant(settings, embeddings=embeddings)
    answer = a.ask(QUESTION)
    assert answer.generator == "openai"
    texts = [
        repr(settings),
        str(settings),
        json.dumps(settings.public_dict()),
        settings.model_dump_json(),
        answer.model_dump_json(),
        repr(answer),
        json.dumps(a.stats()),
        repr(a.index.embeddings),
    ]
    assert not any(leaked(t) for t in texts)


def test_an_invalid_setting_error_does_not_show_the_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("RAG_CHUNK_OVERLAP", "500")
    with pytest.raises(Exception) as info:
        Settings()
    assert not leaked(str(info.value)) and not leaked(repr(info.value))


def test_the_cli_shows_an_invalid_setting_without_the_key(keyed_env, monkeypatch):
    monkeypatch.setenv("RAG_CHUNK_OVERLAP", "500")
    result = cli(["stats"])
    assert result.exit_code == 1 and "invalid setting" in result.stderr
    assert not leaked(result.output)


@pytest.mark.server
def test_the_ui_never_shows_the_key(keyed_env, embeddings, all_logs):
    from gradio_client import Client

    demo = serve(Assistant(Settings(), embeddings=embeddings))
    try:
        texts = []
        for path in ("/", "/config", "/gradio_api/info"):
            with urllib.request.urlopen(demo.local_url.rstrip("/") + path, timeout=30) as resp:
                texts.append(resp.read().decode("utf-8", "replace"))
        client = Client(demo.local_url, verbose=False)
        answer = client.predict(QUESTION, api_name="/ask")
        assert answer["generator"] == "openai"
        texts.append(json.dumps(answer))
        texts.append(json.dumps(client.predict(QUESTION, 4, "openai", api_name="/chat"), default=str))
        keyed_env.set_default(Status(401, body={"error": {"message": f"Incorrect API key provided: {KEY}"}}))
        texts.append(json.dumps(client.predict(QUESTION, 4, "openai", api_name="/chat"), default=str))
        texts.append(all_logs.text)
        assert any("HTTP 401" in t for t in texts)  # the failure was shown
        assert not any(leaked(t) for t in texts)
    finally:
        demo.close()
