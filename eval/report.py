"""Human-readable results: `report.md` with tables, PNG plots and the worst questions; `compare_runs` for two runs."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from eval.scoring import ANSWER_KEYS, RECALL_CURVE_K, RETRIEVAL_KEYS

WORST_SHOWN = 10
ANSWER_CHARS = 600
PLOTS = {"recall": "recall_at_k.png", "by_type": "by_type.png", "latency": "latency.png"}


def fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        # Milliseconds and other large values read better with one decimal.
        return f"{value:.1f}" if abs(value) >= 10 else f"{value:.{digits}f}"
    return str(value)


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(fmt(c) for c in row) + " |" for row in rows]
    return lines


def decision_correct(record: dict[str, Any]) -> bool | None:
    """Whether the answer/refuse decision was right (None when nothing was answered)."""
    if record.get("refused") is None:
        return None
    return bool(record["refused"]) == bool(record["should_refuse"])


def quality(record: dict[str, Any]) -> float | None:
    """A per-question score in [0, 1] for ranking the worst questions: the right refusal decision for questions
    that should be refused; otherwise the mean of its rank, recall, citation and key-fact values."""
    if record.get("error"):
        return 0.0
    if record["should_refuse"]:
        correct = decision_correct(record)
        return None if correct is None else float(correct)
    parts = [record.get(k) for k in ("mrr@10", "recall@10", "citation_recall", "key_fact_recall")]
    kept = [p for p in parts if p is not None]
    return sum(kept) / len(kept) if kept else None


def _problems(r: dict[str, Any]) -> list[str]:
    out = []
    if r.get("error"):
        out.append(f"error: {r['error']}")
    if not r["should_refuse"] and r.get("recall@10") is not None and r["recall@10"] < 1:
        out.append("gold paper not in the top 10" if r["recall@10"] == 0 else "some gold papers not in the top 10")
    if r.get("refused") is True and not r["should_refuse"]:
        out.append("refused an answerable question")
    if r.get("refused") is False and r["should_refuse"]:
        out.append("answered a question it should have refused")
    if r.get("citation_recall") == 0 and r.get("refused") is False:
        out.append("cited no gold paper")
    if r.get("key_fact_recall") is not None and r["key_fact_recall"] < 1:
        out.append("missed key facts")
    if r.get("unsupported_sentences"):
        out.append(f"{len(r['unsupported_sentences'])} unsupported sentence(s)")
    return out


def _worst_section(records: Sequence[dict[str, Any]]) -> list[str]:
    scored = [(q, r) for r in records if (q := quality(r)) is not None and q < 1]
    scored.sort(key=lambda qr: (qr[0], qr[1]["id"]))
    lines = ["## Worst questions", ""]
    if not scored:
        return [*lines, "Every question scored full marks.", ""]
    lines.append(
        f"The {min(WORST_SHOWN, len(scored))} lowest-scoring of {len(scored)} imperfect questions "
        "(score: refusal decision for questions to refuse; else mean of MRR@10, recall@10, citation recall, key-fact recall)."
    )
    lines.append("")
    for score, r in scored[:WORST_SHOWN]:
        gold = {g.lower() for g in r.get("gold_titles", [])}
        lines.append(f"### {r['id']} ({r['type']}) — score {score:.2f}")
        lines.append("")
        lines.append(f"**Question:** {r['question']}")
        lines.append("")
        if r.get("gold_titles"):
            ranks = r.get("gold_ranks") or [None] * len(r["gold_titles"])
            for title, rank in zip(r["gold_titles"], ranks, strict=False):
                lines.append(f"- gold: {title} — {'rank ' + str(rank) if rank else 'not retrieved'}")
        else:
            lines.append("- gold: none (the right output is a refusal)")
        lines.append("")
        lines.append("Retrieved:")
        for i, title in enumerate(r.get("retrieved", [])[:5], start=1):
            lines.append(f"{i}. {title}{' ✓' if title.lower() in gold else ''}")
        lines.append("")
        if r.get("answer") is not None:
            answer = " ".join(r["answer"].split())
            answer = answer if len(answer) <= ANSWER_CHARS else answer[:ANSWER_CHARS] + " …"
            lines.append(f"**{'Refused' if r.get('refused') else 'Answer'}:** {answer}")
            lines.append("")
            facts = zip(r.get("key_facts", []) or [], r.get("key_facts_stated", []) or [], strict=False)
            stated = [f"{'✓' if ok else '✗'} {fact}" for fact, ok in facts]
            if stated:
                lines.append("Key facts: " + "; ".join(stated))
                lines.append("")
        problems = _problems(r)
        if problems:
            lines.append("Problems: " + "; ".join(problems))
            lines.append("")
    return lines


def _plot_recall(path: Path, metrics: dict[str, Any]) -> None:
    import matplotlib.pyplot as plt

    ks = list(RECALL_CURVE_K)
    fig, ax = plt.subplots(figsize=(6, 4))
    overall = [metrics["recall_curve"].get(f"recall@{k}") for k in ks]
    ax.plot(ks, [v or 0 for v in overall], marker="o", linewidth=2.5, label="all answerable", color="black")
    for qtype, sub in metrics.get("by_type", {}).items():
        curve = [sub["recall_curve"].get(f"recall@{k}") for k in ks]
        if any(v is not None for v in curve):
            ax.plot(ks, [v or 0 for v in curve], marker=".", linewidth=1, label=qtype)
    ax.set(
        xlabel="k (papers)", ylabel="recall@k", ylim=(0, 1.02), xticks=ks, title="Recall of gold papers in the top k"
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _type_bars(metrics: dict[str, Any], records: Sequence[dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    series: dict[str, dict[str, float | None]] = {}
    for qtype, sub in metrics.get("by_type", {}).items():
        decisions = [d for r in records if r["type"] == qtype and (d := decision_correct(r)) is not None]
        series[qtype] = {
            "recall@5": sub["retrieval"]["recall@5"],
            "MRR@10": sub["retrieval"]["mrr@10"],
            "key-fact recall": sub["answers"]["key_fact_recall"],
            "right refuse/answer decision": sum(decisions) / len(decisions) if decisions else None,
        }
    return series


def _plot_by_type(path: Path, metrics: dict[str, Any], records: Sequence[dict[str, Any]]) -> None:
    import matplotlib.pyplot as plt

    series = _type_bars(metrics, records)
    types = list(series)
    names = [
        n
        for n in ("recall@5", "MRR@10", "key-fact recall", "right refuse/answer decision")
        if any(series[t][n] is not None for t in types)
    ]
    fig, ax = plt.subplots(figsize=(8, 4.4))
    width = 0.8 / max(len(names), 1)
    for i, name in enumerate(names):
        xs = [j + (i - (len(names) - 1) / 2) * width for j in range(len(types))]
        ax.bar(xs, [series[t][name] or 0 for t in types], width=width, label=name)
    ax.set_xticks(range(len(types)), [f"{t}\n(n={metrics['by_type'][t]['n']})" for t in types])
    ax.set(ylim=(0, 1.05), title="By question type")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=len(names), frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _plot_latency(path: Path, records: Sequence[dict[str, Any]], metrics: dict[str, Any]) -> None:
    import matplotlib.pyplot as plt

    values = [r["latency_ms"] for r in records if r.get("latency_ms") is not None]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.hist(values, bins=min(30, max(5, len(values) // 3)), color="#4C72B0")
    for q, style in (("p50", "--"), ("p95", ":")):
        v = metrics["latency_ms"].get(q)
        if v is not None:
            ax.axvline(v, color="black", linestyle=style, label=f"{q} {v:.0f} ms")
    ax.set(xlabel="latency per question (ms)", ylabel="questions", title="Latency")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_plots(out: Path, metrics: dict[str, Any], records: Sequence[dict[str, Any]]) -> dict[str, str]:
    """The three PNGs beside the report (matplotlib's Agg backend: no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    _plot_recall(out / PLOTS["recall"], metrics)
    _plot_by_type(out / PLOTS["by_type"], metrics, records)
    _plot_latency(out / PLOTS["latency"], records, metrics)
    return dict(PLOTS)


def render_report(
    metrics: dict[str, Any], records: Sequence[dict[str, Any]], plots: dict[str, str] | None = None
) -> str:
    """The report as Markdown."""
    s, run, idx = metrics.get("settings", {}), metrics.get("run", {}), metrics.get("index", {})
    mode = run.get("mode", "full")
    what = "retrieval only" if mode == "retrieval-only" else f"generator {s.get('resolved_generator')}"
    lines = [
        f"# Eval report: {Path(run.get('questions', 'questions')).name}",
        "",
        f"{metrics['n']} questions ({metrics['n_answerable']} answerable, {metrics['n_should_refuse']} to refuse); "
        f"{what}; retriever {s.get('retriever')}, k={s.get('k')}; index {idx.get('fingerprint')} "
        f"({idx.get('papers')} papers); {run.get('seconds')} s; finished {run.get('finished_at')}.",
        "",
    ]
    if metrics.get("errors"):
        lines += [f"**{metrics['errors']} question(s) failed with an error** (see per_question.jsonl).", ""]
    lines += ["## Headline", ""]
    rows: list[list[Any]] = [[f"retrieval {k}", metrics["retrieval"][k]] for k in RETRIEVAL_KEYS]
    if mode != "retrieval-only":
        rows += [[key.replace("_", " "), metrics["answers"].get(key)] for key in ANSWER_KEYS]
        if "judge_score" in metrics["answers"]:
            rows.append(["LLM judge score", metrics["answers"]["judge_score"]])
    rows += [["latency p50 (ms)", metrics["latency_ms"]["p50"]], ["latency p95 (ms)", metrics["latency_ms"]["p95"]]]
    lines += _table(["metric", "value"], rows)
    lines += ["", "## By type", ""]
    header = ["type", "n", "recall@5", "MRR@10", "all@10"]
    if mode != "retrieval-only":
        header += ["cit. precision", "cit. recall", "supported", "refusal recall", "false refusals", "key facts"]
    header.append("p50 ms")
    type_rows = []
    for qtype, sub in metrics.get("by_type", {}).items():
        row = [qtype, sub["n"], sub["retrieval"]["recall@5"], sub["retrieval"]["mrr@10"], sub["retrieval"]["all@10"]]
        if mode != "retrieval-only":
            a = sub["answers"]
            row += [
                a["citation_precision"],
                a["citation_recall"],
                a["supported_fraction"],
                a["refusal_recall"],
                a["false_refusal_rate"],
                a["key_fact_recall"],
            ]
        row.append(sub["latency_ms"]["p50"])
        type_rows.append(row)
    lines += _table(header, type_rows)
    lines += [
        "",
        "A dash means the metric does not apply (e.g. retrieval metrics for questions with no gold paper).",
        "",
    ]
    if plots:
        lines += ["## Plots", ""]
        lines += [
            f"![recall@k]({plots['recall']})",
            "",
            f"![by type]({plots['by_type']})",
            "",
            f"![latency]({plots['latency']})",
            "",
        ]
    lines += _worst_section(records)
    return "\n".join(lines).rstrip() + "\n"


def write_report(out: Path, metrics: dict[str, Any], records: Sequence[dict[str, Any]]) -> Path:
    """Write `report.md` and its plots into `out`; returns the report's path."""
    plots = write_plots(out, metrics, records)
    path = out / "report.md"
    path.write_text(render_report(metrics, records, plots), encoding="utf-8")
    return path


# ---- comparing two runs ----------------------------------------------------------------------------------


def load_run(run: str | Path) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """A run directory's metrics and its per-question records by id (the last record of an id wins)."""
    run = Path(run)
    metrics_path = run / "metrics.json"
    if not metrics_path.is_file():
        raise FileNotFoundError(f"{run}: no metrics.json here (is it a `rag eval --out` directory?)")
    metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
    records: dict[str, dict[str, Any]] = {}
    pq = run / "per_question.jsonl"
    if pq.is_file():
        for line in pq.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(rec, dict) and "id" in rec:
                records[rec["id"]] = rec
    return metrics, records


FLIP_CHECKS: dict[str, Callable[[dict[str, Any]], bool | None]] = {
    "gold at rank 1": lambda r: None if r.get("mrr@10") is None else r["mrr@10"] == 1.0,
    "all gold in top 10": lambda r: None if r.get("all@10") is None else r["all@10"] == 1.0,
    "right refuse/answer decision": decision_correct,
    "all key facts stated": lambda r: None if r.get("key_fact_recall") is None else r["key_fact_recall"] == 1.0,
}


def flips(a: dict[str, dict[str, Any]], b: dict[str, dict[str, Any]]) -> list[tuple[str, str, list[tuple[str, bool]]]]:
    """Questions in both runs whose pass/fail changed on some check: (id, type, [(check, now passes)])."""
    out = []
    for qid in sorted(set(a) & set(b)):
        changed = []
        for name, check in FLIP_CHECKS.items():
            before, after = check(a[qid]), check(b[qid])
            if before is not None and after is not None and before != after:
                changed.append((name, after))
        if changed:
            out.append((qid, b[qid].get("type", "?"), changed))
    return out


def _delta(a: Any, b: Any) -> str:
    if isinstance(a, int | float) and isinstance(b, int | float):
        return f"{b - a:+.3f}"
    return ""


def _metric_rows(ma: dict[str, Any], mb: dict[str, Any]) -> list[str]:
    rows = []
    for group, keys in (("retrieval", RETRIEVAL_KEYS), ("answers", ANSWER_KEYS), ("latency_ms", ("p50", "p95"))):
        for key in keys:
            va, vb = ma.get(group, {}).get(key), mb.get(group, {}).get(key)
            if va is not None or vb is not None:
                rows.append((f"{group}.{key}", fmt(va), fmt(vb), _delta(va, vb)))
    width = max(len(r[0]) for r in rows) if rows else 10
    return [f"{'metric':<{width}}  {'A':>9}  {'B':>9}  {'B-A':>7}"] + [
        f"{n:<{width}}  {x:>9}  {y:>9}  {d:>7}" for n, x, y, d in rows
    ]


def _type_changes(ma: dict[str, Any], mb: dict[str, Any]) -> list[str]:
    out = []
    for qtype, sb in mb.get("by_type", {}).items():
        sa = ma.get("by_type", {}).get(qtype)
        if sa is None:
            continue
        parts = []
        for group, key in (("retrieval", "recall@5"), ("retrieval", "mrr@10"), ("answers", "key_fact_recall")):
            d = _delta(sa[group].get(key), sb[group].get(key))
            if d and d not in ("+0.000", "-0.000"):
                parts.append(f"{key} {d}")
        if parts:
            out.append(f"  {qtype}: " + ", ".join(parts))
    return ["", "By type (changes only):", *out] if out else []


def _settings_changes(ma: dict[str, Any], mb: dict[str, Any]) -> list[str]:
    sa, sb = ma.get("settings", {}), mb.get("settings", {})
    diff = [
        f"  {k}: {sa.get(k)!r} -> {sb.get(k)!r}"
        for k in sorted(set(sa) | set(sb))
        if sa.get(k) != sb.get(k) and k != "home"
    ]
    fa, fb = ma.get("index", {}).get("fingerprint"), mb.get("index", {}).get("fingerprint")
    if fa != fb:
        diff.append(f"  index fingerprint: {fa} -> {fb}")
    return ["", "Settings that differ:", *diff] if diff else []


def compare_runs(run_a: str | Path, run_b: str | Path) -> str:
    """Metric deltas B - A (headline and by type), differing settings, and the questions that flipped."""
    ma, ra = load_run(run_a)
    mb, rb = load_run(run_b)
    lines = [
        f"A: {run_a}",
        f"B: {run_b}",
        "",
        *_metric_rows(ma, mb),
        *_type_changes(ma, mb),
        *_settings_changes(ma, mb),
    ]
    flipped = flips(ra, rb)
    better = sum(1 for _, _, ch in flipped for _, ok in ch if ok)
    worse = sum(1 for _, _, ch in flipped for _, ok in ch if not ok)
    lines += ["", f"Questions that flipped: {len(flipped)} ({better} checks now pass, {worse} now fail)"]
    for qid, qtype, changed in flipped:
        lines.append(
            f"  {qid} ({qtype}): "
            + "; ".join(f"{name} {'fail -> pass' if ok else 'pass -> fail'}" for name, ok in changed)
        )
    only_a, only_b = sorted(set(ra) - set(rb)), sorted(set(rb) - set(ra))
    if only_a or only_b:
        lines += ["", f"Only in A: {len(only_a)} questions; only in B: {len(only_b)} questions."]
    return "\n".join(lines)
