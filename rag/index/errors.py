"""What can be wrong with an index, as exceptions whose one-line message names the fix."""

from __future__ import annotations

import errno
import os
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


class IndexUnavailable(IndexProblem):
    """The index is intact but cannot be read right now (its disk is full); freeing space fixes it."""


RESET = "rebuild the index with: rag ingest --reset"
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
_READ_ONLY = (errno.EROFS, errno.EACCES, errno.EPERM)
_NO_SPACE_WORDS = ("disk is full", "no space left", "disk quota")
_READ_ONLY_WORDS = ("readonly database", "read-only file system", "permission denied", "unable to open database")
# Chroma's local store reports a full disk inside its own errors ("Failed to apply logs to the metadata segment")
# without saying why; measured on a 1.2-2.5 MB tmpfs, a failed write left 0.1-1.4 MB free. Below this much free
# space such an error is put down to the disk.
NEARLY_FULL_BYTES = 64 * 1024 * 1024


def free_bytes(path: Path) -> int | None:
    """Bytes available to this user on the file system holding `path` (its nearest existing parent)."""
    path = Path(path)
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        st = os.statvfs(path)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


def _storage_error(exc: BaseException) -> bool:
    return isinstance(exc, (OSError, sqlite3.Error)) or type(exc).__module__.split(".")[0] == "chromadb"


def write_failure_reason(exc: BaseException, where: Path | None = None) -> str | None:
    """'no space left on the device' or 'the location is read-only' when `exc` (an OSError, a sqlite3 or a
    chromadb error) says so, or a storage error happened on a nearly full disk at `where`; else None."""
    if isinstance(exc, OSError) and exc.errno is not None:
        if exc.errno in _NO_SPACE:
            return "no space left on the device"
        if exc.errno in _READ_ONLY:
            return "the location is read-only"
    if not _storage_error(exc):
        return None
    text = str(exc).lower()
    if any(w in text for w in _NO_SPACE_WORDS):
        return "no space left on the device"
    if any(w in text for w in _READ_ONLY_WORDS):
        return "the location is read-only"
    free = free_bytes(where) if where is not None else None
    if free is not None and free < NEARLY_FULL_BYTES:
        return f"the disk is nearly full ({free // 1024} KB free)"
    return None


def unreadable(location: str, where: Path | None, exc: BaseException) -> IndexProblem:
    """A vector store that fails to read: blocked by a full disk (Chroma applies its last writes when it opens,
    which needs space: nothing is damaged), or damaged."""
    reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
    full = write_failure_reason(exc, where) if where is not None else None
    if full is not None and "read-only" not in full:
        disk = "its disk is full" if full.startswith("no space") else full
        return IndexUnavailable(
            f"the vector store {location} cannot be read while {disk}: Chroma needs space to finish its last "
            "writes; nothing is damaged: free some space and retry"
        )
    return IndexCorrupt(f"the vector store {location} cannot be read ({reason}); {RESET}")


def write_failed(home: Path, reason: str) -> IndexWriteFailed:
    """The message for an ingest stopped before its commit: nothing is damaged, so never `--reset`."""
    return IndexWriteFailed(
        f"ingest into {home} stopped: {reason}; the index is unchanged: "
        f"{'make it writable' if 'read-only' in reason else 'free some space'}, then run the ingest again"
    )
