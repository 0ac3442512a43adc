"""The onnxruntime copy of MiniLM (rag/onnx_encoder.py) gives the torch model's vectors to 1e-5 over the bundled
corpus, is exported once per model digest and reused without torch, is exported again when damaged or when the
model's files change, and is never required: without it the torch model answers."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from eval.questions import load_questions
from ingest import chunk_paper, load_papers
from rag.embeddings import SentenceTransformerEmbeddings, canonical_model_name, resolve_model_path
from rag.onnx_encoder import TOLERANCE, Layout, layout, onnx_file
from rag.settings import Settings
from rag.untrusted import evidence_sentences

ROOT = Path(__file__).resolve().parents[2]
MODEL_DIR = resolve_model_path("all-MiniLM-L6-v2")
ODD = [
    "",
    " ",
    "\n\t",
    "  padded  ",
    "UPPER case",
    "x" * 5000,
    "word " * 700,
    "Ünïcödé 数学 ∑ 😀",
    "\x00\x01",
    "[CLS] [SEP]",
]


def exported(embeddings) -> Path:
    """The session's export (made on first use), for tests that start from a copy of it."""
    embeddings.query_encoder(["make sure the export exists"])
    return onnx_file(embeddings._cache_dir, canonical_model_name(embeddings.name), embeddings.identity.files)


def cache_with_export(embeddings, directory: Path) -> Path:
    """A model cache directory holding a copy of the session's export (no second export needed)."""
    source = exported(embeddings)
    target = onnx_file(directory, canonical_model_name(embeddings.name), embeddings.identity.files)
    target.parent.mkdir(parents=True)
    shutil.copyfile(source, target)
    return directory


