"""`rag ask` through typer's CliRunner: readable text, the --json contract, clear errors."""

from __future__ import annotations

import json

from fake_llm import Status
from typer.testing import CliRunner

from rag.cli import app

QUESTION = "What FID does the four-step distilled student reach on CIFAR-10?"


def run(args, home, **env):
    return CliRunner().invoke(app, args, env={"RAG_HOME": str(home), **env}, catch_exceptions=False)


def test_ask_json_is_the_documented_answer_object(tiny_home):
    result = run(["ask", QUESTION, "--json", "--generator", "extractive"], tiny_home)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) >= {
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
    assert data["question"] == QUESTION
    assert data["citations"][0]["title"] == "Distilling Diffusion Samplers into Few-Step Students"
    assert "settings" not in data


def test_ask_text_prints_the_answer_then_numbered_sources(tiny_home):
    result = run(["ask", QUESTION, "--k", "3"], tiny_home)
    assert result.exit_code == 0
    answer, _, sources = result.stdout.partition("\nSources:\n")
    assert "3.1" in answer
    assert "[1] Distilling Diffusion Samplers into Few-Step Students" in sources or "Distilling" in sources


def test_refusal_lists_related_papers_not_sources(tiny_home):
    result = run(["ask", "What learning rate was used to train the MolGT graph transformer?"], tiny_home)
    assert result.exit_code == 0
    assert result.stdout.startswith("The collection does not answer this question")
    assert "Related papers (not cited):" in result.stdout
    assert "Sources:" not in result.stdout


def test_dead_llm_backend_is_a_warning_on_stderr_not_a_traceback(tiny_home, fake_llm):
    fake_llm.set_default(Status(500, headers={"retry-after-ms": "1"}))
    result = run(
        ["ask", QUESTION, "--generator", "openai"], tiny_home, RAG_LLM_BASE_URL=fake_llm.base_url, RAG_LLM_RETRIES="0"
    )
    assert result.exit_code == 0
    assert "warning:" in result.stderr and "HTTP 500" in result.stderr
    assert "Traceback" not in result.output
    assert "3.1" in result.stdout


def test_ask_on_an_empty_index_says_how_to_ingest(tmp_path):
    result = run(["ask", QUESTION], tmp_path / "empty")
    assert result.exit_code == 1
    assert "rag ingest" in result.stderr


def test_invalid_generator_is_one_clear_line(tiny_home):
    result = run(["ask", QUESTION, "--generator", "gpt-99"], tiny_home)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: invalid setting")
    assert "Traceback" not in result.output
