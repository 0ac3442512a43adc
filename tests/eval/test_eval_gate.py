"""The CI quality gate: the dev set, retrieval-only and extractive, against eval/floors.json; and proof that
the gate can fail (a broken retriever double), so a green gate means something."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from eval import run_eval
from eval.gate import check_floors, load_floors, metric_at

DEV = Path(__file__).resolve().parents[2] / "eval" / "questions" / "dev.jsonl"


class StaleResultsAssistant:
    """A broken retriever: every query gets the previous query's papers (a cache keyed on the wrong thing)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.settings = inner.settings
        self.index = inner.index
        self._previous = "the first query has nothing before it"

    def search(self, query: str, k: int = 10, **kwargs: Any) -> list[Any]:
        stale, self._previous = self._previous, query
        return self.inner.search(stale, k=k, **kwargs)


def test_check_floors_names_every_metric_below_its_floor_or_above_its_ceiling():
    metrics = {"retrieval": {"recall@5": 0.9, "mrr@10": 0.99}, "answers": {"false_refusal_rate": 0.2}}
    gate = {
        "min": {"retrieval.recall@5": 0.95, "retrieval.mrr@10": 0.9, "answers.key_fact_recall": 0.4},
        "max": {"answers.false_refusal_rate": 0.1},
    }
    assert check_floors(metrics, gate) == [
        "retrieval.recall@5 = 0.9 is below its floor 0.95",
        "answers.key_fact_recall = None is below its floor 0.4",
        "answers.false_refusal_rate = 0.2 is above its ceiling 0.1",
    ]
    assert check_floors(metrics, {"min": {"retrieval.mrr@10": 0.9}}) == []
    assert metric_at(metrics, "retrieval.nope") is None


def test_every_floor_names_a_metric_the_runner_writes():
    floors = load_floors()
    for name in ("retrieval-only", "extractive"):
        for bound in floors[name].values():
            for dotted in bound:
                group, key = dotted.split(".")
                assert group in ("retrieval", "answers") and key, dotted
    assert floors["questions"] == "eval/questions/dev.jsonl"


@pytest.mark.slow
def test_gate_retrieval_only_on_the_dev_set(corpus_assistant, tmp_path):
    metrics = run_eval(DEV, tmp_path / "run", assistant=corpus_assistant, retrieval_only=True, report=False)
    assert metrics["n"] == 104
    assert check_floors(metrics, load_floors()["retrieval-only"]) == []


@pytest.mark.slow
def test_gate_extractive_on_the_dev_set(corpus_assistant, tmp_path):
    metrics = run_eval(DEV, tmp_path / "run", assistant=corpus_assistant, generator="extractive", report=False)
    assert metrics["n"] == 104 and metrics["errors"] == 0
    assert check_floors(metrics, load_floors()["extractive"]) == []


@pytest.mark.slow
def test_the_gate_fails_a_broken_retriever(corpus_assistant, tmp_path):
    broken = StaleResultsAssistant(corpus_assistant)
    metrics = run_eval(DEV, tmp_path / "run", assistant=broken, retrieval_only=True, report=False)
    failures = check_floors(metrics, load_floors()["retrieval-only"])
    assert any(f.startswith("retrieval.recall@5 = ") for f in failures), failures
    assert metrics["retrieval"]["recall@5"] < 0.2
