"""Counts in messages agree with their nouns ("1 paper", "2 papers"), through one helper (`rag.text.counted`)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from rag.text import counted

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("n", "noun", "plural", "said"),
    [
        (0, "paper", None, "0 papers"),
        (1, "paper", None, "1 paper"),
        (2, "paper", None, "2 papers"),
        (1204, "chunk", None, "1,204 chunks"),
        (1, "entry", "entries", "1 entry"),
        (3, "entry", "entries", "3 entries"),
    ],
)
def test_counted_agrees_the_noun_with_the_count(n, noun, plural, said):
    assert counted(n, noun, plural) == said


def _string_parts(path: Path) -> list[tuple[int, str]]:
    """Every literal piece of text a module can print (plain strings and the fixed parts of f-strings); not its
    docstrings, which are documentation."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docs = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)}
    return [
        (n.lineno, n.value)
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs
    ]


def test_no_message_in_the_product_writes_a_plural_as_noun_s():
    """ "paper(s)", "record(s)", "line(s)": a message says "1 record" or "2 records" (`counted`), never both."""
    found = []
    for package in ("rag", "ui", "ingest"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for line, text in _string_parts(path):
                for m in re.finditer(r"\b([a-z]+)\(s\)(?!\?)", text):  # not a regex's optional "(s)?"
                    if m.group(1) != "http":
                        found.append(f"{path.relative_to(ROOT)}:{line}: {m.group(0)}")
    assert found == []


def test_stats_and_ingest_say_one_paper_not_one_papers(tmp_path, fake_model):
    from typer.testing import CliRunner

    from rag.cli import app

    bib = tmp_path / "mine.bib"
    bib.write_text(
        "@article{t24, title = {Tidepool}, author = {Doe, Jane}, year = {2024},\n"
        "  abstract = {We route audio frames to sparse experts for streaming speech recognition.}}\n"
    )
    env = {"RAG_HOME": str(tmp_path / "index")}
    ingested = CliRunner().invoke(app, ["ingest", str(bib)], env=env, catch_exceptions=False)
    assert ingested.stdout.startswith("1 paper, 1 chunk in ")
    out = CliRunner().invoke(app, ["stats"], env=env, catch_exceptions=False).stdout
    assert "BibTeX (mine.bib): 1 paper\n" in out and "1 papers" not in out
