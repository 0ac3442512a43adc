"""The eval runner: questions in, `per_question.jsonl` appended as each question finishes, then
`metrics.json` and the report. Retrieval and answers come from `Assistant.search` / `Assistant.ask` only."""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from eval.questions import QuestionError, check_gold_titles, load_questions, select_questions
from eval.scoring import aggregate, answer_values, base_record, by_type, retrieval_values
from rag.files import atomic_write
from rag.index import IndexProblem
from rag.settings import Settings

SEARCH_K = 10  # retrieval metrics go to @10 whatever k the answerer is given
PER_QUESTION = "per_question.jsonl"
METRICS = "metrics.json"
RUN_INFO = "run.json"
# A resumed run must answer with the same pipeline as the part already done.
RESUME_KEYS = ("retrieval_only", "generator", "retriever", "k", "index_fingerprint", "judge", "key_fact_matching")


class EvalSetupError(QuestionError):
    """A run that cannot start as asked (resume mismatch, judge without an LLM); one clear line."""

    def __init__(self, message: str) -> None:
        super().__init__([message])


def _key_fact_similarity(embeddings: Any) -> Callable[[list[str]], Callable[[str, list[str]], float]]:
    """Key-fact similarity over the index's own embedding model, computed only when words alone fail."""
    cache: dict[str, np.ndarray] = {}
    encode = getattr(embeddings, "encode", None) or embeddings.embed_documents

    def vectors(texts: list[str]) -> list[np.ndarray]:
        missing = [t for t in dict.fromkeys(texts) if t not in cache]
        if missing:
            for t, v in zip(missing, encode(missing), strict=True):
                cache[t] = np.asarray(v, dtype=np.float32)
        return [cache[t] for t in texts]

    def for_answer(sentences: list[str]) -> Callable[[str, list[str]], float]:
        def similarity(fact: str, sents: list[str]) -> float:
            fact_vec, *sent_vecs = vectors([fact, *sents])
            return max(float(fact_vec @ v) for v in sent_vecs)

        return similarity

    return for_answer


def _read_records(path: Path) -> list[dict[str, Any]]:
    """Records in file order; a torn last line (a run killed mid-write) is dropped and the file repaired."""
    if not path.exists():
        return []
    good: list[str] = []
    records: list[dict[str, Any]] = []
    torn = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            torn = True
            continue
        if isinstance(rec, dict) and "id" in rec:
            records.append(rec)
            good.append(line)
    if torn:
        atomic_write(path, "".join(g + "\n" for g in good))
    return records


def _check_resume(out: Path, config: dict[str, Any]) -> None:
    info_path = out / RUN_INFO
    if not info_path.exists():
        return
    before = json.loads(info_path.read_text(encoding="utf-8"))
    changed = [f"{k}: {before.get(k)!r} -> {config.get(k)!r}" for k in RESUME_KEYS if before.get(k) != config.get(k)]
    if changed:
        raise EvalSetupError(
            f"--resume: {out} was run with other settings ({'; '.join(changed)}); use a new --out or drop --resume"
        )


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def _progress_bar(total: int, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc="eval", unit="q", file=sys.stderr, disable=not enabled or total == 0, leave=False)


def _judge_for(settings: Settings, enabled: bool, retrieval_only: bool) -> Any:
    if not enabled:
        return None
    if retrieval_only:
        raise EvalSetupError("--judge scores answers: drop --retrieval-only")
    from eval.judge import LLMJudge

    return LLMJudge(settings)


def evaluate_question(
    assistant: Any,
    q: Any,
    *,
    mode: str,
    ask_options: dict[str, Any],
    retrieval_only: bool,
    similarity: Any,
    judge: Any,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, Any]:
    """One question through the product. A full run asks once, with the ranking kept to depth @10, and scores
    the ranking the answer was made from; retrieval-only searches. An exception while answering is recorded on
    the record, not raised (retrieval is then scored from a search, so the question still counts).
    """
    record = base_record(q)
    answer = None
    ranking = None
    if not retrieval_only:
        t0 = clock()
        try:
            answer = assistant.ask(q.question, ranking_depth=SEARCH_K, **ask_options)
            ranking = answer.ranking
            record["search_ms"] = answer.timings_ms.get("retrieve")
        except Exception as exc:  # a failing question must not lose the rest of a long run
            record.update({"answer": None, "refused": None, "citations": [], "error": f"{type(exc).__name__}: {exc}"})
        record["latency_ms"] = round((clock() - t0) * 1000, 1)
    if ranking is None:
        t0 = clock()
        ranking = assistant.search(q.question, k=SEARCH_K, mode=mode)
        record["search_ms"] = round((clock() - t0) * 1000, 1)
        if retrieval_only:
            record["latency_ms"] = record["search_ms"]
    record["retrieved"] = [s.title for s in ranking[:SEARCH_K]]
    record.update(retrieval_values(record["retrieved"], q.gold_titles))
    if answer is not None:
        record.update(answer_values(q, answer, similarity))
        if judge is not None:
            record.update(judge.judge(q, answer))
    return record


