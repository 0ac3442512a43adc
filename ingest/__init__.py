"""Reading sources into records: parsers, `Paper`/`Chunk`, sentence splitting and token-aware chunking.

A leaf package: pure functions over files and strings, no store and no model.
"""

from ingest.chunking import DEFAULT_CHUNK_TOKENS, DEFAULT_OVERLAP_TOKENS, chunk_paper
from ingest.parsers import ParseError, bundled_corpus, load_papers, parse_file
from ingest.records import Chunk, Paper, normalise_title, paper_id_for
from ingest.sentences import split_sentences

__all__ = [
    "DEFAULT_CHUNK_TOKENS",
    "DEFAULT_OVERLAP_TOKENS",
    "Chunk",
    "Paper",
    "ParseError",
    "bundled_corpus",
    "chunk_paper",
    "load_papers",
    "normalise_title",
    "paper_id_for",
    "parse_file",
    "split_sentences",
]
