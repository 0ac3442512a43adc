"""Questions and queries as the pipeline reads them: made safe to tokenise and embed, cut to the question token
budget, and stripped of instructions before retrieval. The chain and `Assistant.search` both prepare text here,
so a query searched and the same question asked retrieve the same papers."""

from __future__ import annotations

from ingest.tokenizer import get_encoding
from rag.untrusted import readable, strip_injections

__all__ = ["clean_question", "readable", "retrieval_query", "search_query"]


def clean_question(question: str, max_tokens: int) -> tuple[str, list[str]]:
    """The question made `readable`, whitespace collapsed, cut to `max_tokens` tiktoken (cl100k) tokens;
    with the notes to show the user (the cut)."""
    question = " ".join(readable(question).split())
    if len(question.encode()) <= max_tokens:
        return question, []  # a token covers at least one byte; loading the encoding costs about 0.4 s
    enc = get_encoding()
    tokens = enc.encode(question)
    if len(tokens) <= max_tokens:
        return question, []
    return enc.decode(tokens[:max_tokens]), [f"the question was cut to its first {max_tokens} tokens"]


def retrieval_query(text: str) -> str:
    """What is searched for: the text without instructions addressed to the assistant."""
    query, _ = strip_injections(text)
    return query


def search_query(query: str, max_tokens: int) -> str:
    """A search query prepared exactly as the chain prepares a question before it retrieves."""
    return retrieval_query(clean_question(query, max_tokens)[0])
