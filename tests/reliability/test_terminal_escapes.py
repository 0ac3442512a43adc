"""Terminal escapes: titles, abstracts and file names from the index can carry ANSI/OSC sequences (clear the screen,
retitle the terminal, write the clipboard, hide text) and bidirectional overrides; `rag search`, `rag ask`,
`rag stats` and `rag ingest` print them made safe, and log records carry none either. `--json` output escapes
them as JSON does. Each test indexes its own small hostile file with the fake embedding model."""

from __future__ import annotations

import json
import logging
import re

import pytest
from reltools import cli

# The sequences an attacker would plant: OSC retitle (BEL- and ST-terminated), clear screen, cursor home, SGR
# hidden text, OSC 52 clipboard write, an 8-bit CSI, a DCS string, and a right-to-left override.
ESCAPES = [
    "\x1b]0;pwned-title\x07",
    "\x1b]2;pwned\x1b\\",
    "\x1b[2J\x1b[H",
    "\x1b[8mhidden\x1b[0m",
    "\x1b]52;c;cHduZWQ=\x07",
    "\x9b31m",
    "\x1bPq#0;2;0;0;0\x1b\\",
    "\u202e",
]
UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
ABSTRACT = (
    "We distil a diffusion sampler into a four-step student network. {esc}The four-step student reaches an FID "
    "of 3.1 on CIFAR-10.{esc} Training the student takes one day on eight accelerators."
)


@pytest.fixture
def hostile_index(tmp_path, fake_model, monkeypatch):
    monkeypatch.setenv("RAG_HOME", str(tmp_path / "home"))
    rows = [
        {"title": f"Escape{i} {esc}Distilled Samplers{esc} Study {i}", "abstract": ABSTRACT.format(esc=esc)}
        for i, esc in enumerate(ESCAPES)
    ]
    source = tmp_path / "papers\x1b]0;file-title\x07\x1b[2J.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = cli(["ingest", str(source)])
    assert result.exit_code == 0, result.output
    return source


def assert_safe(*texts: str) -> None:
    for text in texts:
        found = UNSAFE.findall(text)
        assert not found, f"unsafe characters {found!r} in output: {text[:300]!r}"


def test_search_ask_and_stats_print_index_text_made_safe(hostile_index, caplog):
    caplog.set_level(logging.DEBUG)
    outputs = []
    for args in (
        ["search", "distilled samplers four-step student"],
        ["search", "distilled samplers", "--json"],
        ["ask", "What FID does the four-step student reach on CIFAR-10?"],
        ["ask", "What FID does the four-step student reach on CIFAR-10?", "--json"],
        ["stats"],
        ["stats", "--json"],
    ):
        result = cli(args)
        assert result.exit_code == 0, (args, result.output)
        outputs += [result.stdout, result.stderr]
    assert_safe(*outputs, caplog.text)
    search = outputs[0]
    assert search.count("Distilled Samplers") == len(ESCAPES)  # the titles are still shown, just inert
    assert "3.1" in outputs[4]
    assert "papers" in outputs[8] and ".jsonl" in outputs[8]  # the source file's name, made safe
    as_json = json.loads(outputs[2])
    assert any("\x1b" in hit["title"] for hit in as_json)  # data output keeps the data; JSON escapes it


def test_an_error_naming_a_hostile_file_is_made_safe(tmp_path, fake_model, monkeypatch):
    monkeypatch.setenv("RAG_HOME", str(tmp_path / "home"))
    bad = tmp_path / "bad\x1b]0;pwned\x07\x1b[2J.jsonl"
    bad.write_text('{"title": "T"\n')
    result = cli(["ingest", str(bad)])
    assert result.exit_code == 1 and result.stderr.startswith("error: ")
    assert_safe(result.stdout, result.stderr)
    assert "bad" in result.stderr and ".jsonl:1: invalid JSON" in result.stderr  # the line of the open record


def test_log_records_carry_no_escapes(caplog):
    caplog.set_level(logging.INFO)
    import rag.settings  # noqa: F401 - installs the record factory

    logging.getLogger("rag.test").info("indexed %s from %s", "Title\x1b]0;pwned\x07", "f\x1b[2J.jsonl")
    assert_safe(caplog.text)
    assert "indexed Title  from f .jsonl" in caplog.text  # the record is kept, its escapes made inert
