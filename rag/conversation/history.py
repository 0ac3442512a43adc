"""Conversation history as the resolver reads it, and `Resolution`, what it hands back."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rag.types import PaperRef

MAX_TURNS = 8  # earlier turns considered: older ones rarely matter, and each is re-resolved for every question
MAX_CHARS = 4000  # per message: a pasted 200 kB message must not slow every later question down
Referent = PaperRef | str  # a cited paper, or the words a user named a paper with that the answer did not cite
_MARKER = re.compile(r"\[(\d{1,3})\]")


@dataclass(frozen=True)
class Resolution:
    """What a question refers to. `query`: the standalone text to retrieve and answer with (the question when
    nothing was resolved); `papers`: the earlier papers it points at, in the order referred; `kind`: standalone,
    bracket, ordinal, other, description, both, pronoun, ellipsis or switch (another paper of the
    collection, named in a short continuation); `reference`: the words that referred;
    `note`: an ambiguity, or a reference that matched nothing, to show with the answer."""

    question: str
    query: str
    papers: tuple[PaperRef, ...] = ()
    kind: str = "standalone"
    reference: str | None = None
    note: str | None = None

    @property
    def resolved(self) -> bool:
        return self.kind != "standalone"


@dataclass
class Turn:
    question: str
    answer: str = ""
    cited: list[PaperRef] = field(default_factory=list)  # in order of first appearance in the answer
    by_n: dict[int, PaperRef] = field(default_factory=dict)
    focus: list[PaperRef] = field(default_factory=list)  # what the next "it" means
    topic: str = ""  # the text the turn is about: its question, or what that question was resolved to


def parse_citations(entry: dict[str, Any]) -> tuple[list[PaperRef], dict[int, PaperRef]]:
    """An assistant entry's cited papers in order of first appearance of their [n] in its text, and by n.
    Malformed items are skipped: histories come from API users."""
    by_n: dict[int, PaperRef] = {}
    raw = entry.get("citations")
    for c in raw if isinstance(raw, list) else []:
        try:
            n, pid, title = int(c["n"]), str(c["paper_id"]), str(c["title"])
        except (KeyError, TypeError, ValueError):
            continue
        if pid and title and n not in by_n:
            by_n[n] = PaperRef(paper_id=pid, title=title)
    order = [int(m.group(1)) for m in _MARKER.finditer(str(entry.get("content", "")))]
    ranked = sorted(by_n, key=lambda n: order.index(n) if n in order else len(order) + n)
    return list(dict.fromkeys(by_n[n] for n in ranked)), by_n


def parse_history(history: Sequence[Any]) -> list[Turn]:
    """User questions, each with the assistant answer that follows it; malformed entries are skipped."""
    turns: list[Turn] = []
    for h in history:
        if not isinstance(h, dict) or not isinstance(h.get("content"), str):
            continue
        if h.get("role") == "user":
            turns.append(Turn(" ".join(h["content"][:MAX_CHARS].split())))
        elif h.get("role") == "assistant" and turns and not turns[-1].answer:
            turns[-1].answer = h["content"][:MAX_CHARS]
            turns[-1].cited, turns[-1].by_n = parse_citations(h)
    return turns[-MAX_TURNS:]


def history_messages(question: str, answer: Any) -> list[dict[str, Any]]:
    """One finished turn as history entries: the question, then the answer with the papers it cited. `answer`
    is an `Answer` or its `model_dump()`; the UI and the dialogue eval build their history with this."""
    data = answer.model_dump(mode="json") if hasattr(answer, "model_dump") else dict(answer)
    citations = [{"n": c["n"], "paper_id": c["paper_id"], "title": c["title"]} for c in data.get("citations") or []]
    return [
        {"role": "user", "content": question},
        {"role": "assistant", "content": str(data.get("answer") or ""), "citations": citations},
    ]


def short_name(title: str) -> str:
    """How a rewritten question names a paper: the part of its title before a colon when that is short."""
    head = title.split(":", 1)[0].strip()
    if ":" in title and 0 < len(head.split()) <= 5:
        return head
    words = title.split()
    return " ".join(words[:12]) + ("…" if len(words) > 12 else "")


def names(referents: Sequence[Referent], conjunction: str = "and") -> str:
    """Short names joined for a sentence: "A", "A and B", "A, B and C" (or "A or B")."""
    parts = [short_name(r.title) if isinstance(r, PaperRef) else r for r in referents]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + f" {conjunction} " + parts[-1]
