"""Secrets through every setting that can hold one, and every output: a grep for them finds nothing.

Fake secrets go in through the environment (`OPENAI_API_KEY`), a URL's user and password (`RAG_LLM_BASE_URL`,
`RAG_CHROMA_URL`), a URL's query (`?api-key=...`, the gateway style; `?token=...`) and the UI login
(`RAG_UI_AUTH`). Then the CLI (`stats`, `search`, `ask`, each with `--json`, `ingest`, `eval`, `eval compare`),
the eval files, the UI (its pages, config, API info, `/ask`, `/search`, `/chat`) and every log record at DEBUG are
searched for each secret, or any 12 characters of one. The servers are real: the fake OpenAI-compatible server,
which checks what it receives, and a `chroma run` server holding the index.

Also here: a `.env` in the working directory cannot send a key from the real environment to another host."""

from __future__ import annotations

import base64
import json
import logging
import secrets
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from chroma_server import chroma_server
from fake_llm import FakeLLMServer, Reply, last_user_text
from reltools import TINY, cli, serve

from rag import Assistant, Settings

QUESTION = "What FID does the four-step distilled student reach on CIFAR-10?"
DISTILL = "Distilling Diffusion Samplers into Few-Step Students"


def fake_secret(kind: str) -> str:
    return f"{kind}-{secrets.token_hex(16)}"


def leaks(text: str, secret: str) -> bool:
    """The secret, or any 12 characters of it (a partial mask would still give it away)."""
    return secret in text or any(secret[i : i + 12] in text for i in range(len(secret) - 11))


def cite_distill(request: dict) -> Reply:
    import re

    m = re.search(r"\[(\d+)\] " + re.escape(DISTILL), last_user_text(request))
    return Reply(f"The four-step student reaches an FID of 3.1 on CIFAR-10 [{m.group(1) if m else 1}].")


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory) -> Iterator[str]:
    with chroma_server(tmp_path_factory.mktemp("chroma-secrets")) as url:
        yield url


def with_secrets(url: str, user: str | None, password: str | None, query: dict[str, str]) -> str:
    scheme, rest = url.split("://", 1)
    auth = f"{user}:{password}@" if user else ""
    q = "&".join(f"{k}={v}" for k, v in query.items())
    return f"{scheme}://{auth}{rest}" + (f"?{q}" if q else "")


CONFIGS = {
    # the key from the environment and a gateway key in the LLM URL's query; a token and a password for Chroma
    "env-key-and-queries": {"llm_user": False, "ui_auth": False},
    # a user and password in the LLM URL (sent as Basic auth); a UI login password
    "userinfo-and-login": {"llm_user": True, "ui_auth": True},
}


@pytest.mark.server
@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_no_secret_appears_in_any_output(config, chroma_url, tmp_path, monkeypatch, shared_model, caplog):
    opts = CONFIGS[config]
    found = {
        name: fake_secret(name) for name in ("envkey", "llmpass", "llmquery", "chromapass", "chromatoken", "uipass")
    }
    with FakeLLMServer(api_key=None if opts["llm_user"] else found["envkey"]) as llm:
        llm.set_default(cite_distill)
        llm_url = with_secrets(
            llm.base_url, "gwuser" if opts["llm_user"] else None, found["llmpass"], {"api-key": found["llmquery"]}
        )
        collection = f"sec{secrets.token_hex(4)}"
        monkeypatch.setenv("OPENAI_API_KEY", found["envkey"])
        monkeypatch.setenv("RAG_LLM_BASE_URL", llm_url)
        monkeypatch.setenv("RAG_LLM_MODEL", "fake-model")
        monkeypatch.setenv("RAG_LLM_RETRIES", "0")
        monkeypatch.setenv(
            "RAG_CHROMA_URL", with_secrets(chroma_url, "chroma", found["chromapass"], {"token": found["chromatoken"]})
        )
        monkeypatch.setenv("RAG_COLLECTION", collection)
        if opts["ui_auth"]:
            monkeypatch.setenv("RAG_UI_AUTH", f"admin:{found['uipass']}")
        used = [name for name in found if name != "uipass" or opts["ui_auth"]]
        if not opts["llm_user"]:
            used.remove("llmpass")
        caplog.set_level(logging.DEBUG)  # every logger: openai's, httpx's, chromadb's, gradio's
        texts: list[str] = []

        questions = tmp_path / "questions.jsonl"
        questions.write_text(
            json.dumps({"id": "q1", "type": "fact", "question": QUESTION, "gold_titles": [DISTILL], "answer": "3.1"})
            + "\n"
        )
        run = tmp_path / "run"
        for args in (
            ["ingest", str(TINY)],
            ["stats"],
            ["stats", "--json"],
            ["search", "diffusion sampling"],
            ["search", "diffusion sampling", "--json"],
            ["ask", QUESTION],
            ["ask", QUESTION, "--json"],
            ["ask", QUESTION, "--generator", "extractive", "--json"],
            ["ingest", str(tmp_path / "missing.jsonl")],
            ["eval", str(questions), "--out", str(run), "--generator", "openai"],
            ["eval", "compare", str(run), str(run)],
        ):
            result = cli(args)
            texts += [result.stdout, result.stderr]
        assert json.loads(cli(["ask", QUESTION, "--json"]).stdout)["generator"] == "openai", texts[-10:]
        metrics = json.loads((run / "metrics.json").read_text())
        assert metrics["settings"]["openai_api_key_set"] is True
        texts += [p.read_text(errors="replace") for p in run.rglob("*") if p.is_file()]

        demo = serve(Assistant(Settings()))
        try:
            opener = urllib.request.build_opener()
            auth = ("admin", found["uipass"]) if opts["ui_auth"] else None
            if auth:  # log in like a browser: the session cookie then opens every page
                from http.cookiejar import CookieJar

                jar = CookieJar()
                opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
                body = f"username=admin&password={found['uipass']}".encode()
                opener.open(urllib.request.Request(demo.local_url + "login", data=body), timeout=30)
            for path in ("", "config", "gradio_api/info"):
                with opener.open(demo.local_url + path, timeout=30) as resp:
                    texts.append(resp.read().decode("utf-8", "replace"))
            from gradio_client import Client

            client = Client(demo.local_url, auth=auth, verbose=False)
            answer = client.predict(QUESTION, [], api_name="/ask")
            assert answer["generator"] == "openai"
            texts += [json.dumps(answer), json.dumps(client.predict("diffusion", 3, api_name="/search"))]
            texts.append(json.dumps(client.predict(QUESTION, 4, "openai", api_name="/chat"), default=str))
        finally:
            demo.close()

        # The secrets were really in use: the LLM server received them.
        chat = [r for r in llm.requests if "/chat/completions" in r.path]
        assert chat and all(f"api-key={found['llmquery']}" in r.path for r in chat)
        if opts["llm_user"]:
            basic = base64.b64encode(f"gwuser:{found['llmpass']}".encode()).decode()
            assert all(r.headers.get("authorization") == f"Basic {basic}" for r in chat)
        else:
            assert all(r.headers.get("authorization") == f"Bearer {found['envkey']}" for r in chat)

    texts.append(caplog.text)
    texts += [json.dumps(r.__dict__, default=str) for r in caplog.records]
    assert len(caplog.records) > 50, "too few log records: the search below would prove little"
    for name in used:
        hits = [t[:200] for t in texts if leaks(t, found[name])]
        assert not hits, f"{name} leaked: {hits[:2]}"
    shown = "\n".join(texts)
    assert "***@127.0.0.1" in shown and "token=***" in shown  # the locations are still shown, redacted


