"""A sentence-transformers model run by onnxruntime with the `tokenizers` fast tokenizer: the same vectors as the
torch model, without importing torch, transformers or sentence-transformers (about 7 s of a CLI command's start).

The model is exported once per model digest (`export`, which needs torch) into a cache directory, and checked
against the torch model when it is written. Only the layout the bundled MiniLM has is exported: a Transformer,
mean or CLS pooling, then (optionally) normalisation; anything else keeps running on torch.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rag.embeddings import cache_name

log = logging.getLogger(__name__)

# Bumped when the exported graph changes (inputs, pooling, opset), so an old file is never read as a new one.
EXPORT_VERSION = 1
OPSET = 17
# Largest difference per vector component between the exported graph and the torch model, checked on export; the
# whole bundled corpus agrees to about 2e-7 (tests/rag/test_onnx_encoder.py).
TOLERANCE = 1e-5
_PROBES = [
    "Which papers speed up diffusion sampling?",
    "We propose a sparse mixture-of-experts transformer that scales to 1.6 trillion parameters. " * 12,
    "  padded, short  ",
    "Ünïcödé — 数学 ∑ x_i² ≤ 1",
]
_TRANSFORMER = "sentence_transformers.models.Transformer"
_POOLING = "sentence_transformers.models.Pooling"
_NORMALIZE = "sentence_transformers.models.Normalize"
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


@dataclass(frozen=True)
class Layout:
    """What the export needs to know about a sentence-transformers model directory."""

    dimension: int
    max_seq_length: int
    pooling: str  # "mean" or "cls"
    lowercase: bool


def layout(model_dir: Path) -> Layout | None:
    """The model's layout if this module can run it (Transformer, mean/CLS pooling, optional normalisation, a
    fast tokenizer file), else None. Reads a few small JSON files; loads nothing."""
    try:
        modules = json.loads((model_dir / "modules.json").read_text())
        types = [m["type"] for m in modules]
        if types[:2] != [_TRANSFORMER, _POOLING] or types[2:] not in ([], [_NORMALIZE]) or modules[0]["path"]:
            return None
        pool = json.loads((model_dir / modules[1]["path"] / "config.json").read_text())
        bert = json.loads((model_dir / "sentence_bert_config.json").read_text())
        if not (model_dir / "tokenizer.json").is_file():
            return None
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None
    modes = [k for k, v in pool.items() if k.startswith("pooling_mode_") and v]
    if modes not in (["pooling_mode_mean_tokens"], ["pooling_mode_cls_token"]):
        return None
    return Layout(
        dimension=int(pool["word_embedding_dimension"]),
        max_seq_length=int(bert["max_seq_length"]),
        pooling="mean" if modes == ["pooling_mode_mean_tokens"] else "cls",
        lowercase=bool(bert.get("do_lower_case", False)),
    )


def onnx_file(cache_dir: Path, name: str, digest: str) -> Path:
    """Where the export of model `name` with file digest `digest` lives."""
    return Path(cache_dir) / "onnx" / f"{cache_name(name, digest)}-v{EXPORT_VERSION}.onnx"


class OnnxEncoder:
    """`encoder(texts) -> float32 array (len(texts), dimension)`, unit-length rows, equal to the torch model's
    `encode(..., normalize_embeddings=True)` within TOLERANCE. Not thread-safe: callers hold a lock."""

    def __init__(self, path: Path, model_dir: Path, shape: Layout, threads: int = 1) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # warnings about unused initialisers are noise here
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.shape = shape
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.no_padding()  # tokenizer.json pads to 128 and cuts at 128; the model reads max_seq_length
        self.tokenizer.enable_truncation(max_length=shape.max_seq_length)

    def __call__(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.shape.dimension), dtype=np.float32)
        # sentence-transformers strips each text; batches are sorted by length so little padding is computed
        prepared = [t.strip().lower() if self.shape.lowercase else t.strip() for t in texts]
        encodings = self.tokenizer.encode_batch(prepared)
        order = sorted(range(len(texts)), key=lambda i: -len(encodings[i].ids))
        out = np.empty((len(texts), self.shape.dimension), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            width = max(len(encodings[i].ids) for i in rows)
            feed = {name: np.zeros((len(rows), width), dtype=np.int64) for name in _INPUTS}
            for r, i in enumerate(rows):
                enc = encodings[i]
                n = len(enc.ids)
                feed["input_ids"][r, :n] = enc.ids
                feed["attention_mask"][r, :n] = enc.attention_mask
                feed["token_type_ids"][r, :n] = enc.type_ids
            out[rows] = self.session.run(None, feed)[0]
        return out


def export(model: Any, model_dir: Path, shape: Layout, path: Path) -> None:
    """Write `model` (the SentenceTransformer loaded from `model_dir`) as one ONNX graph, pooling and normalisation
    included, to `path`, atomically. Raises ValueError (and writes nothing) when the graph does not reproduce the
    torch vectors within TOLERANCE; torch's or onnx's own errors pass through."""
    import torch

    transformer = model[0].auto_model

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            tokens = self.transformer(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            )[0]
            if shape.pooling == "cls":
                pooled = tokens[:, 0]
            else:
                mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
                pooled = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    # eager attention: the SDPA path decides on Python booleans from the traced mask, which tracing would freeze
    with _attention(transformer.config, "eager"):
        # a padded example, so that the mask is traced as data, not as "no padding"
        ids = torch.tensor([[101, 2023, 2003, 1037, 3231, 102], [101, 3231, 102, 0, 0, 0]], dtype=torch.long)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        try:
            with warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore")  # tracer and exporter notes on shapes this graph handles
                torch.onnx.export(
                    Pooled().eval(),
                    (ids, (ids != 0).long(), torch.zeros_like(ids)),
                    tmp,
                    dynamo=False,
                    input_names=list(_INPUTS),
                    output_names=["sentence_embedding"],
                    dynamic_axes={
                        **{n: {0: "batch", 1: "tokens"} for n in _INPUTS},
                        "sentence_embedding": {0: "batch"},
                    },
                    opset_version=OPSET,
                    do_constant_folding=True,
                )
            _check(model, OnnxEncoder(Path(tmp), model_dir, shape))
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    log.info("exported %s to %s", model_dir, path)


@contextmanager
def _attention(config: Any, name: str) -> Iterator[None]:
    """A transformers model's attention implementation switched to `name` for the block."""
    before = getattr(config, "_attn_implementation", None)
    if before is not None:
        config._attn_implementation = name
    try:
        yield
    finally:
        if before is not None:
            config._attn_implementation = before


def _check(model: Any, encoder: OnnxEncoder) -> None:
    expected = np.asarray(
        model.encode(_PROBES, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
    )
    got = encoder(_PROBES)
    worst = float(np.abs(expected - got).max())
    if not worst <= TOLERANCE:
        raise ValueError(f"the exported graph differs from the torch model by {worst:.2e} (> {TOLERANCE:.0e})")
