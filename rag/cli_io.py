"""What the `rag` command line prints and how it fails: every line made safe for a terminal and free of secrets,
user-facing errors as one `error:` line (exit 1), never a traceback; an answer and its signals as text, a search
hit as one line, and the hint an empty index gives (the populated `./.rag` that `make run` keeps)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import typer

from rag.settings import Settings
from rag.text import counted

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


def _empty_hint(assistant: Any, command: str) -> bool:
    """Whether the index is empty, said on stderr with what to do: use the populated index `make run` built
    (`./.rag`) when there is one, else `rag ingest`."""
    assistant.index.check_health()  # a damaged or mismatched index: one line naming the fix, exit 1
    if assistant.index.is_empty():
        if not _elsewhere_hint(assistant, command):
            _err(
                f"the index at {assistant.settings.home} is empty: run `rag ingest` first "
                "(no path ingests the bundled corpus)"
            )
        return True
    return False


def _elsewhere_hint(assistant: Any, command: str, prefix: str = "") -> bool:
    """For an empty index at the default home (RAG_HOME not set): say on stderr where the populated one `make run`
    built is, and the command that uses it (`rag.index.locate`). Whether there is one."""
    from rag.index.locate import empty_index_message, is_default_home

    if not is_default_home(assistant.settings.home):
        return False  # RAG_HOME chosen by the user (or a test): that is the index they mean
    message = empty_index_message(assistant.settings.home, _command_line(command))
    if message:
        _err(prefix + message)
    return message is not None


def _command_line(command: str) -> str:
    """The command being run, as the user could type it again: the `rag` script as invoked (bare `rag` when that
    is what PATH finds) and its arguments, shell-quoted; `rag COMMAND ...` when not run as the script."""
    import os
    import shlex
    import shutil

    argv = sys.argv
    if argv and Path(argv[0]).name == "rag":
        prog = Path(argv[0])
        found = shutil.which("rag")
        if found and Path(found).resolve() == prog.resolve():
            name = "rag"
        elif prog.is_absolute() and prog.resolve().is_relative_to(Path.cwd().resolve()):
            name = os.path.relpath(prog.resolve(), Path.cwd().resolve())
        else:
            name = str(prog)
        return shlex.join([name, *argv[1:]])
    return f"rag {command} ..."


def _source_line(s: Any) -> str:
    labels = "; ".join(s.source_labels or [Path(f).name for f in s.sources])
    parts = [f"score {s.score:.4f}", labels]
    if s.date and s.date not in labels:  # "Daily Papers, Mar 11 (dump 0)" already says the day it was listed
        parts.append(s.date)
    if s.authors:
        parts.append(s.authors[0] + (" et al." if len(s.authors) > 1 else ""))
    return f"{s.rank:>3}. {s.title}  ({'; '.join(parts)})"


def _print_answer(answer: Any) -> None:
    """An answer as text: the answer, its note and signals, warnings on stderr, then the cited papers (or the
    related ones a refusal offers)."""
    _out(answer.answer)
    if answer.note:
        _out(answer.note)
    if not answer.refused:
        _out(_signals(answer))
    if answer.warning:
        _err(f"warning: {answer.warning}")
    if answer.citations:
        _out("\nSources:")
        for c in answer.citations:
            _out(f"  [{c.n}] {c.title}")
    elif answer.related:
        _out("\nRelated papers (not cited):")
        for s in answer.related:
            _out(f"  - {s.title}")


def _signals(answer: Any) -> str:
    """The answer's two signals in one line: grounding (every sentence supported by the abstract it cites) and
    whether it carries what was asked; low confidence said plainly."""
    from rag.record import support_basis

    bad = len(answer.grounding.unsupported_sentences)
    basis = support_basis(answer.grounding.sentence_scores)
    support = f"supported by {basis}" if not bad else f"{counted(bad, 'sentence')} NOT supported by {basis}"
    check = answer.answer_check
    if answer.answers_question and check.confidence == "high":
        fit = "answers the question"
    elif answer.answers_question:
        fit = "partly answers the question" + (
            f" (no mention of {', '.join(check.missing_terms[:4])})" if check.missing_terms else ""
        )
    else:
        fit = f"LOW CONFIDENCE: may not answer the question (expected {check.expected or 'what was asked'})"
    return f"[{support}; {fit}]"
