"""The arXiv metadata snapshot (Kaggle's `arxiv-metadata-oai-snapshot.json`, JSON Lines): `id`, `title`,
`abstract` (LaTeX), `authors` and `authors_parsed`, `categories`, `versions`, `update_date`, `doi`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ingest.formats.base import Format, Sample
from ingest.formats.json_records import json_read

_MARKERS = ("versions", "authors_parsed", "update_date")


def _sniff(sample: Sample) -> bool:
    return any("id" in r and "abstract" in r and any(k in r for k in _MARKERS) for r in sample.json_records())


def _refine(data: Mapping[str, Any], values: dict[str, Any]) -> None:
    # The first version's date is when the paper appeared; `update_date` (the latest version) stands in for it.
    if values["date"] is None:
        values["date"] = data.get("update_date")


FORMAT = Format(
    name="arxiv-snapshot",
    label="arXiv metadata snapshot (JSON Lines)",
    extensions=(".json", ".jsonl"),
    sniff=_sniff,
    read=json_read,
    fields={
        "title": ("title",),
        "abstract": ("abstract",),
        "authors": ("authors_parsed", "authors"),
        "date": ("versions[0].created", "update_date"),
        "arxiv_id": ("id",),
        "doi": ("doi",),
        "categories": ("categories",),
    },
    source_label=lambda path, data: f"arXiv ({path.name})",
    refine=_refine,
    latex=True,
    example='{"id": "1706.03762", "title": "Attention Is All You\\n  Need", "abstract": "  The dominant ...", "authors": "Ashish Vaswani, Noam Shazeer", "authors_parsed": [["Vaswani", "Ashish", ""]], "categories": "cs.CL cs.LG", "versions": [{"version": "v1", "created": "Mon, 12 Jun 2017 17:57:34 GMT"}], "update_date": "2023-08-03", "doi": null}',
)
