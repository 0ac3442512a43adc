"""Hypothesis round trip: records -> each format (written by its own tools: csv, json, bibtexparser, rispy)
-> parse -> the same records, for every field the format can carry."""

from __future__ import annotations

import csv
import email.utils
import io
import json
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import bibtexparser
import pytest
import rispy
from bibtexparser.model import Entry, Field
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest import parse_file

WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=2, max_size=9)
CAPWORD = WORD.map(str.capitalize)
TITLE = st.lists(CAPWORD | WORD | st.sampled_from(["2D", "GPT-4", "of", "a"]), min_size=1, max_size=8).map(" ".join)
ABSTRACT = st.lists(WORD | st.sampled_from(["40%", "(ours)", "1.5x", "models,"]), min_size=8, max_size=40).map(
    lambda ws: " ".join(ws).capitalize() + "."
)
NAME = st.tuples(CAPWORD, CAPWORD).map(" ".join)
DATE = st.one_of(
    st.none(),
    st.integers(1990, 2030).map(str),
    st.tuples(st.integers(1990, 2030), st.integers(1, 12)).map(lambda t: f"{t[0]}-{t[1]:02d}"),
    st.tuples(st.integers(1990, 2030), st.integers(1, 12), st.integers(1, 28)).map(
        lambda t: f"{t[0]}-{t[1]:02d}-{t[2]:02d}"
    ),
)
RECORD = st.fixed_dictionaries(
    {
        "title": TITLE,
        "abstract": ABSTRACT,
        "authors": st.lists(NAME, max_size=3, unique=True).map(tuple),
        "date": DATE,
        "arxiv_id": st.none()
        | st.tuples(st.integers(1001, 2512), st.integers(10000, 99999)).map(lambda t: f"{t[0]}.{t[1]}"),
        "doi": st.none() | st.tuples(st.integers(1000, 9999), WORD).map(lambda t: f"10.{t[0]}/{t[1]}"),
        "url": st.none() | WORD.map(lambda w: f"https://example.org/{w}"),
    }
)
RECORDS = st.lists(RECORD, min_size=1, max_size=4, unique_by=lambda r: r["title"].lower())


def _last_first(name: str) -> str:
    first, last = name.split(" ")
    return f"{last}, {first}"


def _rfc2822(date: str) -> str:
    y, m, d = map(int, date.split("-"))
    return email.utils.format_datetime(datetime(y, m, d, 12, 0, tzinfo=UTC))


def write_jsonl(rs: list[dict]) -> str:
    return "".join(json.dumps({k: list(v) if isinstance(v, tuple) else v for k, v in r.items()}) + "\n" for r in rs)


def write_json_array(rs: list[dict]) -> str:
    return json.dumps([{**r, "authors": list(r["authors"])} for r in rs], indent=2)


def write_hf(rs: list[dict]) -> str:
    items = [
        {
            "paper": {
                "id": r["arxiv_id"],
                "title": r["title"],
                "summary": r["abstract"],
                "authors": [{"_id": str(i), "name": n, "hidden": False} for i, n in enumerate(r["authors"])],
                "publishedAt": f"{r['date']}T00:00:00.000Z" if _full_date(r) else None,
            },
            "publishedAt": "2024-03-11T00:00:00.000Z",
        }
        for r in rs
    ]
    return json.dumps(items, indent=1)


def write_s2(rs: list[dict]) -> str:
    data = [
        {
            "paperId": f"{i:040x}",
            "externalIds": {k: v for k, v in (("ArXiv", r["arxiv_id"]), ("DOI", r["doi"])) if v},
            "url": r["url"],
            "title": r["title"],
            "abstract": r["abstract"],
            "year": int(r["date"][:4]) if r["date"] else None,
            "publicationDate": r["date"] if r["date"] and len(r["date"]) == 10 else None,
            "authors": [{"authorId": str(j), "name": n} for j, n in enumerate(r["authors"])],
        }
        for i, r in enumerate(rs)
    ]
    return json.dumps({"total": len(data), "offset": 0, "data": data})


def write_arxiv(rs: list[dict]) -> str:
    rows = []
    for r in rs:
        row = {
            "id": r["arxiv_id"],
            "title": r["title"],
            "abstract": "  " + r["abstract"] + "\n",
            "authors": ", ".join(r["authors"]),
            "authors_parsed": [[n.split(" ")[1], n.split(" ")[0], ""] for n in r["authors"]],
            "doi": r["doi"],
            "categories": "cs.LG",
            "update_date": r["date"] if r["date"] and len(r["date"]) == 10 else None,
        }
        if r["date"] and len(r["date"]) == 10:
            row["versions"] = [{"version": "v1", "created": _rfc2822(r["date"])}]
        rows.append(row)
    return "".join(json.dumps(row) + "\n" for row in rows)


def write_zotero_csv(rs: list[dict]) -> str:
    out = io.StringIO()
    w = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    w.writerow(["Key", "Item Type", "Publication Year", "Author", "Title", "DOI", "Url", "Abstract Note", "Date"])
    for i, r in enumerate(rs):
        authors = "; ".join(_last_first(n) for n in r["authors"])
        year = r["date"][:4] if r["date"] else ""
        w.writerow(
            [
                f"K{i}",
                "journalArticle",
                year,
                authors,
                r["title"],
                r["doi"] or "",
                r["url"] or "",
                r["abstract"],
                r["date"] or "",
            ]
        )
    return "\ufeff" + out.getvalue()


