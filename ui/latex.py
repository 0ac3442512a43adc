"""LaTeX in paper text: find the math (`\\( \\)`, `\\[ \\]`, `$$ $$`, `$ $`) and mark it up for the browser to typeset.

The server never turns LaTeX into markup itself: each math segment goes out as escaped text inside
`<span class="rag-math">`, and the KaTeX that ships inside Gradio's own frontend typesets those spans in the
page (`ui.style.katex_head`; offline, no CDN). KaTeX builds its output from the TeX source with `trust` off,
so `\\href{javascript:...}` or `\\htmlData` render as inert error text: the only markup on the page is KaTeX's.

`$...$` follows pandoc's rule, so prices and shell variables stay text: the opening `$` is followed by a
non-space, the closing one preceded by a non-space and not followed by a digit.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable

# Longest delimiters first; a segment never spans a blank line (a stray `$` must not swallow a paragraph).
_MATH = re.compile(
    r"\\\((?P<inline>.+?)\\\)"
    r"|\\\[(?P<display>.+?)\\\]"
    r"|\$\$(?P<ddisplay>[^$]+?)\$\$"
    r"|(?<![\\$\w])\$(?P<dollar>[^\s$](?:[^$\n]*?[^\s$\\])?)\$(?![\d$])",
    re.DOTALL,
)
_BLANK_LINE = re.compile(r"\n\s*\n")


def math_ranges(text: str) -> list[tuple[int, int, str, str]]:
    """Each math segment of `text`: (start, end) with its delimiters, the TeX source inside them, and its kind,
    "inline" or "display"."""
    out = []
    for m in _MATH.finditer(text):
        tex = m.group("inline") or m.group("display") or m.group("ddisplay") or m.group("dollar")
        if not tex or not tex.strip() or _BLANK_LINE.search(tex):
            continue
        kind = "display" if (m.group("display") or m.group("ddisplay")) else "inline"
        out.append((m.start(), m.end(), tex.strip(), kind))
    return out


def split_math(text: str) -> list[tuple[str, str | None]]:
    """`text` as consecutive (piece, kind) pairs: kind None for prose, "inline" or "display" for math, whose
    piece is the TeX source without its delimiters."""
    out: list[tuple[str, str | None]] = []
    pos = 0
    for start, end, tex, kind in math_ranges(text):
        if start > pos:
            out.append((text[pos:start], None))
        out.append((tex, kind))
        pos = end
    if pos < len(text):
        out.append((text[pos:], None))
    return out


def has_math(text: str) -> bool:
    return any(kind for _, kind in split_math(text))


def math_span(tex: str, kind: str = "inline") -> str:
    """One math segment for the page: its TeX source escaped, typeset by KaTeX in the browser (the source is
    what stays visible if scripts are off)."""
    cls = "rag-math display" if kind == "display" else "rag-math"
    return f'<span class="{cls}">{html.escape(tex, quote=True)}</span>'


def render_with_math(text: str, prose: Callable[[str], str]) -> str:
    """`text` as HTML: math segments as `math_span`, every other piece through `prose` (which must escape)."""
    return "".join(prose(piece) if kind is None else math_span(piece, kind) for piece, kind in split_math(text))


def esc_math(text: str) -> str:
    """Escape `text` for HTML, its math marked up for typesetting."""
    return render_with_math(text, lambda s: html.escape(s, quote=True))
