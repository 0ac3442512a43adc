"""The one error a parser raises: `ParseError`, whose message is `FILE:LINE: what is wrong`."""

from __future__ import annotations

from pathlib import Path


class ParseError(ValueError):
    """A source file is malformed; the message is `FILE:LINE: what is wrong` (`FILE: ...` when no line applies)."""

    def __init__(self, path: str | Path, line: int | None, message: str) -> None:
        self.path = str(path)
        self.line = line
        self.reason = message
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")
