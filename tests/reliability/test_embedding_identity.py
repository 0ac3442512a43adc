"""Embedding identity: the index records the model's dimension and a digest of its files at ingest. Another model
behind the same setting (a 768-dimension model placed where the 384-dimension one was indexed) is one line
naming the fix from `rag search`, `rag ask` and `rag ingest`, never a Chroma traceback; the bundled model named
by its hub name is the same model."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from reltools import TINY, cli, tiny_rows, write_jsonl

from rag import Assistant, Settings
from rag.embeddings import BUNDLED_MODEL, canonical_model_name, identity_for, resolve_model_path
from rag.index import IndexMismatch

QUESTION = "What FID does the four-step distilled student reach on CIFAR-10?"


def test_both_spellings_of_the_bundled_model_are_one_model():
    hub = f"sentence-transformers/{BUNDLED_MODEL}"
    assert canonical_model_name(hub) == canonical_model_name(BUNDLED_MODEL) == BUNDLED_MODEL
    assert identity_for(hub) == identity_for(BUNDLED_MODEL)
    assert identity_for(BUNDLED_MODEL).files  # a digest of the model's files, without loading it


def test_an_index_built_with_the_short_name_is_read_and_extended_under_the_hub_name(tiny_home, monkeypatch, tmp_path):
    import rag.embeddings

    home = tmp_path / "index"
    shutil.copytree(tiny_home, home)  # built with RAG_EMBEDDING_MODEL=all-MiniLM-L6-v2
    monkeypatch.setenv("RAG_HOME", str(home))
    monkeypatch.setenv("RAG_EMBEDDING_MODEL", f"sentence-transformers/{BUNDLED_MODEL}")
    loaded: list[str] = []
    original = rag.embeddings.load_embeddings  # the model is loaded by the name given, as in a user's run
    monkeypatch.setattr(
        rag.embeddings, "load_embeddings", lambda name, *a, **kw: loaded.append(name) or original(name, *a, **kw)
    )
    search = cli(["search", "distilled few-step diffusion students", "--k", "1"])
    assert search.exit_code == 0 and "Distilling Diffusion Samplers" in search.stdout, search.output
    assert loaded == [f"sentence-transformers/{BUNDLED_MODEL}"]
    extra = write_jsonl(
        tmp_path / "extra.jsonl",
        [
            {
                "title": "A Ninth Paper on Sparse Attention",
                "abstract": tiny_rows()[0]["abstract"] + " Sparse attention too.",
            }
        ],
    )
    ingest = cli(["ingest", str(extra)])
    assert ingest.exit_code == 0, ingest.output
    assert "9 papers" in ingest.stdout


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    """Two sentence-transformers models saved as directories: a copy of MiniLM (384 dimensions), and MiniLM
    with a linear layer to 768 dimensions on top (a different model with a different dimension)."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Dense

    root = tmp_path_factory.mktemp("models")
    base = SentenceTransformer(str(resolve_model_path(BUNDLED_MODEL)), device="cpu")
    base.save(str(root / "minilm-384"))
    torch.manual_seed(0)
    wide = SentenceTransformer(
        modules=[base[0], base[1], Dense(384, 768, bias=False, activation_function=torch.nn.Identity())], device="cpu"
    )
    wide.save(str(root / "wide-768"))
    return {"384": root / "minilm-384", "768": root / "wide-768"}


@pytest.mark.slow
def test_a_768_dimension_model_in_place_of_the_384_one_is_one_line_from_search_ask_and_ingest(
    models, tmp_path, monkeypatch
):
    model_dir = tmp_path / "model"
    shutil.copytree(models["384"], model_dir)
    monkeypatch.setenv("RAG_HOME", str(tmp_path / "index"))
    monkeypatch.setenv("RAG_EMBEDDING_MODEL", str(model_dir))
    assert cli(["ingest", str(TINY)]).exit_code == 0

    shutil.rmtree(model_dir)
    shutil.copytree(models["768"], model_dir)  # same path, same setting: another model
    more = write_jsonl(tmp_path / "more.jsonl", [{"title": "One More Paper", "abstract": tiny_rows()[1]["abstract"]}])
    for args in (["search", "diffusion sampling"], ["ask", QUESTION, "--json"], ["ingest", str(more)]):
        result = cli(args)
        assert result.exit_code == 1, (args, result.output)
        assert result.stdout == ""
        [line] = result.stderr.strip().splitlines()
        assert (
            line.startswith("error: ")
            and "rag ingest --reset" in line
            and "use the model the index was built with" in line
        ), line
        assert "384 dimensions" in line, line
        if args[0] != "ingest":  # ingest refuses before loading the model; the files alone differ
            assert "768 dimensions" in line, line
    with pytest.raises(IndexMismatch, match="rag ingest --reset"):
        Assistant(Settings(home=tmp_path / "index", embedding_model=str(model_dir))).search("diffusion sampling")

    assert cli(["ingest", "--reset", str(TINY)]).exit_code == 0  # the named fix works
    search = cli(["search", "diffusion sampling", "--json"])
    assert search.exit_code == 0 and search.stdout.startswith("[{")
