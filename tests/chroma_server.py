"""A real `chroma run` server on 127.0.0.1 for tests: started on a free port, stopped by its pid."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CHROMA = Path(sys.executable).with_name("chroma")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_heartbeat(port: int, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"chroma run exited with code {proc.returncode} before answering")
        try:
            client = chromadb.HttpClient(
                host="127.0.0.1", port=port, settings=ChromaSettings(anonymized_telemetry=False)
            )
            client.heartbeat()
            return
        except Exception:
            time.sleep(0.2)
    raise RuntimeError(f"chroma run on port {port} did not answer its heartbeat within {timeout:.0f}s")


@contextmanager
def chroma_server(data: Path) -> Iterator[str]:
    """A server holding its files under `data`; yields its URL."""
    assert CHROMA.exists(), f"{CHROMA} is missing: chromadb ships the `chroma` CLI"
    port = _free_port()
    log = (data / "server.log").open("wb")
    proc = subprocess.Popen(
        [str(CHROMA), "run", "--path", str(data / "db"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_for_heartbeat(port, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()
