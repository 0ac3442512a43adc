"""Eval questions: the JSON Lines schema, loading with `FILE:LINE: problem` errors, and the gold-title check."""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ingest.records import normalise_title

QuestionType = Literal["lookup", "fact", "multi", "compare", "unanswerable", "adversarial"]
QUESTION_TYPES: tuple[str, ...] = get_args(QuestionType)
MAX_PROBLEMS_SHOWN = 10


class QuestionError(ValueError):
    """Problems in a questions file, each as `FILE:LINE: what is wrong`; raised before anything runs.

    The message is one line (the CLI prints the first line only); `problems` holds each one separately.
    """

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        shown = "; ".join(self.problems[:MAX_PROBLEMS_SHOWN])
        more = len(self.problems) - MAX_PROBLEMS_SHOWN
        super().__init__(shown + (f"; ... and {more} more" if more > 0 else ""))


class Question(BaseModel):
    """One eval question. Unknown fields are kept (and ignored by the runner)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    id: str = Field(min_length=1)
    type: QuestionType
    question: str = Field(min_length=1)
    gold_titles: list[str] = Field(default_factory=list)
    answer: str | None = None
    key_facts: list[str] = Field(default_factory=list)
    notes: str | None = None
    line: int = Field(0, exclude=True, description="1-based line in the source file, for messages")

    @field_validator("question", "id")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be blank")
        return v

    @field_validator("gold_titles", "key_facts")
    @classmethod
    def _no_blank_items(cls, v: list[str]) -> list[str]:
        if any(not item.strip() for item in v):
            raise ValueError("must not contain blank strings")
        return v

    @property
    def should_refuse(self) -> bool:
        """No paper in the collection answers it: unanswerable questions and pure injections (empty gold)."""
        return self.type == "unanswerable" or not self.gold_titles

    @property
    def answerable(self) -> bool:
        return not self.should_refuse


def _shape_problem(q: Question) -> str | None:
    """Rules between fields that the schema alone cannot say."""
    if q.type == "unanswerable" and q.gold_titles:
        return 'an "unanswerable" question must have empty "gold_titles"'
    if q.type == "unanswerable" and q.answer is not None:
        return 'an "unanswerable" question must have "answer": null'
    if q.type in ("lookup", "fact", "multi") and not q.gold_titles:
        return f'a "{q.type}" question needs at least one gold title'
    if q.type == "compare" and len(q.gold_titles) < 2:
        return 'a "compare" question needs at least two gold titles'
    if len({normalise_title(t) for t in q.gold_titles}) != len(q.gold_titles):
        return '"gold_titles" lists the same title twice'
    return None


def _describe(err: ValidationError) -> str:
    parts = []
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"])
        if e["type"] == "missing":
            parts.append(f'missing "{where}"')
        elif e["type"] == "literal_error":
            parts.append(f'"{where}" must be one of {", ".join(QUESTION_TYPES)}, got {e.get("input")!r}')
        else:
            parts.append(f'"{where}": {e["msg"]}' if where else e["msg"])
    return "; ".join(parts)


def parse_questions(lines: Iterable[str], name: str) -> list[Question]:
    """Questions from JSON Lines text. Collects every problem, then raises one `QuestionError`."""
    questions: list[Question] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for lineno, raw in enumerate(lines, start=1):
        text = raw.strip()
        if not text:
            continue
        try:
            data: Any = json.loads(text)
        except json.JSONDecodeError as exc:
            problems.append(f"{name}:{lineno}: not valid JSON ({exc.msg} at column {exc.colno})")
            continue
        if not isinstance(data, dict):
            problems.append(f"{name}:{lineno}: expected a JSON object, got {type(data).__name__}")
            continue
        try:
            q = Question.model_validate({**data, "line": lineno})
        except ValidationError as exc:
            problems.append(f"{name}:{lineno}: {_describe(exc)}")
            continue
        shape = _shape_problem(q)
        if shape:
            problems.append(f"{name}:{lineno}: {shape}")
            continue
        if q.id in seen:
            problems.append(f'{name}:{lineno}: duplicate id "{q.id}" (first on line {seen[q.id]})')
            continue
        seen[q.id] = lineno
        questions.append(q)
    if problems:
        raise QuestionError(problems)
    if not questions:
        raise QuestionError([f"{name}: no questions in the file"])
    return questions


def read_lines(path: Path) -> list[str]:
    """A JSON Lines file's lines; a binary, UTF-16 or undecodable file is one `QuestionError` naming its line
    (the same checks as paper files: `ingest.formats.base.read_text`)."""
    from ingest.errors import ParseError
    from ingest.formats.base import read_text, split_lines

    try:
        return split_lines(read_text(path))
    except ParseError as exc:
        if exc.reason.startswith("empty file"):
            return []  # said by the caller in its own words ("no questions in the file")
        raise QuestionError([str(exc)]) from None


def load_questions(path: str | Path) -> list[Question]:
    """Read and validate a questions file (see eval/README.md for the format)."""
    p = Path(path)
    if not p.is_file():
        raise QuestionError([f"{p}: no such questions file"])
    return parse_questions(read_lines(p), str(p))


def select_questions(
    questions: list[Question], types: Sequence[str] | None = None, limit: int | None = None
) -> list[Question]:
    """The questions a run covers: only `types` (if given), then the first `limit`."""
    if types:
        unknown = sorted(set(types) - set(QUESTION_TYPES))
        if unknown:
            raise QuestionError([f"--types: unknown type {', '.join(unknown)} (known: {', '.join(QUESTION_TYPES)})"])
        questions = [q for q in questions if q.type in set(types)]
    return questions[:limit] if limit else questions


def nearest_titles(title: str, indexed: Sequence[str], n: int = 3) -> list[str]:
    """The indexed titles closest to `title` (by normalised string similarity), best first."""
    by_norm: dict[str, str] = {normalise_title(t): t for t in indexed}
    close = difflib.get_close_matches(normalise_title(title), list(by_norm), n=n, cutoff=0.4)
    return [by_norm[c] for c in close]


def check_gold_titles(questions: Sequence[Question], indexed_titles: Iterable[str], name: str) -> None:
    """Every gold title must name a paper in the index; a typo would otherwise score as a silent zero."""
    indexed = list(indexed_titles)
    known = {normalise_title(t) for t in indexed}
    problems = []
    for q in questions:
        for title in q.gold_titles:
            if normalise_title(title) not in known:
                near = nearest_titles(title, indexed)
                hint = "; nearest indexed titles: " + ", ".join(f'"{t}"' for t in near) if near else ""
                problems.append(f'{name}:{q.line}: gold title "{title}" is not in the index{hint}')
    if problems:
        raise QuestionError(problems)
