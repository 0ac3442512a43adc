"""Where else a populated index sits when the configured one is empty: the `.rag` directory `make run` fills in
the project's checkout (the Makefile sets `RAG_HOME=$(CURDIR)/.rag`), or one in the working directory.

Without this, a CLI started without `RAG_HOME` reads the default home (`~/.local/share/rag`), finds it empty and
sends the user off to ingest a second copy of what `make run` already built.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rag.index.manifest import Manifest
from rag.text import counted

# The directory name the Makefile gives the project's own index (`export RAG_HOME ?= $(CURDIR)/.rag`).
PROJECT_INDEX = ".rag"


@dataclass(frozen=True)
class OtherIndex:
    """A populated index that is not the configured one: its directory and how many papers it holds."""

    home: Path
    papers: int


def project_root() -> Path | None:
    """The source checkout this package runs from (an editable install, as `make setup` makes), recognised by
    its Makefile and pyproject.toml; None for an installed wheel."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "Makefile").is_file() and (root / "pyproject.toml").is_file() else None


def candidate_homes(cwd: Path | None = None, root: Path | None = None) -> list[Path]:
    """Where `make run` may have put an index: `./.rag` in the working directory, then in the project checkout.
    `root` defaults to `project_root()`."""
    out = [Path(cwd or Path.cwd()) / PROJECT_INDEX]
    root = root if root is not None else project_root()
    if root is not None:
        out.append(root / PROJECT_INDEX)
    return out


def paper_count(home: Path) -> int:
    """Papers committed in the index at `home`; 0 when it has none, no manifest, or an unreadable one."""
    manifest = Manifest(Path(home) / "manifest.sqlite")
    if not manifest.exists():
        return 0
    try:
        return len(manifest.read_state().papers)
    except Exception:  # another schema or a damaged file: not an index to point anyone at
        return 0


def populated_elsewhere(home: Path, candidates: list[Path] | None = None) -> OtherIndex | None:
    """The first of `candidates` (default `candidate_homes()`) that is not `home` and holds papers, or None."""
    own = _resolved(home)
    seen = {own}
    for candidate in candidates if candidates is not None else candidate_homes():
        where = _resolved(candidate)
        if where in seen:
            continue
        seen.add(where)
        n = paper_count(candidate)
        if n:
            return OtherIndex(Path(candidate), n)
    return None


def is_default_home(home: Path) -> bool:
    """Whether `home` is where an index goes when RAG_HOME is not set (`$XDG_DATA_HOME/rag`, else
    `~/.local/share/rag`): only then is a populated `./.rag` likely the index the user meant."""
    from rag.settings import _default_home

    return _resolved(home) == _resolved(_default_home())


def _resolved(path: Path) -> Path:
    try:
        return Path(path).expanduser().resolve()
    except OSError:
        return Path(path).expanduser().absolute()


def empty_index_message(home: Path, command: str, cwd: Path | None = None) -> str | None:
    """For an empty index at `home`: one line naming the populated index `make run` keeps in `./.rag` (or the
    working directory's), with `command` (the user's command line) run against it and the `export` that makes
    every later command use it; None when there is no such index."""
    other = populated_elsewhere(home, candidate_homes(cwd))
    if other is None:
        return None
    # as the user knows the paths (a symlinked `.rag` stays `./.rag`)
    where, here = Path(other.home).expanduser().absolute(), Path(cwd or Path.cwd()).absolute()
    inside = where.is_relative_to(here)
    shown = f"./{where.relative_to(here)}" if inside else str(where)
    exported = f"$PWD/{where.relative_to(here)}" if inside else str(where)
    return (
        f"the index at {home} is empty, but {shown} (where `make run` keeps its index) holds {counted(other.papers, 'paper')}: "
        f"run `RAG_HOME={shown} {command}`, or `export RAG_HOME={exported}` for this shell "
        "(`rag ingest` would build a second index here)"
    )
