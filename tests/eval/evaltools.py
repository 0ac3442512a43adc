"""A scripted stand-in for `Assistant` for the runner's bookkeeping tests (resume, errors, aggregation):
real `Source`/`Answer` records, rankings and answers chosen per question, calls counted."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.settings import Settings
from rag.types import Answer, Citation, Grounding, Source


@dataclass(frozen=True)
class Paper:
    title: str


@dataclass(frozen=True)
class Script:
    """What the fake does for one question: the ranking it retrieves and the answer it gives."""

    ranking: list[str]
    answer: str = ""
    cite: list[int] = field(default_factory=list)  # 1-based ranks of the retrieved papers cited
    refused: bool = False
    supported: float = 1.0
    removed: list[int] = field(default_factory=list)
    fail: BaseException | None = None


class FakeEmbeddings:
    """Orthogonal one-hot vectors: no two different texts are similar (lexical key-fact matching only)."""

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}

    def encode(self, texts: list[str]) -> list[list[float]]:
        for t in texts:
            self.seen.setdefault(t, len(self.seen))
        return [[1.0 if i == self.seen[t] else 0.0 for i in range(4096)] for t in texts]


class FakeIndex:
    def __init__(self, titles: list[str], fingerprint: str = "fp-1") -> None:
        self._papers = {f"p{i}": Paper(t) for i, t in enumerate(titles)}
        self._fingerprint = fingerprint
        self.embeddings = FakeEmbeddings()
        self.location = "memory"

    def papers(self) -> dict[str, Paper]:
        return self._papers

    def fingerprint(self) -> str:
        return self._fingerprint

    def check_compatible(self) -> None:
        return None


def _sources(titles: list[str]) -> list[Source]:
    return [
        Source(rank=i, title=t, paper_id=f"id-{t}", score=1.0 / i, text=f"Abstract of {t}.")
        for i, t in enumerate(titles, 1)
    ]


class FakeAssistant:
    """Answers from a script keyed by question text; unknown questions retrieve nothing and are refused."""

    def __init__(self, titles: list[str], scripts: dict[str, Script], home: Path, fingerprint: str = "fp-1") -> None:
        self.settings = Settings(home=home, generator="extractive")
        self.index = FakeIndex(titles, fingerprint)
        self.scripts = scripts
        self.searches: list[tuple[str, int, str | None]] = []
        self.asks: list[tuple[str, dict[str, Any]]] = []

    def search(self, query: str, k: int = 10, *, mode: str | None = None, **_: Any) -> list[Source]:
        self.searches.append((query, k, mode))
        script = self.scripts.get(query)
        return _sources(script.ranking[:k]) if script else []

    def ask(self, question: str, history: Any = None, **options: Any) -> Answer:
        self.asks.append((question, options))
        script = self.scripts.get(question) or Script(ranking=[], refused=True)
        if script.fail is not None:
            raise script.fail
        # Like the chain: the generator reads the top k, the ranking is kept as deep as asked.
        ranking = _sources(script.ranking[: max(5, options.get("ranking_depth") or 0)])
        sources = ranking[:5]
        if script.refused:
            return Answer(
                question=question,
                answer="The collection does not answer this question.",
                refused=True,
                sources=sources,
                ranking=ranking,
                related=sources[:3],
            )
        citations = [Citation(n=n, title=sources[n - 1].title, paper_id=sources[n - 1].paper_id) for n in script.cite]
        grounding = Grounding(supported_fraction=script.supported, removed_citations=list(script.removed))
        return Answer(
            question=question,
            answer=script.answer,
            citations=citations,
            sources=sources,
            ranking=ranking,
            grounding=grounding,
        )


def question(qid: str, qtype: str, text: str, gold: list[str], key_facts: list[str] | None = None) -> dict[str, Any]:
    answer = None if qtype == "unanswerable" else "reference"
    return {
        "id": qid,
        "type": qtype,
        "question": text,
        "gold_titles": gold,
        "answer": answer,
        "key_facts": key_facts or [],
    }


def write_questions(path: Path, questions: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(q) + "\n" for q in questions), encoding="utf-8")
    return path


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
