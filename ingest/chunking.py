"""Token-aware chunking: sentence-packed windows of an abstract, each prefixed with the paper title.

Sizes are counted with tiktoken (cl100k_base). The default embedder reads at most 256 word pieces, and
cl100k tokens run a little shorter than BERT word pieces on technical text, so the default budget of
200 tokens per chunk (title included) keeps every chunk inside the model's window; a test checks it on
the whole bundled corpus with the model's own tokenizer.
"""

from __future__ import annotations

import tiktoken

from ingest.records import Chunk, Paper
from ingest.sentences import split_sentences
from ingest.tokenizer import get_encoding

DEFAULT_CHUNK_TOKENS = 200
DEFAULT_OVERLAP_TOKENS = 40


def _word_windows(enc: tiktoken.Encoding, text: str, size: int, overlap: int) -> list[tuple[str, int]]:
    """Cut an over-long sentence into windows of whole words of at most `size` tokens, sharing about `overlap`.

    Cutting at word boundaries (not raw token boundaries) keeps every window valid text: a token window can
    split a multi-byte character and decode to a replacement character.
    """
    words = text.split(" ")
    counts = [len(enc.encode(w if i == 0 else " " + w)) for i, w in enumerate(words)]
    out: list[tuple[str, int]] = []
    start = 0
    while start < len(words):
        end, used = start, 0
        while end < len(words) and (end == start or used + counts[end] <= size):
            used += counts[end]
            end += 1
        window = " ".join(words[start:end])
        n = len(enc.encode(window))
        if n > size:  # a single word longer than the budget (a URL, a formula): fall back to token windows
            toks = enc.encode(window)
            step = max(1, size - overlap)
            out.extend((enc.decode(toks[i : i + size]), len(toks[i : i + size])) for i in range(0, len(toks), step))
        else:
            out.append((window, n))
        if end >= len(words):
            break
        back, shared = end, 0
        while back - 1 > start and shared + counts[back - 1] <= overlap:
            back -= 1
            shared += counts[back]
        start = back
    return out


def _tail(enc: tiktoken.Encoding, text: str, limit: int) -> tuple[str, int]:
    """The longest run of whole words ending `text` that fits in `limit` tokens ("", 0 when none does)."""
    kept: list[str] = []
    used = 0
    for word in reversed(text.split(" ")):
        n = len(enc.encode(" " + word))
        if used + n > limit:
            break
        kept.insert(0, word)
        used += n
    if not kept:
        return "", 0
    tail = " ".join(kept)
    return tail, len(enc.encode(tail))


def _carry(enc: tiktoken.Encoding, body: list[tuple[str, int]], limit: int) -> list[tuple[str, int]]:
    """What the next chunk repeats from the end of `body`: whole trailing sentences within `limit` tokens,
    or, when the last sentence alone is longer than that, its last words, so consecutive chunks always overlap."""
    carry: list[tuple[str, int]] = []
    carried = 0
    for piece in reversed(body):
        if carried + piece[1] + 1 > limit:
            break
        carry.insert(0, piece)
        carried += piece[1] + 1
    if carry or limit <= 1:
        return carry
    tail = _tail(enc, body[-1][0], limit - 1)
    return [tail] if tail[1] else []


def chunk_paper(
    paper: Paper,
    chunk_tokens: int = DEFAULT_CHUNK_TOKENS,
    overlap_tokens: int = DEFAULT_OVERLAP_TOKENS,
    encoding: str = "cl100k_base",
) -> list[Chunk]:
    """Pack whole sentences into chunks of at most `chunk_tokens` tokens (title included).

    Consecutive chunks share up to `overlap_tokens` tokens: the trailing sentences of the previous chunk, or
    the last words of its final sentence when that sentence is longer than the overlap, so a fact that
    straddles a boundary keeps its context. A sentence longer than the budget is cut into word windows.
    """
    if overlap_tokens >= chunk_tokens:
        raise ValueError("chunk overlap must be smaller than the chunk size")
    enc = get_encoding(encoding)
    header = paper.title + "\n"
    budget = chunk_tokens - len(enc.encode(header))
    if budget < 16:
        raise ValueError(
            f"chunk size {chunk_tokens} leaves no room for the abstract after the title of {paper.title!r}"
        )
    overlap = min(overlap_tokens, budget // 2)

    pieces: list[tuple[str, int]] = []
    for sentence in split_sentences(paper.abstract):
        n = len(enc.encode(sentence))
        if n <= budget:
            pieces.append((sentence, n))
        else:
            pieces.extend(_word_windows(enc, sentence, budget, overlap))

    bodies: list[list[tuple[str, int]]] = []
    current: list[tuple[str, int]] = []
    size = 0
    for piece in pieces:
        if current and size + piece[1] + 1 > budget:
            bodies.append(current)
            current = _carry(enc, current, min(overlap, budget - piece[1] - 1))
            size = sum(n + 1 for _, n in current)
        current.append(piece)
        size += piece[1] + 1
    if current:
        bodies.append(current)

    pid = paper.paper_id
    return [
        Chunk(paper_id=pid, chunk_no=i, text=header + " ".join(s for s, _ in body), title=paper.title)
        for i, body in enumerate(bodies)
    ]
