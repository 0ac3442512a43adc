"""The CI quality gate: headline metrics of a run checked against the floors (and ceilings) in eval/floors.json.

floors.json holds one entry per gated run, e.g. `"extractive": {"min": {"retrieval.recall@5": 0.95},
"max": {"answers.false_refusal_rate": 0.1}}`, set from a measured run a little below (above) what it scored.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FLOORS = Path(__file__).resolve().parent / "floors.json"


def load_floors(path: str | Path = FLOORS) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def metric_at(metrics: dict[str, Any], dotted: str) -> Any:
    """`metrics["answers"]["refusal_recall"]` for "answers.refusal_recall" (None when absent)."""
    value: Any = metrics
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def check_floors(metrics: dict[str, Any], gate: dict[str, Any]) -> list[str]:
    """Every way `metrics` falls short of `gate` ({"min": {...}, "max": {...}}), one readable line each."""
    failures = []
    for name, floor in gate.get("min", {}).items():
        value = metric_at(metrics, name)
        if value is None or value < floor:
            failures.append(f"{name} = {value if value is None else round(value, 4)} is below its floor {floor}")
    for name, ceiling in gate.get("max", {}).items():
        value = metric_at(metrics, name)
        if value is None or value > ceiling:
            failures.append(f"{name} = {value if value is None else round(value, 4)} is above its ceiling {ceiling}")
    return failures
