"""Semantic Scholar Graph API paper records (`paperId`, `title`, `abstract` often null, `authors`, `externalIds`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ingest.formats.base import Format, Sample
from ingest.formats.json_records import json_read


def _sniff(sample: Sample) -> bool:
    return any("paperId" in r for r in sample.json_records())


def _refine(data: Mapping[str, Any], values: dict[str, Any]) -> None:
    # `year` is always there when `publicationDate` is; the full date is the richer of the two.
    if values["date"]:
        values["year"] = None


FORMAT = Format(
    name="semantic-scholar",
    label="Semantic Scholar Graph API records",
    extensions=(".json", ".jsonl"),
    sniff=_sniff,
    read=json_read,
    fields={
        "title": ("title",),
        "abstract": ("abstract",),
        "authors": ("authors[]",),
        "date": ("publicationDate",),
        "year": ("year",),
        "arxiv_id": ("externalIds.ArXiv",),
        "doi": ("externalIds.DOI",),
        "url": ("url",),
    },
    source_label=lambda path, data: f"Semantic Scholar ({path.name})",
    refine=_refine,
    example='{"paperId": "204e3073...", "title": "...", "abstract": null, "authors": [{"authorId": "40348417", "name": "Ashish Vaswani"}], "externalIds": {"ArXiv": "1706.03762", "DOI": "..."}, "year": 2017}',
)
