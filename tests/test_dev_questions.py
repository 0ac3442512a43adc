"""The dev question set: every line valid, ids unique, all six types, gold titles exactly titles in the corpus."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from ingest import load_papers

DEV_QUESTIONS = Path(__file__).resolve().parents[1] / "eval" / "questions" / "dev.jsonl"

TYPES = {"lookup", "fact", "multi", "compare", "unanswerable", "adversarial"}
REQUIRED = {"id": str, "type": str, "question": str, "gold_titles": list}


@pytest.fixture(scope="module")
def questions() -> list[tuple[int, dict]]:
    out = []
    for lineno, raw in enumerate(DEV_QUESTIONS.read_text(encoding="utf-8").splitlines(), start=1):
        assert raw.strip(), f"dev.jsonl:{lineno}: blank line"
        record = json.loads(raw)  # a JSONDecodeError here names the line and column
        assert isinstance(record, dict), f"dev.jsonl:{lineno}: not a JSON object"
        out.append((lineno, record))
    return out


@pytest.fixture(scope="module")
def corpus_titles() -> set[str]:
    return {p.title for p in load_papers()}


def test_every_line_has_the_required_fields_with_the_right_types(questions):
    for lineno, q in questions:
        for name, kind in REQUIRED.items():
            assert isinstance(q.get(name), kind), f"dev.jsonl:{lineno}: {name!r} missing or not {kind.__name__}"
        assert q["question"].strip(), f"dev.jsonl:{lineno}: empty question"
        assert all(isinstance(t, str) and t for t in q["gold_titles"]), f"dev.jsonl:{lineno}"
        assert q.get("answer") is None or isinstance(q["answer"], str), f"dev.jsonl:{lineno}"
        facts = q.get("key_facts", [])
        assert isinstance(facts, list) and all(isinstance(f, str) for f in facts), f"dev.jsonl:{lineno}"
        assert q.get("notes") is None or isinstance(q["notes"], str), f"dev.jsonl:{lineno}"


def test_ids_are_unique_and_well_formed(questions):
    ids = [q["id"] for _, q in questions]
    assert [i for i, n in Counter(ids).items() if n > 1] == []
    assert all(re.fullmatch(r"q\d{3,}", i) for i in ids)


def test_types_are_valid_and_all_six_are_present(questions):
    types = Counter(q["type"] for _, q in questions)
    assert set(types) <= TYPES, set(types) - TYPES
    assert set(types) == TYPES
    assert len(questions) >= 80


def test_every_gold_title_is_exactly_a_title_in_the_bundled_corpus(questions, corpus_titles):
    missing = [(q["id"], t) for _, q in questions for t in q["gold_titles"] if t not in corpus_titles]
    assert missing == []


def test_unanswerable_questions_have_no_gold_titles_and_a_null_answer(questions):
    for lineno, q in questions:
        if q["type"] == "unanswerable":
            assert q["gold_titles"] == [], f"dev.jsonl:{lineno}"
            assert q.get("answer") is None, f"dev.jsonl:{lineno}"


def test_answerable_questions_name_their_papers(questions):
    for lineno, q in questions:
        n = len(q["gold_titles"])
        if q["type"] in ("lookup", "fact"):
            assert n == 1, f"dev.jsonl:{lineno}"
        elif q["type"] == "compare":
            assert n == 2, f"dev.jsonl:{lineno}"
        elif q["type"] == "multi":
            assert n >= 2, f"dev.jsonl:{lineno}"
        if q["type"] in ("lookup", "fact", "compare", "multi"):
            assert q.get("answer"), f"dev.jsonl:{lineno}: answerable question without a reference answer"
            assert len(set(q["gold_titles"])) == n, f"dev.jsonl:{lineno}: repeated gold title"


def test_adversarial_questions_say_what_a_good_answer_does(questions):
    for lineno, q in questions:
        if q["type"] == "adversarial":
            assert (q.get("notes") or "").strip(), f"dev.jsonl:{lineno}"
