"""What can be wrong with an index, as exceptions whose one-line message names the fix."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path


class IndexProblem(RuntimeError):
    """Base class for index problems; messages end with what to do about them."""


class IndexMismatch(IndexProblem):
    """The index was built with other settings or another embedding model than the ones in use."""


class IndexCorrupt(IndexProblem):
    """The index is damaged or incomplete; `rag ingest --reset` rebuilds it."""


class IndexBusy(IndexProblem):
    """Another ingest holds the writer lock."""


class IndexWriteFailed(IndexProblem):
    """A write could not be completed (full disk, read-only location); the index is left as it was."""


RESET = "rebuild the index with: rag ingest --reset"
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
_READ_ONLY = (errno.EROFS, errno.EACCES, errno.EPERM)
_NO_SPACE_WORDS = ("disk is full", "no space left", "disk quota")
_READ_ONLY_WORDS = ("readonly database", "read-only file system", "permission denied", "unable to open database")


def write_failure_reason(exc: BaseException) -> str | None:
    """'no space left on the device' or 'the location is read-only' when `exc` (an OSError, a sqlite3 or a
    chromadb error) says so; None for anything else."""
    if isinstance(exc, OSError) and exc.errno is not None:
        if exc.errno in _NO_SPACE:
            return "no space left on the device"
        if exc.errno in _READ_ONLY:
            return "the location is read-only"
    if not isinstance(exc, (OSError, sqlite3.Error)) and type(exc).__module__.split(".")[0] != "chromadb":
        return None
    text = str(exc).lower()
    if any(w in text for w in _NO_SPACE_WORDS):
        return "no space left on the device"
    if any(w in text for w in _READ_ONLY_WORDS):
        return "the location is read-only"
    return None


def write_failed(home: Path, reason: str) -> IndexWriteFailed:
    """The message for an ingest stopped before its commit: nothing is damaged, so never `--reset`."""
    return IndexWriteFailed(
        f"ingest into {home} stopped: {reason}; the index is unchanged (readers keep the last committed state); "
        "free some space or fix the permissions, then run the ingest again"
    )