# ---- a .env cannot redirect a key from the real environment -----------------------------------------------------
@pytest.fixture
def evil() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        server.set_default(cite_distill)
        yield server


def write_env(lines: list[str]) -> Path:
    path = Path.cwd() / ".env"  # the test's own working directory (conftest)
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_dotenv_cannot_send_an_environment_key_to_its_host(tiny_copy, shared_model, evil, monkeypatch):
    key = fake_secret("envkey")
    monkeypatch.setenv("OPENAI_API_KEY", key)
    monkeypatch.delenv("RAG_LLM_BASE_URL", raising=False)
    write_env([f"RAG_LLM_BASE_URL={evil.base_url}", "RAG_LLM_MODEL=fake-model"])
    result = cli(["ask", QUESTION, "--generator", "openai"])
    assert result.exit_code == 0
    host = f"127.0.0.1:{evil.port}"
    assert f"LLM endpoint: {host}" in result.stderr and "API key withheld" in result.stderr
    assert "warning: RAG_LLM_BASE_URL in .env points the LLM at" in result.stderr
    assert evil.chat_requests  # the endpoint was used ...
    assert all(key not in json.dumps(r.headers) + r.path for r in evil.requests)  # ... without the key
    assert not leaks(result.output, key)


def test_the_users_own_choices_still_send_the_key(tiny_copy, shared_model, evil, monkeypatch):
    key = fake_secret("envkey")
    monkeypatch.setenv("OPENAI_API_KEY", key)
    write_env([f"RAG_LLM_BASE_URL={evil.base_url}", "RAG_LLM_MODEL=fake-model", f"OPENAI_API_KEY={key}"])
    result = cli(["ask", QUESTION, "--generator", "openai"])
    assert "API key)" in result.stderr and "withheld" not in result.stderr  # the .env holds the key itself
    assert evil.requests[-1].headers["authorization"] == f"Bearer {key}"
    write_env(["RAG_LLM_MODEL=fake-model"])
    monkeypatch.setenv("RAG_LLM_BASE_URL", evil.base_url)  # set in the real environment
    result = cli(["ask", QUESTION, "--generator", "openai"])
    assert f"LLM endpoint: 127.0.0.1:{evil.port} (model fake-model, API key)" in result.stderr
    assert evil.requests[-1].headers["authorization"] == f"Bearer {key}"


def test_the_endpoint_host_is_shown_when_the_assistant_starts(tiny_copy, shared_model, evil, monkeypatch, caplog):
    monkeypatch.setenv("RAG_LLM_BASE_URL", with_secrets(evil.base_url, "u", "p4ssw0rd-secret", {"k": "query-secret"}))
    result = cli(["ask", QUESTION])
    assert f"LLM endpoint: 127.0.0.1:{evil.port} (model gpt-4o-mini, no API key)" in result.stderr
    caplog.set_level(logging.INFO)
    demo = serve(Assistant(Settings()))
    demo.close()
    assert f"LLM endpoint: 127.0.0.1:{evil.port}" in caplog.text
    assert "secret" not in caplog.text + result.output
