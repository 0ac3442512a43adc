"""Bad source files: each gets `FILE:LINE: what is wrong`, exit code 1 and an untouched index; the parsers are
fuzzed with hypothesis so that no input makes them fail with anything but `ParseError`."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reltools import cli, snapshot, tiny_rows

from ingest.parsers import BOILERPLATE, ParseError, load_papers, parse_file
from rag import Assistant, Settings

ABSTRACT = "We study a problem and propose a method that improves on strong baselines across several benchmarks."
GOOD = json.dumps({"title": "A Good Paper", "abstract": ABSTRACT})
GOOD_CSV_ROW = f'A Good Paper,"{ABSTRACT}"'
MEGABYTE = "word " * 199_999 + "word!"  # exactly 1,000,000 characters

# name -> (file content, line the message must name, words the message must contain)
BAD_FILES: dict[str, tuple[bytes, int, str]] = {
    "empty.jsonl": (b"", 1, "empty file"),
    "whitespace.csv": (b"  \n\n \t\n", 1, "empty file"),
    "binary.jsonl": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", 3, "binary data"),
    "utf16.csv": ("title,abstract\nA,B\n".encode("utf-16"), 1, "UTF-16"),
    "latin1.csv": (
        f"title,abstract\n{GOOD_CSV_ROW}\nCaf\xe9 Paper,{ABSTRACT}\n".encode("latin-1"),
        3,
        "not valid UTF-8",
    ),
    "array-line.jsonl": (f"{GOOD}\n[1, 2, 3]\n".encode(), 2, "expected a JSON object, got list"),
    "string-line.jsonl": (f'{GOOD}\n"just a string"\n'.encode(), 2, "expected a JSON object, got str"),
    "number-line.jsonl": (f"{GOOD}\n\n42\n".encode(), 3, "expected a JSON object, got int"),
    "not-json.jsonl": (f"{GOOD}\ntitle: A paper\n".encode(), 2, "invalid JSON"),
    "missing-title.jsonl": (f'{GOOD}\n{{"abstract": "{ABSTRACT}"}}\n'.encode(), 2, 'missing or empty "title"'),
    "blank-title.jsonl": (f'{{"title": "  \\t ", "abstract": "{ABSTRACT}"}}\n'.encode(), 1, 'missing or empty "title"'),
    "empty-abstract.csv": (b"title,abstract\nSome Title,\n", 2, 'missing or empty "abstract"'),
    "megabyte-abstract.jsonl": (
        f"{GOOD}\n{json.dumps({'title': 'Huge', 'abstract': MEGABYTE})}\n".encode(),
        2,
        "abstract is 1,000,000 characters; the limit is 20,000",
    ),
    "megabyte-abstract.csv": (
        f'title,abstract\n{GOOD_CSV_ROW}\nHuge,"{MEGABYTE}"\n'.encode(),
        3,
        "abstract is 1,000,000 characters; the limit is 20,000",
    ),
    "megabyte-abstract.txt": (
        f"new\nHuge Paper\n{MEGABYTE}\n".encode(),
        2,
        "abstract is 1,000,000 characters; the limit is 20,000",
    ),
    "wrong-columns.csv": (f"name,summary\nA,{ABSTRACT}\n".encode(), 1, "CSV header lacks columns title, abstract"),
    "repeated-column.csv": (f"title,abstract,title\nA,{ABSTRACT},B\n".encode(), 1, "more than once"),
    "extra-field.csv": (f"title,abstract\n{GOOD_CSV_ROW}\nB,{ABSTRACT},extra\n".encode(), 3, "row has 3 fields"),
    "short-row.csv": (f"title,abstract,url\n{GOOD_CSV_ROW},https://x.org\nOnly A Title\n".encode(), 3, "row has 1"),
    "deep-nesting.jsonl": (b"[" * 200_000 + b"]" * 200_000 + b"\n", 1, "unreadable JSON"),
    "giant-integer.jsonl": (
        f'{{"title": "T", "abstract": "{ABSTRACT}", "id": 1{"0" * 5000}}}\n'.encode(),
        1,
        "unreadable JSON",
    ),
    "lone-surrogate.jsonl": (f'{{"title": "\\ud800 T", "abstract": "{ABSTRACT}"}}\n'.encode(), 1, "lone surrogate"),
    "punctuation-title.jsonl": (f'{{"title": "?!?", "abstract": "{ABSTRACT}"}}\n'.encode(), 1, "no letters or digits"),
    "dangling-title.txt": (f"new\nTitle A\n{ABSTRACT}\nTitle B\n".encode(), 4, "has no abstract line after it"),
    "short-abstract.txt": (b"Title A\ntoo short\n", 2, "is only 9 characters"),
    # issue 17: text no field can hold, written as an escape (a raw NUL byte is refused as binary above)
    "nul-escape-title.jsonl": (f'{GOOD}\n{{"title": "A\\u0000B", "abstract": "{ABSTRACT}"}}\n'.encode(), 2, "NUL"),
    "nul-escape-abstract.jsonl": (
        f'{{"title": "T", "abstract": "{ABSTRACT[:40]}\\u0000{ABSTRACT}"}}\n'.encode(),
        1,
        "NUL",
    ),
    # an abstract of zero-width characters only is as empty as one of spaces
    "zero-width-abstract.jsonl": (
        '{"title": "Invisible", "abstract": "\u200b\u200b\u200c\u200d\u2060\ufeff\u200b"}\n'.encode(),
        1,
        'missing or empty "abstract"',
    ),
    "zero-width-abstract-escaped.jsonl": (
        b'{"title": "Invisible", "abstract": "\\u200b\\u200b \\u200b\\u2063"}\n',
        1,
        'missing or empty "abstract"',
    ),
    "zero-width-abstract.csv": (
        "title,abstract\nInvisible,\u200b\u200b\u200b\n".encode(),
        2,
        'missing or empty "abstract"',
    ),
    "zero-width-title.jsonl": (f'{{"title": "\u200b\u200b", "abstract": "{ABSTRACT}"}}\n'.encode(), 1, '"title"'),
}


@pytest.fixture
def indexed(tiny_copy) -> Path:
    return tiny_copy


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_each_bad_file_exits_1_naming_file_and_line_and_leaves_the_index_unchanged(indexed, tmp_path, embeddings, name):
    data, line, reason = BAD_FILES[name]
    bad = tmp_path / name
    bad.write_bytes(data)
    reader = Assistant(Settings(home=indexed, generator="extractive"), embeddings=embeddings)
    before = snapshot(reader)

    result = cli(["ingest", str(bad), "--json"])

    assert result.exit_code == 1
    assert result.stdout == ""
    [message] = result.stderr.strip().splitlines()
    assert message.startswith(f"error: {bad}:{line}: "), message
    assert reason in message
    assert len(message) < 400  # one readable line, not a megabyte of echoed input
    assert snapshot(Assistant(Settings(home=indexed, generator="extractive"), embeddings=embeddings)) == before
    assert not (indexed / "ingest.journal").exists()


def test_a_zero_width_abstract_among_good_records_is_skipped_and_reported(tmp_path):
    path = tmp_path / "mixed.jsonl"
    rows = [*tiny_rows()[:2], {"title": "Invisible Abstract", "abstract": "\u200b" * 40}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = load_papers([path])
    assert {p.title for p in result} == {r["title"] for r in rows[:2]}  # never indexed
    assert [(s.line, s.reason) for s in result.skipped] == [(3, 'missing or empty "abstract"')]


def test_a_bad_file_among_good_ones_writes_nothing_even_with_prune(indexed, tmp_path, embeddings):
    """Parsing finishes before anything is written, so `--prune` with one broken file cannot empty the index."""
    good = tmp_path / "good.jsonl"
    good.write_text("".join(json.dumps(r) + "\n" for r in tiny_rows()[:2]))
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(BAD_FILES["array-line.jsonl"][0])
    before = snapshot(Assistant(Settings(home=indexed, generator="extractive"), embeddings=embeddings))
    result = cli(["ingest", str(good), str(bad), "--prune"])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {bad}:2: ")
    assert snapshot(Assistant(Settings(home=indexed, generator="extractive"), embeddings=embeddings)) == before


def test_the_same_id_with_different_content_in_two_files_is_one_paper_with_a_warning_naming_both(tmp_path):
    a = tmp_path / "a.jsonl"
    a.write_text(json.dumps({"id": "2401.00009", "title": "Same", "abstract": ABSTRACT}) + "\n")
    b = tmp_path / "b.csv"
    b.write_text(
        'id,title,abstract\n2401.00009,Same,"Another text entirely: a survey of graph kernels for chemistry."\n'
    )
    result = load_papers([a, b])
    [paper] = result
    assert paper.sources == ["a.jsonl", "b.csv"]
    [warning] = result.warnings
    assert "a.jsonl:1" in warning or "b.csv:2" in warning


@pytest.mark.parametrize(
    "text",
    [
        '{"title": "Line\u2028Separator", "abstract": "' + ABSTRACT + '"}\n',
        '{"title": "Next\u0085Line", "abstract": "' + ABSTRACT + '"}\r\n',
    ],
)
def test_json_lines_with_unicode_line_separators_inside_strings_are_valid(tmp_path, text):
    """JSON allows U+2028 and U+0085 inside strings; splitting lines at them broke valid files."""
    path = tmp_path / "ok.jsonl"
    path.write_text(text + GOOD + "\n", encoding="utf-8")
    assert [r.line for r in parse_file(path).records] == [1, 2]


# ---- fuzzing -------------------------------------------------------------------------------------------------

FUZZ = settings(
    max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


def parse_or_parse_error(suffix: str, data: bytes) -> None:
    """Parse `data` as a file with `suffix`: records that can be indexed, or a `ParseError` naming a real line."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"fuzz{suffix}"
        path.write_bytes(data)
        n_lines = data.count(b"\n") + data.count(b"\r") + 1
        try:
            records = parse_file(path)
            papers = load_papers([path])
        except ParseError as exc:
            assert str(exc).startswith(f"{path}:")
            assert exc.line is None or 1 <= exc.line <= n_lines
            assert exc.reason and "\n" not in exc.reason
            return
        assert records.records and papers
        for record in records.records:
            assert 1 <= record.line <= n_lines
        for skipped in records.skipped:
            assert 1 <= skipped.line <= n_lines
        for paper in papers:
            assert paper.title and paper.abstract
            paper.content_hash.encode()  # indexable: no lone surrogates, ids and hashes derive
            assert paper.paper_id


