"""`rag ask` through typer's CliRunner: readable text, the --json contract, clear errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from fake_llm import Status
from typer.testing import CliRunner

from rag.cli import app

QUESTION = "What FID does the four-step distilled student reach on CIFAR-10?"


def run(args, home, **env):
    return CliRunner().invoke(app, args, env={"RAG_HOME": str(home), **env}, catch_exceptions=False)


def run_default(args, home, **env):
    """`rag` with RAG_HOME unset, its default home (`$XDG_DATA_HOME/rag`) being `home`."""
    assert home.name == "rag"
    env = {"RAG_HOME": None, "XDG_DATA_HOME": str(home.parent), **env}
    return CliRunner().invoke(app, args, env=env, catch_exceptions=False)


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


# ---- an empty index while `make run`'s own index is elsewhere ---------------------------------------------


@pytest.fixture
def make_run_index(monkeypatch, tmp_path, tiny_home):
    """The working directory holds `.rag`, a populated index as `make run` leaves it (here the tiny one, linked),
    while RAG_HOME points at an empty default home; the checkout's own `.rag` is left out of it."""
    import rag.index.locate

    monkeypatch.setattr(rag.index.locate, "project_root", lambda: None)
    cwd = tmp_path / "project"
    cwd.mkdir()
    (cwd / ".rag").symlink_to(tiny_home, target_is_directory=True)
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no `rag` on PATH: the command is shown as it was invoked
    monkeypatch.setattr(sys, "argv", [str(cwd / ".venv" / "bin" / "rag"), "ask", "What is BOOT?"])
    return cwd


def test_an_empty_index_names_the_make_run_index_and_the_exact_command(make_run_index, tmp_path):
    result = run_default(["ask", "What is BOOT?"], tmp_path / "xdg" / "rag")
    assert result.exit_code == 1
    [line] = result.stderr.strip().splitlines()
    assert "./.rag (where `make run` keeps its index) holds 8 papers" in line
    assert "run `RAG_HOME=./.rag .venv/bin/rag ask 'What is BOOT?'`" in line
    assert "`export RAG_HOME=$PWD/.rag`" in line
    assert "run `rag ingest` first" not in line


def test_an_empty_index_the_user_chose_with_rag_home_gets_the_plain_hint(make_run_index, tmp_path):
    result = run(["ask", "What is BOOT?"], tmp_path / "chosen")
    assert result.exit_code == 1
    assert "run `rag ingest` first" in result.stderr and "make run" not in result.stderr


def test_the_project_checkouts_index_is_found_from_another_directory(monkeypatch, tmp_path, tiny_home):
    import rag.index.locate

    checkout, elsewhere = tmp_path / "checkout", tmp_path / "elsewhere"
    checkout.mkdir()
    elsewhere.mkdir()
    (checkout / ".rag").symlink_to(tiny_home, target_is_directory=True)
    monkeypatch.setattr(rag.index.locate, "project_root", lambda: checkout)
    monkeypatch.chdir(elsewhere)
    result = run_default(["search", "diffusion"], tmp_path / "xdg" / "rag")
    assert result.exit_code == 1
    assert f"`RAG_HOME={checkout / '.rag'} rag search ...`" in result.stderr
    assert f"`export RAG_HOME={checkout / '.rag'}`" in result.stderr


def test_with_no_populated_index_anywhere_the_hint_is_to_ingest(monkeypatch, tmp_path):
    import rag.index.locate

    monkeypatch.setattr(rag.index.locate, "project_root", lambda: None)
    (tmp_path / ".rag").mkdir()  # an empty `.rag` is nothing to point at
    monkeypatch.chdir(tmp_path)
    result = run_default(["ask", QUESTION], tmp_path / "xdg" / "rag")
    assert result.exit_code == 1
    assert "run `rag ingest` first" in result.stderr and "make run" not in result.stderr


def test_ui_on_an_empty_index_does_not_build_a_second_copy_of_make_runs(make_run_index, tmp_path):
    home = tmp_path / "xdg" / "rag"
    result = run_default(["ui"], home, RAG_UI_PORT="0")
    assert result.exit_code == 1
    assert "./.rag (where `make run` keeps its index) holds 8 papers" in result.stderr
    assert "ingesting" not in result.stderr and not (home / "manifest.sqlite").exists()


def test_stats_of_an_empty_index_points_at_make_runs(make_run_index, tmp_path):
    result = run_default(["stats"], tmp_path / "xdg" / "rag")
    assert result.exit_code == 0 and "papers:          0" in result.stdout
    assert "./.rag (where `make run` keeps its index) holds 8 papers" in result.stderr


def test_a_first_ingest_beside_make_runs_index_says_it_builds_a_second_one(make_run_index, tmp_path, fake_model):
    tiny = Path(__file__).resolve().parents[1] / "data" / "tiny.jsonl"
    home = tmp_path / "xdg" / "rag"
    result = run_default(["ingest", str(tiny)], home)
    assert result.exit_code == 0
    assert result.stderr.startswith("note: the index at")
    assert "./.rag (where `make run` keeps its index) holds 8 papers" in result.stderr
    again = run_default(["ingest", str(tiny)], home)  # not empty any more: no note
    assert "note:" not in again.stderr
