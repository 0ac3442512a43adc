"""The records the product hands out: `Source`, `Citation`, `PaperRef`, `Grounding`, `Answer`, `IngestReport`,
`FilesCheck`."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Source(BaseModel):
    """One retrieved paper: rank, title, score and its text (the abstract), plus the chunks that matched."""

    rank: int
    title: str
    paper_id: str
    score: float
    text: str
    chunks: list[str] = Field(default_factory=list, description="ids of the matching chunks, best first")
    sources: list[str] = Field(default_factory=list, description="files the paper came from")
    date: str | None = Field(None, description="ISO date (YYYY, YYYY-MM or YYYY-MM-DD) or a dump's 'Mar 11'")
    url: str | None = None
    # Bibliographic metadata, when a source gives it (filled by the index; shown on cards, used by filters).
    authors: list[str] = Field(default_factory=list, description="author names, in order")
    year: int | None = None
    arxiv_id: str | None = None
    doi: str | None = None
    categories: list[str] = Field(default_factory=list)
    source_labels: list[str] = Field(
        default_factory=list, description="readable source names, e.g. 'Daily Papers, Mar 11'"
    )
    dense_rank: int | None = None
    bm25_rank: int | None = None
    dense_score: float | None = Field(None, description="cosine similarity of the best chunk")
    bm25_score: float | None = None


class Citation(BaseModel):
    n: int = Field(ge=1)
    title: str
    paper_id: str
    supporting: str = Field("", description="the sentence of the abstract that best supports the answer")


class PaperRef(BaseModel):
    """A paper named by id and title: what a follow-up question was resolved to refer to."""

    model_config = ConfigDict(frozen=True)

    paper_id: str
    title: str


class Grounding(BaseModel):
    supported_fraction: float = 1.0
    unsupported_sentences: list[str] = Field(default_factory=list)
    sentence_scores: list[dict[str, Any]] = Field(default_factory=list)
    removed_citations: list[int] = Field(default_factory=list, description="markers that pointed at no retrieved paper")


class AnswerCheck(BaseModel):
    """Whether an answer carries what its question asked: the expected kind of answer (a figure, a definition, a
    list of papers ...), the question's names and most of its focus words. `confidence`: "high" (all there),
    "medium" (answers, some focus words missing), "low" (does not carry it), "none" (refused), "unknown"."""

    answers: bool | None = None
    expected: str | None = Field(None, description="the kind of answer the question asks for, e.g. 'a figure'")
    found_expected: bool | None = None
    missing_names: list[str] = Field(default_factory=list)
    missing_terms: list[str] = Field(default_factory=list, description="question words the answer does not use")
    focus_coverage: float | None = None
    confidence: str = "unknown"


class Answer(BaseModel):
    """A cited answer or a refusal. Its `model_dump()` is the `rag ask --json` object.

    Invariant: every citation points at a retrieved source (same paper id and title).
    """

    model_config = ConfigDict(validate_assignment=False)

    question: str
    answer: str
    refused: bool = False
    citations: list[Citation] = Field(default_factory=list)
    sources: list[Source] = Field(default_factory=list)
    ranking: list[Source] = Field(
        default_factory=list,
        exclude=True,
        description="the retriever's ranking the sources were taken from, as deep as asked (the eval scores it)",
    )
    grounding: Grounding = Field(default_factory=Grounding)
    related: list[Source] = Field(default_factory=list)
    warning: str | None = None
    note: str | None = Field(None, description="said with the answer, e.g. how many more papers match a list")
    generator: str = "extractive"
    intent: str | None = Field(None, description="what the question asks for (rag.intent.Intent)")
    supported: bool = Field(False, description="every answer sentence is supported by the abstracts it cites")
    answers_question: bool | None = Field(
        None, description="the answer carries what was asked (see answer_check); different from `supported`"
    )
    answer_check: AnswerCheck = Field(default_factory=AnswerCheck)
    timings_ms: dict[str, float] = Field(default_factory=lambda: {"retrieve": 0.0, "generate": 0.0, "total": 0.0})
    standalone_question: str | None = None
    about: list[PaperRef] = Field(
        default_factory=list, description="earlier papers a follow-up was resolved to refer to (retrieved first)"
    )
    settings: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _citations_point_at_sources(self) -> Answer:
        retrieved = {(s.paper_id, s.title) for s in self.sources}
        for c in self.citations:
            if (c.paper_id, c.title) not in retrieved:
                raise ValueError(f"citation [{c.n}] names {c.title!r}, which was not retrieved")
        if self.refused and self.citations:
            raise ValueError("a refusal carries no citations (offer related papers instead)")
        return self


class SkippedRecord(BaseModel):
    """A record left out of the collection (e.g. no abstract): where it is and why."""

    file: str
    line: int = Field(description="1-based line the record starts on")
    reason: str
    title: str | None = None

    def __str__(self) -> str:
        what = f" ({self.title[:60]!r})" if self.title else ""
        return f"{self.file}:{self.line}: skipped{what}: {self.reason}"


class IngestReport(BaseModel):
    """What an ingest did. Counts are papers (`chunks`, `embedded_chunks`: chunks); `updated` includes papers
    whose metadata alone changed (a second source, a corrected author list); `unchanged` counts the papers the
    run's files name that did not change. `skipped` lists the records left out, per file with lines;
    `warnings` the identity warnings about the run's files (different papers sharing a title, sources that
    disagree on an abstract), each naming its `FILE:LINE` places."""

    papers: int = 0
    chunks: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    seconds: float = 0.0
    skipped: list[SkippedRecord] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    embedded_chunks: int = 0
    files: list[str] = Field(default_factory=list)

    def notes(self, limit: int = 20) -> list[str]:
        """Lines for stderr: per file, the skipped records (how many, why, the first `limit` lines), then each
        warning as `warning: ...`."""
        by_file: dict[str, list[SkippedRecord]] = {}
        for s in self.skipped:
            by_file.setdefault(s.file, []).append(s)
        from rag.text import counted  # lazily: the records module stays free of the tokenizer's imports

        out = []
        for name, items in by_file.items():
            lines = ", ".join(str(s.line) for s in items[:limit]) + (" ..." if len(items) > limit else "")
            reasons = "; ".join(sorted({s.reason for s in items}))
            at = "line" if len(items) == 1 else "lines"
            out.append(f"{name}: skipped {counted(len(items), 'record')} ({reasons}) at {at} {lines}")
        return out + [f"warning: {w}" for w in self.warnings]


class FileSummary(BaseModel):
    file: str
    format: str = Field(description="the format the file was read as, e.g. 'csv' or 'hf-daily-papers'")
    records: int
    skipped: int


class FilesCheck(BaseModel):
    """The parse of some source files, nothing written (`Assistant.check_files`): how many distinct papers
    they make, each file's format and record count, the skipped records and the identity warnings."""

    papers: int
    records: int
    files: list[FileSummary] = Field(default_factory=list)
    skipped: list[SkippedRecord] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
