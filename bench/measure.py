"""Measuring tools for the benchmarks: the machine, child processes with their peak memory, sizes on disk,
latency percentiles."""

from __future__ import annotations

import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from eval.metrics import percentile


def machine() -> dict[str, Any]:
    """Where the figures come from: cores, memory, CPU model, load, versions, date."""
    mem_kb = 0
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    model = ""
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    versions = {}
    for name in ("torch", "sentence-transformers", "chromadb", "langchain-chroma", "numpy", "scipy"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "cpu": model,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "loadavg": load_average(),
        "versions": versions,
    }


def load_average() -> list[float]:
    """1, 5 and 15 minute load averages: above the core count, other work is competing for the CPU."""
    return [round(x, 2) for x in os.getloadavg()]


def peak_rss_mb(pid: int | str = "self") -> float:
    """Peak resident memory of a process so far (VmHWM), in MB. Not `ru_maxrss`: that survives exec, so a
    child forked from a large parent reports the parent's size."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return 0.0


def cpu_seconds() -> float:
    """CPU time of this process, all threads, user + system."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


@dataclass
class ChildRun:
    returncode: int
    wall: float
    cpu: float
    peak_rss_mb: float
    stdout: str
    stderr: str


def run_child(cmd: Sequence[str | Path], env: dict[str, str] | None = None, timeout: float = 3600) -> ChildRun:
    """Run a command to completion and collect its own resource usage (wait4), not the sum over all children."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen([str(c) for c in cmd], env=env, stdout=out, stderr=err)
        deadline = start + timeout
        peak = 0.0
        while True:
            # sampled while it runs: once reaped, its /proc entry is gone (VmHWM only grows, so the last
            # sample is within one interval of the true peak)
            peak = max(peak, peak_rss_mb(proc.pid))
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.05)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: keep Popen from waiting again
        out.seek(0)
        err.seek(0)
        return ChildRun(
            returncode=proc.returncode,
            wall=wall,
            cpu=usage.ru_utime + usage.ru_stime,
            peak_rss_mb=peak,
            stdout=out.read().decode(errors="replace"),
            stderr=err.read().decode(errors="replace"),
        )


def disk_usage(path: Path) -> int:
    """Bytes allocated on disk under `path` (like `du`: sparse and preallocated files count as allocated)."""
    path = Path(path)
    if not path.exists():
        return 0
    if path.is_file():
        return path.stat().st_blocks * 512
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except FileNotFoundError:
                continue
    return total


def index_sizes(home: Path) -> dict[str, float]:
    """Megabytes on disk of the whole index and of its parts."""
    home = Path(home)
    mb = 1024 * 1024
    parts = {
        "chroma": disk_usage(home / "chroma"),
        "bm25": disk_usage(home / "bm25"),
        "manifest": sum(disk_usage(p) for p in home.glob("manifest.sqlite*")),
    }
    return {"total_mb": round(disk_usage(home) / mb, 2), **{f"{k}_mb": round(v / mb, 2) for k, v in parts.items()}}


def latency(values_s: Sequence[float]) -> dict[str, float]:
    """p50 / p95 / mean / max in milliseconds."""
    ms = [v * 1000 for v in values_s]
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 2),
        "p95_ms": round(percentile(ms, 95), 2),
        "mean_ms": round(sum(ms) / len(ms), 2),
        "max_ms": round(max(ms), 2),
    }


def timed(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


class PhaseTimer:
    """Wraps methods of one object to add up the wall time spent in each (a profile of named phases)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def wrap(self, obj: Any, name: str, label: str | None = None) -> None:
        inner = getattr(obj, name)
        key = label or name

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.seconds[key] = self.seconds.get(key, 0.0) + time.perf_counter() - start

        setattr(obj, name, wrapper)

    def rounded(self) -> dict[str, float]:
        return {k: round(v, 3) for k, v in self.seconds.items()}


@contextmanager
def chroma_server(path: Path, timeout: float = 60.0) -> Iterator[str]:
    """A `chroma run` on 127.0.0.1 for the block; yields its URL and stops it by its pid."""
    import socket

    import chromadb
    from chromadb.config import Settings as ChromaSettings

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    chroma = Path(sys.executable).with_name("chroma")
    log = open(Path(path).with_suffix(".log"), "wb")  # noqa: SIM115 - closed in finally
    proc = subprocess.Popen(
        [str(chroma), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                chromadb.HttpClient(
                    host="127.0.0.1", port=port, settings=ChromaSettings(anonymized_telemetry=False)
                ).heartbeat()
                break
            except Exception:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"chroma run did not start (see {log.name})") from None
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc, timeout=10)
        log.close()


def stop(proc: subprocess.Popen, timeout: float) -> None:
    """Terminate a child process, killing it if it has not exited within `timeout` seconds."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)
