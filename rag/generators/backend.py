"""Calls to the LLM backend: one wall-clock deadline over everything a question asks of it, retries inside that
deadline, and a gate that keeps a slow backend from holding every answer slot.

- The deadline is a `time.monotonic()` value; a question gets `budget(settings)` = `llm_timeout * (llm_retries + 1)`
  seconds from its start, shared by the condense step and the answer. Each request runs in a worker thread and
  the caller stops waiting at the deadline whatever the backend does: silent, sending headers and then a JSON body
  that never ends, or SSE keep-alive comments that never carry text (`OutOfTime`). The worker's transport
  (`DeadlineTransport`) checks every chunk of bytes it receives against the same deadline, so an abandoned
  request ends at its next byte, or at its read timeout, and never lingers.
- Retries are tenacity's: a failure worth retrying (no connection, a timeout, HTTP 408/409/429/5xx) is tried
  again after the wait the backend asked for (`Retry-After`) or an exponential back-off (0.5 s, 1 s, 2 s, 4 s),
  as long as the wait ends before the deadline. A `Retry-After` past it ends the retries at once and says so.
- The gate (`BackendGate`): at most `llm_concurrency` requests in flight per assistant (more questions are told
  the backend is busy, at once), and after a request runs out of time, none for `llm_timeout` seconds (a circuit
  breaker, pybreaker's). Either way the caller answers without the LLM immediately, with a warning.
"""

from __future__ import annotations

import atexit
import email.utils
import functools
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, copy_context
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx2 as httpx  # the HTTP client the openai package (3.x) sends with

from rag.settings import Settings
from rag.text import counted

T = TypeVar("T")
# HTTP statuses worth another attempt: timeouts, conflicts, rate limits (and every server error).
RETRY_STATUSES = frozenset({408, 409, 429})
BACKOFF_FIRST, BACKOFF_MAX = 0.5, 4.0


class OutOfTime(TimeoutError):
    """The deadline passed; the message says why, without anything from the backend's reply."""


class BackendUnavailable(RuntimeError):
    """The gate did not let the request through (busy, or cooling down after a timeout); the message says which."""


def budget(settings: Settings) -> float:
    """Seconds one question may spend on the LLM backend, all requests, waits and streams included."""
    return settings.llm_timeout * (settings.llm_retries + 1)


def deadline_for(settings: Settings) -> float:
    """The deadline of a question starting now."""
    return time.monotonic() + budget(settings)


# ---- the transport: every received chunk is checked against the deadline of the request it belongs to -------
@dataclass
class _Limit:
    until: float


_LIMIT: ContextVar[_Limit | None] = ContextVar("rag_llm_deadline", default=None)


class _DeadlineBody(httpx.SyncByteStream):
    def __init__(self, inner: httpx.SyncByteStream, limit: _Limit, request: httpx.Request) -> None:
        self.inner, self.limit, self.request = inner, limit, request

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.inner:
            if time.monotonic() > self.limit.until:
                raise httpx.ReadTimeout("the response ran past the request's deadline", request=self.request)
            yield chunk

    def close(self) -> None:
        self.inner.close()


class DeadlineTransport(httpx.HTTPTransport):
    """httpx's transport, with each phase of a request (connect, write, read) given no more than the time left
    before the current deadline, and each chunk of the response body checked against it: a backend that
    trickles bytes (a body that never ends, keep-alive comments) is cut at the deadline."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        limit = _LIMIT.get()
        if limit is None:
            return super().handle_request(request)
        left = limit.until - time.monotonic()
        if left <= 0:
            raise httpx.ConnectTimeout("no time left before the deadline", request=request)
        given = request.extensions.get("timeout") or {}
        request.extensions["timeout"] = {
            phase: left if given.get(phase) is None else min(given[phase], left)
            for phase in ("connect", "read", "write", "pool")
        }
        response = super().handle_request(request)
        assert isinstance(response.stream, httpx.SyncByteStream)
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_DeadlineBody(response.stream, limit, request),
            extensions=response.extensions,
        )


def http_client(settings: Settings) -> httpx.Client:
    """The client chat models send with: openai's defaults (connection limits, redirects) on our transport. One
    per process and timeout, as langchain-openai shares its own: its connection pool outlives any one model."""
    return _shared_client(settings.llm_timeout)


@functools.lru_cache(maxsize=8)
def _shared_client(timeout: float) -> httpx.Client:
    from openai import DefaultHttpxClient

    client = DefaultHttpxClient(transport=DeadlineTransport(), timeout=timeout)
    atexit.register(client.close)  # pooled connections are closed, not left to the interpreter's exit
    return client


# ---- a worker that the caller stops waiting for at the deadline ----------------------------------------------
_ITEM, _END, _ERROR = range(3)


class Worker:
    """Runs `produce()` (an iterator) in a daemon thread and hands its items over; `next()` waits no later than
    the limit. The thread sees the same limit (the transport cuts its request when it passes), so it ends
    soon after the caller stops waiting."""

    def __init__(self, produce: Callable[[], Iterator[Any]], until: float) -> None:
        self.limit = _Limit(until)
        self._items: queue.SimpleQueue[tuple[int, Any]] = queue.SimpleQueue()
        self._abandoned = threading.Event()
        context = copy_context()  # callbacks and tracing configured by the caller follow the request
        thread = threading.Thread(target=context.run, args=(self._run, produce), name="rag-llm-request", daemon=True)
        thread.start()

    def _run(self, produce: Callable[[], Iterator[Any]]) -> None:
        _LIMIT.set(self.limit)
        try:
            for item in produce():
                self._items.put((_ITEM, item))
                if self._abandoned.is_set():
                    return
            self._items.put((_END, None))
        except BaseException as exc:  # handed to the caller, who decides
            self._items.put((_ERROR, exc))

    def next(self, message: str = "the LLM backend timed out") -> tuple[bool, Any]:
        """(True, item), or (False, None) at the end; raises the worker's error, or OutOfTime at the limit."""
        try:
            kind, value = self._items.get(timeout=max(0.0, self.limit.until - time.monotonic()))
        except queue.Empty:
            self._abandoned.set()
            raise OutOfTime(message) from None
        if kind == _ERROR:
            raise value
        return kind == _ITEM, value

    def abandon(self) -> None:
        self._abandoned.set()


