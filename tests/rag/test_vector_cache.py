"""The persistent sentence-vector cache (rag/vector_cache.py): ingest embeds every sentence an extractive answer may
weigh once, later answers read them instead of computing them, answers are the same with or without it, and a
damaged or unusable cache costs speed, never an answer."""

from __future__ import annotations

import logging
import shutil
import threading

import numpy as np
import pytest
from conftest import TINY

from ingest import load_papers
from rag import Assistant, Settings
from rag.embeddings import SentenceTransformerEmbeddings, canonical_model_name
from rag.onnx_encoder import onnx_file
from rag.untrusted import evidence_sentences
from rag.vector_cache import VectorCache

QUESTIONS = [
    "What FID does the four-step distilled student reach on CIFAR-10?",
    "Which papers speed up diffusion sampling?",
    "How do state space models handle long sequences?",
]


def vec(seed: int, dim: int = 8) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return v / np.linalg.norm(v)


def test_vectors_come_back_by_text_across_connections(tmp_path):
    path = tmp_path / "v.sqlite"
    cache = VectorCache(path, 8)
    cache.put(["a sentence", "another sentence"], np.stack([vec(1), vec(2)]))
    again = VectorCache(path, 8)  # another process, in effect
    got = again.get(["another sentence", "never stored", "a sentence"])
    assert set(got) == {"a sentence", "another sentence"}
    assert np.array_equal(got["a sentence"], vec(1)) and np.array_equal(got["another sentence"], vec(2))
    assert again.papers_missing(["h1", "h2", "h1"]) == ["h1", "h2"]
    again.mark_papers(["h2"])
    assert cache.papers_missing(["h1", "h2"]) == ["h1"]


def test_a_vector_of_another_dimension_is_treated_as_missing(tmp_path):
    VectorCache(tmp_path / "v.sqlite", 8).put(["text"], vec(1)[None])
    assert VectorCache(tmp_path / "v.sqlite", 16).get(["text"]) == {}


def test_a_damaged_cache_file_is_started_again(tmp_path, caplog):
    path = tmp_path / "v.sqlite"
    path.write_bytes(b"garbage, not SQLite" * 500)
    cache = VectorCache(path, 8)
    with caplog.at_level(logging.WARNING):
        assert cache.get(["text"]) == {}
    assert "damaged" in caplog.text
    cache.put(["text"], vec(3)[None])
    assert np.array_equal(VectorCache(path, 8).get(["text"])["text"], vec(3))


def test_an_unusable_cache_location_disables_the_cache_without_errors(tmp_path, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    cache = VectorCache(blocker / "v.sqlite", 8)
    with caplog.at_level(logging.WARNING):
        cache.put(["text"], vec(1)[None])
        assert cache.get(["text"]) == {}
    assert not cache.enabled and "not caching" in caplog.text
    assert cache.papers_missing(["h"]) == ["h"]


def test_concurrent_writers_lose_nothing(tmp_path):
    path = tmp_path / "v.sqlite"
    caches = [VectorCache(path, 8) for _ in range(4)]  # four connections, as four processes would have

    def write(i: int) -> None:
        for j in range(25):
            caches[i].put([f"text {i} {j}"], vec(100 * i + j)[None])

    threads = [threading.Thread(target=write, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got = VectorCache(path, 8).get([f"text {i} {j}" for i in range(4) for j in range(25)])
    assert len(got) == 100 and np.array_equal(got["text 3 24"], vec(324))


@pytest.fixture
def fresh_model(embeddings, tmp_path):
    """MiniLM with an empty sentence cache of its own (and a copy of the session's onnxruntime export)."""
    embeddings.query_encoder(["make sure the export exists"])
    name, digest = canonical_model_name(embeddings.name), embeddings.identity.files
    target = onnx_file(tmp_path / "cache", name, digest)
    target.parent.mkdir(parents=True)
    shutil.copyfile(onnx_file(embeddings._cache_dir, name, digest), target)
    return SentenceTransformerEmbeddings(cache_dir=tmp_path / "cache")


class Counting:
    """Records every text the model computes a vector for."""

    def __init__(self, model, monkeypatch) -> None:
        self.texts: list[str] = []
        inner = model.encode_array

        def counted(texts, batch_size=None):
            self.texts.extend(texts)
            return inner(texts, batch_size)

        monkeypatch.setattr(model, "encode_array", counted)


def test_ingest_embeds_every_answer_sentence_once_and_answers_then_read_them(fresh_model, tmp_path, monkeypatch):
    sentences = {s for p in load_papers([TINY]) for s in evidence_sentences(p.abstract)}
    counting = Counting(fresh_model, monkeypatch)
    a = Assistant(Settings(home=tmp_path / "index", generator="extractive"), embeddings=fresh_model)
    a.ingest([TINY])
    assert sentences <= set(counting.texts)
    assert set(fresh_model.vector_cache.get(sorted(sentences))) == sentences

    counting.texts.clear()
    a.ingest([TINY])  # nothing new: nothing embedded
    assert counting.texts == []
    answers = [a.ask(q) for q in QUESTIONS]
    assert not sentences & set(counting.texts)  # the abstract sentences were read, not computed
    assert any(not x.refused for x in answers)


def test_answers_are_the_same_with_and_without_the_cache(fresh_model, embeddings, tmp_path):
    cached = Assistant(Settings(home=tmp_path / "a", generator="extractive"), embeddings=fresh_model)
    plain = Assistant(
        Settings(home=tmp_path / "b", generator="extractive", sentence_vectors_at_ingest=False), embeddings=embeddings
    )
    for a in (cached, plain):
        a.ingest([TINY])
    for q in QUESTIONS:
        x, y = cached.ask(q), plain.ask(q)
        assert (x.answer, [c.paper_id for c in x.citations]) == (y.answer, [c.paper_id for c in y.citations])


def test_ingest_with_the_setting_off_or_an_injected_model_embeds_no_sentences(fresh_model, fake_embeddings, tmp_path):
    off = Assistant(
        Settings(home=tmp_path / "a", generator="extractive", sentence_vectors_at_ingest=False), embeddings=fresh_model
    )
    off.ingest([TINY])
    assert fresh_model.vector_cache.papers_missing([p.content_hash for p in load_papers([TINY])]) != []
    fake = Assistant(Settings(home=tmp_path / "b", generator="extractive"), embeddings=fake_embeddings)
    assert fake.embed_sentences(load_papers([TINY])) == 0  # a model without a cache: nothing to do
