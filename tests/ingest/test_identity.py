"""One paper = one entry: matching records by arXiv id / DOI / normalised title, merging their metadata,
keeping different papers that share a title apart, and ids that do not depend on which sources are present."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

import pytest

from ingest import SourceRecord, build_papers, bundled_corpus, load_papers, merge_records, paper_id_for
from ingest.identity import record_key

ABSTRACT = (
    "We study a toy problem in some depth. Our method improves the baseline by a wide margin on three benchmarks."
)
OTHER = "A survey of protein folding with graph networks, covering forty methods and their public benchmarks."


def rec(title: str, abstract: str = ABSTRACT, source: str = "a.jsonl", line: int = 1, **kw) -> SourceRecord:
    return SourceRecord(source=source, line=line, format=kw.pop("format", "json"), title=title, abstract=abstract, **kw)


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_titles_differing_in_case_and_final_period_with_one_abstract_are_one_paper(tmp_path):
    a = _jsonl(tmp_path / "a.jsonl", [{"title": "Sparse Mixtures of Experts", "abstract": ABSTRACT}])
    b = _jsonl(tmp_path / "b.jsonl", [{"title": "sparse mixtures of EXPERTS.", "abstract": ABSTRACT}])
    result = load_papers([a, b])
    [paper] = result
    assert paper.sources == ["a.jsonl", "b.jsonl"]
    assert paper.paper_id == paper_id_for("Sparse Mixtures of Experts")
    assert result.warnings == []


def test_two_different_papers_sharing_a_title_stay_two_with_a_warning(tmp_path):
    path = _jsonl(
        tmp_path / "p.jsonl",
        [
            {"title": "Attention Is All You Need", "abstract": ABSTRACT, "id": "1706.03762"},
            {"title": "Attention is all you need.", "abstract": OTHER, "id": "2105.00001"},
            {"title": "ATTENTION IS ALL YOU NEED", "abstract": ABSTRACT},  # no id: matched to the first by abstract
        ],
    )
    result = load_papers([path])
    assert len(result) == 2
    by_arxiv = {p.arxiv_id: p for p in result}
    assert by_arxiv["1706.03762"].paper_id.endswith("-1706-03762")
    assert by_arxiv["2105.00001"].paper_id.endswith("-2105-00001")
    assert [r.line for r in by_arxiv["1706.03762"].records] == [1, 3]
    [warning] = result.warnings
    assert "2 different papers share the title 'Attention Is All You Need'" in warning


def test_different_papers_with_one_title_and_no_ids_are_told_apart_by_abstract(tmp_path):
    path = _jsonl(tmp_path / "p.jsonl", [{"title": "Scaling Laws", "abstract": a} for a in (ABSTRACT, OTHER)])
    result = load_papers([path])
    assert len({p.paper_id for p in result}) == 2
    assert len(result.warnings) == 1


def test_the_same_paper_with_and_without_an_arxiv_id_is_one_paper_with_the_dump_id(tmp_path):
    dump = tmp_path / "dump.txt"
    dump.write_text(f"Daily Papers\nMar 11\nSparse Mixtures of Experts\n{ABSTRACT}\n")
    export = _jsonl(
        tmp_path / "arxiv.jsonl",
        [
            {
                "id": "2403.01234",
                "title": "Sparse mixtures of\n  experts",
                "abstract": ABSTRACT,
                "update_date": "2024-03-09",
                "versions": [{"version": "v1", "created": "Fri, 8 Mar 2024 10:00:00 GMT"}],
                "authors_parsed": [["Lovelace", "Ada", ""]],
                "categories": "cs.LG",
            }
        ],
    )
    [alone] = load_papers([dump])
    [paper] = load_papers([dump, export])
    assert paper.paper_id == alone.paper_id  # the arXiv id does not rename the paper
    assert alone.url is None and alone.date == "Mar 11"  # no fake link, no guessed year
    assert (paper.arxiv_id, paper.date, paper.url) == ("2403.01234", "2024-03-08", "https://arxiv.org/abs/2403.01234")
    assert paper.authors == "Ada Lovelace" and paper.year == 2024
    assert paper.sources == ["dump.txt", "arxiv.jsonl"]
    assert paper.source_labels == ("Daily Papers, Mar 11", "arXiv (arxiv.jsonl)")


def test_bundled_corpus_plus_an_arxiv_export_of_20_of_its_papers_gives_451_papers_each_with_both_sources(tmp_path):
    bundled = load_papers()
    chosen = bundled[::22][:20]
    rows = [
        {"id": f"2403.{10000 + i}", "title": p.title.upper(), "abstract": p.abstract, "update_date": "2024-03-10"}
        for i, p in enumerate(chosen)
    ]
    export = _jsonl(tmp_path / "arxiv-export.jsonl", rows)
    merged = load_papers([*bundled_corpus(), export])
    assert len(merged) == 451
    assert [p.paper_id for p in merged] == [p.paper_id for p in bundled]
    by_id = {p.paper_id: p for p in merged}
    for old in chosen:
        new = by_id[old.paper_id]
        assert set(new.sources) == {*old.sources, "arxiv-export.jsonl"}
        assert new.arxiv_id and new.date == "2024-03-10"
    assert merged.warnings == []


def test_ids_and_papers_do_not_depend_on_file_order(tmp_path):
    files = [
        _jsonl(tmp_path / "a.jsonl", [{"title": "Shared", "abstract": ABSTRACT, "id": "2401.00001"}]),
        _jsonl(
            tmp_path / "b.jsonl", [{"title": "shared.", "abstract": ABSTRACT}, {"title": "Shared", "abstract": OTHER}]
        ),
        _jsonl(tmp_path / "c.jsonl", [{"title": "Solo", "abstract": OTHER, "doi": "10.1/x"}]),
    ]
    seen = set()
    for order in itertools.permutations(files):
        papers = load_papers(list(order))
        seen.add(frozenset((p.paper_id, p.abstract, frozenset(p.sources)) for p in papers))
    assert len(seen) == 1


def test_merge_keeps_the_richer_metadata():
    records = [
        rec("Fast Nets", source="dump.txt", format="daily-papers-dump", listed="Mar 11", label="Daily Papers, Mar 11"),
        rec("Fast Nets", source="z.csv", format="csv", authors=("Ada Lovelace",), date="2021", doi="10.1/fast"),
        rec(
            "Fast nets",
            source="s2.json",
            format="semantic-scholar",
            authors=("Ada Lovelace", "Alan Turing"),
            date="2021-05-02",
            url="https://www.semanticscholar.org/paper/x",
            categories=("cs.LG",),
        ),
    ]
    paper, warnings = merge_records(records)
    assert paper.title == "Fast nets"  # the best-ranked source's spelling
    assert paper.author_names == ("Ada Lovelace", "Alan Turing")
    assert (paper.date, paper.doi, paper.url) == ("2021-05-02", "10.1/fast", "https://www.semanticscholar.org/paper/x")
    assert paper.categories == ("cs.LG",)
    assert paper.sources == ["dump.txt", "z.csv", "s2.json"]
    assert paper.paper_id == paper_id_for("Fast Nets")
    assert warnings == []


def test_a_truncated_abstract_loses_to_the_full_one_and_different_versions_are_reported():
    full = rec("T", ABSTRACT + " " + OTHER, source="b.csv", format="csv")
    short = rec("T", ABSTRACT, source="a.json", format="semantic-scholar", arxiv_id="2401.00001")
    paper, warnings = merge_records([short, full])
    assert paper.abstract == full.abstract and warnings == []
    v2 = rec("T", OTHER, source="c.json", format="arxiv-snapshot", arxiv_id="2401.00001")
    [paper], notes = build_papers([short, v2])  # one arXiv id: one paper, whatever the abstracts say
    assert paper.abstract == OTHER
    assert notes and "give a different abstract" in notes[0]


def test_known_ids_keep_an_indexed_paper_its_id_when_a_same_title_newcomer_arrives():
    old = rec("Scaling Laws", source="old.txt", format="daily-papers-dump")
    [first], _ = build_papers([old])
    assert first.paper_id == paper_id_for("Scaling Laws")
    newcomer = rec("Scaling laws.", OTHER, source="new.jsonl")
    fresh, _ = build_papers([old, newcomer])
    assert all(p.paper_id != first.paper_id for p in fresh)  # without the index's ids both are told apart
    kept, _ = build_papers([old, newcomer], known_ids={record_key(old): first.paper_id})
    ids = {p.sources[0]: p.paper_id for p in kept}
    assert ids["old.txt"] == first.paper_id
    assert ids["new.jsonl"].startswith(first.paper_id + "-")


def test_a_paper_is_recomputed_from_every_files_records_so_one_file_cannot_erase_another():
    """What the index will do per file: keep each file's records, rebuild the paper from all of them."""
    dump = rec("Fast Nets", source="dump.txt", format="daily-papers-dump", listed="Mar 11")
    arxiv_v1 = rec("Fast Nets", source="arxiv.jsonl", format="arxiv-snapshot", arxiv_id="2401.1", date="2024-01")
    stored = {r.source: [SourceRecord.from_json(r.to_json())] for r in (dump, arxiv_v1)}
    assert stored["arxiv.jsonl"] == [arxiv_v1]
    arxiv_v2 = rec(
        "Fast Nets", source="arxiv.jsonl", line=7, format="arxiv-snapshot", arxiv_id="2401.1", date="2024-01-09"
    )
    assert arxiv_v2.fingerprint != arxiv_v1.fingerprint
    stored["arxiv.jsonl"] = [arxiv_v2]  # re-ingest of that one file
    [paper], _ = build_papers(r for rs in stored.values() for r in rs)
    assert paper.sources == ["dump.txt", "arxiv.jsonl"] and paper.date == "2024-01-09"
    moved = rec(
        "Fast Nets", source="arxiv.jsonl", line=99, format="arxiv-snapshot", arxiv_id="2401.1", date="2024-01-09"
    )
    assert moved.fingerprint == arxiv_v2.fingerprint  # moving a record inside its file changes nothing


@pytest.mark.parametrize("seed", range(5))
def test_grouping_is_independent_of_record_order(seed):
    records = [
        rec("A", source="1", arxiv_id="2401.00001"),
        rec("a.", source="2"),
        rec("A", OTHER, source="3", arxiv_id="2401.00002"),
        rec("B", source="4", doi="10.1/b"),
        rec("b", OTHER, source="5", doi="10.1/b"),
        rec("C", OTHER, source="6"),
    ]
    shuffled = records[:]
    random.Random(seed).shuffle(shuffled)
    want = {(p.paper_id, frozenset(p.sources)) for p in build_papers(records)[0]}
    assert {(p.paper_id, frozenset(p.sources)) for p in build_papers(shuffled)[0]} == want
    assert len(want) == 4
