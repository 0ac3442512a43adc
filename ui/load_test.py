"""Load test of the served UI: N concurrent gradio_client users asking /ask for S seconds.

    python -m ui.load_test --seconds 60 --users 8 [--url http://127.0.0.1:7860] [--json]

Without --url it serves the app itself on 127.0.0.1 (a free port) over the index in RAG_HOME, ingesting the
bundled corpus first if the index is empty. One unmeasured warm-up question goes first; then each user asks
questions in turn, waiting for each answer; latency is measured per request from the client side (queue wait
included). Exit status 1 if any request failed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import threading
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from rag.text import counted

QUESTIONS = [
    "Which papers reduce the memory footprint of 3D Gaussian Splatting?",
    "How do state space models like S4 handle long sequences?",
    "What speed-ups does the Switch Transformer report for pre-training?",
    "Which papers lower the inference latency of spiking neural networks?",
    "Which dataset distillation papers match expert training trajectories?",
    "What is DART-Math and how does it build its training data?",
    "Which papers build mixture-of-experts models from an existing dense model?",
    "How can neural ODEs be made cheaper to solve?",
    "What does hyperfitting do to greedy decoding?",
    "Which papers provide benchmarks for machine learning on fluid dynamics?",
    "What is the capital of Australia?",
    "Which papers study probabilistic circuits?",
]


@dataclass
class LoadReport:
    users: int
    seconds: float
    requests: int = 0
    errors: int = 0
    refused: int = 0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    max_ms: float = 0.0
    throughput_rps: float = 0.0
    error_messages: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{counted(self.users, 'user')} x {self.seconds:.0f} s: {counted(self.requests, 'answer')}, "
            f"{counted(self.errors, 'error')}, "
            f"{self.refused} refusals; latency p50 {self.p50_ms:.0f} ms, p95 {self.p95_ms:.0f} ms, "
            f"max {self.max_ms:.0f} ms; {self.throughput_rps:.2f} answers/s"
        )


def run_load(url: str, users: int = 8, seconds: float = 60.0, questions: list[str] | None = None) -> LoadReport:
    """Drive `url` with `users` concurrent clients for `seconds`; requests begun before the deadline complete."""
    from gradio_client import Client

    questions = questions or QUESTIONS
    clients = [Client(url, verbose=False) for _ in range(users)]  # connect first: setup is not load
    clients[0].predict(questions[0], api_name="/ask")  # warm-up (model loads, caches) is not measured either
    latencies: list[float] = []
    errors: list[str] = []
    refused = 0
    lock = threading.Lock()
    start = threading.Barrier(users + 1)
    deadline = 0.0

    def user(i: int) -> None:
        nonlocal refused
        start.wait()
        n = i  # each user starts at a different question
        while time.monotonic() < deadline:
            question = questions[n % len(questions)]
            n += 1
            t0 = time.perf_counter()
            try:
                result = clients[i].predict(question, api_name="/ask")
                ok = isinstance(result, dict) and isinstance(result.get("answer"), str)
                problem = None if ok else f"malformed result: {str(result)[:200]}"
            except Exception as exc:
                problem = f"{type(exc).__name__}: {exc}"[:300]
                result = None
            elapsed = (time.perf_counter() - t0) * 1000
            with lock:
                if problem:
                    errors.append(problem)
                else:
                    latencies.append(elapsed)
                    refused += bool(result and result.get("refused"))

    threads = [threading.Thread(target=user, args=(i,), name=f"load-user-{i}") for i in range(users)]
    for t in threads:
        t.start()
    began = time.monotonic()
    deadline = began + seconds
    start.wait()
    for t in threads:
        t.join()
    wall = time.monotonic() - began
    for c in clients:
        c.close()
    report = LoadReport(users=users, seconds=seconds, requests=len(latencies), errors=len(errors), refused=refused)
    report.error_messages = errors[:10]
    if latencies:
        report.p50_ms = round(np.percentile(latencies, 50), 1)
        report.p95_ms = round(np.percentile(latencies, 95), 1)
        report.max_ms = round(max(latencies), 1)
        report.throughput_rps = round(len(latencies) / wall, 3)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Concurrent gradio_client users asking the UI's /ask endpoint.")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--url", help="an already running app; default: serve one on 127.0.0.1")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)

    demo = None
    url = args.url
    if url is None:
        from rag import Assistant
        from ui.app import launch

        assistant = Assistant()
        if assistant.index.is_empty():
            print("the index is empty; ingesting the bundled corpus first", file=sys.stderr)
            assistant.ingest()
        demo = launch(assistant, server_name="127.0.0.1", server_port=0, prevent_thread_lock=True, quiet=True)
        url = demo.local_url
        s = assistant.settings
        print(f"serving {url} (concurrency {s.ui_concurrency}, generator {s.resolved_generator})", file=sys.stderr)
    try:
        report = run_load(url, users=args.users, seconds=args.seconds)
    finally:
        if demo is not None:
            with contextlib.redirect_stdout(sys.stderr):  # gradio prints on close; stdout is for the report
                demo.close()
    print(json.dumps(asdict(report), indent=2) if args.json else report.summary())
    for message in report.error_messages:
        print(f"error: {message}", file=sys.stderr)
    return 1 if report.errors or not report.requests else 0


if __name__ == "__main__":
    raise SystemExit(main())
