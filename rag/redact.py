"""The one redaction: secrets never leave the process in settings, locations, messages or log records.

What counts as a secret: every `SecretStr` setting (the API key, the UI login), the user and password of a URL
(`http://user:pass@host`), and every query parameter value of a URL (`?api-key=...`, the gateway style). The
values of the configured ones are also remembered (`register`), so that a message that carries one verbatim (an
error body echoing the key, a library logging the URL it called) is scrubbed too.

`redact_url` is for a location shown or stored (answers' settings, eval `metrics.json`, `rag stats`, the UI);
`redact` for free text (CLI lines, UI messages); `install_log_redaction` applies `redact` to every log record of
every logger, once per process.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlsplit, urlunsplit

MASK = "***"
# Secrets shorter than this are not scrubbed from free text: "a" or "1" would mangle every message.
MIN_SECRET_CHARS = 4
# A URL in free text: a scheme, then anything up to whitespace or a quote/bracket that ends it.
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]{1,20}://[^\s\"'<>()\[\]{}]+")

_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None
_lock = threading.Lock()


def redact_url(url: str | None) -> str | None:
    """`url` without its user and password (`***@host`) and with every query value masked (`?api-key=***`);
    the fragment is dropped. Text that is not a URL with a host is returned with any registered secret masked."""
    if not url:
        return url
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:  # not parseable as a URL (a bad port, brackets): mask what we know
        return _mask(url)
    if not parts.scheme or not host:
        return _mask(url)
    netloc = (f"{MASK}@" if "@" in parts.netloc else "") + (f"[{host}]" if ":" in host else host)
    netloc += f":{port}" if port else ""
    query = "&".join(f"{name}={MASK}" for name, _ in parse_qsl(parts.query, keep_blank_values=True))
    if parts.query and not query:  # `?secret` with no name: all of it is the value
        query = MASK
    return _mask(urlunsplit((parts.scheme, netloc, parts.path, query, "")))


def url_secrets(url: str | None) -> list[str]:
    """The secret parts of a URL: its user, password and query values (what `redact_url` masks)."""
    if not url:
        return []
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    found = [parts.username or "", parts.password or ""]
    found += [value for _, value in parse_qsl(parts.query, keep_blank_values=True)]
    if parts.query and "=" not in parts.query:
        found.append(parts.query)
    return [f for f in found if f]


def register(values: Iterable[str | None]) -> None:
    """Remember secret values so that `redact` masks them wherever they appear (idempotent, thread-safe)."""
    global _pattern
    new = {v for v in values if v and len(v) >= MIN_SECRET_CHARS} - _secrets
    if not new:
        return
    with _lock:
        _secrets.update(new)
        ordered = sorted(_secrets, key=len, reverse=True)  # the longest first: a key containing another
        _pattern = re.compile("|".join(re.escape(s) for s in ordered))


def _mask(text: str) -> str:
    pattern = _pattern
    return pattern.sub(MASK, text) if pattern is not None and text else text


def redact(text: str) -> str:
    """Free text with every registered secret masked and every URL in it passed through `redact_url`."""
    if not text:
        return text
    text = _mask(text)
    if "://" in text:
        text = _URL.sub(lambda m: _url_in_text(m.group(0)), text)
    return text


def _url_in_text(url: str) -> str:
    # A URL in a sentence keeps its trailing punctuation ("see http://h/x.") outside the redaction.
    tail = re.search(r"[.,;:!?]+$", url)
    core = url[: tail.start()] if tail else url
    shown = redact_url(core) or core
    return shown + (tail.group(0) if tail else "")


class _RedactingRecords:
    """A log record factory: every record's message (arguments merged in) and traceback are redacted, and made
    safe for a terminal (`rag.untrusted.printable`: a title logged with its escapes would be replayed by whoever
    reads the log), before any handler sees them. Wraps the factory that was in place."""

    def __init__(self, inner: logging._LogRecordFactory) -> None:  # type: ignore[name-defined]
        self.inner = inner

    def __call__(self, *args: object, **kwargs: object) -> logging.LogRecord:
        record = self.inner(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a bad format string is the logging module's to report, not ours
            return record
        from rag.untrusted import printable

        clean = printable(redact(message))
        if clean != message:
            record.msg, record.args = clean, ()
        if record.exc_info and record.exc_info[0] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return record


def install_log_redaction() -> None:
    """Redact every log record of this process from now on (once; later calls do nothing)."""
    with _lock:
        current = logging.getLogRecordFactory()
        if not isinstance(current, _RedactingRecords):
            logging.setLogRecordFactory(_RedactingRecords(current))
