"""A run of `rag` commands against an index on a real full or read-only file system, for test_disk_faults.py.

`python fs_child.py WORK full SIZE` or `python fs_child.py WORK readonly`. Meant to run inside `unshare -rm` (a
user and mount namespace of its own, so that it may mount a size-limited tmpfs or a read-only bind mount without
privileges on the host); `readonly` also runs without it, for a non-root user, with `chmod`. It builds a small
index with the fake embedding model in WORK/base, puts it on the file system under test, runs the commands
in-process through typer's CliRunner and prints one JSON list: [{"step", "args", "exit", "stdout", "stderr"}].
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import traceback
from pathlib import Path

HERE = Path(__file__).resolve()
sys.path[:0] = [str(HERE.parents[2]), str(HERE.parents[1])]  # the project before tests/ (tests/ingest shadows)
os.environ.update(HF_HUB_OFFLINE="1", ANONYMIZED_TELEMETRY="False", GRADIO_ANALYTICS_ENABLED="False")

from fake_embeddings import HashingEmbeddings  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

import rag.embeddings  # noqa: E402
import rag.index.api  # noqa: E402
from ingest.parsers import bundled_corpus  # noqa: E402
from rag import Assistant, Settings  # noqa: E402
from rag.cli import app  # noqa: E402

TINY = HERE.parents[1] / "data" / "tiny.jsonl"
QUERY = "training-free acceleration of diffusion sampling"
FAKE = HashingEmbeddings()
rag.embeddings.load_embeddings = lambda *a, **kw: FAKE
rag.index.api.identity_for = lambda name: FAKE.identity
steps: list[dict] = []


def cli(step: str, home: Path, *args: str) -> None:
    result = CliRunner().invoke(app, list(args), env={"RAG_HOME": str(home)})
    out = {"step": step, "args": list(args), "exit": result.exit_code, "stdout": result.stdout}
    out["stderr"] = result.stderr
    if result.exit_code not in (0, 1):  # an exception escaped the CLI: show it in the test's failure
        out["stderr"] += "".join(traceback.format_exception(result.exception))
    steps.append(out)


def build(base: Path) -> None:
    Assistant(Settings(home=base, generator="extractive"), embeddings=FAKE).ingest([TINY])


def full(work: Path, size: str) -> None:
    """An ingest that runs out of space, the index read while the disk is full, then again with space."""
    mnt = work / "mnt"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)], check=True)
    home = mnt / "index"
    shutil.copytree(work / "base", home)
    big = str(bundled_corpus()[0])
    cli("ingest-full", home, "ingest", big, "--json")
    cli("stats-full", home, "stats", "--json")
    cli("search-full", home, "search", QUERY, "--k", "3", "--json")
    subprocess.run(["mount", "-o", "remount,size=256m", str(mnt)], check=True)
    cli("search-freed", home, "search", QUERY, "--k", "3", "--json")
    cli("ingest-freed", home, "ingest", big, "--json")
    cli("stats-freed", home, "stats", "--json")


def read_only(work: Path) -> None:
    """Search, ask and stats on an index nobody may write (BM25 not saved, so it must be rebuilt in memory);
    an ingest into it. A read-only bind mount as root in the namespace, `chmod` otherwise."""
    base = work / "base"
    shutil.rmtree(base / "bm25")
    if os.geteuid() == 0:
        home = work / "ro"
        home.mkdir()
        subprocess.run(["mount", "--bind", str(base), str(home)], check=True)
        subprocess.run(["mount", "-o", "remount,bind,ro", str(home)], check=True)
    else:
        home = base
        for path in [home, *home.rglob("*")]:
            path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    try:
        cli("search", home, "search", QUERY, "--k", "3", "--json")
        cli("search-dense", home, "search", QUERY, "--k", "3", "--json", "--retriever", "dense")
        cli("ask", home, "ask", "What does FastDiff do?", "--json")
        cli("stats", home, "stats", "--json")
        cli("ingest", home, "ingest", str(bundled_corpus()[0]), "--json")
        steps.append({"step": "files-after", "files": sorted(str(p.relative_to(home)) for p in home.rglob("*"))})
    finally:
        if os.geteuid() != 0:  # let the test's temporary directory be removed
            for path in [base, *base.rglob("*")]:
                path.chmod(path.stat().st_mode | stat.S_IWUSR)


def main(work: str, what: str, *args: str) -> None:
    root = Path(work)
    build(root / "base")
    files = sorted(str(p.relative_to(root / "base")) for p in (root / "base").rglob("*"))
    steps.append({"step": "files-before", "files": files})
    if what == "full":
        full(root, *args)
    else:
        read_only(root)
    print(json.dumps(steps), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
