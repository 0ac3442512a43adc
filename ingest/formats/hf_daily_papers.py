"""The Hugging Face `api/daily_papers` JSON: an array of listings, each holding a `paper` (arXiv id, title,
summary, authors) and the date it was listed (`publishedAt`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ingest import fields as fv
from ingest.formats.base import Format, Sample
from ingest.formats.json_records import json_read


def _sniff(sample: Sample) -> bool:
    return any(isinstance(r.get("paper"), Mapping) and "summary" in r["paper"] for r in sample.json_records())


def _label(path: Path, data: Mapping[str, Any]) -> str:
    listed = fv.iso_date(data.get("publishedAt"))
    return f"Hugging Face Daily Papers, {listed}" if listed else "Hugging Face Daily Papers"


def _refine(data: Mapping[str, Any], values: dict[str, Any]) -> None:
    if values["url"] is None and (pid := fv.arxiv_id(values["arxiv_id"])):
        values["url"] = f"https://huggingface.co/papers/{pid}"


FORMAT = Format(
    name="hf-daily-papers",
    label="Hugging Face Daily Papers API (api/daily_papers)",
    extensions=(".json", ".jsonl"),
    sniff=_sniff,
    read=json_read,
    fields={
        "title": ("paper.title", "title"),
        "abstract": ("paper.summary", "summary"),
        "authors": ("paper.authors[]",),
        "date": ("paper.publishedAt",),
        "arxiv_id": ("paper.id",),
    },
    source_label=_label,
    refine=_refine,
    example='[{"paper": {"id": "2403.05530", "title": "...", "summary": "...", "authors": [{"name": "..."}], "publishedAt": "2024-03-08T00:00:00.000Z"}, "publishedAt": "2024-03-11T..."}]',
)
