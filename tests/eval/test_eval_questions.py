"""Question files: every bad line reported as FILE:LINE before anything runs; gold titles checked against the index."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.questions import QuestionError, check_gold_titles, load_questions, nearest_titles, select_questions

DEV = Path(__file__).resolve().parents[2] / "eval" / "questions" / "dev.jsonl"


def good(**overrides) -> dict:
    q = {"id": "q1", "type": "fact", "question": "What?", "gold_titles": ["Paper A"], "answer": "x", "key_facts": []}
    q.update(overrides)
    return q


def write(tmp_path: Path, *lines: object) -> Path:
    path = tmp_path / "qs.jsonl"
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    return path


def test_the_dev_set_loads_with_all_six_types():
    questions = load_questions(DEV)
    assert len(questions) == 104
    assert {q.type for q in questions} == {"lookup", "fact", "multi", "compare", "unanswerable", "adversarial"}
    injection = next(q for q in questions if q.id == "q104")
    assert injection.type == "adversarial" and injection.should_refuse and not injection.answerable


def test_unknown_fields_are_kept_and_blank_lines_skipped(tmp_path):
    path = write(tmp_path, good(source="handmade"), "", good(id="q2"))
    questions = load_questions(path)
    assert [q.id for q in questions] == ["q1", "q2"]
    assert questions[0].model_extra == {"source": "handmade"}
    assert questions[1].line == 3


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "expected a JSON object, got list"),
        (json.dumps({"id": "q9", "type": "fact", "gold_titles": ["A"]}), 'missing "question"'),
        (json.dumps(good(type="trivia")), '"type" must be one of lookup, fact'),
        (json.dumps(good(gold_titles="Paper A")), '"gold_titles"'),
        (json.dumps(good(question="   ")), '"question"'),
        (json.dumps(good(type="unanswerable")), 'must have empty "gold_titles"'),
        (json.dumps(good(type="unanswerable", gold_titles=[], answer="x")), '"answer": null'),
        (json.dumps(good(type="compare")), "at least two gold titles"),
        (json.dumps(good(type="lookup", gold_titles=[])), "at least one gold title"),
        (json.dumps(good(gold_titles=["Paper A", "paper a"])), "same title twice"),
    ],
)
def test_a_bad_line_is_reported_with_its_file_and_line(tmp_path, line, message):
    path = write(tmp_path, good(id="q0"), line)
    with pytest.raises(QuestionError) as exc:
        load_questions(path)
    assert str(exc.value).startswith(f"{path}:2: ")
    assert message in str(exc.value)


def test_every_problem_is_collected_on_one_line(tmp_path):
    path = write(tmp_path, good(), "{bad", good(), good(id="q3", type="nope"))
    with pytest.raises(QuestionError) as exc:
        load_questions(path)
    problems = exc.value.problems
    assert [p.split(": ", 1)[0] for p in problems] == [f"{path}:2", f"{path}:3", f"{path}:4"]
    assert 'duplicate id "q1" (first on line 1)' in problems[1]
    assert "\n" not in str(exc.value)


def test_a_missing_or_empty_file_is_an_error(tmp_path):
    with pytest.raises(QuestionError, match="no such questions file"):
        load_questions(tmp_path / "absent.jsonl")
    with pytest.raises(QuestionError, match="no questions"):
        load_questions(write(tmp_path, ""))


def test_select_filters_types_then_limits():
    questions = load_questions(DEV)
    picked = select_questions(questions, ["compare", "multi"], limit=5)
    assert len(picked) == 5 and {q.type for q in picked} <= {"compare", "multi"}
    with pytest.raises(QuestionError, match="unknown type trivia"):
        select_questions(questions, ["trivia"])


def test_a_gold_title_not_in_the_index_names_it_and_the_nearest_titles(tmp_path):
    indexed = ["Attention Is All You Need", "Deep Residual Learning for Image Recognition", "Adam: A Method"]
    path = write(
        tmp_path,
        good(gold_titles=["Attention is all you need"]),
        good(id="q2", gold_titles=["Atention Is All We Need"]),
    )
    questions = load_questions(path)
    with pytest.raises(QuestionError) as exc:
        check_gold_titles(questions, indexed, str(path))
    assert exc.value.problems == [
        f'{path}:2: gold title "Atention Is All We Need" is not in the index; '
        'nearest indexed titles: "Attention Is All You Need"'
    ]


def test_titles_match_ignoring_case_punctuation_and_accents():
    questions = [
        load_questions(DEV)[0].model_copy(
            update={"gold_titles": ["dart math   difficulty aware rejection tuning for mathematical problem solving"]}
        )
    ]
    check_gold_titles(questions, ["DART-Math: Difficulty-Aware Rejection Tuning for Mathematical Problem-Solving"], "x")
    assert nearest_titles("resnet", ["Deep Residual Learning"]) == []
