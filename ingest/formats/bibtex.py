"""BibTeX (`.bib`) through bibtexparser: entries with `abstract`, authors split into names, LaTeX decoded."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import bibtexparser
from bibtexparser import middlewares as mw
from bibtexparser.model import DuplicateBlockKeyBlock, Entry

from ingest.errors import ParseError
from ingest.formats.base import Format, RawRecord, Sample

_ENTRY_START = re.compile(r"^\s*@\s*[A-Za-z]+\s*[{(]")


def _sniff(sample: Sample) -> bool:
    return bool(_ENTRY_START.match(sample.head))


def _entry_fields(entry: Entry) -> dict[str, Any]:
    data: dict[str, Any] = {k.lower(): v for k, v in entry.items()}
    names = data.get("author")
    if isinstance(names, list):
        data["author"] = [n.merge_first_name_first if isinstance(n, mw.NameParts) else str(n) for n in names]
    return data


def _read(sample: Sample) -> list[RawRecord]:
    library = bibtexparser.parse_string(sample.text, append_middleware=[mw.SeparateCoAuthors(), mw.SplitNameParts()])
    for block in library.failed_blocks:
        if isinstance(block, DuplicateBlockKeyBlock):
            continue  # two entries with one citation key are still two records; identity decides
        line = (block.start_line or 0) + 1
        reason = str(block.error).splitlines()[0] if str(block.error) else type(block.error).__name__
        raise ParseError(sample.path, line, f"malformed BibTeX entry ({reason[:200]})")
    entries = list(library.entries)
    entries += [
        b.ignore_error_block
        for b in library.failed_blocks
        if isinstance(b, DuplicateBlockKeyBlock) and isinstance(b.ignore_error_block, Entry)
    ]
    if not entries:
        raise ParseError(sample.path, None, "no BibTeX entries found")
    entries.sort(key=lambda e: e.start_line or 0)
    return [RawRecord((e.start_line or 0) + 1, _entry_fields(e)) for e in entries]


def _refine(data: Mapping[str, Any], values: dict[str, Any]) -> None:
    # `eprint` names an arXiv id only when the entry says the archive is arXiv.
    archive = str(data.get("archiveprefix") or data.get("eprinttype") or "").lower()
    if values["arxiv_id"] is None and archive == "arxiv":
        values["arxiv_id"] = data.get("eprint")


FORMAT = Format(
    name="bibtex",
    label="BibTeX",
    extensions=(".bib", ".bibtex", ".txt"),
    sniff=_sniff,
    read=_read,
    fields={
        "title": ("title",),
        "abstract": ("abstract",),
        "authors": ("author",),
        "date": ("date",),
        "year": ("year",),
        "month": ("month",),
        "arxiv_id": ("arxivid", "arxiv"),
        "doi": ("doi",),
        "url": ("url",),
        "categories": ("primaryclass",),
    },
    source_label=lambda path, data: f"BibTeX ({path.name})",
    refine=_refine,
    latex=True,
    example="@article{vaswani2017, title = {Attention Is All You Need}, author = {Vaswani, Ashish and Shazeer, Noam}, year = {2017}, eprint = {1706.03762}, archivePrefix = {arXiv}, abstract = {The dominant ...}}",
)
