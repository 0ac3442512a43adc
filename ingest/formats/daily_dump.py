"""Hugging Face Daily Papers page dumps (the bundled corpus): boilerplate, date lines, then title / abstract pairs.

The pages show a listing date without a year ("Mar 11"), and nothing else in the file gives one, so a dump's
papers keep that date for display (`listed`) and have no year until another source of the same paper gives
one. They have no link either: the dump names no arXiv id, and a made-up link would be a lie.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ingest.errors import ParseError
from ingest.formats.base import MAX_TITLE_CHARS, Format, RawRecord, Sample, split_lines
from ingest.records import clean_text

MIN_ABSTRACT_CHARS = 20
BOILERPLATE = {
    "new",
    "subscribe",
    "get trending papers in your email inbox!",
    "get trending papers in your email inbox once a day!",
    "byak and the research community",
    "daily papers",
}
_DATE_LINE = re.compile(r"^(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]* \d{1,2}(, \d{4})?$")
# One dump has the page's "Subscribe" button glued to the first title ("SubscribeGaussian Mixture ...").
_GLUED_PREFIX = re.compile(r"^Subscribe(?=[A-Z0-9])")


def read_dump(sample: Sample) -> list[RawRecord]:
    """Title / abstract pairs with the date line above them; structural faults raise ParseError at their line."""
    path = sample.path
    out: list[RawRecord] = []
    date: str | None = None
    pending: tuple[int, str] | None = None
    for lineno, raw in enumerate(split_lines(sample.text), start=1):
        line = _content(raw, expecting_title=pending is None)
        if line is None:
            continue
        if _DATE_LINE.match(line):
            if pending is not None:
                raise ParseError(path, pending[0], f"title {pending[1][:60]!r} has no abstract line after it")
            date = line
            continue
        if pending is None:
            if len(line) > MAX_TITLE_CHARS:
                raise ParseError(path, lineno, "expected a title line but found a long paragraph (a missing title?)")
            pending = (lineno, line)
            continue
        title_line, title = pending
        if len(line) < MIN_ABSTRACT_CHARS:
            raise ParseError(path, lineno, f"abstract for {title[:60]!r} is only {len(line)} characters")
        out.append(RawRecord(title_line, {"title": title, "abstract": line, "listed": date}))
        pending = None
    if pending is not None:
        raise ParseError(path, pending[0], f"title {pending[1][:60]!r} has no abstract line after it")
    if not out:
        raise ParseError(path, None, "no title/abstract pairs found")
    return out


def _content(raw: str, expecting_title: bool) -> str | None:
    """A line's text, or None for a blank line or the page's boilerplate."""
    line = clean_text(raw)
    if expecting_title:
        # Only where a title is expected, and only before a capital: "Subscriber churn ..." stays intact.
        line = _GLUED_PREFIX.sub("", line)
    if not line or line.lower() in BOILERPLATE:
        return None
    return line


# The bundled dumps are named by their number and a content hash ("003_681d261d95f8e320.txt"): the number is what
# tells them apart to a person, the hash nothing.
_NUMBERED = re.compile(r"^(\d+)_[0-9a-f]{6,}$")


def _label(path: Path, data: Mapping[str, Any]) -> str:
    """The page and its listing day ("Daily Papers, Mar 11"); a numbered dump adds its number ("Daily Papers, Mar 11
    (dump 0)", "Daily Papers (dump 3)"), since two dumps can list the same day and one lists none."""
    label = f"Daily Papers, {data['listed']}" if data.get("listed") else "Daily Papers"
    numbered = _NUMBERED.match(Path(path).stem)
    return f"{label} (dump {int(numbered.group(1))})" if numbered else label


FORMAT = Format(
    name="daily-papers-dump",
    label="Hugging Face Daily Papers page dump (text)",
    extensions=(".txt",),
    sniff=lambda sample: False,  # no signature of its own: the default for a .txt that is nothing else
    read=read_dump,
    fields={"title": ("title",), "abstract": ("abstract",), "listed": ("listed",)},
    source_label=_label,
    example="Mar 11 / Gaussian Mixture Convolution Networks / This paper proposes a novel method for deep learning ...",
)
