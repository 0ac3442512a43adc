"""Integration with a real local LLM (`make llm`: SmolLM2-135M behind llama.cpp's OpenAI-compatible server).

Runs when that server answers at RAG_TEST_LLM_URL (default http://127.0.0.1:8080/v1); skipped otherwise.
SmolLM2-135M is weak: the test checks the integration contract (an Answer comes back, every citation is a
retrieved paper, a failure is a visible fallback), not answer quality.
"""

from __future__ import annotations

import json
import os
import urllib.request

import pytest

from rag import Answer, Assistant, Settings

URL = os.environ.get("RAG_TEST_LLM_URL", "http://127.0.0.1:8080/v1")


def _server_up() -> bool:
    try:
        with urllib.request.urlopen(URL.rstrip("/") + "/models", timeout=1) as resp:
            return "data" in json.loads(resp.read())
    except (OSError, ValueError):
        return False


pytestmark = [
    pytest.mark.llm,
    pytest.mark.slow,
    pytest.mark.skipif(not _server_up(), reason=f"no local LLM server at {URL} (start one with `make llm`)"),
]


def test_local_llm_answers_with_valid_citations_or_falls_back_visibly(tiny_home, embeddings):
    settings = Settings(
        home=tiny_home, generator="openai", llm_base_url=URL, llm_model="smollm2", llm_timeout=120, llm_retries=0, k=3
    )
    ans = Assistant(settings, embeddings=embeddings).ask(
        "What FID does the four-step distilled student reach on CIFAR-10?"
    )
    assert isinstance(ans, Answer)
    titles = {s.title for s in ans.sources}
    assert all(c.title in titles for c in ans.citations)
    assert ans.generator == "openai" or (ans.warning and "extractive" in ans.warning)
