"""A real OpenAI-compatible HTTP server on 127.0.0.1 for tests: chat completions (JSON and SSE), embeddings, models.

Tests script what the next requests get (a reply, an HTTP error, a delay, a broken body, a cut stream, a closed
socket, or a function of the request), then point the real `openai` / `langchain-openai` clients at `base_url`.
Standard library only, so the whole client stack (httpx, retries, timeouts, SSE parsing) runs for real.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import itertools
import json
import math
import re
import socket
import socketserver
import struct
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

import pytest

__all__ = [
    "Behaviour",
    "CutStream",
    "Delay",
    "FakeLLMServer",
    "Malformed",
    "RecordedRequest",
    "Refuse",
    "Reply",
    "Responder",
    "Route",
    "Status",
    "Trickle",
    "closed_base_url",
    "closed_port",
    "fake_embedding",
    "fake_llm_fixture",
    "last_user_text",
    "messages_text",
]

DEFAULT_REPLY = "This is a scripted reply from the fake LLM server."
DEFAULT_MODELS = ("fake-model",)

Route = Literal["chat", "embeddings"]


@dataclass(frozen=True)
class Reply:
    """A normal answer. Streamed as one chunk per word (whitespace kept), `piece_delay` seconds apart.

    On the embeddings route any `Reply` means "answer normally" (the hash-based vectors).
    """

    text: str = DEFAULT_REPLY
    finish_reason: str = "stop"
    piece_delay: float = 0.0


@dataclass(frozen=True)
class Status:
    """An HTTP error (or any status) with an OpenAI-style error body unless `body` is given (dict -> JSON, str raw)."""

    code: int
    body: dict[str, Any] | str | bytes | None = None
    headers: dict[str, str] | None = None


@dataclass(frozen=True)
class Delay:
    """Wait `seconds` before doing `then` (None: what the default responder gives). Ends early if the server closes."""

    seconds: float
    then: Behaviour | None = None


@dataclass(frozen=True)
class Malformed:
    """200 with a body that is not valid JSON (for a streaming request: an SSE event whose data is not JSON)."""

    body: bytes = b'{"id": "chatcmpl-malformed", "choices": [{"message": '


@dataclass(frozen=True)
class CutStream:
    """Send `text_before_cut` and then drop the connection.

    Streaming request: the role chunk and the text's word chunks, then the socket closes mid chunked body (no final
    chunk, no `[DONE]`). Non-streaming request: a JSON body shorter than its Content-Length, then the socket closes.
    """

    text_before_cut: str = "The answer starts"


@dataclass(frozen=True)
class Trickle:
    """200 and headers at once, then a body that never ends: one byte of a JSON object (`json`), or an SSE
    keep-alive comment (`sse`, for a streaming request), every `every` seconds, until the client hangs up or the
    server closes. Each piece arrives well inside any read timeout, so only a deadline on the whole request
    stops it."""

    kind: Literal["json", "sse"] = "json"
    every: float = 0.2


@dataclass(frozen=True)
class Refuse:
    """Read the request (it is recorded), then close the socket without sending a single byte."""


Responder = Callable[[dict[str, Any]], "Behaviour"]
Behaviour = Reply | Status | Delay | Malformed | CutStream | Refuse | Trickle | Responder


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it; `json` is the parsed body (None for GET or an unparsable body)."""

    method: str
    path: str
    headers: dict[str, str]
    json: Any
    received_at: float = field(default_factory=time.monotonic)


def messages_text(request: dict[str, Any]) -> str:
    """All message contents of a chat request, in order, one per line (text parts of multi-part contents joined)."""
    return "\n".join(_content_text(m.get("content")) for m in request.get("messages") or [] if isinstance(m, dict))