@FUZZ
@given(data=st.binary(max_size=2000), suffix=st.sampled_from([".txt", ".jsonl", ".csv"]))
def test_fuzz_arbitrary_bytes(data, suffix):
    parse_or_parse_error(suffix, data)


JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=60)
JSON_VALUES = st.recursive(
    JSON_SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
)
FIELD = st.sampled_from(["title", "abstract", "id", "url", "date", "authors", "other", ""])
RECORD = st.dictionaries(FIELD, st.text(min_size=0, max_size=120) | JSON_VALUES, max_size=6)


@FUZZ
@given(lines=st.lists(RECORD | JSON_VALUES | st.text(max_size=80), min_size=0, max_size=6), crlf=st.booleans())
def test_fuzz_json_lines(lines, crlf):
    text = ("\r\n" if crlf else "\n").join(x if isinstance(x, str) else json.dumps(x) for x in lines)
    parse_or_parse_error(".jsonl", text.encode("utf-8", "surrogatepass"))


CSV_CELL = st.text(st.characters(codec="utf-8"), max_size=120) | st.sampled_from(['"', '""', ",", "\n", '"a,b"'])


@FUZZ
@given(
    header=st.lists(st.sampled_from(["title", "abstract", "Title", " abstract ", "url", "id", "x", ""]), max_size=5),
    rows=st.lists(st.lists(CSV_CELL, max_size=6), max_size=6),
)
def test_fuzz_csv(header, rows):
    def cell(v: str) -> str:
        return '"' + v.replace('"', '""') + '"' if any(c in v for c in ',"\n\r') else v

    text = "\n".join([",".join(header), *(",".join(cell(v) for v in row) for row in rows)])
    parse_or_parse_error(".csv", text.encode("utf-8", "surrogatepass"))


DUMP_LINE = (
    st.sampled_from([*sorted(BOILERPLATE), "Mar 11", "Subscribe", "", "SubscribeGlued Title", "Dec 1, 2024"])
    | st.text(max_size=40)
    | st.just(ABSTRACT)
    | st.text(min_size=500, max_size=700)
)


@FUZZ
@given(lines=st.lists(DUMP_LINE, max_size=12))
def test_fuzz_daily_papers_dump(lines):
    parse_or_parse_error(".txt", "\n".join(lines).encode("utf-8", "surrogatepass"))
