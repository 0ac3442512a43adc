"""What the `rag` command line prints and how it fails: every line made safe for a terminal and free of secrets,
user-facing errors as one `error:` line (exit 1), never a traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import typer

from rag.settings import Settings

T = TypeVar("T")


def _out(text: str) -> None:
    """A line of output. Text from the index or the user (titles, file names, answers) may carry terminal escapes
    and the settings may hold secrets: both are made safe here, for every line the CLI prints."""
    from rag.redact import redact
    from rag.untrusted import printable

    typer.echo(printable(redact(text)))


def _err(message: str) -> None:
    from rag.redact import redact
    from rag.untrusted import printable

    typer.echo(printable(redact(message)), err=True)


def _os_error(exc: OSError) -> str:
    """One line for an OSError: what could not be done where (a read-only or full disk, a busy port...)."""
    if not exc.strerror:
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    where = f"{exc.filename}" + (f" -> {exc.filename2}" if exc.filename2 else "") if exc.filename else ""
    return f"{exc.strerror.lower()}" + (f": {where}" if where else "")


def _user_errors() -> tuple[type[BaseException], ...]:
    from pydantic import ValidationError

    from ingest.parsers import ParseError
    from rag.assistant import PruneRefused
    from rag.embeddings import ModelNotFound
    from rag.index import IndexProblem

    errors: list[type[BaseException]] = [
        ParseError,
        IndexProblem,
        ModelNotFound,
        ValidationError,
        FileNotFoundError,
        PruneRefused,
    ]
    try:
        from eval.questions import QuestionError

        errors.append(QuestionError)
    except ImportError:  # pragma: no cover - eval is part of the distribution
        pass
    return tuple(errors)


def _run(fn: Callable[[], T]) -> T:
    """Run a command body, turning user-facing errors into one line on stderr and exit code 1."""
    try:
        return fn()
    except _user_errors() as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if type(exc).__name__ == "ValidationError":
            msg = "invalid setting: " + "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())  # type: ignore[attr-defined]
        _err(f"error: {msg}")
        raise typer.Exit(1) from None
    except OSError as exc:  # the environment, not the program: a read-only or full disk, a busy port, a bad path
        _err(f"error: {_os_error(exc)}")
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        _err("interrupted")
        raise typer.Exit(130) from None


def _stdin_queries() -> Iterator[str]:
    """Queries from stdin, one a line, as bytes: undecodable bytes never stop the read (they become "?")."""
    from rag.untrusted import readable

    stream = getattr(sys.stdin, "buffer", None)
    for raw in stream if stream is not None else sys.stdin:
        line = raw.decode("utf-8", "surrogateescape") if isinstance(raw, bytes) else raw
        q = readable(line).strip()
        if q:
            yield q


def _endpoint(settings: Settings) -> None:
    """Where an LLM-answering session sends its requests (and key), said when it starts; and a withheld key."""
    if settings.resolved_generator == "openai":
        _err(settings.endpoint_line())
        if settings.key_withheld:
            _err(f"warning: {settings.key_withheld}")


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(20, "--out must be a directory, not a file", str(out))