def last_user_text(request: dict[str, Any]) -> str:
    """The content of the last user message of a chat request ('' when there is none)."""
    for message in reversed(request.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            return _content_text(message.get("content"))
    return ""


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def fake_embedding(item: str | list[int], dim: int) -> list[float]:
    """A deterministic unit vector: hashed bag of lowercase words (or token ids), so texts sharing words are close."""
    tokens = re.findall(r"\w+", item.lower()) if isinstance(item, str) else [str(t) for t in item]
    vector = [0.0] * dim
    for token in tokens:
        digest = hashlib.blake2b(token.encode(), digest_size=8).digest()
        value = int.from_bytes(digest, "little")
        vector[value % dim] += 1.0 if (value >> 63) & 1 else -1.0
    norm = math.sqrt(sum(v * v for v in vector))
    if norm == 0.0:
        # An empty text still needs a valid (non-zero) vector for cosine distance.
        return [1.0] + [0.0] * (dim - 1)
    return [v / norm for v in vector]


def closed_port() -> int:
    """A loopback port nothing listens on (bound then released), for "connection refused" tests."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def closed_base_url() -> str:
    """An OpenAI-style base URL on a port nothing listens on."""
    return f"http://127.0.0.1:{closed_port()}/v1"


def _pieces(text: str) -> list[str]:
    # Word-sized pieces, like tokens; their concatenation is exactly `text`.
    return re.findall(r"\S+\s*|\s+", text)


def _error_body(code: int, message: str | None = None) -> dict[str, Any]:
    kind = {401: "authentication_error", 404: "not_found_error", 429: "rate_limit_error"}.get(code)
    kind = kind or ("server_error" if code >= 500 else "invalid_request_error")
    return {
        "error": {"message": message or f"fake LLM server: status {code}", "type": kind, "param": None, "code": None}
    }


class _Abort(Exception):
    """The connection is gone (client hung up or the server is closing): stop handling this request."""


class _HTTPServer(ThreadingHTTPServer):
    """Tracks its connections and handler threads so `close()` can end them all and wait for them."""

    daemon_threads = True

    def __init__(self, owner: FakeLLMServer) -> None:
        self.owner = owner
        self._open_conns: set[socket.socket] = set()
        self._conn_threads: list[threading.Thread] = []
        self._track = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn); skip it, the host is fixed.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self.process_request_thread, args=(request, client_address), name="fake-llm-conn", daemon=True
        )
        with self._track:
            self._open_conns.add(request)
            self._conn_threads = [t for t in self._conn_threads if t.is_alive()]
            self._conn_threads.append(thread)
        thread.start()

    def shutdown_request(self, request: Any) -> None:
        with self._track:
            self._open_conns.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client hanging up is normal here (timeouts, cut streams); anything else is a bug in the fake.
        error = traceback.format_exc()
        if not any(
            name in error for name in ("BrokenPipeError", "ConnectionResetError", "ConnectionAbortedError", "_Abort")
        ):
            self.owner._record_error(error)

    def drop_connections(self, timeout: float) -> list[threading.Thread]:
        """Shut every open connection down and wait for the handler threads; returns those still alive."""
        with self._track:
            sockets, threads = list(self._open_conns), list(self._conn_threads)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return [t for t in threads if t.is_alive()]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive and chunked streams, like the real API
    server: _HTTPServer
    timeout = 30  # an idle keep-alive connection does not pin a thread forever

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: pytest output should show test failures, not access logs

    # -- routing -------------------------------------------------------------------------------------------------

    def do_GET(self) -> None:
        owner = self.server.owner
        path = self._route_path()
        owner._record(RecordedRequest("GET", self.path, self._headers(), None))
        if not self._authorised():
            return
        if path == "/models":
            models = [{"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in owner.models]
            self._send_json(200, {"object": "list", "data": models})
        elif path.startswith("/models/") and path[len("/models/") :] in owner.models:
            self._send_json(200, {"id": path[len("/models/") :], "object": "model", "created": 0, "owned_by": "fake"})
        else:
            self._send_json(404, _error_body(404, f"no route GET {self.path}"))

    def do_POST(self) -> None:
        owner = self.server.owner
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        owner._record(RecordedRequest("POST", self.path, self._headers(), body))
        if not self._authorised():
            return
        route: Route | None = {"/chat/completions": "chat", "/embeddings": "embeddings"}.get(self._route_path())
        if route is None:
            self._send_json(404, _error_body(404, f"no route POST {self.path}"))
            return
        if not isinstance(body, dict):
            self._send_json(400, _error_body(400, "request body is not a JSON object"))
            return
        try:
            self._perform(route, body, owner._next_behaviour(route))
        except _Abort:
            self.close_connection = True
        except Exception:  # a responder raised: answer 500 (not retried) and keep the traceback for the test
            owner._record_error(traceback.format_exc())
            self._send_json(500, _error_body(500, "fake LLM responder raised"), {"x-should-retry": "false"})

    def _route_path(self) -> str:
        path = self.path.split("?", 1)[0].rstrip("/")
        return path[3:] if path.startswith("/v1/") else path

    def _headers(self) -> dict[str, str]:
        return {k.lower(): v for k, v in self.headers.items()}

    def _authorised(self) -> bool:
        key = self.server.owner.api_key
        if key is None or self.headers.get("Authorization") == f"Bearer {key}":
            return True
        self._send_json(401, _error_body(401, "Incorrect API key provided"))
        return False

    # -- behaviours ----------------------------------------------------------------------------------------------

    def _perform(self, route: Route, request: dict[str, Any], behaviour: Behaviour | None) -> None:
        owner = self.server.owner
        for _ in range(100):  # responders may return responders or delays; bounded so a loop cannot hang a test
            if behaviour is None:
                behaviour = owner._default[route]
            if isinstance(behaviour, Delay):
                if owner._closing.wait(behaviour.seconds):
                    self._drop()
                behaviour = behaviour.then
            elif isinstance(behaviour, (Reply, Status, Malformed, CutStream, Refuse, Trickle)):
                break
            elif callable(behaviour):
                behaviour = behaviour(request)
            else:
                raise TypeError(f"not a fake LLM behaviour: {behaviour!r}")
        else:
            raise RuntimeError("fake LLM responders returned behaviours 100 times without settling")

        streaming = route == "chat" and bool(request.get("stream"))
        if isinstance(behaviour, Refuse):
            self._drop()
        elif isinstance(behaviour, Trickle):
            self._trickle(behaviour)
        elif isinstance(behaviour, Status):
            body = behaviour.body if behaviour.body is not None else _error_body(behaviour.code)
            self._send_body(behaviour.code, body, behaviour.headers or {})
        elif isinstance(behaviour, Malformed):
            if streaming:
                self._start_stream()
                self._write_chunk(b"data: " + behaviour.body + b"\n\n")
                self._end_stream()
            else:
                self._send_body(200, behaviour.body, {})
        elif isinstance(behaviour, CutStream):
            if streaming:
                self._stream_reply(request, Reply(behaviour.text_before_cut), cut=True)
            else:
                payload = json.dumps(self._completion(request, Reply(behaviour.text_before_cut))).encode()
                self._send_head(200, {"Content-Type": "application/json", "Content-Length": str(len(payload))})
                self._write(payload[: len(payload) // 2])
                self._drop()
        elif route == "embeddings":
            self._send_json(200, self._embeddings(request))
        elif streaming:
            self._stream_reply(request, behaviour, cut=False)
        else:
            self._send_json(200, self._completion(request, behaviour))

    def _trickle(self, behaviour: Trickle) -> None:
        owner = self.server.owner
        if behaviour.kind == "sse":
            self._start_stream()
            piece = b": keep-alive\n\n"
        else:
            self._send_head(200, {"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
            self._write_chunk(b'{"id": "chatcmpl-trickle", "choices": [')
            piece = b" "
        while not owner._closing.wait(behaviour.every):
            self._write_chunk(piece)  # raises _Abort once the client has hung up
        self._drop()

    def _completion(self, request: dict[str, Any], reply: Reply) -> dict[str, Any]:
        message = {"role": "assistant", "content": reply.text, "refusal": None}
        return {
            "id": f"chatcmpl-fake-{self.server.owner._next_id()}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.get("model") or "fake-model",
            "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": reply.finish_reason}],
            "usage": self._usage(request, reply.text),
        }

    def _stream_reply(self, request: dict[str, Any], reply: Reply, *, cut: bool) -> None:
        owner = self.server.owner
        with_usage = bool((request.get("stream_options") or {}).get("include_usage"))
        base = {
            "id": f"chatcmpl-fake-{owner._next_id()}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": request.get("model") or "fake-model",
            "system_fingerprint": "fp_fake",
        }

        def event(delta: dict[str, Any], finish_reason: str | None) -> None:
            chunk = {
                **base,
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
            }
            if with_usage:
                chunk["usage"] = None
            self._write_chunk(b"data: " + json.dumps(chunk).encode() + b"\n\n")

        self._start_stream()
        event({"role": "assistant", "content": "", "refusal": None}, None)
        for piece in _pieces(reply.text):
            if reply.piece_delay and owner._closing.wait(reply.piece_delay):
                self._drop()
            event({"content": piece}, None)
        if cut:
            self._drop()
        event({}, reply.finish_reason)
        if with_usage:
            usage_chunk = {**base, "choices": [], "usage": self._usage(request, reply.text)}
            self._write_chunk(b"data: " + json.dumps(usage_chunk).encode() + b"\n\n")
        self._write_chunk(b"data: [DONE]\n\n")
        self._end_stream()

    def _embeddings(self, request: dict[str, Any]) -> dict[str, Any]:
        owner = self.server.owner
        raw = request.get("input")
        # `input` is a string, a list of strings, a list of token ids, or a list of token-id lists.
        if isinstance(raw, str) or (isinstance(raw, list) and raw and all(isinstance(t, int) for t in raw)):
            items: list[Any] = [raw]
        else:
            items = list(raw or [])
        dim = int(request.get("dimensions") or owner.embedding_dim)
        as_base64 = request.get("encoding_format") == "base64"
        data = []
        for index, item in enumerate(items):
            vector = fake_embedding(item, dim)
            encoded: Any = base64.b64encode(struct.pack(f"<{dim}f", *vector)).decode() if as_base64 else vector
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        tokens = sum(len(i.split()) if isinstance(i, str) else len(i) for i in items)
        return {
            "object": "list",
            "data": data,
            "model": request.get("model") or "fake-embedding",
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }

    @staticmethod
    def _usage(request: dict[str, Any], text: str) -> dict[str, int]:
        prompt, completion = len(messages_text(request).split()), len(_pieces(text))
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    # -- wire ----------------------------------------------------------------------------------------------------

    def _send_json(self, code: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self._send_body(code, payload, headers or {})

    def _send_body(self, code: int, body: dict[str, Any] | str | bytes, headers: dict[str, str]) -> None:
        data = (
            body if isinstance(body, bytes) else body.encode() if isinstance(body, str) else json.dumps(body).encode()
        )
        head = {"Content-Type": "application/json", "Content-Length": str(len(data)), **headers}
        self._send_head(code, head)
        self._write(data)

    def _send_head(self, code: int, headers: dict[str, str]) -> None:
        owner = self.server.owner
        self.send_response(code)
        self.send_header("x-request-id", f"req_fake_{owner._next_id()}")
        for name, value in headers.items():
            self.send_header(name, value)
        try:
            self.end_headers()
        except OSError as err:
            raise _Abort from err

    def _start_stream(self) -> None:
        headers = {"Content-Type": "text/event-stream; charset=utf-8", "Transfer-Encoding": "chunked"}
        self._send_head(200, {**headers, "Cache-Control": "no-cache"})

    def _write_chunk(self, data: bytes) -> None:
        self._write(f"{len(data):X}\r\n".encode() + data + b"\r\n")

    def _end_stream(self) -> None:
        self._write(b"0\r\n\r\n")

    def _write(self, data: bytes) -> None:
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except OSError as err:
            raise _Abort from err

    def _drop(self) -> None:
        """Close the connection here and now, mid-response or before any byte; ends this request."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)
        raise _Abort


class FakeLLMServer:
    """An OpenAI-compatible server on 127.0.0.1:<free port>, running in a daemon thread until `close()`.

    `script(...)` queues behaviours consumed one per request (per route); when the queue is empty the route's
    default responder answers. `requests` lists every request received, in order.
    """

    def __init__(
        self,
        *,
        default: Behaviour | None = None,
        embedding_dim: int = 32,
        models: tuple[str, ...] = DEFAULT_MODELS,
        api_key: str | None = None,
    ) -> None:
        self.embedding_dim = embedding_dim
        self.models = models
        self.api_key = api_key  # when set, requests without `Authorization: Bearer <key>` get 401
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._errors: list[str] = []
        self._queues: dict[Route, deque[Behaviour]] = {"chat": deque(), "embeddings": deque()}
        self._default: dict[Route, Behaviour] = {"chat": default or Reply(), "embeddings": Reply()}
        self._ids = itertools.count(1)
        self._closing = threading.Event()
        self._closed = False
        self._httpd = _HTTPServer(self)
        self.port: int = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.base_url = f"{self.url}/v1"
        # A short poll interval keeps close() fast: shutdown() waits for the loop's next poll.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-llm-server", daemon=True
        )
        self._thread.start()

    # -- scripting -----------------------------------------------------------------------------------------------

    def script(self, *behaviours: Behaviour, route: Route = "chat") -> FakeLLMServer:
        """Queue behaviours for the next requests on `route`, one each, in order."""
        with self._lock:
            self._queues[route].extend(behaviours)
        return self

    def set_default(self, responder: Behaviour, route: Route = "chat") -> FakeLLMServer:
        """What `route` answers once its script is used up (a behaviour, or a callable of the request JSON)."""
        with self._lock:
            self._default[route] = responder
        return self

    def remaining(self, route: Route = "chat") -> int:
        """Scripted behaviours not yet consumed on `route`."""
        with self._lock:
            return len(self._queues[route])

    # -- observation ---------------------------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far (a copy), oldest first."""
        with self._lock:
            return list(self._requests)

    @property
    def chat_requests(self) -> list[dict[str, Any]]:
        """The JSON bodies of the chat-completion requests received so far."""
        return [r.json for r in self.requests if r.path.split("?")[0].endswith("/chat/completions")]

    @property
    def errors(self) -> list[str]:
        """Tracebacks of responders that raised (answered 500) and of unexpected server faults; [] when healthy."""
        with self._lock:
            return list(self._errors)

    # -- lifecycle -----------------------------------------------------------------------------------------------

    def close(self, timeout: float = 5.0) -> None:
        """Stop serving, drop open connections (ending delays and streams), join every thread. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._closing.set()
        self._httpd.shutdown()
        stuck = self._httpd.drop_connections(timeout)
        self._httpd.server_close()
        self._thread.join(timeout)
        if stuck or self._thread.is_alive():
            raise RuntimeError(f"fake LLM server threads did not stop within {timeout}s: {stuck}")

    def __enter__(self) -> FakeLLMServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"FakeLLMServer({self.base_url}, requests={len(self.requests)})"

    # -- used by the handler -------------------------------------------------------------------------------------

    def _next_behaviour(self, route: Route) -> Behaviour | None:
        with self._lock:
            queue = self._queues[route]
            return queue.popleft() if queue else None

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _record_error(self, error: str) -> None:
        with self._lock:
            self._errors.append(error)

    def _next_id(self) -> int:
        with self._lock:
            return next(self._ids)


@pytest.fixture(name="fake_llm")
def fake_llm_fixture() -> Iterator[FakeLLMServer]:
    """A fresh fake LLM server for one test; closed (and its threads joined) afterwards."""
    with FakeLLMServer() as server:
        yield server