def within(until: float, fn: Callable[[], T]) -> T:
    """`fn()` in a worker thread; its result, its exception, or OutOfTime at `until`."""
    worker = Worker(lambda: iter([fn()]), until)
    _, value = worker.next()
    return value


# ---- retries --------------------------------------------------------------------------------------------------
def describe_error(exc: BaseException) -> str:
    """A short, secret-free description of a backend failure."""
    name = type(exc).__name__
    status = getattr(exc, "status_code", None)
    if isinstance(exc, (OutOfTime, BackendUnavailable)):
        return str(exc)
    if status:
        return f"the LLM backend answered HTTP {status}"
    if "Timeout" in name:
        return "the LLM backend timed out"
    if "Connection" in name:
        return "the LLM backend could not be reached"
    return f"the LLM backend failed ({name})"


def retry_after(exc: BaseException) -> float | None:
    """Seconds the backend asked us to wait (`retry-after-ms`, or `retry-after` in seconds or as an HTTP date)."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    try:
        if headers.get("retry-after-ms"):
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
        value = headers.get("retry-after")
        if not value:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            when = email.utils.parsedate_to_datetime(value)
            return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError, OverflowError):
        return None


def is_retryable(exc: BaseException) -> bool:
    """Worth another attempt: no connection, a timeout, a rate limit or a server error. Not: a bad key, a bad
    request, or a body we could not parse (the same request would get the same answer)."""
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        return status in RETRY_STATUSES or status >= 500
    if isinstance(exc, (httpx.TransportError, OutOfTime)):  # a connection dropped mid-body, an attempt too slow
        return True
    name = type(exc).__name__
    return "Timeout" in name or "Connection" in name


def call_with_retries(settings: Settings, attempt: Callable[[float], T], deadline: float | None = None) -> T:
    """`attempt(timeout)` until it succeeds, a failure is not worth retrying, the retries are used up or the
    deadline (default: `budget(settings)` from now) leaves no time for the wait before the next one. Each attempt
    runs in a worker and is given `min(llm_timeout, time left)` seconds of wall clock.
    Raises the last failure, or OutOfTime."""
    from tenacity import Retrying, retry_if_exception, stop_after_attempt

    until = deadline or deadline_for(settings)

    def once() -> T:
        left = until - time.monotonic()
        if left <= 0:
            raise OutOfTime("the LLM backend timed out")
        timeout = min(settings.llm_timeout, left)
        return within(time.monotonic() + timeout, lambda: attempt(timeout))

    retrying = Retrying(
        stop=stop_after_attempt(settings.llm_retries + 1) | _no_time_to_wait(until),
        wait=_asked_or_backoff,
        retry=retry_if_exception(is_retryable),
        retry_error_callback=_give_up(until),
        reraise=True,
    )
    return retrying(once)


def _asked_or_backoff(state: Any) -> float:
    exc = state.outcome.exception() if state.outcome else None
    asked = retry_after(exc) if exc is not None else None
    return asked if asked is not None else min(BACKOFF_FIRST * 2 ** (state.attempt_number - 1), BACKOFF_MAX)


def _no_time_to_wait(until: float) -> Callable[[Any], bool]:
    def stop(state: Any) -> bool:
        return time.monotonic() + (state.upcoming_sleep or 0.0) >= until

    return stop


def _give_up(until: float) -> Callable[[Any], Any]:
    def raise_last(state: Any) -> Any:
        exc = state.outcome.exception()
        asked = retry_after(exc)
        if asked is not None and time.monotonic() + asked >= until:
            raise OutOfTime(
                f"{describe_error(exc)} and asked to retry after {asked:.0f} s, past this answer's time limit"
            ) from exc
        raise exc

    return raise_last


# ---- the gate ----------------------------------------------------------------------------------------------------
def _timed_out(exc: BaseException) -> bool:
    return isinstance(exc, (OutOfTime, httpx.TimeoutException)) or "Timeout" in type(exc).__name__


class BackendGate:
    """At most `slots` requests in flight; after one runs out of time, none for `cooldown` seconds (then one is
    let through to try: pybreaker's half-open state). `enter()` raises BackendUnavailable when either says no."""

    def __init__(self, slots: int, cooldown: float) -> None:
        import pybreaker

        self.slots, self.cooldown = slots, cooldown
        self._free = threading.BoundedSemaphore(slots)
        self._breaker = pybreaker.CircuitBreaker(
            fail_max=1,
            reset_timeout=cooldown,
            exclude=[lambda exc: not _timed_out(exc)],  # only a slow backend trips it, not a bad request
            throw_new_error_on_trip=False,
        )

    @contextmanager
    def enter(self) -> Iterator[None]:
        import pybreaker

        if not self._free.acquire(blocking=False):
            raise BackendUnavailable(f"the LLM backend is busy ({counted(self.slots, 'question')} waiting on it)")
        try:
            with self._breaker.calling():
                yield
        except pybreaker.CircuitBreakerError:
            raise BackendUnavailable(
                f"the LLM backend timed out on a recent question; it is not asked again for {self.cooldown:.0f} s"
            ) from None
        finally:
            self._free.release()
