"""report.md (tables, PNG plots, worst questions) and `compare_runs` deltas and flips, on scripted runs."""

from __future__ import annotations

import pytest
from evaltools import FakeAssistant, Script, write_questions
from test_eval_runner import QUESTIONS, SCRIPTS, TITLES

from eval import run_eval
from eval.report import compare_runs

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def qfile(tmp_path):
    return write_questions(tmp_path / "qs.jsonl", QUESTIONS)


def run(tmp_path, qfile, name, scripts=None, **kwargs):
    fake = FakeAssistant(TITLES, dict(scripts or SCRIPTS), tmp_path / "home")
    run_eval(qfile, tmp_path / name, assistant=fake, **kwargs)
    return tmp_path / name


def test_the_report_has_headline_and_type_tables_plots_and_the_worst_questions(tmp_path, qfile):
    out = run(tmp_path, qfile, "full")
    report = (out / "report.md").read_text()
    assert report.startswith("# Eval report: qs.jsonl")
    assert "5 questions (3 answerable, 2 to refuse); generator extractive; retriever hybrid" in report
    assert "| retrieval recall@5 | 0.500 |" in report
    assert "| false refusal rate | 0.333 |" in report
    assert "| fact | 2 | 0.500 |" in report
    for png in ("recall_at_k.png", "by_type.png", "latency.png"):
        assert f"]({png})" in report
        data = (out / png).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5000
    worst = report.split("## Worst questions", 1)[1]
    # q1 and q3 are perfect; q4 and q5 fail outright and come before the half-right q2
    assert "### q1" not in worst and "### q3" not in worst
    assert worst.index("### q4 (fact) — score 0.00") < worst.index("### q5") < worst.index("### q2 (multi)")
    assert "Problems: gold paper not in the top 10; refused an answerable question" in worst
    assert "answered a question it should have refused" in worst
    assert "1. Paper X\n2. Paper B ✓" in worst
    assert "Key facts: ✓ 160; ✗ quantization" in worst


def test_a_retrieval_only_report_shows_no_answer_metrics(tmp_path, qfile):
    out = run(tmp_path, qfile, "ret", retrieval_only=True)
    report = (out / "report.md").read_text()
    assert "retrieval only" in report and "citation precision" not in report and "key facts" not in report
    assert (out / "by_type.png").read_bytes().startswith(PNG_MAGIC)


def test_compare_prints_deltas_settings_and_the_questions_that_flipped(tmp_path, qfile):
    a = run(tmp_path, qfile, "a")
    scripts = dict(SCRIPTS)
    scripts["What is A?"] = Script(["Paper X", "Paper A"], "A is a fast sampler [2].", cite=[2])
    scripts["What is D?"] = Script(["Paper D"], "D is robust [1].", cite=[1])
    b = run(tmp_path, qfile, "b", scripts, retriever="bm25")
    text = compare_runs(a, b)
    lines = text.splitlines()
    mrr = next(line for line in lines if line.startswith("retrieval.mrr@10"))
    # A: (1 + 0.5 + 0) / 3 = 0.5; B: (0.5 + 0.5 + 1) / 3 = 0.667
    assert mrr.split()[1:] == ["0.500", "0.667", "+0.167"]
    assert "  retriever: 'hybrid' -> 'bm25'" in lines
    assert "Questions that flipped: 2" in text
    assert "  q1 (fact): gold at rank 1 pass -> fail" in lines
    assert any(
        line.startswith(
            "  q4 (fact): gold at rank 1 fail -> pass; all gold in top 10 fail -> pass; "
            "right refuse/answer decision fail -> pass"
        )
        for line in lines
    )


def test_compare_of_identical_runs_has_no_flips(tmp_path, qfile):
    a, b = run(tmp_path, qfile, "a"), run(tmp_path, qfile, "b")
    text = compare_runs(a, b)
    assert "Questions that flipped: 0" in text and "Settings that differ" not in text


def test_compare_names_a_directory_that_is_not_a_run(tmp_path, qfile):
    a = run(tmp_path, qfile, "a")
    with pytest.raises(FileNotFoundError, match=r"no metrics\.json"):
        compare_runs(a, tmp_path / "nope")
