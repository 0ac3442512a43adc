"""Bring-your-own collection through the index (issue 14): one row per (source file, record), papers recomputed
from every file's records, the bibliographic metadata kept and used (sources, filters, "papers by ..."), skipped
records and identity warnings reported, `--strict` and `--map`.

Every source here is a small file in a real export shape, written by the test (no personal data); the index uses
the fake embedding model, except where the bundled corpus index (MiniLM) is only read.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ingest import bundled_corpus, load_papers
from rag import Assistant
from rag.cli import app
from rag.index import IndexMismatch

ABSTRACTS = {
    "routing": "We route tokens through a sparse set of experts in tiny transformers. Routing cuts inference cost "
    "by 40% on three benchmarks while matching the accuracy of dense models of the same size.",
    "compilers": "We build a compiler whose error messages name the line, the cause and the fix. In a study with "
    "forty students, the time to repair a failing build fell by half against a conventional compiler.",
    "calibration": "We calibrate the scores of a dense retriever with temperature scaling, and show that calibrated "
    "scores make a better threshold for abstention than raw cosine similarity on two question sets.",
    "splats": "We prune and quantise the Gaussians of a splatting renderer so that a scene fits in a phone's "
    "memory, keeping image quality within half a decibel of the full model on common benchmarks.",
    "federated": "We personalise federated learning by adapting a sparse sub-model per client, so that clients with "
    "skewed local data reach higher accuracy while sending a fraction of the weights each round.",
    "proteins": "We fold small proteins with a diffusion model conditioned on sequence embeddings, and report "
    "structures within two angstroms of the crystal structure for most held-out targets.",
}
TITLES = {
    "routing": "Sparse Routing for Tiny Transformers",
    "compilers": "Compilers That Explain Their Errors",
    "calibration": "Calibrated Retrieval for Abstention",
    "splats": "Gaussian Splats on a Budget",
    "federated": "Efficient Personalized Federated Learning via Sparse Model-Adaptation",
    "proteins": "Folding Small Proteins with Diffusion",
}


# ---- writers of each export shape -------------------------------------------------------------------------


def write_dump(path: Path, keys: list[str], date: str = "Mar 11", edit: dict[str, str] | None = None) -> Path:
    """A Hugging Face Daily Papers page dump, boilerplate included (the bundled corpus' shape)."""
    text = {**ABSTRACTS, **(edit or {})}
    body = "".join(f"{TITLES[k]}\n\n{text[k]}\n\n" for k in keys)
    path.write_text(f"new\n\nGet trending papers in your email inbox!\n\nDaily Papers\n\n{date}\n\n{body}")
    return path


def arxiv_row(key: str, arxiv_id: str, authors: str, created: str, **extra) -> dict:
    """One line of the arXiv metadata snapshot (LaTeX-ish whitespace in the title and abstract)."""
    return {
        "id": arxiv_id,
        "authors": authors,
        "title": TITLES[key].replace(" ", "\n  ", 1),
        "abstract": "  " + ABSTRACTS[key] + "\n",
        "categories": "cs.LG cs.CL",
        "versions": [{"version": "v1", "created": created}],
        "update_date": "2024-01-02",
        "doi": None,
        **extra,
    }


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def arxiv_export(path: Path, authors: str = "Ada Lovelace, Alan Turing and Grace Hopper", **extra) -> Path:
    """An arXiv export of two papers: `routing` (also in the dump) and `compilers`."""
    return write_jsonl(
        path,
        [
            arxiv_row("routing", "2310.09999", authors, "Sat, 14 Oct 2023 09:30:00 GMT", **extra),
            arxiv_row("compilers", "2206.01234", "Grace Hopper", "Wed, 1 Jun 2022 10:00:00 GMT"),
        ],
    )


def semantic_scholar(path: Path) -> Path:
    """A Graph API response: one record whose abstract the API withholds (`null`), one with only a year."""
    data = [
        {
            "paperId": "c0ffee",
            "externalIds": {"DOI": "10.1000/withheld"},
            "title": "A Paper Whose Abstract the API Withholds",
            "abstract": None,
            "year": 2021,
            "authors": [{"authorId": "1", "name": "Grace Hopper"}],
        },
        {
            "paperId": "beef",
            "externalIds": {"ArXiv": "2001.00042"},
            "url": "https://www.semanticscholar.org/paper/beef",
            "title": TITLES["calibration"],
            "abstract": ABSTRACTS["calibration"],
            "year": 2020,
            "publicationDate": None,
            "authors": [{"authorId": "2", "name": "Zoë O'Brien"}],
        },
    ]
    path.write_text(json.dumps({"total": 2, "offset": 0, "data": data}, indent=2))
    return path


def hf_daily_papers(path: Path) -> Path:
    """The `api/daily_papers` JSON array behind the pages the bundled corpus comes from."""
    item = {
        "paper": {
            "id": "2403.05530",
            "authors": [{"_id": "a", "name": "Ada Lovelace"}],
            "publishedAt": "2024-03-08T18:59:59.000Z",
            "title": TITLES["federated"],
            "summary": ABSTRACTS["federated"],
        },
        "publishedAt": "2024-03-11T01:23:45.000Z",
        "title": TITLES["federated"],
    }
    path.write_text(json.dumps([item], indent=2))
    return path


def zotero_csv(path: Path, abstract_column: str = "Abstract Note", empty: bool = False) -> Path:
    """A Zotero CSV export (BOM, quoted fields): `proteins` from 2019, and one item with an empty abstract."""
    header = f'"Key","Item Type","Publication Year","Author","Title","{abstract_column}","Url"'
    rows = [f'"K1","journalArticle","2019","Franklin, Rosalind","{TITLES["proteins"]}","{ABSTRACTS["proteins"]}",""']
    if empty:
        rows.append('"K2","journalArticle","2018","Curie, Marie","An Item Without an Abstract","",""')
    path.write_text("\ufeff" + "\r\n".join([header, *rows]) + "\r\n", encoding="utf-8")
    return path


def line_of(path: Path, needle: str) -> int:
    """The line a JSON record starts on: the line of its opening brace, above the line holding `needle`."""
    lines = path.read_text().splitlines()
    at = next(i for i, text in enumerate(lines) if needle in text)
    return next(i for i in range(at, -1, -1) if lines[i].strip() == "{") + 1


def by_title(a: Assistant) -> dict:
    return {m.title: m for m in a.index.papers().values()}


def assert_vectors_carry_the_manifest_hashes(a: Assistant) -> None:
    papers = a.index.papers()
    got = a.index.dense.get().get(include=["metadatas"])
    assert {m["paper_id"] for m in got["metadatas"]} == set(papers)
    assert all(m["hash"] == papers[m["paper_id"]].content_hash for m in got["metadatas"])
    assert set(got["ids"]) == a.index.manifest.chunk_ids()


class Spy:
    """Counts what the embedding model is asked to embed."""

    def __init__(self, inner) -> None:
        self.inner, self.documents = inner, 0
        self.identity = inner.identity

    def encode_array(self, texts, batch_size=None):
        self.documents += len(texts)
        return self.inner.encode_array(texts)

    def __getattr__(self, name):
        return getattr(self.inner, name)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


# ---- one paper per entry, whatever the order of the files --------------------------------------------------


def test_the_same_paper_from_a_dump_and_an_arxiv_export_is_one_paper_with_both_sources_in_any_order(
    make_assistant, tmp_path
):
    dump = write_dump(tmp_path / "000_a9aabe229f134cb9.txt", ["routing", "splats"])
    export = arxiv_export(tmp_path / "arxiv.jsonl")
    states = []
    for order in ([dump, export], [[dump], [export]], [[export], [dump]]):
        a = make_assistant()
        for batch in order if isinstance(order[0], list) else [order]:
            a.ingest(batch)
        states.append(a.index.papers())
        papers = by_title(a)
        assert len(papers) == 3
        routing = papers[TITLES["routing"]]
        assert set(routing.sources) == {"000_a9aabe229f134cb9.txt", "arxiv.jsonl"}
        assert set(routing.source_labels) == {"Daily Papers, Mar 11 (dump 0)", "arXiv (arxiv.jsonl)"}
        assert (routing.arxiv_id, routing.url) == ("2310.09999", "https://arxiv.org/abs/2310.09999")
        assert (routing.date, routing.year, routing.listed) == ("2023-10-14", 2023, ("Mar 11",))
        assert routing.authors == ("Ada Lovelace", "Alan Turing", "Grace Hopper")
        assert routing.categories == ("cs.LG", "cs.CL")
        # no fake link: a dump paper nothing else names has no URL, no year, no authors
        splats = papers[TITLES["splats"]]
        assert (splats.url, splats.year, splats.date, splats.authors) == (None, None, "Mar 11", ())
        assert_vectors_carry_the_manifest_hashes(a)
    assert states[0] == states[1] == states[2]  # same ids, same rows, same hashes


@pytest.mark.slow
def test_the_bundled_corpus_plus_an_arxiv_export_of_20_of_its_papers_is_451_papers_each_with_both_sources(
    make_assistant, tmp_path
):
    corpus = load_papers()
    picked = corpus[::22][:20]
    rows = [
        {
            "id": f"2403.{10000 + i}",
            "title": p.title,
            "abstract": p.abstract,
            "authors": f"Ada Lovelace, Author {i}",
            "categories": "cs.LG",
            "versions": [{"version": "v1", "created": "Mon, 11 Mar 2024 10:00:00 GMT"}],
            "update_date": "2024-03-11",
        }
        for i, p in enumerate(picked)
    ]
    export = write_jsonl(tmp_path / "arxiv-export.jsonl", rows)
    states = []
    for batches in ([[*bundled_corpus(), export]], [None, [export]], [[export], None]):
        a = make_assistant()
        for batch in batches:
            a.ingest(batch)
        papers = a.index.papers()
        assert len(papers) == 451
        for p in picked:
            meta = papers[p.paper_id]
            assert "arxiv-export.jsonl" in meta.sources and set(p.sources) <= set(meta.sources)
            assert meta.arxiv_id and meta.url == f"https://arxiv.org/abs/{meta.arxiv_id}"
        assert sum(bool(m.arxiv_id) for m in papers.values()) == 20
        assert sum(bool(m.url) for m in papers.values()) == 20  # the other 431 dump papers get no made-up link
        states.append(papers)
    assert states[0] == states[1] == states[2]


def test_reingesting_unchanged_files_writes_nothing(make_assistant, tmp_path, fake_embeddings):
    spy = Spy(fake_embeddings)
    a = make_assistant()
    a.index._embeddings = spy
    files = [write_dump(tmp_path / "d.txt", ["routing", "splats"]), arxiv_export(tmp_path / "arxiv.jsonl")]
    a.ingest(files)
    before = (a.index.manifest.version(), a.index.papers(), spy.documents)
    # the papers each batch's files name: the dump 2, the export 2, both 3 (one paper is in both)
    for batch, named in ((files, 3), (files[:1], 2), (files[1:], 2), (list(reversed(files)), 3)):
        report = a.ingest(batch)
        assert (report.added, report.updated, report.removed, report.embedded_chunks) == (0, 0, 0, 0)
        assert (report.unchanged, report.papers) == (named, 3)
        assert (a.index.manifest.version(), a.index.papers(), spy.documents) == before


def test_a_changed_record_updates_exactly_that_paper(make_assistant, tmp_path, fake_embeddings):
    spy = Spy(fake_embeddings)
    a = make_assistant()
    a.index._embeddings = spy
    dump = write_dump(tmp_path / "d.txt", ["routing", "splats", "proteins"])
    export = arxiv_export(tmp_path / "arxiv.jsonl")
    a.ingest([dump, export])
    before = by_title(a)

    # metadata only (a corrected author list): the paper's row and vector metadata change, nothing is embedded
    arxiv_export(export, authors="Ada Lovelace and Alan Turing")
    embedded = spy.documents
    report = a.ingest([export])
    assert (report.added, report.updated, report.unchanged, report.removed) == (0, 1, 1, 0)
    assert report.embedded_chunks == 0 and spy.documents == embedded
    after = by_title(a)
    assert after[TITLES["routing"]].authors == ("Ada Lovelace", "Alan Turing")
    assert {t: m for t, m in after.items() if t != TITLES["routing"]} == {
        t: m for t, m in before.items() if t != TITLES["routing"]
    }
    assert_vectors_carry_the_manifest_hashes(a)

    # the text (an edited abstract in the dump): that paper alone is re-embedded
    write_dump(dump, ["routing", "splats", "proteins"], edit={"splats": ABSTRACTS["splats"] + " Code is released."})
    report = a.ingest([dump])
    assert (report.added, report.updated, report.unchanged, report.removed) == (0, 1, 2, 0)
    n_chunks = sum(1 for c in a.index.manifest.chunk_ids() if c.startswith(after[TITLES["splats"]].paper_id + ":"))
    assert report.embedded_chunks == n_chunks == spy.documents - embedded
    assert a.search("code is released", k=1, mode="bm25")[0].title == TITLES["splats"]
    assert_vectors_carry_the_manifest_hashes(a)


def test_a_corrected_title_updates_its_paper_under_the_same_id(make_assistant, tmp_path):
    a = make_assistant()
    export = arxiv_export(tmp_path / "arxiv.jsonl")
    a.ingest([export])
    old = by_title(a)[TITLES["routing"]]
    rows = [json.loads(line) for line in export.read_text().splitlines()]
    rows[0]["title"] = "Sparse Routing for Very Tiny Transformers"
    report = a.ingest([write_jsonl(export, rows)])
    assert (report.added, report.updated, report.removed, report.papers) == (0, 1, 0, 2)
    new = by_title(a)["Sparse Routing for Very Tiny Transformers"]
    assert new.paper_id == old.paper_id and TITLES["routing"] not in by_title(a)
    assert a.search("very tiny transformers", k=1, mode="bm25")[0].title == new.title  # re-embedded: new text


def test_prune_removes_the_papers_no_record_names_and_keeps_the_rest(make_assistant, tmp_path):
    a = make_assistant()
    dump = write_dump(tmp_path / "d.txt", ["routing", "splats"])
    export = arxiv_export(tmp_path / "arxiv.jsonl")
    a.ingest([dump, export])

    write_dump(dump, ["routing"])  # the dump drops a paper: without --prune an ingest never removes one
    report = a.ingest([dump])
    assert (report.removed, report.papers) == (0, 3)

    report = a.ingest([export], prune=True)  # only the export's records stay
    assert (report.removed, report.updated, report.papers) == (1, 1, 2)  # splats gone; routing loses its dump
    papers = by_title(a)
    assert set(papers) == {TITLES["routing"], TITLES["compilers"]}
    assert papers[TITLES["routing"]].sources == ("arxiv.jsonl",)
    assert papers[TITLES["routing"]].listed == ()
    assert_vectors_carry_the_manifest_hashes(a)


def test_files_with_the_same_name_in_two_folders_are_two_sources(make_assistant, tmp_path):
    a = make_assistant()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = write_dump(tmp_path / "a" / "papers.txt", ["routing"])
    second = write_dump(tmp_path / "b" / "papers.txt", ["splats"])
    a.ingest([first])
    a.ingest([second])  # not a new version of a/papers.txt: its paper stays
    assert set(by_title(a)) == {TITLES["routing"], TITLES["splats"]}
    assert a.ingest([first]).unchanged == 1
    # an identical copy elsewhere (the bundled corpus after a reinstall) is stored, and changes no paper
    (tmp_path / "c").mkdir()
    copy = write_dump(tmp_path / "c" / "papers.txt", ["routing"])
    before = a.index.papers()
    report = a.ingest([copy])
    assert (report.added, report.updated, report.unchanged, report.embedded_chunks) == (0, 0, 1, 0)
    assert a.index.papers() == before


# ---- duplicates and same-title papers ------------------------------------------------------------------------


def test_a_title_differing_only_in_case_and_a_final_period_is_the_same_paper(make_assistant, tmp_path):
    a = make_assistant()
    rows = [
        {"title": TITLES["routing"], "abstract": ABSTRACTS["routing"]},
        {"title": TITLES["routing"].upper() + ".", "abstract": ABSTRACTS["routing"]},
    ]
    report = a.ingest([write_jsonl(tmp_path / "dups.jsonl", rows)])
    assert (report.papers, report.added, report.warnings) == (1, 1, [])


def test_different_papers_sharing_a_title_stay_two_papers_with_a_warning_naming_file_and_line(
    make_assistant, tmp_path, runner, fake_model
):
    a = make_assistant()
    first = write_jsonl(tmp_path / "one.jsonl", [{"title": "Scaling Laws", "abstract": ABSTRACTS["routing"]}])
    second = write_jsonl(
        tmp_path / "two.jsonl",
        [
            {"title": "Other", "abstract": ABSTRACTS["splats"]},
            {"title": "Scaling laws.", "abstract": ABSTRACTS["proteins"]},
        ],
    )
    assert a.ingest([first]).warnings == []
    report = a.ingest([second])  # the clash is found against the records already stored
    assert report.papers == 3 and report.added == 2
    assert len(report.warnings) == 1
    assert "one.jsonl:1" in report.warnings[0] and "two.jsonl:2" in report.warnings[0]
    scaling = [m for m in a.index.papers().values() if m.title.lower().startswith("scaling")]
    assert len(scaling) == 2 and len({m.paper_id for m in scaling}) == 2
    assert a.ingest([first]).unchanged == 1  # the first paper kept its id

    result = runner.invoke(app, ["ingest", str(first), str(second), "--json"], env={"RAG_HOME": str(a.settings.home)})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["warnings"] == report.warnings
    assert "warning: 2 different papers share the title" in result.stderr


# ---- skipped records, --strict, --map ------------------------------------------------------------------------


def test_records_without_an_abstract_are_skipped_and_counted_per_file_with_lines(
    make_assistant, tmp_path, runner, fake_model
):
    s2 = semantic_scholar(tmp_path / "s2.json")
    csv = zotero_csv(tmp_path / "zotero.csv", empty=True)
    a = make_assistant()
    report = a.ingest([s2, csv])
    assert report.papers == 2
    withheld = line_of(s2, '"c0ffee"')
    assert withheld == 5
    assert [(Path(s.file).name, s.line, s.title) for s in report.skipped] == [
        ("s2.json", withheld, "A Paper Whose Abstract the API Withholds"),
        ("zotero.csv", 3, "An Item Without an Abstract"),
    ]
    assert all("abstract" in s.reason for s in report.skipped)

    home = str(tmp_path / "cli-index")
    result = runner.invoke(app, ["ingest", str(s2), str(csv), "--json"], env={"RAG_HOME": home})
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {"papers", "chunks", "added", "updated", "unchanged", "removed", "seconds"} < set(data)
    assert [(Path(s["file"]).name, s["line"]) for s in data["skipped"]] == [("s2.json", withheld), ("zotero.csv", 3)]
    assert f'{s2}: skipped 1 record (missing or empty "abstract") at line {withheld}' in result.stderr
    assert f"{csv}: skipped 1 record (" in result.stderr


def test_strict_makes_a_skipped_record_fatal_and_writes_nothing(tmp_path, runner, fake_model):
    env = {"RAG_HOME": str(tmp_path / "index")}
    good = arxiv_export(tmp_path / "arxiv.jsonl")
    assert runner.invoke(app, ["ingest", str(good)], env=env).exit_code == 0
    s2 = semantic_scholar(tmp_path / "s2.json")
    result = runner.invoke(app, ["ingest", str(s2), "--strict"], env=env)
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        f'error: {s2}:5: missing or empty "abstract" (strict: every record must have an abstract)'
    ]
    stats = json.loads(runner.invoke(app, ["stats", "--json"], env=env).stdout)
    assert stats["papers"] == 2 and set(stats["sources"]) == {"arxiv.jsonl"}