def run_eval(
    questions: str | Path,
    out: str | Path = Path("runs/latest"),
    *,
    retrieval_only: bool = False,
    generator: str | None = None,
    retriever: str | None = None,
    k: int | None = None,
    types: Sequence[str] | None = None,
    limit: int | None = None,
    resume: bool = False,
    judge: bool = False,
    semantic_key_facts: bool = False,
    progress: bool = False,
    report: bool = True,
    assistant: Any = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Evaluate `questions` (JSON Lines) and write `out/metrics.json`, `out/per_question.jsonl` and `out/report.md`.

    `assistant` reuses an existing `Assistant` (its index and models); otherwise one is built from `settings`
    (default: the environment). `generator`, `retriever` and `k` override its settings for this run.
    `semantic_key_facts` also accepts a key fact by embedding similarity (see eval/README.md; slower).
    Returns the metrics dict that was written.
    """
    started = time.perf_counter()
    questions_path = Path(questions)
    out = Path(out)
    selected = select_questions(load_questions(questions_path), types, limit)
    overrides = {"generator": generator, "retriever": retriever, "k": k}
    if assistant is None:
        from rag.assistant import Assistant

        assistant = Assistant((settings or Settings()).with_overrides(**overrides))
    run_settings = assistant.settings.with_overrides(**overrides)
    index = assistant.index
    index.check_compatible()
    papers = index.papers()
    if not papers:
        raise IndexProblem(f"the index at {run_settings.home} is empty: run `rag ingest` first")
    check_gold_titles(selected, [p.title for p in papers.values()], str(questions_path))
    judge_obj = _judge_for(run_settings, judge, retrieval_only)

    config = {
        "questions": str(questions_path),
        "questions_sha256": _sha256(questions_path),
        "retrieval_only": retrieval_only,
        "generator": None if retrieval_only else run_settings.resolved_generator,
        "retriever": run_settings.retriever,
        "k": run_settings.k,
        "types": list(types) if types else None,
        "limit": limit,
        "judge": judge,
        "key_fact_matching": "lexical+embedding" if semantic_key_facts else "lexical",
        "index_fingerprint": index.fingerprint(),
    }
    out.mkdir(parents=True, exist_ok=True)
    per_question = out / PER_QUESTION
    if resume:
        _check_resume(out, config)
        done = {r["id"]: r for r in _read_records(per_question)}
    else:
        per_question.write_text("", encoding="utf-8")
        done = {}
    atomic_write(out / RUN_INFO, json.dumps(config, indent=2) + "\n")

    def is_done(q: Any) -> bool:
        r = done.get(q.id)
        return r is not None and r.get("question") == q.question and r.get("gold_titles") == list(q.gold_titles)

    pending = [q for q in selected if not is_done(q)]
    ask_options = {key: value for key, value in overrides.items() if value is not None}
    similarity = _key_fact_similarity(index.embeddings) if (semantic_key_facts and not retrieval_only) else None
    # Load the models, Chroma and BM25 before the clock starts, so the first question's latency is honest.
    warm_start = time.perf_counter()
    if pending:
        assistant.search("warm-up", k=1, mode=run_settings.retriever)
    warmup_seconds = time.perf_counter() - warm_start
    bar = _progress_bar(len(pending), progress)
    try:
        with per_question.open("a", encoding="utf-8") as fh:
            for q in pending:
                record = evaluate_question(
                    assistant,
                    q,
                    mode=run_settings.retriever,
                    ask_options=ask_options,
                    retrieval_only=retrieval_only,
                    similarity=similarity,
                    judge=judge_obj,
                )
                fh.write(json.dumps(record) + "\n")
                fh.flush()  # a killed run keeps every finished question
                done[q.id] = record
                bar.update(1)
    finally:
        bar.close()

    records = [done[q.id] for q in selected]
    metrics = aggregate(records, retrieval_only)
    metrics["by_type"] = by_type(records, retrieval_only)
    metrics["settings"] = {**run_settings.public_dict(), "retrieval_only": retrieval_only}
    metrics["index"] = {"fingerprint": index.fingerprint(), "papers": len(papers), "location": index.location}
    metrics["run"] = {
        **{
            key: config[key]
            for key in ("questions", "questions_sha256", "types", "limit", "judge", "key_fact_matching")
        },
        "mode": "retrieval-only" if retrieval_only else "full",
        "resumed": len(selected) - len(pending),
        "warmup_seconds": round(warmup_seconds, 2),
        "seconds": round(time.perf_counter() - started, 2),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    atomic_write(out / METRICS, json.dumps(metrics, indent=2) + "\n")
    if report:
        from eval.report import write_report

        write_report(out, metrics, records)
    return metrics
