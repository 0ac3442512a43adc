"""The Daily Papers page-dump parser on the five bundled files, and on small hand-written dumps."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ingest import ParseError, bundled_corpus, load_papers, normalise_title, paper_id_for
from ingest.parsers import BOILERPLATE, parse_file


def parse_daily_papers(path: Path) -> list:
    parsed = parse_file(path)
    assert parsed.format == "daily-papers-dump"
    return parsed.records


EXPECTED_RECORDS = {
    "000_a9aabe229f134cb9.txt": 58,
    "001_bf2de4deb3b23c5a.txt": 72,
    "002_eaa1cd8e17f6e22e.txt": 89,
    "003_681d261d95f8e320.txt": 191,
    "004_7843a07b3109b710.txt": 84,
}
DATE = re.compile(r"^(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]* \d{1,2}$")
ABSTRACT = (
    "We study a toy problem in some depth. Our method improves the baseline by a wide margin on three benchmarks."
)


@pytest.fixture(scope="module")
def parsed() -> dict[str, list]:
    return {f.name: parse_daily_papers(f) for f in bundled_corpus()}


@pytest.fixture(scope="module")
def merged() -> list:
    return load_papers()


def test_bundled_corpus_ships_the_five_dumps():
    assert [f.name for f in bundled_corpus()] == sorted(EXPECTED_RECORDS)


@pytest.mark.parametrize("name", sorted(EXPECTED_RECORDS))
def test_each_bundled_file_yields_its_record_count(parsed, name):
    assert len(parsed[name]) == EXPECTED_RECORDS[name]


def test_bundled_files_hold_494_records_and_451_distinct_papers(parsed, merged):
    assert sum(len(v) for v in parsed.values()) == 494
    assert len(merged) == 451
    assert len({p.paper_id for p in merged}) == 451


def test_every_non_boilerplate_line_is_a_title_or_an_abstract(parsed):
    """Nothing is silently dropped: the lines left after boilerplate and dates are exactly two per record."""
    for f in bundled_corpus():
        lines = [ln.strip() for ln in f.read_text(encoding="utf-8").splitlines() if ln.strip()]
        content = [ln for ln in lines if ln.lower() not in BOILERPLATE and not DATE.match(ln)]
        # the glued "SubscribeTitle" line is content (a title), not boilerplate
        assert len(content) == 2 * len(parsed[f.name]), f.name


@pytest.mark.parametrize("name", sorted(EXPECTED_RECORDS))
def test_no_boilerplate_line_ever_becomes_a_title(parsed, name):
    for paper in parsed[name]:
        assert paper.title.lower() not in BOILERPLATE
        assert not DATE.match(paper.title)
        assert not paper.title.startswith("Subscribe")
        assert "Get trending" not in paper.title
        assert "byAK" not in paper.title
        assert not paper.abstract.startswith(("Get trending", "Subscribe", "byAK"))


def test_titles_and_abstracts_have_plausible_lengths(merged):
    for paper in merged:
        assert 2 <= len(paper.title) <= 300, paper.title
        assert len(paper.abstract) >= 400, paper.title
        assert len(paper.abstract) > len(paper.title)


def test_glued_subscribe_prefix_in_file_003_is_stripped(parsed):
    first = parsed["003_681d261d95f8e320.txt"][0]
    assert first.title == "Gaussian Mixture Convolution Networks"
    assert first.abstract.startswith("This paper proposes a novel method for deep learning")


def test_file_003_without_blank_lines_or_dates_parses_without_dates(parsed):
    assert all(r.listed is None for r in parsed["003_681d261d95f8e320.txt"])
    assert {r.label for r in parsed["003_681d261d95f8e320.txt"]} == {"Daily Papers (dump 3)"}


def test_date_line_is_recorded_on_the_papers_after_it(parsed):
    assert {r.listed for r in parsed["000_a9aabe229f134cb9.txt"]} == {"Mar 11"}
    assert {r.listed for r in parsed["001_bf2de4deb3b23c5a.txt"]} == {"Aug 14"}
    assert {r.listed for r in parsed["004_7843a07b3109b710.txt"]} == {"Jul 17"}
    assert {r.label for r in parsed["000_a9aabe229f134cb9.txt"]} == {"Daily Papers, Mar 11 (dump 0)"}
    # The pages give no year and nothing else in the dump does: no year is made up, and no link either.
    assert all(r.date is None and r.url is None for rs in parsed.values() for r in rs)


def test_duplicates_merge_recording_every_source_file(parsed, merged):
    occurrences: dict[str, list[str]] = {}
    for name, papers in parsed.items():
        for p in papers:
            occurrences.setdefault(paper_id_for(p.title), []).append(name)
    by_id = {p.paper_id: p for p in merged}
    duplicated = {pid: names for pid, names in occurrences.items() if len(names) > 1}
    assert len(duplicated) == 37  # 494 records - 451 papers = 43 extra copies spread over 37 papers
    assert sum(len(v) - 1 for v in duplicated.values()) == 494 - 451
    for pid, names in occurrences.items():
        assert sorted(by_id[pid].sources) == sorted(set(names))


def test_duplicate_copies_carry_identical_abstracts(parsed):
    seen: dict[str, str] = {}
    for papers in parsed.values():
        for p in papers:
            assert seen.setdefault(paper_id_for(p.title), p.abstract) == p.abstract


def test_merged_paper_takes_a_date_from_any_copy(parsed, merged):
    dated = {paper_id_for(p.title) for papers in parsed.values() for p in papers if p.listed}
    for p in merged:
        assert (p.date is not None) == (p.paper_id in dated)


def test_paper_ids_are_stable_across_parses(merged):
    again = load_papers()
    assert [p.paper_id for p in again] == [p.paper_id for p in merged]
    assert [p.content_hash for p in again] == [p.content_hash for p in merged]


def test_titles_are_unique_after_normalisation(merged):
    assert len({normalise_title(p.title) for p in merged}) == len(merged)


# ---- small hand-written dumps ---------------------------------------------------------------------------


def _dump(tmp_path: Path, text: str, name: str = "dump.txt") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_dump_with_all_boilerplate_variants_yields_only_papers(tmp_path):
    path = _dump(
        tmp_path,
        "new\n\nGet trending papers in your email inbox!\n\nGet trending papers in your email inbox once a day!\n"
        "Subscribe\n\nDaily Papers\n\nbyAK and the research community\n\nMar 11\n\n"
        f"First Paper Title\n\n{ABSTRACT}\n\nApr 2\n\nSecond Paper Title\n\n{ABSTRACT} More.\n",
    )
    papers = parse_daily_papers(path)
    assert [(p.title, p.listed) for p in papers] == [("First Paper Title", "Mar 11"), ("Second Paper Title", "Apr 2")]


def test_subscribe_is_only_stripped_when_glued_to_a_title(tmp_path):
    path = _dump(
        tmp_path, f"SubscribeGlued Title\n{ABSTRACT}\nSubscriber Churn Prediction with Transformers\n{ABSTRACT}\n"
    )
    titles = [p.title for p in parse_daily_papers(path)]
    assert titles == ["Glued Title", "Subscriber Churn Prediction with Transformers"]


def test_record_line_numbers_point_at_the_title_line(tmp_path):
    path = _dump(tmp_path, f"new\n\nTitle One\n\n{ABSTRACT}\n\nTitle Two\n\n{ABSTRACT} Two.\n")
    assert [r.line for r in parse_daily_papers(path)] == [3, 7]


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        (f"Title One\n{ABSTRACT}\nDangling Title\n", 3, "has no abstract line"),
        ("Title One\ntoo short\n", 2, "is only 9 characters"),
        ("x" * 600 + "\n" + ABSTRACT + "\n", 1, "expected a title line"),
        ("new\nSubscribe\nMar 11\n", None, "no title/abstract pairs"),
        (f"Title One\nMar 11\n{ABSTRACT}\n", 1, "has no abstract line"),
    ],
)
def test_malformed_dump_raises_parse_error_naming_file_and_line(tmp_path, text, line, reason):
    path = _dump(tmp_path, text)
    with pytest.raises(ParseError) as info:
        parse_daily_papers(path)
    where = f"{path}:{line}: " if line is not None else f"{path}: "
    assert str(info.value).startswith(where)
    assert reason in str(info.value)
    assert info.value.line == line


@pytest.mark.parametrize(
    ("data", "reason"),
    [(b"", "empty file"), (b"Title\x00\n", "binary data"), (b"Title\n\xff\xfe abstract\n", "not valid UTF-8")],
)
def test_unreadable_files_raise_parse_error(tmp_path, data, reason):
    path = tmp_path / "bad.txt"
    path.write_bytes(data)
    with pytest.raises(ParseError, match=reason):
        parse_file(path)


def test_unsupported_extension_and_missing_paths_raise_parse_error(tmp_path):
    odd = tmp_path / "papers.xml"
    odd.write_text("<papers/>")
    with pytest.raises(ParseError, match=r"unsupported file type \.xml"):
        load_papers([odd])
    with pytest.raises(ParseError, match="no such file"):
        load_papers([tmp_path / "missing.jsonl"])


def test_a_directory_without_supported_files_is_an_error_not_an_empty_source(tmp_path):
    """An empty source list would make `ingest --prune` delete the whole index."""
    (tmp_path / "notes.md").write_text("nothing to see")
    with pytest.raises(ParseError, match=r"holds no supported files \(\.json, \.jsonl, .*\.txt"):
        load_papers([tmp_path])


def test_a_directory_is_expanded_to_its_supported_files(tmp_path):
    _dump(tmp_path, f"Title One\n{ABSTRACT}\n", "a.txt")
    (tmp_path / "sub").mkdir()
    _dump(tmp_path / "sub", f"Title Two\n{ABSTRACT}\n", "b.txt")
    (tmp_path / "README.md").write_text("ignored")
    papers = load_papers([tmp_path])
    assert sorted(p.title for p in papers) == ["Title One", "Title Two"]


def test_same_title_with_a_different_abstract_stays_two_papers_with_a_warning(tmp_path):
    a = _dump(tmp_path, f"Same Title\n{ABSTRACT}\n", "a.txt")
    other = "An unrelated abstract about protein folding with graph networks, measured on two public datasets."
    b = _dump(tmp_path, f"new\nSame Title.\n{other}\n", "b.txt")
    result = load_papers([a, b])
    assert sorted(p.abstract for p in result) == sorted([ABSTRACT, other])
    assert len({p.paper_id for p in result}) == 2
    assert all(p.paper_id.startswith(paper_id_for("Same Title") + "-") for p in result)
    [warning] = result.warnings
    assert "2 different papers share the title 'Same Title'" in warning
    assert "a.txt:1" in warning and "b.txt:2" in warning


def test_each_bundled_dump_has_its_own_readable_label_without_the_file_hash(parsed):
    labels = {name: {r.label for r in records} for name, records in parsed.items()}
    assert labels == {
        "000_a9aabe229f134cb9.txt": {"Daily Papers, Mar 11 (dump 0)"},
        "001_bf2de4deb3b23c5a.txt": {"Daily Papers, Aug 14 (dump 1)"},
        "002_eaa1cd8e17f6e22e.txt": {"Daily Papers, Mar 11 (dump 2)"},
        "003_681d261d95f8e320.txt": {"Daily Papers (dump 3)"},
        "004_7843a07b3109b710.txt": {"Daily Papers, Jul 17 (dump 4)"},
    }


def test_a_users_own_dump_is_labelled_by_its_listing_day(tmp_path):
    path = tmp_path / "march.txt"
    path.write_text("Daily Papers\n\nMar 11\n\nA Title\n\n" + "An abstract long enough to be one. " * 3 + "\n")
    [record] = parse_daily_papers(path)
    assert record.label == "Daily Papers, Mar 11"
