"""Token-aware chunking: sentence-packed windows of an abstract, each prefixed with the paper title.

Sizes are counted with tiktoken (cl100k_base). The default embedder reads at most 256 word pieces, and
cl100k tokens run a little shorter than BERT word pieces on technical text, so the default budget of
200 tokens per chunk (title included) keeps every chunk inside the model's window; a test checks it on
the whole bundled corpus with the model's own tokenizer.
"""

from __future__ import annotations

from ingest.records import Chunk, Paper
from ingest.sentences import split_sentences
from ingest.tokenizer import get_encoding

DEFAULT_CHUNK_TOKENS = 200
DEFAULT_OVERLAP_TOKENS = 40


def _windows(tokens: list[int], size: int, overlap: int) -> list[list[int]]:
    step = max(1, size - overlap)
    return [tokens[i : i + size] for i in range(0, max(1, len(tokens) - overlap), step)]


def chunk_paper(
    paper: Paper,
    chunk_tokens: int = DEFAULT_CHUNK_TOKENS,
    overlap_tokens: int = DEFAULT_OVERLAP_TOKENS,
    encoding: str = "cl100k_base",
) -> list[Chunk]:
    """Pack whole sentences into chunks of at most `chunk_tokens` tokens (title included).

    Consecutive chunks share up to `overlap_tokens` tokens of trailing sentences, so a fact that straddles
    a boundary is whole in at least one chunk. A sentence longer than the budget is cut into token windows.
    """
    if overlap_tokens >= chunk_tokens:
        raise ValueError("chunk overlap must be smaller than the chunk size")
    enc = get_encoding(encoding)
    header = paper.title + "\n"
    budget = chunk_tokens - len(enc.encode(header))
    if budget < 16:
        raise ValueError(f"chunk size {chunk_tokens} leaves no room for the abstract after the title of {paper.title!r}")
    overlap = min(overlap_tokens, budget // 2)

    pieces: list[tuple[str, int]] = []
    for sentence in split_sentences(paper.abstract):
        toks = enc.encode(sentence)
        if len(toks) <= budget:
            pieces.append((sentence, len(toks)))
        else:
            pieces.extend((enc.decode(w), len(w)) for w in _windows(toks, budget, overlap))

    bodies: list[list[tuple[str, int]]] = []
    current: list[tuple[str, int]] = []
    size = 0
    for piece in pieces:
        if current and size + piece[1] + 1 > budget:
            bodies.append(current)
            carry: list[tuple[str, int]] = []
            carried = 0
            for prev in reversed(current):
                if carried + prev[1] > overlap or carried + prev[1] + piece[1] + 1 > budget:
                    break
                carry.insert(0, prev)
                carried += prev[1] + 1
            current, size = carry, carried
        current.append(piece)
        size += piece[1] + 1
    if current:
        bodies.append(current)

    pid = paper.paper_id
    return [
        Chunk(paper_id=pid, chunk_no=i, text=header + " ".join(s for s, _ in body), title=paper.title)
        for i, body in enumerate(bodies)
    ]
