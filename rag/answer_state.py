"""`AnswerState`: the one typed value the chain's steps (`rag.chain`) pass along, filled in step by step."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from rag.conversation import Resolution
from rag.generators.base import Draft
from rag.intent import Analysis
from rag.retrieval import SearchFilter
from rag.types import Source
from rag.untrusted import readable


@dataclass
class AnswerState:
    """What the chain knows about one question as it goes: the input, then what each step adds."""

    question: str
    history: list[dict[str, Any]] = field(default_factory=list)
    k: int | None = None
    generator: str | None = None
    retriever: str | None = None
    filters: SearchFilter | None = None
    started: float = field(default_factory=time.perf_counter)
    llm_budget: float = 0.0  # seconds for all the question's LLM work (condense + answer)
    deadline: float = 0.0  # time.monotonic() by which that work must be done; 0: not started

    def llm_deadline(self) -> float:
        """The question's one LLM deadline, its clock started by the first step that asks the backend."""
        self.deadline = self.deadline or time.monotonic() + self.llm_budget
        return self.deadline

    notes: list[str] = field(default_factory=list)
    question_used: str = ""  # the question after cleaning and length limits
    standalone: str = ""  # the question resolved against the conversation
    resolution: Resolution | None = None  # what a follow-up refers to in the conversation
    analysis: Analysis | None = None
    sources: list[Source] = field(default_factory=list)
    referred: int = 0  # how many of `sources` (from the front) are the papers a follow-up refers to
    ranking_depth: int = 0  # papers to rank (the eval's @10), when more than the generator reads
    ranking: list[Source] = field(default_factory=list)  # the ranking retrieval gave, `sources` its first k
    retrieve_ms: float = 0.0
    drafted: Draft | None = None  # an answer retrieval made from metadata (rag/authors.py, rag/record.py)

    @classmethod
    def from_input(cls, inputs: Any) -> AnswerState:
        """The state for the chain's input: an `AnswerState` as is, a question (str), or the input dict
        (`question`, `history`, `k`, `generator`, `retriever`, `filters` as a dict or `SearchFilter`,
        `ranking_depth`); the question and history made readable first (`rag.untrusted.readable`)."""
        if isinstance(inputs, AnswerState):
            return inputs
        if isinstance(inputs, str):
            inputs = {"question": inputs}
        filters = inputs.get("filters")
        if isinstance(filters, dict):
            filters = SearchFilter(**filters)
        history = [
            {**h, "content": readable(str(h["content"]))}
            for h in (inputs.get("history") or [])
            if isinstance(h, dict) and h.get("content")
        ]
        return cls(
            question=readable(str(inputs.get("question") or "")),  # every entry point: see rag.query
            history=history,
            k=int(inputs["k"]) if inputs.get("k") else None,
            generator=inputs.get("generator"),
            retriever=inputs.get("retriever"),
            filters=filters,
            ranking_depth=int(inputs.get("ranking_depth") or 0),
        )