def write_wos_tsv(rs: list[dict]) -> str:
    lines = ["PT\tAU\tAF\tTI\tAB\tPY\tDI\tUT"]
    for i, r in enumerate(rs):
        names = "; ".join(_last_first(n) for n in r["authors"])
        year = r["date"][:4] if r["date"] else ""
        lines.append(f"J\t{names}\t{names}\t{r['title']}\t{r['abstract']}\t{year}\t{r['doi'] or ''}\tWOS:{i}")
    return "\n".join(lines) + "\n"


def write_bibtex(rs: list[dict]) -> str:
    lib = bibtexparser.Library()
    for i, r in enumerate(rs):
        fields = [Field("title", r["title"]), Field("abstract", r["abstract"])]
        if r["authors"]:
            fields.append(Field("author", " and ".join(_last_first(n) for n in r["authors"])))
        if r["date"]:
            fields.append(Field("date", r["date"]))
        if r["arxiv_id"]:
            fields += [Field("eprint", r["arxiv_id"]), Field("archivePrefix", "arXiv")]
        for name in ("doi", "url"):
            if r[name]:
                fields.append(Field(name, r[name]))
        lib.add(Entry("article", f"key{i}", fields))
    return bibtexparser.write_string(lib)


def write_ris(rs: list[dict]) -> str:
    entries = []
    for r in rs:
        e = {"type_of_reference": "JOUR", "title": r["title"], "abstract": r["abstract"]}
        if r["authors"]:
            e["authors"] = [_last_first(n) for n in r["authors"]]
        if r["date"]:
            parts = [*r["date"].split("-"), "", ""]
            e["date"] = f"{parts[0]}/{parts[1]}/{parts[2]}/"
        if r["doi"]:
            e["doi"] = r["doi"]
        if r["url"]:
            e["urls"] = [r["url"]]
        entries.append(e)
    return rispy.dumps(entries)


def write_dump(rs: list[dict]) -> str:
    return "new\n\nDaily Papers\n\nMar 11\n\n" + "".join(f"{r['title']}\n\n{r['abstract']}\n\n" for r in rs)


def _full_date(r: dict) -> str | None:
    return r["date"] if r["date"] and len(r["date"]) == 10 else None


# name -> (writer, suffix, format name, fields carried, how the carried date reads back)
FORMATS: dict[str, tuple[Callable, str, str, set[str], Callable[[dict], str | None]]] = {
    "jsonl": (write_jsonl, ".jsonl", "json", {"authors", "arxiv_id", "doi", "url"}, lambda r: r["date"]),
    "json-array": (write_json_array, ".json", "json", {"authors", "arxiv_id", "doi", "url"}, lambda r: r["date"]),
    "hf": (write_hf, ".json", "hf-daily-papers", {"authors", "arxiv_id"}, _full_date),
    "s2": (
        write_s2,
        ".json",
        "semantic-scholar",
        {"authors", "arxiv_id", "doi", "url"},
        lambda r: _full_date(r) or (r["date"][:4] if r["date"] else None),
    ),
    "arxiv": (write_arxiv, ".jsonl", "arxiv-snapshot", {"authors", "arxiv_id", "doi"}, _full_date),
    "zotero": (write_zotero_csv, ".csv", "csv", {"authors", "doi", "url"}, lambda r: r["date"]),
    "wos": (write_wos_tsv, ".txt", "csv", {"authors", "doi"}, lambda r: r["date"][:4] if r["date"] else None),
    "bibtex": (write_bibtex, ".bib", "bibtex", {"authors", "arxiv_id", "doi", "url"}, lambda r: r["date"]),
    "ris": (write_ris, ".ris", "ris", {"authors", "doi", "url"}, lambda r: r["date"]),
    "dump": (write_dump, ".txt", "daily-papers-dump", set(), lambda r: None),
}


@pytest.mark.parametrize("name", sorted(FORMATS))
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=RECORDS)
def test_records_survive_a_round_trip_through_each_format(records, name):
    writer, suffix, fmt, carried, date_of = FORMATS[name]
    if fmt in {"hf-daily-papers", "arxiv-snapshot"}:  # these shapes always carry an arXiv id
        records = [{**r, "arxiv_id": r["arxiv_id"] or f"2401.{10000 + i}"} for i, r in enumerate(records)]
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"export{suffix}"
        path.write_text(writer(records), encoding="utf-8")
        parsed = parse_file(path)
    assert parsed.format == fmt
    assert parsed.skipped == []
    assert len(parsed.records) == len(records)
    for want, got in zip(records, parsed.records, strict=True):
        assert (got.title, got.abstract) == (want["title"], want["abstract"])
        assert got.date == date_of(want)
        for field in ("authors", "arxiv_id", "doi"):
            empty = () if field == "authors" else None
            assert getattr(got, field) == (want[field] if field in carried else empty), field
        if "url" in carried and want["url"]:
            assert got.url == want["url"]
