"""Guards in front of the Gradio app, per client (the connecting address): a back-off on failed logins, an upload
allowance, and the removal of uploaded files once they have been handled.

`ClientGuard` is ASGI middleware (given to FastAPI through `launch`'s `app_kwargs`). Failed logins and uploaded
megabytes are counted in moving windows by the `limits` library; a client past a limit gets HTTP 429 with
`Retry-After` and a one-line reason, and the lockout is logged.
"""

from __future__ import annotations

import json
import logging
import math
import os
import socket
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# Failed logins a client may make: 5 a minute and 20 an hour (then it waits for the oldest to age out).
LOGIN_LIMITS = "5/minute;20/hour"
# Each uploaded file: at most this size (Gradio refuses larger ones with HTTP 413 and says so).
UPLOAD_MAX_MB = 10
# Megabytes a client may upload per hour, whether or not the files are then added to the index.
UPLOAD_ALLOWANCE = "200/hour"
# Uploads nobody added to the index: every 10 minutes, those older than an hour are deleted (Gradio's sweep).
UPLOAD_SWEEP = (600, 3600)

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]


class ClientGuard:
    """ASGI middleware: `POST .../login` and `POST .../upload` are counted per client address."""

    def __init__(self, app: ASGIApp, login: str | None = None, upload: str | None = None) -> None:
        from limits import parse_many, storage, strategies

        self.app = app
        self._limiter = strategies.MovingWindowRateLimiter(storage.MemoryStorage())
        self.upload_allowance = upload or UPLOAD_ALLOWANCE
        self.login_limits = parse_many(login or LOGIN_LIMITS)
        self.upload_limits = parse_many(self.upload_allowance)

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Any]], send: Any) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", "")).rstrip("/")
        client = (scope.get("client") or ("unknown",))[0]
        if path.endswith("/login"):
            await self._login(client, scope, receive, send)
        elif path.endswith("/upload"):
            await self._upload(client, scope, receive, send)
        else:
            await self.app(scope, receive, send)

    def _wait(self, limits: Iterable[Any], key: str) -> int:
        """Seconds until `key` may try again under every limit (0: now)."""
        waits = [
            self._limiter.get_window_stats(limit, key).reset_time - time.time()
            for limit in limits
            if not self._limiter.test(limit, key)
        ]
        return math.ceil(max(waits)) if waits else 0

    async def _login(self, client: str, scope: Scope, receive: Any, send: Any) -> None:
        key = f"login:{client}"
        wait = self._wait(self.login_limits, key)
        if wait:
            log.warning("login refused for client %s: too many failed logins, locked for %d s", client, wait)
            await _refuse(send, wait, f"Too many failed logins from this address; try again in {wait} s.")
            return
        status: dict[str, int] = {}

        async def watch(message: Any) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        await self.app(scope, receive, watch)
        if status.get("code") == 400:  # Gradio's answer to wrong credentials
            for limit in self.login_limits:
                self._limiter.hit(limit, key)
            left = min(self._limiter.get_window_stats(limit, key).remaining for limit in self.login_limits)
            log.warning("failed login from client %s (%d more before a lockout)", client, left)
        elif status.get("code") == 200:
            for limit in self.login_limits:
                self._limiter.clear(limit, key)

    async def _upload(self, client: str, scope: Scope, receive: Any, send: Any) -> None:
        key = f"upload:{client}"
        headers = dict(scope.get("headers") or [])
        try:
            size = int(headers.get(b"content-length", b""))
        except ValueError:  # no length announced (a chunked body): count it as the largest file allowed
            size = UPLOAD_MAX_MB * 2**20
        if size > (UPLOAD_MAX_MB + 1) * 2**20:  # the file alone is over the cap (1 MB allowed for the form)
            log.warning(
                "upload refused for client %s: %d MB is over the %d MB limit", client, size >> 20, UPLOAD_MAX_MB
            )
            await _drain(receive, size)
            await _refuse(send, 0, f"The file is too large: uploads are limited to {UPLOAD_MAX_MB} MB per file.", 413)
            return
        cost = max(1, math.ceil(size / 2**20))
        if not all(self._limiter.hit(limit, key, cost=cost) for limit in self.upload_limits):
            wait = max(1, self._wait(self.upload_limits, key))
            allowance = self.upload_allowance.replace("/", " MB per ")
            log.warning("upload refused for client %s: its upload allowance (%s) is used up", client, allowance)
            await _drain(receive, size)
            await _refuse(send, wait, f"Upload allowance used up ({allowance} per address); try again in {wait} s.")
            return
        await self.app(scope, receive, send)


async def _refuse(send: Any, wait: int, message: str, status: int = 429) -> None:
    body = json.dumps({"detail": message, "error": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if wait:
        headers.append((b"retry-after", str(wait).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _drain(receive: Any, size: int) -> None:
    """Read (and drop) a refused request's body, up to twice the cap, so the client gets the answer rather than
    a reset connection; nothing of it is stored."""
    left = min(size, 2 * (UPLOAD_MAX_MB + 1) * 2**20)
    while left > 0:
        message = await receive()
        if message.get("type") != "http.request":
            return
        left -= len(message.get("body", b""))
        if not message.get("more_body"):
            return


def upload_folder() -> Path:
    """Where Gradio stores uploads (`GRADIO_TEMP_DIR`, else `<tmp>/gradio`), resolved."""
    return Path(os.environ.get("GRADIO_TEMP_DIR") or Path(tempfile.gettempdir()) / "gradio").resolve()


def discard_uploads(files: Iterable[str | Path]) -> int:
    """Delete uploaded files that have been handled (added, or refused); only files inside Gradio's upload
    folder, never a path a caller named elsewhere. Returns how many were deleted."""
    root, deleted = upload_folder(), 0
    for f in files:
        path = Path(f).resolve()
        if root not in path.parents:
            continue
        try:
            path.unlink()
            deleted += 1
            path.parent.rmdir()  # Gradio gives each upload its own folder; gone once empty
        except OSError:
            pass
    return deleted


class PortInUse(OSError):
    """The UI's port is taken; the message names it and how to choose another."""


def check_port(host: str, port: int) -> None:
    """Raise PortInUse when nothing can listen on host:port (Gradio would say it only after a long search)."""
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise PortInUse(
                f"cannot listen on {host}:{port} ({exc.strerror or exc}): choose another port with --port N or RAG_UI_PORT"
            ) from None


# Gradio checks that its own server answers before `launch` returns (`gradio.networking.url_ok`): one HEAD
# request with a 3 s timeout, and a timeout ends the check at once. On a loaded machine (CI on 2 shared cores)
# that failed a healthy launch with "When localhost is not accessible, a shareable link must be created".
LAUNCH_CHECK_S = 30.0


def patient_launch_check() -> None:
    """Make Gradio's launch check retry for up to LAUNCH_CHECK_S seconds (timeouts and refused connections
    included) instead of failing on the first slow reply. Idempotent; affects this process only."""
    import time

    import httpx
    from gradio import networking

    if getattr(networking.url_ok, "patient", False):
        return

    def url_ok(url: str) -> bool:
        deadline = time.monotonic() + LAUNCH_CHECK_S
        while time.monotonic() < deadline:
            try:
                if httpx.head(url, timeout=5, verify=False).status_code in (200, 401, 301, 302, 303, 307, 308):
                    return True
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        return False

    url_ok.patient = True  # type: ignore[attr-defined]
    networking.url_ok = url_ok
