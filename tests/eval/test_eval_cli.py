"""`rag eval` and `rag eval compare` through the real CLI (typer's runner), options before or after the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rag.cli import app

DEV = Path(__file__).resolve().parents[2] / "eval" / "questions" / "dev.jsonl"


def test_a_bad_question_file_exits_1_with_file_and_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "q1", "type": "fact", "question": "What?", "gold_titles": ["A"]}\n{"id": "q2"}\n')
    result = CliRunner().invoke(app, ["eval", str(bad), "--out", str(tmp_path / "run")])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [f'error: {bad}:2: missing "type"; missing "question"']


def test_compare_of_missing_runs_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(app, ["eval", "compare", str(tmp_path / "a"), str(tmp_path / "b")])
    assert result.exit_code == 1
    assert "no metrics.json here" in result.output


@pytest.mark.slow
def test_rag_eval_runs_and_compare_reads_two_runs(corpus_home, monkeypatch, tmp_path):
    monkeypatch.setenv("RAG_HOME", str(corpus_home))
    runner = CliRunner()
    hybrid, bm25 = tmp_path / "hybrid", tmp_path / "bm25"
    first = runner.invoke(
        app, ["eval", str(DEV), "--out", str(hybrid), "--retrieval-only", "--types", "compare", "--limit", "4"]
    )
    assert first.exit_code == 0, first.output
    second = runner.invoke(
        app,
        [
            "eval",
            "--retriever",
            "bm25",
            "--retrieval-only",
            "--limit",
            "4",
            "--types",
            "compare",
            "--out",
            str(bm25),
            str(DEV),
        ],
    )
    assert second.exit_code == 0, second.output
    metrics = json.loads((hybrid / "metrics.json").read_text())
    assert metrics["n"] == 4 and set(metrics["by_type"]) == {"compare"}
    assert json.loads((bm25 / "metrics.json").read_text())["settings"]["retriever"] == "bm25"
    assert (hybrid / "report.md").exists() and (hybrid / "recall_at_k.png").exists()
    compared = runner.invoke(app, ["eval", "compare", str(hybrid), str(bm25)])
    assert compared.exit_code == 0, compared.output
    assert "retrieval.recall@5" in compared.output and "retriever: 'hybrid' -> 'bm25'" in compared.output