def test_map_names_the_column_holding_the_abstract(tmp_path, runner, fake_model):
    env = {"RAG_HOME": str(tmp_path / "index")}
    csv = zotero_csv(tmp_path / "export.csv", abstract_column="Summary Text")
    result = runner.invoke(app, ["ingest", str(csv)], env=env)
    assert result.exit_code == 1 and "lacks column abstract" in result.stderr
    result = runner.invoke(app, ["ingest", str(csv), "--map", 'abstract="Summary Text"', "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["added"] == 1
    result = runner.invoke(app, ["ingest", str(csv), "--map", "summary"], env=env)
    assert result.exit_code == 2 and "FIELD=COLUMN" in result.output


# ---- metadata used: sources, date and author filters, lookups ---------------------------------------------


@pytest.fixture
def library(make_assistant, tmp_path) -> Assistant:
    """One paper from each kind of source: dump, arXiv snapshot, Semantic Scholar, HF daily papers, Zotero CSV."""
    a = make_assistant()
    a.ingest(
        [
            write_dump(tmp_path / "000_a9aabe229f134cb9.txt", ["splats"], date="Mar 11"),
            arxiv_export(tmp_path / "arxiv.jsonl"),
            semantic_scholar(tmp_path / "s2.json"),
            hf_daily_papers(tmp_path / "daily_papers.json"),
            zotero_csv(tmp_path / "zotero.csv"),
        ]
    )
    return a


def titles(sources) -> set[str]:
    return {s.title for s in sources}


@pytest.mark.parametrize(
    ("date", "keys"),
    [
        ("Mar 11", {"splats"}),  # a dump's listing date
        ("march 11", {"splats"}),
        ("2023-10-14", {"routing"}),  # arXiv: the first version's date
        ("2023", {"routing"}),
        ("2022-06", {"compilers"}),
        ("2020", {"calibration"}),  # Semantic Scholar: a year only
        ("2024-03", {"federated"}),  # Hugging Face: publishedAt
        ("2019", {"proteins"}),  # Zotero: Publication Year
        ("2020..2022", {"calibration", "compilers"}),
        ("2023..", {"routing", "federated"}),
        ("1990", set()),
    ],
)
def test_date_filters_work_on_every_kind_of_source(library, date, keys):
    got = library.search("we", k=20, date=date)
    assert titles(got) == {TITLES[k] for k in keys}


def test_the_author_filter_matches_names_as_people_write_them(library, runner, fake_model):
    for name in ("Grace Hopper", "grace hopper", "Hopper", "G. Hopper"):
        assert titles(library.search("we", k=20, author=name)) == {TITLES["routing"], TITLES["compilers"]}, name
    assert titles(library.search("we", k=20, author="Zoe O'Brien")) == {TITLES["calibration"]}  # accents ignored
    assert titles(library.search("we", k=20, author="Ada Lovelace", date="2024")) == {TITLES["federated"]}
    assert library.search("we", k=20, author="Jane Doe") == []

    env = {"RAG_HOME": str(library.settings.home)}
    result = runner.invoke(app, ["search", "compiler errors", "--author", "Hopper", "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert {s["title"] for s in json.loads(result.stdout)} == {TITLES["routing"], TITLES["compilers"]}


def test_sources_carry_the_bibliographic_metadata(library):
    hit = library.search("sparse routing experts tiny transformers", k=1)[0]
    assert hit.title == TITLES["routing"]
    assert hit.authors == ["Ada Lovelace", "Alan Turing", "Grace Hopper"]
    assert (hit.year, hit.arxiv_id, hit.url) == (2023, "2310.09999", "https://arxiv.org/abs/2310.09999")
    assert hit.categories == ["cs.LG", "cs.CL"] and hit.source_labels == ["arXiv (arxiv.jsonl)"]
    s2 = library.search("calibrated retriever abstention", k=1)[0]
    assert (s2.title, s2.year, s2.arxiv_id) == (TITLES["calibration"], 2020, "2001.00042")
    assert s2.url == "https://www.semanticscholar.org/paper/beef"  # the source's own link, kept
    splats = library.search("gaussians splatting phone memory", k=1)[0]
    assert (splats.url, splats.source_labels, splats.authors) == (None, ["Daily Papers, Mar 11 (dump 0)"], [])
    assert library.search("we", k=20, source="Daily Papers, Mar")[0].title == TITLES["splats"]


def test_papers_are_found_by_arxiv_id_from_the_id_column_not_the_link(library):
    # Semantic Scholar gave the arXiv id and its own link: the lookup must still find the paper
    found = library.index.papers_by_arxiv_id(["2001.00042v2", "2310.09999", "9999.99999"])
    assert [s.title for s in found] == [TITLES["calibration"], TITLES["routing"]]
    assert [s.rank for s in found] == [1, 2] and found[0].text == ABSTRACTS["calibration"]


def test_a_papers_by_question_is_answered_from_the_author_metadata(library):
    for question in ("papers by Grace Hopper", "What did Grace Hopper publish?", "Which papers did G. Hopper write?"):
        answer = library.ask(question)
        assert not answer.refused, question
        assert {c.title for c in answer.citations} == {TITLES["routing"], TITLES["compilers"]}
        assert {s.title for s in answer.sources} == {TITLES["routing"], TITLES["compilers"]}
        assert answer.answer.startswith("Grace Hopper is an author of 2 papers in the collection (newest first):")
        assert [c.title for c in answer.citations] == [TITLES["routing"], TITLES["compilers"]]  # 2023, then 2022
        assert answer.grounding.supported_fraction == 1.0
    topical = library.ask("papers by Grace Hopper on compiler error messages")
    assert "(most relevant to the question first)" in topical.answer
    assert [c.title for c in topical.citations] == [TITLES["compilers"], TITLES["routing"]]
    refused = library.ask("papers by Jane Doe")
    assert refused.refused and "no paper in the collection lists Jane Doe among its authors" in refused.answer
    assert refused.citations == []


def test_a_papers_by_question_is_refused_when_the_collection_records_no_authors(corpus_assistant):
    answer = corpus_assistant.ask("papers by Yann LeCun")
    assert answer.refused
    assert "the collection records no authors" in answer.answer
    assert answer.citations == [] and answer.sources == []


# ---- questions about one paper's record (authors, date, venue) ----------------------------------------------

MINE = {
    "tidepool": (
        "Tidepool: Sparse Expert Routing for Low-Latency Streaming Speech Recognition on Mobile Devices",
        "Jane Doe; Rahul Mehta",
        "2024",
        "Streaming speech recognition needs low latency. We propose Tidepool. Its sparse gate routes each audio frame "
        "to two of sixteen experts, and word error rate falls by 8% relative on LibriSpeech at 200 ms latency.",
    ),
    "comet": (
        "COMET: Conditional Sparse Gating for Efficient Transformers",
        "Ana Lopez; Jane Doe",
        "2023",
        "Transformers spend compute uniformly over tokens. We introduce COMET, a conditional computation method in "
        "which a sparse gate selects which feed-forward blocks run for each token, matching dense accuracy on GLUE.",
    ),
    "lighthouse": (
        "Lighthouse: Retrieval Augmented Planning for Robots",
        "Wei Zhang",
        "2022",
        "Robots plan poorly in unfamiliar homes. Lighthouse retrieves past trajectories from a memory of episodes and "
        "conditions a planner on them, raising success from 41% to 63% on 120 household tasks.",
    ),
}


@pytest.fixture
def mine(make_assistant, tmp_path) -> Assistant:
    """A user's own CSV with Authors and Year columns (the shape a new user ingests)."""
    rows = ['"Title","Authors","Year","Abstract"'] + [f'"{t}","{a}","{y}","{ab}"' for t, a, y, ab in MINE.values()]
    path = tmp_path / "mine.csv"
    path.write_text("\n".join(rows) + "\n")
    a = make_assistant()
    a.ingest([path])
    return a


@pytest.mark.parametrize(
    ("question", "key", "said"),
    [
        ("What year was Tidepool published?", "tidepool", "was published in 2024 (from the paper's record)."),
        ("When was COMET published?", "comet", "was published in 2023 (from the paper's record)."),
        ("In what year did Lighthouse appear?", "lighthouse", "was published in 2022 (from the paper's record)."),
        ("Who wrote Tidepool?", "tidepool", "is by Jane Doe and Rahul Mehta (from the paper's record)."),
        ("Who are the authors of the COMET paper?", "comet", "is by Ana Lopez and Jane Doe (from the paper's record)."),
        ("Who is the first author of COMET?", "comet", "is Ana Lopez (from the paper's record)."),
    ],
)
def test_date_and_author_questions_are_answered_from_the_papers_record_and_not_flagged(mine, question, key, said):
    answer = mine.ask(question)
    assert not answer.refused, answer.answer
    assert answer.answer.endswith(said)
    assert [c.title for c in answer.citations] == [MINE[key][0]]
    assert "[1]" in answer.answer
    assert answer.grounding.supported_fraction == 1.0 and answer.supported
    assert answer.answer_check.confidence == "high", answer.answer_check


def test_a_follow_up_asking_who_wrote_it_is_answered_from_the_record_of_the_paper_it_refers_to(mine):
    first = mine.ask("Tell me about Lighthouse")
    history = [
        {"role": "user", "content": "Tell me about Lighthouse"},
        {
            "role": "assistant",
            "content": first.answer,
            "citations": [{"n": c.n, "paper_id": c.paper_id, "title": c.title} for c in first.citations],
        },
    ]
    for question, said in (("Who wrote it?", "is by Wei Zhang"), ("When was it published?", "was published in 2022")):
        answer = mine.ask(question, history=history)
        assert answer.answer == f"“{MINE['lighthouse'][0]}” [1] {said} (from the paper's record).", question
        assert answer.supported and answer.answer_check.confidence == "high"


def test_a_papers_by_question_with_a_long_title_beside_a_short_sentence_is_supported(mine):
    answer = mine.ask("Which papers did Jane Doe write?")
    assert answer.answer.startswith("Jane Doe is an author of 2 papers in the collection")
    assert {c.title for c in answer.citations} == {MINE["tidepool"][0], MINE["comet"][0]}
    assert answer.grounding.supported_fraction == 1.0, answer.grounding.unsupported_sentences
    assert answer.answers_question and answer.answer_check.missing_terms == []


def test_venue_questions_say_the_collection_records_no_venue(mine):
    answer = mine.ask("Which venue published Lighthouse?")
    assert answer.refused and "does not record where papers were published" in answer.answer
    assert "2022" not in answer.answer


def test_a_year_question_on_a_dump_paper_says_its_record_has_only_the_listing_day(library):
    answer = library.ask(f"What year was {TITLES['splats']} published?")
    assert answer.refused
    assert "gives only the day Daily Papers listed it (Mar 11), without a year" in answer.answer


# ---- the index's schema -----------------------------------------------------------------------------------


def test_an_index_written_with_the_previous_schema_names_the_reset(tmp_path, runner, make_assistant, fake_model):
    home = tmp_path / "old"
    home.mkdir()
    with sqlite3.connect(home / "manifest.sqlite") as db:  # what version 1 wrote
        db.executescript(
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
            "CREATE TABLE papers (paper_id TEXT PRIMARY KEY, title TEXT NOT NULL, abstract TEXT NOT NULL, "
            "hash TEXT NOT NULL, sources TEXT NOT NULL, date TEXT, url TEXT, authors TEXT, n_chunks INTEGER NOT NULL);"
            "CREATE TABLE chunks (chunk_id TEXT PRIMARY KEY, paper_id TEXT NOT NULL, chunk_no INTEGER NOT NULL, "
            "text TEXT NOT NULL);"
            "INSERT INTO meta VALUES ('schema', '1'), ('version', 'x');"
            "INSERT INTO papers VALUES ('p', 'T', 'A', 'h', '[]', NULL, NULL, NULL, 1);"
        )
    a = make_assistant(home=home)
    with pytest.raises(IndexMismatch, match=r"older version of rag .*rag ingest --reset"):
        a.search("anything")
    result = runner.invoke(app, ["search", "anything"], env={"RAG_HOME": str(home)})
    assert result.exit_code == 1 and len(result.stderr.strip().splitlines()) == 1
    assert "rag ingest --reset" in result.stderr
    report = a.ingest([arxiv_export(tmp_path / "arxiv.jsonl")], reset=True)
    assert report.papers == 2 and a.search("tiny transformers", k=1)[0].title == TITLES["routing"]


# ---- checking files before an ingest (the UI's upload) -------------------------------------------------------


def test_check_files_summarises_without_writing(tmp_path):
    s2 = semantic_scholar(tmp_path / "s2.json")
    export = arxiv_export(tmp_path / "arxiv.jsonl")
    check = Assistant.check_files([s2, export])
    assert (check.papers, check.records) == (3, 3)
    assert [(Path(f.file).name, f.format, f.records, f.skipped) for f in check.files] == [
        ("s2.json", "semantic-scholar", 1, 1),
        ("arxiv.jsonl", "arxiv-snapshot", 2, 0),
    ]
    assert [(Path(s.file).name, s.line) for s in check.skipped] == [("s2.json", 5)]
    assert not (tmp_path / "index").exists()


def test_the_upload_check_counts_skipped_records(tmp_path):
    from ui import app as ui_app

    message, ok = ui_app.validate_files([str(semantic_scholar(tmp_path / "s2.json"))])
    assert ok and "1 valid paper;" in message and "1 record without an abstract will be skipped" in message
