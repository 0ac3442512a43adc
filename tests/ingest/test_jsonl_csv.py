"""JSON Lines and CSV sources: good files with optional fields, and every malformed shape raising `FILE:LINE: ...`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest import ParseError, load_papers, paper_id_for, parse_file


def parse_jsonl(path: Path) -> list:
    return [(r.line, r) for r in parse_file(path).records]


parse_csv = parse_jsonl

ABSTRACT = "We propose a method for a problem. It beats the baseline on two benchmarks by a clear margin."


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _jsonl(tmp_path: Path, records: list, name: str = "papers.jsonl") -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    return _write(tmp_path, name, "\n".join(lines) + "\n")


# ---- JSON Lines ------------------------------------------------------------------------------------------


def test_jsonl_reads_required_and_optional_fields(tmp_path):
    path = _jsonl(
        tmp_path,
        [
            {
                "title": "  A   Spaced  Title ",
                "abstract": ABSTRACT,
                "id": "arXiv:2401.01234v2",
                "url": "https://arxiv.org/abs/2401.01234",
                "date": "2024-01-03",
                "authors": ["Ada Lovelace", "Alan Turing"],
                "venue": "ignored extra field",
            },
            {"title": "Plain Paper", "abstract": ABSTRACT},
        ],
    )
    (l1, full), (l2, plain) = parse_jsonl(path)
    assert (l1, l2) == (1, 2)
    assert full.title == "A Spaced Title"
    assert full.arxiv_id == "2401.01234"
    assert full.url == "https://arxiv.org/abs/2401.01234"
    assert full.date == "2024-01-03"
    assert full.authors == ("Ada Lovelace", "Alan Turing")
    assert full.source == "papers.jsonl"
    assert (plain.url, plain.date, plain.authors, plain.arxiv_id) == (None, None, (), None)
    papers = load_papers([path])
    assert [p.paper_id for p in papers] == [paper_id_for("A Spaced Title"), paper_id_for("Plain Paper")]
    assert papers[0].authors == "Ada Lovelace, Alan Turing"


def test_jsonl_skips_blank_lines_and_reads_a_byte_order_mark(tmp_path):
    path = tmp_path / "bom.jsonl"
    body = "\n\n" + json.dumps({"title": "T1", "abstract": ABSTRACT}) + "\n   \n"
    path.write_bytes(b"\xef\xbb\xbf" + body.encode())
    [(line, paper)] = parse_jsonl(path)
    assert (line, paper.title) == (3, "T1")


def test_jsonl_numeric_date_is_a_year_and_an_id_that_is_no_arxiv_id_is_not_taken_for_one(tmp_path):
    path = _jsonl(tmp_path, [{"title": "T", "abstract": ABSTRACT, "id": 42, "date": 2024}])
    [(_, paper)] = parse_jsonl(path)
    assert (paper.arxiv_id, paper.date, paper.url) == (None, "2024", None)


GOOD = json.dumps({"title": "Good Paper", "abstract": ABSTRACT})


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ('{"title": "Broken", "abstract": ', "invalid JSON"),
        ("[1, 2, 3]", "expected a JSON object, got list"),
        ('"just a string"', "expected a JSON object, got str"),
        (json.dumps({"abstract": ABSTRACT}), 'missing or empty "title"'),
        (json.dumps({"title": "   ", "abstract": ABSTRACT}), 'missing or empty "title"'),
        (json.dumps({"title": ["a", "list"], "abstract": ABSTRACT}), '"title" must be a string, got list'),
        (json.dumps({"title": "T", "abstract": ABSTRACT, "url": 3}), '"url" must be a string, got int'),
        (json.dumps({"title": "x" * 501, "abstract": ABSTRACT}), "the limit is 500"),
    ],
)
def test_malformed_jsonl_record_raises_parse_error_at_its_line(tmp_path, bad, reason):
    path = _jsonl(tmp_path, [GOOD, "", bad, GOOD.replace("Good", "Later")])
    with pytest.raises(ParseError) as info:
        parse_jsonl(path)
    assert str(info.value).startswith(f"{path}:3: ")
    assert reason in str(info.value)
    assert (info.value.path, info.value.line) == (str(path), 3)


@pytest.mark.parametrize("ending", ["", "\n", "\n\n"])
@pytest.mark.parametrize("good_lines", [0, 2])
def test_a_record_left_open_at_the_end_of_the_file_is_reported_at_its_own_line(tmp_path, ending, good_lines):
    path = _write(
        tmp_path, "broken.jsonl", "".join(GOOD + "\n" for _ in range(good_lines)) + '{"title": "Broken"' + ending
    )
    with pytest.raises(ParseError) as info:
        parse_jsonl(path)
    assert info.value.line == good_lines + 1, str(info.value)
    assert "invalid JSON" in str(info.value)


def test_an_array_element_left_open_is_reported_at_the_line_it_starts_on(tmp_path):
    path = _write(tmp_path, "broken.json", "[\n" + GOOD + ",\n" + '{"title": "Broken",\n "abstract": "x"\n')
    with pytest.raises(ParseError) as info:
        parse_file(path)
    assert info.value.line == 3 and "not closed" in str(info.value)


def test_jsonl_without_records_is_an_error(tmp_path):
    with pytest.raises(ParseError, match="empty file"):
        parse_jsonl(_write(tmp_path, "blank.jsonl", "\n \n\n"))


# ---- CSV -------------------------------------------------------------------------------------------------


def test_csv_reads_required_and_optional_columns_in_any_order_and_case(tmp_path):
    path = _write(
        tmp_path,
        "papers.csv",
        "URL, Abstract ,Title,date,id,authors\n"
        f'https://example.org/1,"{ABSTRACT}","Quoted, With Comma",2024-05-01,2405.00001,"A. Author; B. Author"\n'
        f',"{ABSTRACT}",Bare Paper,,,\n',
    )
    (l1, first), (l2, second) = parse_csv(path)
    assert (l1, l2) == (2, 3)
    assert first.title == "Quoted, With Comma"
    assert (first.url, first.date, first.arxiv_id) == ("https://example.org/1", "2024-05-01", "2405.00001")
    assert first.authors == ("A. Author", "B. Author")
    assert (second.title, second.url, second.date, second.arxiv_id) == ("Bare Paper", None, None, None)


def test_csv_multiline_quoted_abstract_is_one_record(tmp_path):
    path = _write(tmp_path, "multi.csv", f'title,abstract\nT1,"{ABSTRACT}\nSecond line of it."\nT2,{ABSTRACT}\n')
    papers = [p for _, p in parse_csv(path)]
    assert [p.title for p in papers] == ["T1", "T2"]
    assert papers[0].abstract == ABSTRACT + " Second line of it."


def test_csv_skips_empty_rows(tmp_path):
    path = _write(tmp_path, "gaps.csv", f"title,abstract\n\n,\nT1,{ABSTRACT}\n")
    assert [p.title for _, p in parse_csv(path)] == ["T1"]


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        (f"name,summary\nT1,{ABSTRACT}\n", 1, "CSV header lacks columns title, abstract; looked for title: title"),
        (f"name,summary\nT1,{ABSTRACT}\n", 1, "abstract: abstract, abstract note, ab; found name, summary"),
        (f"title,summary\nT1,{ABSTRACT}\n", 1, "lacks column abstract"),
        (f'title,abstract\nT1,"{ABSTRACT}"\nT2,"{ABSTRACT}",extra\n', 3, "row has 3 fields; the header has 2"),
        (f'title,abstract,url\nT1,"{ABSTRACT}",u\nT2\n', 3, "row has 1 fields; the header has 3"),
        (f'title,abstract,url\nT1,"{ABSTRACT}",u\nT2,"{ABSTRACT}"\n', 3, "row has 2 fields; the header has 3"),
        (f'title,abstract\nT1,"{ABSTRACT}"\n,"{ABSTRACT}"\n', 3, 'missing or empty "title"'),
    ],
)
def test_malformed_csv_raises_parse_error_at_its_line(tmp_path, text, line, reason):
    path = _write(tmp_path, "bad.csv", text)
    with pytest.raises(ParseError) as info:
        parse_csv(path)
    assert str(info.value).startswith(f"{path}:{line}: ")
    assert reason in str(info.value)


def test_csv_with_only_a_header_is_an_error(tmp_path):
    with pytest.raises(ParseError, match="no records found"):
        parse_csv(_write(tmp_path, "empty.csv", "title,abstract\n"))


def test_same_paper_in_jsonl_and_csv_merges_into_one_with_both_sources(tmp_path):
    j = _jsonl(tmp_path, [{"title": "Shared Paper", "abstract": ABSTRACT}])
    c = _write(tmp_path, "more.csv", f'title,abstract,url\nShared Paper,"{ABSTRACT}",https://example.org/s\n')
    [paper] = load_papers([j, c])
    assert paper.sources == ["papers.jsonl", "more.csv"]
    assert paper.url == "https://example.org/s"


@pytest.mark.parametrize(
    "record",
    [{"title": "No Abstract"}, {"title": "Empty Abstract", "abstract": ""}, {"title": "Null", "abstract": None}],
)
def test_a_record_without_an_abstract_is_skipped_with_its_line_not_fatal(tmp_path, record):
    path = _jsonl(tmp_path, [GOOD, "", json.dumps(record), GOOD.replace("Good", "Later")])
    result = load_papers([path])
    assert [p.title for p in result] == ["Good Paper", "Later Paper"]
    [skipped] = result.skipped
    assert (skipped.path, skipped.line, skipped.title) == (str(path), 3, record["title"])
    assert 'missing or empty "abstract"' in skipped.reason
    assert result.summary() == [f'{path}: skipped 1 record (missing or empty "abstract") at line 3']


def test_strict_makes_a_skipped_record_fatal_at_its_line(tmp_path):
    path = _jsonl(tmp_path, [GOOD, json.dumps({"title": "No Abstract", "abstract": None})])
    with pytest.raises(ParseError) as info:
        load_papers([path], strict=True)
    assert str(info.value).startswith(f"{path}:2: ")
    assert "strict" in str(info.value)


def test_a_file_where_no_record_has_an_abstract_is_an_error(tmp_path):
    path = _jsonl(tmp_path, [json.dumps({"title": "A", "abstract": None}), json.dumps({"title": "B"})])
    with pytest.raises(ParseError, match=r":1: no record has an abstract; skipped 2"):
        load_papers([path])
