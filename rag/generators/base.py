"""What every generator returns, and the one refusal sentence the product uses."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from rag.types import Source

if TYPE_CHECKING:
    from rag.intent import Analysis

REFUSAL = "The collection does not answer this question."


def refusal_text(reason: str | None = None) -> str:
    """The refusal as one plain sentence, with the reason when there is one."""
    return REFUSAL if not reason else f"{REFUSAL[:-1]}: {reason}."


def is_refusal(text: str) -> bool:
    t = " ".join(text.lower().split())
    return REFUSAL[:-1].lower() in t or "collection does not answer" in t


@dataclass
class Draft:
    """A generator's output before verification: text with [n] markers (n = source rank), or a refusal."""

    text: str
    refused: bool = False
    reason: str | None = None
    warning: str | None = None
    generator: str = ""
    supporting: dict[int, str] = field(default_factory=dict)  # source rank -> the sentence used
    analysis: Analysis | None = None  # what the question asked, when the generator analysed it
    quotes: list[tuple[str, list[int], list[str]]] = field(
        default_factory=list
    )  # (line text, cited ranks, verbatim sentences)
    note: str | None = None  # shown with the answer, e.g. "12 more papers match; see Search"


class Generator(Protocol):
    name: str

    def generate(self, question: str, sources: Sequence[Source]) -> Draft: ...

    def stream(self, question: str, sources: Sequence[Source]) -> Iterator[str | Draft]: ...
