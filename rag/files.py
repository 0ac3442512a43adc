"""Writing a file so that a reader, or a process killed mid-write, never leaves half of it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def atomic_write(path: str | Path, data: bytes | str, encoding: str = "utf-8") -> None:
    """Write `data` to `path` through a temporary sibling that is flushed to disk and renamed over it.

    A reader sees the old content or the new one, never a mix; a failed write (a full disk, a read-only
    directory) leaves the old file as it was and raises the `OSError`.
    """
    path = Path(path)
    payload = data.encode(encoding) if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
