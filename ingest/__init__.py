"""Reading sources into records: format parsers behind one registry, `SourceRecord`/`Paper`/`Chunk`, paper
identity and merging, sentence splitting and token-aware chunking.

A leaf package: pure functions over files and strings, no store and no model.
"""

from ingest.chunking import DEFAULT_CHUNK_TOKENS, DEFAULT_OVERLAP_TOKENS, chunk_paper
from ingest.errors import ParseError
from ingest.identity import build_papers, merge_records
from ingest.parsers import LoadResult, ParsedFile, Skipped, bundled_corpus, load_papers, parse_field_map, parse_file
from ingest.records import Chunk, Paper, SourceRecord, normalise_title, paper_id_for
from ingest.sentences import split_sentences

__all__ = [
    "DEFAULT_CHUNK_TOKENS",
    "DEFAULT_OVERLAP_TOKENS",
    "Chunk",
    "LoadResult",
    "Paper",
    "ParseError",
    "ParsedFile",
    "Skipped",
    "SourceRecord",
    "build_papers",
    "bundled_corpus",
    "chunk_paper",
    "load_papers",
    "merge_records",
    "normalise_title",
    "paper_id_for",
    "parse_field_map",
    "parse_file",
    "split_sentences",
]
