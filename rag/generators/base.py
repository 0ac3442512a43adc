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
class Quote:
    """One line of an extractive answer as checked against its sources: the line as it appears in the answer
    (markers included), the ranks it cites, the verbatim abstract sentences it rewrites, and the names a rewrite
    may add to them (the paper's short title, the method's name)."""

    text: str
    cites: list[int]
    verbatim: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)


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
    quotes: list[Quote] = field(default_factory=list)  # extractive lines with their verbatim sentences
    note: str | None = None  # shown with the answer, e.g. "12 more papers match; see Search"


class Generator(Protocol):
    """What the chain needs of a generator (see `rag.generators.registry` for how one is added). `deadline` is the
    question's `time.monotonic()` deadline: a generator that waits on a backend returns (falls back) by then."""

    name: str

    def generate(
        self, question: str, sources: Sequence[Source], analysis: Analysis | None = None, deadline: float | None = None
    ) -> Draft: ...

    def stream(
        self, question: str, sources: Sequence[Source], analysis: Analysis | None = None, deadline: float | None = None
    ) -> Iterator[str | Draft]: ...