def torch_reference(embeddings, texts: list[str], directory: Path | None) -> np.ndarray:
    """The torch model's own vectors for `texts` (sentence-transformers on torch, never the onnxruntime copy),
    remembered between sessions in pytest's cache under the model digest and each text's sha256: the first session
    computes about 1,500 texts on torch (2-4 minutes on 2 busy cores), later ones read them."""
    path = directory / f"{embeddings.identity.files}.npz" if directory is not None else None
    known: dict[str, np.ndarray] = {}
    if path is not None and path.exists():
        with np.load(path, allow_pickle=False) as data:
            known = dict(zip(data["keys"].tolist(), data["vectors"], strict=True))
    keys = [hashlib.sha256(t.encode("utf-8", "surrogatepass")).hexdigest() for t in texts]
    todo = list(dict.fromkeys(i for i, k in enumerate(keys) if k not in known))
    if todo:
        fresh = embeddings.model.encode(
            [texts[i] for i in todo],
            batch_size=64,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        known.update({keys[i]: v for i, v in zip(todo, fresh, strict=True)})
        if path is not None:
            np.savez(path, keys=np.array(list(known)), vectors=np.stack(list(known.values())))
    return np.stack([known[k] for k in keys])


@pytest.mark.slow
def test_onnx_vectors_equal_the_torch_vectors_over_the_bundled_corpus(embeddings, request):
    settings = Settings()
    papers = list({p.paper_id: p for p in load_papers()}.values())
    chunks = [c.text for p in papers for c in chunk_paper(p, settings.chunk_tokens, settings.chunk_overlap)]
    questions = [
        q.question for name in ("dev", "tune") for q in load_questions(ROOT / "eval/questions" / f"{name}.jsonl")
    ]
    sentences = [s for p in papers[::10] for s in evidence_sentences(p.abstract)]  # what answers embed, a sample
    texts = chunks + questions + sentences + ODD
    assert len(chunks) > 900 and len(questions) > 200

    cache = getattr(request.config, "cache", None)
    reference = torch_reference(embeddings, texts, cache.mkdir("rag-torch-reference") if cache is not None else None)
    got = embeddings.query_encoder(texts)

    worst = np.abs(reference - got).max(axis=1)
    assert worst.max() <= TOLERANCE, [texts[i][:60] for i in np.argsort(-worst)[:3]]
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    # the product's own entry points: a query, and the small batches answers use, read the same vectors
    assert np.abs(np.asarray(embeddings.embed_query(questions[0])) - reference[len(chunks)]).max() <= TOLERANCE
    assert np.abs(embeddings.encode_array(sentences[:20]) - reference[len(chunks) + len(questions) :][:20]).max() <= (
        TOLERANCE
    )


def test_an_exported_model_is_reused_by_a_new_process_without_torch(embeddings, tmp_path):
    fresh = SentenceTransformerEmbeddings(cache_dir=cache_with_export(embeddings, tmp_path / "cache"))
    vectors = fresh.encode_array(["which papers speed up diffusion sampling?", *ODD])
    assert fresh._model is None  # torch never loaded
    expected = embeddings.model.encode(
        ["which papers speed up diffusion sampling?", *ODD], normalize_embeddings=True, show_progress_bar=False
    )
    assert np.abs(vectors - expected).max() <= TOLERANCE
    assert (fresh.dimension, fresh.max_seq_length) == (384, 256)


@pytest.mark.slow
def test_a_damaged_export_is_exported_again(embeddings, tmp_path, caplog):
    cache = cache_with_export(embeddings, tmp_path / "cache")
    path = onnx_file(cache, "all-MiniLM-L6-v2", embeddings.identity.files)
    path.write_bytes(b"not an onnx graph" * 100)
    fresh = SentenceTransformerEmbeddings(cache_dir=cache)
    with caplog.at_level(logging.WARNING):
        vector = fresh.encode_array(["a query"])
    assert "could not be read" in caplog.text
    assert path.stat().st_size > 50_000_000
    assert np.abs(vector - embeddings.encode_array(["a query"])).max() <= TOLERANCE
    assert not list(path.parent.glob(".*.tmp"))  # the export's temporary file is gone


@pytest.mark.slow
def test_changed_model_files_get_their_own_export(embeddings, tmp_path):
    copy = tmp_path / "model"
    shutil.copytree(MODEL_DIR, copy)
    with open(copy / "config.json", "a") as fh:
        fh.write("\n")  # same model, other files: another digest
    cache = cache_with_export(embeddings, tmp_path / "cache")
    other = SentenceTransformerEmbeddings(str(copy), cache_dir=cache)
    assert other.identity.files != embeddings.identity.files
    vector = other.encode_array(["a query about mixture of experts"])
    assert sorted(p.name for p in (cache / "onnx").glob("*.onnx")) == sorted(
        [
            onnx_file(cache, "all-MiniLM-L6-v2", embeddings.identity.files).name,
            onnx_file(cache, "model", other.identity.files).name,
        ]
    )
    assert np.abs(vector - embeddings.encode_array(["a query about mixture of experts"])).max() <= TOLERANCE


def test_without_a_usable_cache_directory_the_torch_model_answers(embeddings, tmp_path, caplog):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    fresh = SentenceTransformerEmbeddings(cache_dir=blocker / "cache")
    with caplog.at_level(logging.WARNING):
        vector = fresh.encode_array(["a query"])
        again = fresh.encode(["an abstract sentence", "another one"])  # the sentence cache is off too
    assert fresh._onnx is False and "torch only" in caplog.text
    assert np.abs(vector - embeddings.encode_array(["a query"])).max() <= TOLERANCE
    assert (
        np.abs(np.asarray(again) - embeddings.encode_array(["an abstract sentence", "another one"])).max() <= TOLERANCE
    )


def _model_files(tmp_path: Path, pooling: dict | None = None, extra_module: bool = False) -> Path:
    target = tmp_path / "m"
    target.mkdir(parents=True)
    for name in ("modules.json", "sentence_bert_config.json", "tokenizer.json"):
        shutil.copyfile(MODEL_DIR / name, target / name)
    (target / "1_Pooling").mkdir()
    config = json.loads((MODEL_DIR / "1_Pooling" / "config.json").read_text())
    (target / "1_Pooling" / "config.json").write_text(json.dumps({**config, **(pooling or {})}))
    if extra_module:
        modules = json.loads((target / "modules.json").read_text())
        modules.append({"idx": 3, "name": "3", "path": "3_Dense", "type": "sentence_transformers.models.Dense"})
        (target / "modules.json").write_text(json.dumps(modules))
    return target


def test_only_layouts_the_exporter_reproduces_are_exported(tmp_path):
    assert layout(MODEL_DIR) == Layout(dimension=384, max_seq_length=256, pooling="mean", lowercase=False)
    cls = {"pooling_mode_mean_tokens": False, "pooling_mode_cls_token": True}
    assert layout(_model_files(tmp_path / "a", cls)).pooling == "cls"
    assert layout(_model_files(tmp_path / "b", extra_module=True)) is None  # a Dense layer after pooling
    assert layout(_model_files(tmp_path / "c", {"pooling_mode_max_tokens": True})) is None  # two poolings
    no_tokenizer = _model_files(tmp_path / "d")
    (no_tokenizer / "tokenizer.json").unlink()
    assert layout(no_tokenizer) is None
    assert layout(tmp_path / "missing") is None
