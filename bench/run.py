"""`make bench`: ingest throughput against the model's raw limit, warm re-ingest, search latency, index size
and peak memory on the bundled corpus, side by side with a plain LangChain Chroma baseline (latency ratio and
recall@5 on the dev questions). `--scale` adds synthetic 1k / 10k / 100k corpora, each in its own process.

Figures go to stdout as Markdown tables and to runs/bench/*.json. Usage:
    .venv/bin/python bench/run.py            # foundation figures, about 2-3 minutes on 2 cores
    .venv/bin/python bench/run.py --scale    # also the scale benchmark (about 15 minutes more)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings
from measure import (
    PhaseTimer,
    chroma_server,
    cpu_seconds,
    index_sizes,
    latency,
    load_average,
    machine,
    peak_rss_mb,
    run_child,
    timed,
)

ROOT = Path(__file__).resolve().parents[1]
DEV = ROOT / "eval" / "questions" / "dev.jsonl"
FILTER_MONTH = "2024-03"


def say(text: str = "") -> None:
    print(text, flush=True)


def note(text: str) -> None:
    print(f"[bench] {text}", file=sys.stderr, flush=True)


def child_env(home: Path) -> dict[str, str]:
    """A clean local-mode environment for a `rag` child process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(RAG_HOME=str(home), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", ANONYMIZED_TELEMETRY="False")
    return env


# ---- recall ------------------------------------------------------------------------------------------------
def recall_at_5(ranked_titles: list[str], gold_titles: list[str]) -> float | None:
    """Fraction of gold titles among the first 5 distinct papers (titles compared normalised)."""
    from eval.metrics import recall_at_k
    from ingest.records import normalise_title

    return recall_at_k([normalise_title(t) for t in ranked_titles], [normalise_title(g) for g in gold_titles], 5)


def mean(values: list[float | None]) -> float:
    kept = [v for v in values if v is not None]
    return round(sum(kept) / len(kept), 4) if kept else float("nan")


# ---- foundation: the bundled corpus ------------------------------------------------------------------------
class PrecomputedDocuments(Embeddings):
    """The baseline's embeddings: the very vectors our index holds for each chunk (so building it costs no
    second embedding pass), and the same model, uncached, for queries."""

    def __init__(self, model: Any, table: dict[str, list[float]]) -> None:
        self.model = model
        self.table = table

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.table[t] for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.model.encode_array([text])[0].tolist()


def raw_encode(model: Any, texts: list[str], batch_size: int) -> dict[str, Any]:
    """SentenceTransformer.encode alone over the chunk texts: the ceiling for ingest throughput."""
    cpu0 = cpu_seconds()
    vectors, wall = timed(
        model.encode,
        texts,
        batch_size=batch_size,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=False,
    )
    cpu = cpu_seconds() - cpu0
    return {
        "texts": len(texts),
        "batch_size": batch_size,
        "seconds": round(wall, 2),
        "cpu_seconds": round(cpu, 2),
        "per_s": round(len(texts) / wall, 2),
        "vectors": np.asarray(vectors, dtype=np.float32),
        "loadavg": load_average(),
    }


def batch_sweep(model: Any, texts: list[str], sizes: tuple[int, ...] = (8, 16, 32, 64, 128)) -> dict[int, float]:
    """Raw throughput (texts/s) at several batch sizes on a sample of the chunks."""
    out = {}
    for size in sizes:
        _, wall = timed(model.encode, texts, batch_size=size, normalize_embeddings=True, show_progress_bar=False)
        out[size] = round(len(texts) / wall, 2)
        note(f"batch {size}: {out[size]} chunks/s")
    return out


def foundation(out: Path, sweep: bool, server: bool) -> dict[str, Any]:
    from ingest import chunk_paper, load_papers
    from rag import Assistant, Settings
    from rag.embeddings import SentenceTransformerEmbeddings
    from rag.index import Index

    work = Path(tempfile.mkdtemp(prefix="rag-bench-"))
    res: dict[str, Any] = {"machine": machine()}
    try:
        # 1. the CLI as a user runs it: start-up, model load and ingest, in a fresh process
        rag = Path(sys.executable).with_name("rag")
        note("cold `rag ingest` into an empty index ...")
        cold = run_child([rag, "ingest", "--json"], child_env(work / "cli"))
        if cold.returncode:
            raise SystemExit(f"rag ingest failed:\n{cold.stderr[-2000:]}")
        cold_report = json.loads(cold.stdout.strip().splitlines()[-1])
        note("warm `rag ingest` (nothing changed) ...")
        warm = run_child([rag, "ingest", "--json"], child_env(work / "cli"))
        warm_report = json.loads(warm.stdout.strip().splitlines()[-1])
        res["cli"] = {
            "cold": {
                "wall_s": round(cold.wall, 2),
                "work_s": cold_report["seconds"],
                "startup_s": round(cold.wall - cold_report["seconds"], 2),
                "papers": cold_report["papers"],
                "chunks": cold_report["chunks"],
                "papers_per_s_work": round(cold_report["papers"] / cold_report["seconds"], 2),
                "papers_per_s_wall": round(cold_report["papers"] / cold.wall, 2),
                "peak_rss_mb": cold.peak_rss_mb,
                "cpu_s": round(cold.cpu, 1),
            },
            "warm": {
                "wall_s": round(warm.wall, 2),
                "work_s": warm_report["seconds"],
                "unchanged": warm_report["unchanged"],
                "added": warm_report["added"],
                "peak_rss_mb": warm.peak_rss_mb,
            },
        }
        res["index_size"] = index_sizes(work / "cli")

        # 2. in one process: the model's raw throughput on the chunk texts, then an ingest with the same model
        settings = Settings(home=work / "inproc", generator="extractive", chroma_url=None)
        emb, load_s = timed(SentenceTransformerEmbeddings, settings.embedding_model, settings.embed_batch_size)
        papers = list({p.paper_id: p for p in load_papers()}.values())
        chunks = [c for p in papers for c in chunk_paper(p, settings.chunk_tokens, settings.chunk_overlap)]
        texts = [c.text for c in chunks]
        emb.model.encode(texts[:8], batch_size=8)  # first call pays one-off set-up; neither side should
        if sweep:
            res["batch_sweep"] = batch_sweep(emb.model, texts[:256])
        note(f"raw SentenceTransformer.encode over {len(texts)} chunk texts ...")
        raw1 = raw_encode(emb.model, texts, settings.embed_batch_size)
        note("in-process cold ingest with the same model ...")
        cpu0 = cpu_seconds()
        index = Index(settings, embeddings=emb)
        timer = PhaseTimer()
        timer.wrap(index.writer, "_embed_and_write", "embed_and_write")
        timer.wrap(index.writer, "_after_commit", "bm25_build")  # BM25 build and save, after the commit
        timer.wrap(emb, "encode_array", "embedding")
        report, ingest_s = timed(index.ingest, load_papers())
        ingest_cpu = cpu_seconds() - cpu0
        note("raw encode again (contention drifts; the limit is the mean of both) ...")
        raw2 = raw_encode(emb.model, texts, settings.embed_batch_size)
        raw_per_s = (raw1["per_s"] + raw2["per_s"]) / 2
        raw_cpu_per_chunk = (raw1["cpu_seconds"] + raw2["cpu_seconds"]) / (2 * len(texts))
        ingest_per_s = report.chunks / ingest_s
        res["throughput"] = {
            "model_load_s": round(load_s, 2),
            "chunks": len(texts),
            "raw_encode": [{k: v for k, v in r.items() if k != "vectors"} for r in (raw1, raw2)],
            "raw_chunks_per_s": round(raw_per_s, 2),
            "ingest": {
                "seconds": round(ingest_s, 2),
                "cpu_seconds": round(ingest_cpu, 2),
                "papers": report.papers,
                "chunks": report.chunks,
                "papers_per_s": round(report.papers / ingest_s, 2),
                "chunks_per_s": round(ingest_per_s, 2),
                "phases_s": timer.rounded(),
            },
            "fraction_of_raw_wall": round(ingest_per_s / raw_per_s, 3),
            "fraction_of_raw_cpu": round(raw_cpu_per_chunk * report.chunks / ingest_cpu, 3),
        }
        # 3. search: ours against the plain LangChain Chroma approach, same chunks, same vectors
        del emb.encode_array  # drop the timer: search timings should not pay for it
        res["search"] = search_vs_baseline(
            Assistant(settings, embeddings=emb), emb, chunks, raw1["vectors"], work / "langchain"
        )
        if server:
            note("the bundled corpus through a `chroma run` server ...")
            res["server"] = server_figures(emb, chunks, raw1["vectors"], work)
        res["bench_process_peak_rss_mb"] = peak_rss_mb()
        res["machine"]["loadavg_end"] = load_average()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    (out / "foundation.json").write_text(json.dumps(res, indent=2))
    return res


def search_vs_baseline(assistant: Any, emb: Any, chunks: list[Any], vectors: np.ndarray, lc_dir: Path) -> dict:
    from chromadb.config import Settings as ChromaSettings
    from langchain_chroma import Chroma

    from eval.questions import load_questions

    questions = load_questions(DEV)
    texts = [c.text for c in chunks]
    baseline = Chroma(
        collection_name="langchain_baseline",
        embedding_function=PrecomputedDocuments(emb, dict(zip(texts, vectors.tolist(), strict=True))),
        persist_directory=str(lc_dir),
        client_settings=ChromaSettings(anonymized_telemetry=False),
    )
    _, build_s = timed(
        baseline.add_texts, texts, metadatas=[{"title": c.title} for c in chunks], ids=[c.chunk_id for c in chunks]
    )
    assistant.search("a warm-up query about language models", k=10)
    baseline.similarity_search("a warm-up query about language models", k=20)
    emb.clear_cache()

    note(f"{len(questions)} dev questions through both, alternating which goes first ...")
    ours_s, base_s, ours_r, base_r = [], [], [], []
    for i, q in enumerate(questions):
        runs = [
            ("ours", lambda q=q: assistant.search(q.question, k=10)),
            ("base", lambda q=q: baseline.similarity_search(q.question, k=20)),
        ]
        for name, fn in runs if i % 2 == 0 else runs[::-1]:
            result, dt = timed(fn)
            if name == "ours":
                ours_s.append(dt)
                titles = [s.title for s in result]
                if q.answerable:
                    ours_r.append(recall_at_5(titles, q.gold_titles))
            else:
                base_s.append(dt)
                if q.answerable:
                    base_r.append(recall_at_5([d.metadata["title"] for d in result], q.gold_titles))

    # where our time goes: the query embedding, Chroma's query (vector now cached) and BM25
    index = assistant.index
    embed_s = [timed(emb.encode_array, [q.question])[1] for q in questions]
    dense_s = [timed(index.dense_search, q.question, 50)[1] for q in questions]
    bm25_s = [timed(index.bm25_search, q.question, 50)[1] for q in questions]
    dense_only = [
        recall_at_5([s.title for s in assistant.search(q.question, k=5, mode="dense")], q.gold_titles)
        for q in questions
        if q.answerable
    ]
    ours, base = latency(ours_s), latency(base_s)
    return {
        "queries": len(questions),
        "answerable": len(ours_r),
        "ours": {**ours, "recall@5": mean(ours_r), "k": 10, "mode": "hybrid"},
        "ours_dense_only_recall@5": mean(dense_only),
        "langchain": {**base, "recall@5": mean(base_r), "k_chunks": 20, "build_s": round(build_s, 2)},
        "ratio_p50": round(ours["p50_ms"] / base["p50_ms"], 2),
        "ratio_p95": round(ours["p95_ms"] / base["p95_ms"], 2),
        "components": {"query_embedding": latency(embed_s), "chroma_query": latency(dense_s), "bm25": latency(bm25_s)},
    }


def server_figures(emb: Any, chunks: list[Any], vectors: np.ndarray, work: Path) -> dict[str, Any]:
    """The bundled corpus through a `chroma run` server: write rate (vectors precomputed), the first query of a
    client with an empty RAG_HOME (which rebuilds its manifest and BM25 from the server), search latency."""
    from eval.questions import load_questions
    from ingest import load_papers
    from rag import Assistant, Settings
    from rag.index import Index

    questions = load_questions(DEV)
    table = PrecomputedDocuments(emb, dict(zip([c.text for c in chunks], vectors.tolist(), strict=True)))
    with chroma_server(work / "server") as url:
        writer = Index(Settings(home=work / "server-writer", chroma_url=url), embeddings=table)
        report, ingest_s = timed(writer.ingest, load_papers())
        reader = Assistant(Settings(home=work / "server-reader", chroma_url=url), embeddings=emb)
        emb.clear_cache()
        _, first_s = timed(reader.search, "a first query from a new client", k=10)
        times = [timed(reader.search, q.question, k=10)[1] for q in questions]
        same = reader.index.fingerprint() == writer.fingerprint()
    return {
        "papers": report.papers,
        "chunks": report.chunks,
        "ingest_s_precomputed_vectors": round(ingest_s, 2),
        "new_client_first_query_s": round(first_s, 2),
        "new_client_matches_writer": same,
        "search": latency(times),
    }


def print_foundation(res: dict[str, Any]) -> None:
    m, cli, tp, se = res["machine"], res["cli"], res["throughput"], res["search"]
    say(f"## Foundation figures ({m['date']})")
    say(
        f"machine: {m['cores']} cores ({m['cpu']}), {m['memory_gb']} GB RAM; load average at start "
        f"{m['loadavg']}, at end {m.get('loadavg_end')}"
    )
    say()
    say("| figure | value |")
    say("|---|---|")
    c, w = cli["cold"], cli["warm"]
    say(
        f"| cold `rag ingest` (fresh process, {c['papers']} papers, {c['chunks']} chunks) | {c['wall_s']} s wall "
        f"= {c['startup_s']} s start-up and model load + {c['work_s']} s ingest work |"
    )
    say(f"| cold ingest rate | {c['papers_per_s_work']} papers/s of work ({c['papers_per_s_wall']} papers/s wall) |")
    say(f"| warm re-ingest (nothing changed) | {w['work_s']} s of work, {w['wall_s']} s wall with start-up |")
    say(f"| peak memory, cold `rag ingest` process | {c['peak_rss_mb']} MB |")
    s = res["index_size"]
    say(
        f"| index size on disk | {s['total_mb']} MB (Chroma {s['chroma_mb']}, BM25 {s['bm25_mb']}, "
        f"manifest {s['manifest_mb']}) |"
    )
    r = tp["raw_encode"]
    say(
        f"| raw `SentenceTransformer.encode`, {tp['chunks']} chunk texts, batch {r[0]['batch_size']} | "
        f"{r[0]['per_s']} and {r[1]['per_s']} chunks/s (before/after the ingest) |"
    )
    i = tp["ingest"]
    say(
        f"| in-process cold ingest, same model | {i['seconds']} s, {i['chunks_per_s']} chunks/s, "
        f"{i['papers_per_s']} papers/s; phases {i['phases_s']} |"
    )
    say(
        f"| ingest as a fraction of the raw limit | {tp['fraction_of_raw_wall']:.0%} by wall time, "
        f"{tp['fraction_of_raw_cpu']:.0%} by CPU time |"
    )
    o, b = se["ours"], se["langchain"]
    say(f"| search latency, {se['queries']} dev questions, hybrid k=10 | p50 {o['p50_ms']} ms, p95 {o['p95_ms']} ms |")
    say(f"| LangChain Chroma similarity_search k=20, same queries | p50 {b['p50_ms']} ms, p95 {b['p95_ms']} ms |")
    say(f"| our latency / baseline | {se['ratio_p50']}x at p50, {se['ratio_p95']}x at p95 |")
    comp = se["components"]
    say(
        f"| our latency parts (p50) | query embedding {comp['query_embedding']['p50_ms']} ms, Chroma query "
        f"{comp['chroma_query']['p50_ms']} ms, BM25 {comp['bm25']['p50_ms']} ms |"
    )
    say(
        f"| recall@5, {se['answerable']} answerable dev questions | ours {o['recall@5']:.3f} (dense only "
        f"{se['ours_dense_only_recall@5']:.3f}); LangChain baseline {b['recall@5']:.3f} |"
    )
    say(f"| peak memory, this benchmark process | {res['bench_process_peak_rss_mb']} MB |")
    if "server" in res:
        sv = res["server"]
        say(
            f"| `chroma run` server: ingest of {sv['chunks']} chunks with precomputed vectors | "
            f"{sv['ingest_s_precomputed_vectors']} s |"
        )
        say(
            f"| server: first query of a client with an empty RAG_HOME (rebuilds manifest + BM25) | "
            f"{sv['new_client_first_query_s']} s (state matches the writer: {sv['new_client_matches_writer']}) |"
        )
        say(
            f"| server: search latency, hybrid k=10 | p50 {sv['search']['p50_ms']} ms, p95 {sv['search']['p95_ms']} ms |"
        )
    if "batch_sweep" in res:
        say(f"| raw chunks/s by batch size (256 chunks) | {res['batch_sweep']} |")
    say()


# ---- scale ---------------------------------------------------------------------------------------------------
def scale_one(n: int, vectors: str, work: Path) -> dict[str, Any]:
    """One corpus size, in its own process so that its peak memory is its own."""
    from synthetic import ComposedEmbeddings, load_vectors, write_corpus

    from eval.questions import load_questions
    from ingest import chunk_paper, load_papers
    from rag import Assistant, Settings
    from rag.embeddings import SentenceTransformerEmbeddings
    from rag.index import Index

    corpus, gen_s = timed(write_corpus, work / f"corpus-{n}.jsonl", n)
    home = work / f"index-{n}-{vectors}"
    shutil.rmtree(home, ignore_errors=True)
    model = SentenceTransformerEmbeddings()
    emb: Any = ComposedEmbeddings(model, load_vectors(work / "vectors.npz")) if vectors == "composed" else model
    settings = Settings(home=home, generator="extractive", chroma_url=None)
    rss_before = peak_rss_mb()

    standin: dict[str, Any] = {}
    if isinstance(emb, ComposedEmbeddings):
        chunks = [
            c.text for p in load_papers([corpus]) for c in chunk_paper(p, settings.chunk_tokens, settings.chunk_overlap)
        ]
        _, standin["compose_s"] = timed(emb.precompute, chunks)
        standin["missing_pieces"] = round(emb.missing / max(emb.pieces, 1), 4)
        standin["memory_mb"] = emb.precomputed_mb
        del chunks
        rss_before = peak_rss_mb()

    cpu0 = cpu_seconds()
    papers, parse_s = timed(load_papers, [corpus])
    index = Index(settings, embeddings=emb)
    timer = PhaseTimer()
    timer.wrap(index.writer, "_embed_and_write", "embed_and_write")
    timer.wrap(index.writer, "_after_commit", "bm25_build")  # BM25 build and save, after the commit
    timer.wrap(emb, "encode_array", "embedding" if vectors == "model" else "vector_lookup")
    report, ingest_s = timed(index.ingest, papers, files=[str(corpus)])
    ingest_cpu = cpu_seconds() - cpu0
    # warm re-ingest: the same papers again, into a freshly opened index (nothing to write)
    again = Index(settings, embeddings=emb)
    warm, reingest_s = timed(again.ingest, papers, files=[str(corpus)])
    assert warm.added == warm.updated == 0, warm
    del papers, index, again
    sizes = index_sizes(home)

    reader = Assistant(settings, embeddings=emb)
    _, open_s = timed(reader.search, "first query after opening the index", k=10)
    questions = load_questions(DEV)
    model.clear_cache()
    hybrid_s, recalls = [], []
    for q in questions:
        result, dt = timed(reader.search, q.question, k=10)
        hybrid_s.append(dt)
        if q.answerable:
            recalls.append(recall_at_5([s.title for s in result], q.gold_titles))
    # the same queries again with their vectors cached: retrieval alone, the part that grows with the corpus
    warm_s = [timed(reader.search, q.question, k=10)[1] for q in questions]
    idx = reader.index
    dense_s = [timed(idx.dense_search, q.question, 50)[1] for q in questions]
    bm25_s = [timed(idx.bm25_search, q.question, 50)[1] for q in questions]
    filtered_s = [timed(reader.search, q.question, k=10, date=FILTER_MONTH)[1] for q in questions]
    papers = idx.papers()
    allowed, scan_s = timed(
        lambda: frozenset(pid for pid, p in papers.items() if (p.date or "").startswith(FILTER_MONTH))
    )
    dense_f_s = [timed(idx.dense_search, q.question, 50, allowed)[1] for q in questions]
    bm25_f_s = [timed(idx.bm25_search, q.question, 50, allowed)[1] for q in questions]
    result = {
        "papers": report.papers,
        "chunks": report.chunks,
        "vectors": vectors,
        "corpus_generation_s": round(gen_s, 2),
        "parse_s": round(parse_s, 2),
        "ingest_s": round(ingest_s, 2),
        "ingest_cpu_s": round(ingest_cpu, 2),
        "reingest_unchanged_s": round(reingest_s, 2),
        "papers_per_s": round(report.papers / (parse_s + ingest_s), 1),
        "phases_s": timer.rounded(),
        "size": sizes,
        "rss_before_ingest_mb": rss_before,
        "open_first_query_s": round(open_s, 3),
        "search": latency(hybrid_s),
        "search_cached_vector": latency(warm_s),
        "dense_search": latency(dense_s),
        "bm25_search": latency(bm25_s),
        "filtered_search": {**latency(filtered_s), "allowed_papers": len(allowed)},
        "filter_scan_ms": round(scan_s * 1000, 1),
        "filtered_dense": latency(dense_f_s),
        "filtered_bm25": latency(bm25_f_s),
        "recall@5": mean(recalls),
        "loadavg": load_average(),
        "peak_rss_mb": peak_rss_mb(),
    }
    if standin:
        result["standin_vectors"] = standin
    return result


def prepare_vectors(work: Path) -> dict[str, Any]:
    """Embed every real title and sentence once (the parts composed vectors are made of)."""
    from synthetic import save_vectors, vocabulary

    from rag.embeddings import SentenceTransformerEmbeddings

    path = work / "vectors.npz"
    if path.exists():
        return {"cached": True}
    texts = vocabulary()
    model = SentenceTransformerEmbeddings()
    note(f"embedding {len(texts)} real titles and sentences for the composed vectors ...")
    vectors, wall = timed(model.encode_array, texts)
    save_vectors(path, texts, vectors)
    return {"texts": len(texts), "seconds": round(wall, 1), "sentences_per_s": round(len(texts) / wall, 1)}


def scale(sizes: list[int], out: Path, real_1k: bool) -> dict[str, Any]:
    work = out / "scale-work"
    work.mkdir(parents=True, exist_ok=True)
    res: dict[str, Any] = {"machine": machine(), "vector_prep": prepare_vectors(work), "runs": []}
    plan = [(n, "composed") for n in sizes]
    if real_1k:
        plan.insert(0, (min(sizes), "model"))
    for n, vectors in plan:
        note(f"scale: {n} papers, {vectors} vectors ...")
        child = run_child(
            [sys.executable, __file__, "--scale-one", str(n), "--vectors", vectors, "--work", str(work)],
            child_env(work / "unused"),
        )
        if child.returncode:
            raise SystemExit(f"scale run {n}/{vectors} failed:\n{child.stderr[-3000:]}")
        row = json.loads(child.stdout.strip().splitlines()[-1])
        row.update(wall_s=round(child.wall, 1), sampled_peak_rss_mb=child.peak_rss_mb)
        res["runs"].append(row)
        shutil.rmtree(work / f"index-{n}-{vectors}", ignore_errors=True)
        print_scale_row(row)
        (out / "scale.json").write_text(json.dumps(res, indent=2))
    res["machine"]["loadavg_end"] = load_average()
    (out / "scale.json").write_text(json.dumps(res, indent=2))
    return res


SCALE_HEADER = (
    "| papers | chunks | vectors | ingest papers/s | parse + ingest s | of which BM25 build s | unchanged re-ingest s | size MB | "
    "peak RSS MB | search p50 / p95 ms | retrieval only p50 / p95 ms | Chroma p95 | BM25 p95 | "
    "filtered p50 / p95 ms | first query s | recall@5 |"
)


def print_scale_row(r: dict[str, Any]) -> None:
    say(
        f"| {r['papers']} | {r['chunks']} | {r['vectors']} | {r['papers_per_s']} | {r['parse_s']} + {r['ingest_s']} | "
        f"{r['phases_s'].get('bm25_build', 0)} | {r['reingest_unchanged_s']} | {r['size']['total_mb']} | {r['peak_rss_mb']}"
        f"{' (' + str(r['standin_vectors']['memory_mb']) + ' stand-in)' if 'standin_vectors' in r else ''} | "
        f"{r['search']['p50_ms']} / {r['search']['p95_ms']} | "
        f"{r['search_cached_vector']['p50_ms']} / {r['search_cached_vector']['p95_ms']} | {r['dense_search']['p95_ms']} | "
        f"{r['bm25_search']['p95_ms']} | {r['filtered_search']['p50_ms']} / {r['filtered_search']['p95_ms']} | "
        f"{r['open_first_query_s']} | {r['recall@5']} |"
    )


def print_growth(res: dict[str, Any]) -> None:
    runs = [r for r in res["runs"] if r["vectors"] == "composed"]
    if len(runs) < 2:
        return
    first = runs[0]
    say()
    say(f"Growth relative to {first['papers']} papers (composed vectors):")
    say()
    say(
        "| papers | x papers | x ingest time | x size | x peak RSS | x search p50 | x search p95 | x retrieval-only p95 |"
    )
    say("|---|---|---|---|---|---|---|---|")
    for r in runs:
        t0, t = first["parse_s"] + first["ingest_s"], r["parse_s"] + r["ingest_s"]
        say(
            f"| {r['papers']} | {r['papers'] / first['papers']:.0f} | {t / t0:.1f} | "
            f"{r['size']['total_mb'] / first['size']['total_mb']:.1f} | {r['peak_rss_mb'] / first['peak_rss_mb']:.1f} | "
            f"{r['search']['p50_ms'] / first['search']['p50_ms']:.2f} | "
            f"{r['search']['p95_ms'] / first['search']['p95_ms']:.2f} | "
            f"{r['search_cached_vector']['p95_ms'] / first['search_cached_vector']['p95_ms']:.2f} |"
        )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", action="store_true", help="also run the synthetic 1k/10k/100k scale benchmark")
    ap.add_argument("--sizes", default="1000,10000,100000", help="scale corpus sizes (comma-separated)")
    ap.add_argument(
        "--no-real-1k", action="store_true", help="skip the scale run that embeds the smallest size for real"
    )
    ap.add_argument("--skip-foundation", action="store_true", help="only the scale benchmark")
    ap.add_argument("--sweep", action="store_true", help="also measure raw encode throughput by batch size")
    ap.add_argument("--server", action="store_true", help="also run the bundled corpus through a `chroma run` server")
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "bench", help="where the JSON results go")
    ap.add_argument("--scale-one", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--vectors", choices=["composed", "model"], default="composed", help=argparse.SUPPRESS)
    ap.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.scale_one:
        print(json.dumps(scale_one(args.scale_one, args.vectors, args.work)), flush=True)
        return
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if not args.skip_foundation:
        print_foundation(foundation(args.out, args.sweep, args.server))
    if args.scale:
        sizes = sorted(int(s) for s in args.sizes.split(","))
        say("## Scale (synthetic corpora; composed vectors unless marked `model`)")
        say()
        say(SCALE_HEADER)
        say("|" + "---|" * SCALE_HEADER.count(" | ") + "---|")
        res = scale(sizes, args.out, real_1k=not args.no_real_1k)
        print_growth(res)
        say()
        say(f"vector preparation: {res['vector_prep']}")
    say(
        f"\nresults: {args.out}/*.json; total {time.perf_counter() - started:.0f} s; command: "
        f"{Path(sys.executable).name} bench/run.py {' '.join(sys.argv[1:] if argv is None else argv)}".rstrip()
    )


if __name__ == "__main__":
    main()
