"""Each supported format on a small file in the shape real exports have (fixtures/), detection by extension
and by content, dialect sniffing, `field_map`, and unknown shapes naming what was looked for and found."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest import ParseError, load_papers, parse_field_map, parse_file
from ingest.formats import FORMATS

FIXTURES = Path(__file__).parent / "fixtures"
ROUTING = "Sparse Routing for Tiny Transformers"
ABSTRACT = "We propose a method for a problem. It beats the baseline on two benchmarks by a clear margin."


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_semantic_scholar_record_with_a_null_abstract_is_skipped_and_the_rest_kept():
    parsed = parse_file(FIXTURES / "semantic_scholar.json")
    assert parsed.format == "semantic-scholar"
    routing, calibrated = parsed.records
    assert routing.title == ROUTING
    assert routing.authors == ("Ada Lovelace", "Alan Turing")  # names, not a repr of the objects
    assert (routing.arxiv_id, routing.doi, routing.date) == ("2310.09999", "10.1000/example.jei", "2023-10-14")
    assert routing.url.startswith("https://www.semanticscholar.org/paper/")
    assert calibrated.date == "2020"  # only `year` was given
    [skipped] = parsed.skipped
    assert (skipped.line, skipped.title) == (12, "A Paper Whose Abstract the API Withholds")


def test_zotero_csv_with_bom_quoted_fields_and_an_empty_abstract():
    parsed = parse_file(FIXTURES / "zotero.csv")
    assert parsed.format == "csv"
    routing, quoted = parsed.records
    assert (routing.title, routing.date, routing.doi) == (ROUTING, "2023-10-14", "10.1000/example.jei")
    assert routing.authors == ("Ada Lovelace", "Alan Turing")
    assert routing.url == "https://example.org/sparse-routing"
    assert routing.label == "Zotero export (zotero.csv)"
    assert quoted.title == 'Quoted "Fields", Commas, and Line Breaks in One Title'
    assert quoted.abstract.startswith('An abstract with "quotes", commas, and a line break inside')
    assert (quoted.line, quoted.authors, quoted.date) == (3, ("Grace Hopper",), "2022-06")
    [skipped] = parsed.skipped
    assert (skipped.line, skipped.title) == (6, "An Item Without Any Abstract")  # line 3's title spans two lines


def test_hugging_face_daily_papers_api_array():
    first, second = parse_file(FIXTURES / "hf_daily_papers.json").records
    assert first.format == "hf-daily-papers"
    assert first.title == "Efficient Personalized Federated Learning via Sparse Model-Adaptation"
    assert first.abstract.endswith("with the help of auxiliary global models.")  # paper.summary, not the listing's
    assert (first.arxiv_id, first.date, first.authors) == ("2403.05530", "2024-03-08", ("Ada Lovelace", "Alan Turing"))
    assert first.url == "https://huggingface.co/papers/2403.05530"
    assert first.label == "Hugging Face Daily Papers, 2024-03-11"
    assert (first.line, second.line) == (2, 17)


def test_arxiv_snapshot_keeps_dates_ids_categories_and_decodes_latex():
    routing, old_style = parse_file(FIXTURES / "arxiv_snapshot.jsonl").records
    assert routing.title == ROUTING  # newline, indent and \textbf{} gone
    assert "by 40% on three" in routing.abstract
    assert routing.date == "2023-10-14"  # the first version's date
    assert routing.categories == ("cs.LG", "cs.CL")
    assert routing.authors == ("Ada Lovelace", "Alan Turing", "Grace Hopper")
    assert old_style.arxiv_id == "hep-th/9901001"
    assert old_style.title == "Symmetries of α-Divergence Flows"
    assert old_style.date == "2008-11-13"  # no versions: update_date


def test_arxiv_snapshot_without_versions_takes_its_update_date(tmp_path):
    record = {"id": "2401.00001", "title": "T", "abstract": ABSTRACT, "update_date": "2024-01-05", "authors": "A B"}
    [rec] = parse_file(_write(tmp_path, "snap.json", json.dumps(record))).records
    assert (rec.format, rec.date, rec.arxiv_id) == ("arxiv-snapshot", "2024-01-05", "2401.00001")


def test_bibtex_through_bibtexparser():
    parsed = parse_file(FIXTURES / "library.bib")
    routing, explain = parsed.records
    assert (routing.line, routing.title, routing.arxiv_id, routing.date) == (2, ROUTING, "2310.09999", "2023-10")
    assert routing.authors == ("Ada Lovelace", "Alan Turing")
    assert "by 40% on three" in routing.abstract
    assert routing.categories == ("cs.LG",)
    assert (explain.date, explain.url) == ("2022", "https://example.org/explain")
    assert [(s.line, s.title) for s in parsed.skipped] == [(24, "A Book Entry Without an Abstract")]


def test_broken_bibtex_is_fatal_at_the_entry_line(tmp_path):
    text = (FIXTURES / "library.bib").read_text() + "\n@article{broken,\n  title = {Never closed,\n"
    path = _write(tmp_path, "broken.bib", text)
    with pytest.raises(ParseError) as info:
        parse_file(path)
    assert info.value.line == 30 and "malformed BibTeX entry" in info.value.reason


def test_ris_through_rispy_with_record_lines():
    parsed = parse_file(FIXTURES / "library.ris")
    routing, explain = parsed.records
    assert (routing.line, routing.date, routing.doi) == (1, "2023-10-14", "10.1000/example.jei")
    assert routing.authors == ("Ada Lovelace", "Alan Turing")
    assert (explain.line, explain.title, explain.date) == (12, "Compilers That Explain Their Errors", "2022")
    assert explain.abstract.startswith("We build a compiler")  # from N2
    assert [s.line for s in parsed.skipped] == [19]


def test_ris_record_without_end_tag_is_fatal_at_its_start(tmp_path):
    path = _write(
        tmp_path, "cut.ris", (FIXTURES / "library.ris").read_text() + f"TY  - JOUR\nTI  - Cut\nAB  - {ABSTRACT}\n"
    )
    with pytest.raises(ParseError) as info:
        parse_file(path)
    assert info.value.line == 24 and "no end tag" in info.value.reason


def test_scopus_csv_placeholder_abstract_is_skipped_and_full_author_names_used():
    parsed = parse_file(FIXTURES / "scopus.csv")
    [routing] = parsed.records
    assert routing.authors == ("Ada Lovelace", "Alan Turing")
    assert routing.label == "Scopus export (scopus.csv)"
    assert "placeholder" in parsed.skipped[0].reason


def test_web_of_science_tab_delimited_txt_is_detected_by_content():
    parsed = parse_file(FIXTURES / "wos_savedrecs.txt")
    assert parsed.format == "csv"
    [rec] = parsed.records
    assert (rec.title, rec.date, rec.doi) == (ROUTING, "2023", "10.1000/example.jei")
    assert rec.label == "Web of Science export (wos_savedrecs.txt)"


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_csv_dialect_is_sniffed(tmp_path, delimiter, newline):
    rows = [["Title", "Abstract", "Year"], ["A, B; C", ABSTRACT + " Also; commas, here.", "2021"]]
    text = newline.join(delimiter.join(f'"{c}"' for c in row) for row in rows) + newline
    path = tmp_path / "export.csv"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    [rec] = parse_file(path).records
    assert (rec.title, rec.date) == ("A, B; C", "2021")


@pytest.mark.parametrize(
    ("name", "source", "expected"),
    [
        ("papers.json", "arxiv_snapshot.jsonl", "arxiv-snapshot"),  # a .json holding JSON Lines
        ("refs.txt", "library.ris", "ris"),
        ("refs.txt", "library.bib", "bibtex"),
        ("export.json", "semantic_scholar.json", "semantic-scholar"),
        ("records.jsonl", "hf_daily_papers.json", "hf-daily-papers"),  # an array in a .jsonl
        ("noext", "library.ris", "ris"),
    ],
)
def test_format_is_detected_by_content_as_well_as_extension(tmp_path, name, source, expected):
    path = tmp_path / name
    shutil.copy(FIXTURES / source, path)
    assert parse_file(path).format == expected


def test_unknown_json_shape_names_what_was_looked_for_and_found(tmp_path):
    path = _write(tmp_path, "odd.json", json.dumps([{"name": "X", "body": {"text": ABSTRACT}}]))
    with pytest.raises(ParseError) as info:
        parse_file(path)
    message = str(info.value)
    assert message.startswith(f"{path}:1: JSON records lacks fields title, abstract")
    assert "looked for title: title; abstract: abstract, summary" in message
    assert "Semantic Scholar" in message and "found name, body, body.text" in message


def test_field_map_reads_columns_and_nested_fields_the_format_does_not_know(tmp_path):
    csv_path = _write(tmp_path, "mine.csv", f'Name,Summary Text,When\nMapped Paper,"{ABSTRACT}",2020-02\n')
    with pytest.raises(ParseError, match="CSV header lacks column"):
        parse_file(csv_path)
    fmap = parse_field_map(["title=Name", 'abstract="Summary Text"', "date=when"])
    [rec] = parse_file(csv_path, field_map=fmap).records
    assert (rec.title, rec.date) == ("Mapped Paper", "2020-02")

    json_path = _write(tmp_path, "mine.json", json.dumps([{"name": "Nested", "body": {"text": ABSTRACT}}]))
    [rec] = load_papers([json_path], field_map={"title": "name", "abstract": "body.text"})
    assert (rec.title, rec.abstract) == ("Nested", ABSTRACT)


def test_zotero_abstract_note_override_as_the_issue_writes_it(tmp_path):
    path = _write(tmp_path, "z.csv", f'Title,Notes,Abstract Note\nT,"{ABSTRACT}","short"\n')
    assert parse_file(path).records[0].abstract == "short"
    assert parse_file(path, field_map=parse_field_map(["abstract=Notes"])).records[0].abstract == ABSTRACT


@pytest.mark.parametrize("bad", ["abstract", "summary=Abstract", "abstract="])
def test_a_bad_field_mapping_is_refused_naming_the_fields(bad):
    with pytest.raises(ValueError, match="use FIELD=COLUMN with FIELD one of title, abstract"):
        parse_field_map([bad])


def test_every_format_is_in_the_registry_with_an_example():
    names = [f.name for f in FORMATS]
    assert len(names) == len(set(names))
    assert set(names) >= {"json", "hf-daily-papers", "semantic-scholar", "arxiv-snapshot", "csv", "bibtex", "ris"}
    assert all(f.example and f.extensions for f in FORMATS)


FRAGMENTS = st.sampled_from(
    [
        "@article{k,",
        "@misc(",
        "title = {",
        "abstract = {" + ABSTRACT,
        "}",
        "},",
        "=",
        "\n",
        "TY  - JOUR",
        "ER  - ",
        "AB  - " + ABSTRACT,
        "TI  - T",
        '{"paper": {',
        '"summary": "x"',
        '"paperId": 1',
        "[",
        "]",
        ",",
        "\t",
        '"',
        "%",
    ]
) | st.text(max_size=20)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parts=st.lists(FRAGMENTS, max_size=25), suffix=st.sampled_from([".bib", ".ris", ".json", ".txt", ".tsv", ""]))
def test_fuzzed_files_in_every_format_give_records_or_a_parse_error_naming_a_line(parts, suffix):
    import tempfile

    data = "".join(parts)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"fuzz{suffix}"
        path.write_text(data, encoding="utf-8", errors="surrogatepass")
        n_lines = data.count("\n") + data.count("\r") + 1
        try:
            result = load_papers([path])
        except ParseError as exc:
            assert exc.line is None or 1 <= exc.line <= n_lines
            assert exc.reason and "\n" not in exc.reason
            return
        assert result and all(p.title and p.abstract and p.paper_id for p in result)


def test_field_names_echoed_in_an_unknown_shape_error_stay_on_one_short_line(tmp_path):
    path = _write(tmp_path, "odd.jsonl", json.dumps({"line\nbreak": 1, "x" * 500: 2}) + "\n")
    with pytest.raises(ParseError) as info:
        parse_file(path)
    assert "\n" not in str(info.value) and len(str(info.value)) < 400 + len(str(path))
    assert "'line\\nbreak'" in str(info.value)
