"""HTML for papers: the cited-source cards beside an answer, search hits, and the Collection tab's list and detail.

Pure (data in, HTML out), like `ui.render`: every paper field goes through `esc` or `esc_math` (which marks up the
LaTeX for KaTeX and escapes the rest); links are http(s) only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from rag.text import counted
from ui.export import byline, paper_links, safe_url, source_label
from ui.latex import esc_math, math_ranges
from ui.render import _merge, card_id, esc

_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-]*")
_STOPWORDS = frozenset(
    {
        *("a", "an", "and", "are", "as", "at", "be", "by", "can", "do", "does", "for", "from", "has", "have", "how"),
        *("in", "is", "it", "its", "of", "on", "or", "that", "the", "their", "this", "to", "was", "were", "what"),
        *("when", "where", "which", "who", "why", "with", "papers", "paper", "about", "any", "there", "using", "use"),
    }
)


# ---- spans and highlighting ---------------------------------------------------------------------------------
def marked(text: str, spans: Iterable[tuple[int, int]], css_class: str = "") -> str:
    """`text` escaped (its LaTeX marked up as math), with the given character spans wrapped in <mark>. A span
    that reaches into a formula covers the whole formula, so that no formula is cut in two."""
    cls = f' class="{esc(css_class)}"' if css_class else ""
    formulas = [(a, b) for a, b, _, _ in math_ranges(text)]

    def widen(span: tuple[int, int]) -> tuple[int, int]:
        start, end = span
        for a, b in formulas:
            if a < end and start < b:
                start, end = min(start, a), max(end, b)
        return start, end

    out: list[str] = []
    pos = 0
    for start, end in _merge(widen(s) for s in spans):
        out.append(esc_math(text[pos:start]))
        out.append(f"<mark{cls}>{esc_math(text[start:end])}</mark>")
        pos = end
    out.append(esc_math(text[pos:]))
    return "".join(out)


def find_passage(text: str, passage: str) -> tuple[int, int] | None:
    """Where `passage` occurs in `text`: exactly, else ignoring whitespace and case differences."""
    passage = passage.strip()
    if not passage:
        return None
    i = text.find(passage)
    if i >= 0:
        return i, i + len(passage)
    words = passage.split()
    pattern = re.compile(r"\s+".join(re.escape(w) for w in words), re.IGNORECASE)
    m = pattern.search(text)
    return (m.start(), m.end()) if m else None


def query_terms(query: str) -> list[str]:
    """The content words of a query, for highlighting matches (stopwords and 1-2 letter words dropped)."""
    seen: dict[str, None] = {}
    for w in _WORD.findall(query.lower()):
        if len(w) > 2 and w not in _STOPWORDS:
            seen.setdefault(w, None)
    return list(seen)


def term_spans(text: str, terms: Sequence[str]) -> list[tuple[int, int]]:
    """Spans of words in `text` starting with one of `terms` (so "diffusion" also marks "diffusion-based"); words
    inside a formula are not marked (`\\sum` is not the word "sum")."""
    if not terms:
        return []
    formulas = [(a, b) for a, b, _, _ in math_ranges(text)]
    pattern = re.compile(r"\b(?:" + "|".join(re.escape(t) for t in terms) + r")\w*", re.IGNORECASE)
    return [(m.start(), m.end()) for m in pattern.finditer(text) if not any(a <= m.start() < b for a, b in formulas)]


# ---- source cards -------------------------------------------------------------------------------------------
def paper_header(source: dict[str, Any], *, number: str | None = None, title_html: str | None = None) -> str:
    """Title (linked when the paper has a link), then the authors and year when known, the readable source label
    and date, and the arXiv / DOI / paper links."""
    url = safe_url(source.get("url")) or paper_links(source).get("arxiv") or paper_links(source).get("doi")
    title = title_html if title_html is not None else esc_math(source.get("title", ""))
    if url:
        title = f'<a href="{esc(url)}" target="_blank" rel="noopener noreferrer">{title}</a>'
    n = f'<span class="src-n">{esc(number)}</span>' if number else ""
    out = f'<header>{n}<h4 class="src-title">{title}</h4></header>'
    by = byline(source)
    if by:
        everyone = ", ".join(source.get("authors") or [])
        out += f'<div class="src-byline" title="{esc(everyone)}">{esc(by)}</div>'
    return out + _meta_line(source)


_LINK_NAMES = {"url": "link", "arxiv": "arXiv", "doi": "DOI"}


def _meta_line(source: dict[str, Any]) -> str:
    """Source label, date, score and links, on one line."""
    label, date = source_label(source), source.get("date")
    bits = [label] if label else []
    if date and str(date) not in label:  # "Daily Papers, Mar 11" already says when it was listed
        bits.append(str(date))
    if isinstance(source.get("score"), (int, float)) and source.get("score"):
        bits.append(f"score {float(source['score']):.3f}")
    links = "".join(
        f'<a href="{esc(href)}" target="_blank" rel="noopener noreferrer">{_LINK_NAMES[kind]}'
        f"{': ' + esc(source.get('arxiv_id')) if kind == 'arxiv' else ''}</a>"
        for kind, href in paper_links(source).items()
    )
    links_html = f'<span class="src-links">{links}</span>' if links else ""
    return f'<div class="src-meta">{esc(" · ".join(str(b) for b in bits))}{links_html}</div>'


def source_card(
    n: int,
    source: dict[str, Any],
    supporting: Sequence[str],
    supports: Sequence[dict[str, Any]],
    turn: int | None = None,
) -> str:
    """One cited paper: title, source/date, score, the answer sentences it supports, and its abstract with the
    supporting sentences highlighted. The card's id (`card_id`) is the target of the answer's [n] links."""
    text = source.get("text", "")
    spans = [span for s in supporting if (span := find_passage(text, s))]
    items = []
    for s in supports:
        state = "supported" if s.get("supported", True) else "unsupported"
        score = s.get("score")
        score_html = f' <span class="src-score">{float(score):.2f}</span>' if isinstance(score, (int, float)) else ""
        label = "" if state == "supported" else ' <span class="src-flag">not supported</span>'
        items.append(f'<li class="{state}">{esc_math(s.get("sentence", ""))}{score_html}{label}</li>')
    supports_html = (
        f'<div class="src-supports"><div class="src-label">Answer sentences this paper supports (the quote is highlighted in the abstract below)</div><ul>{"".join(items)}</ul></div>'
        if items
        else ""
    )
    return (
        f'<article class="src-card" id="{card_id(n, turn)}">'
        f"{paper_header(source, number=f'[{n}]')}{supports_html}"
        f'<p class="src-abstract">{marked(text, spans, "support")}</p>'
        "</article>"
    )


def sources_html(answer: dict[str, Any] | None, turn: int | None = None) -> str:
    """The cards of one answer: one per cited paper (or the related papers of a refusal); `turn` as in `card_id`."""
    if not answer:
        return (
            '<div class="src-empty">Sources for the latest answer appear here: each cited paper with the '
            "sentences that support the answer highlighted.</div>"
        )
    by_id = {s["paper_id"]: s for s in answer.get("sources", [])}
    scores = (answer.get("grounding") or {}).get("sentence_scores", [])
    cards = []
    for c in sorted(answer.get("citations", []), key=lambda c: c["n"]):
        source = by_id.get(c["paper_id"])
        if source is None:
            continue
        supports = [s for s in scores if c["n"] in (s.get("cited") or [])]
        supporting = [c.get("supporting", ""), *(e for s in supports for e in _evidence(s))]
        cards.append(source_card(c["n"], source, supporting, supports, turn))
    head = f'<div class="src-head">{counted(len(cards), "cited paper")}</div>'
    if answer.get("refused") or not cards:
        related = answer.get("related") or []
        if not related:
            return '<div class="src-empty">No paper in the collection answers this question.</div>'
        head = '<div class="src-head">No citations: the closest papers in the collection</div>'
        cards = [related_card(r) for r in related]
    return head + "".join(cards)


def sources_panel(answers: Sequence[tuple[int, str, dict[str, Any] | None]], pending: bool = False) -> str:
    """The right-hand panel of a conversation: each answered turn's cards in its own group (`src-group-<turn>`),
    only the latest shown. A click on [n] in an earlier answer shows that answer's group (see `ui.style`).
    `answers` holds (turn number from 1, question, answer dump or None); `pending` puts the "finding" note on top."""
    done = [(t, q, a) for t, q, a in answers if a]
    if not done:
        return sources_pending() if pending else sources_html(None)
    groups = []
    for t, q, a in done:
        shown = t == done[-1][0] and not pending
        label = f'<div class="src-turn">Answer {t}: {esc(q[:90])}{"…" if len(q) > 90 else ""}</div>'
        groups.append(
            f'<section class="src-group" id="src-group-{t}" data-turn="{t}"{"" if shown else " hidden"}>'
            f"{label if len(done) > 1 else ''}{sources_html(a, t)}</section>"
        )
    return (sources_pending() if pending else "") + "".join(groups)


def sources_pending() -> str:
    return '<div class="src-empty">Finding the papers for this question…</div>'


def _evidence(score: dict[str, Any]) -> list[str]:
    """The abstract sentence the grounding check found closest to a supported answer sentence."""
    ev = score.get("best_evidence")
    return [ev] if score.get("supported") and isinstance(ev, str) and ev else []


def related_card(source: dict[str, Any]) -> str:
    return (
        f'<article class="src-card related">{paper_header(source)}'
        f'<p class="src-abstract">{esc_math(source.get("text", ""))}</p></article>'
    )


# ---- search and collection ----------------------------------------------------------------------------------
def search_html(query: str, hits: Sequence[dict[str, Any]], why: Sequence[str] = ()) -> str:
    """Ranked papers for the Search tab, query words highlighted in titles and abstracts. With no hits, `why` says
    which filter cannot match in this collection (`rag.paper_filters.unmatchable`)."""
    if not hits:
        if why:
            return f'<div class="src-empty">No papers match: {esc("; ".join(why))}.</div>'
        return '<div class="src-empty">No papers match. Try other words or loosen the filters.</div>'
    terms = query_terms(query)
    cards = []
    for h in hits:
        title, text = h.get("title", ""), h.get("text", "")
        rank = int(h.get("rank", 0))
        title_html = marked(title, term_spans(title, terms), "hit")
        cards.append(
            f'<article class="src-card hit" id="hit-{rank}">{paper_header(h, number=str(rank), title_html=title_html)}'
            f'<p class="src-abstract">{marked(text, term_spans(text, terms), "hit")}</p></article>'
        )
    return f'<div class="src-head">{counted(len(hits), "paper")}</div>' + "".join(cards)


def paper_detail(paper: dict[str, Any]) -> str:
    """One paper opened from the Collection tab: its header, identifiers and abstract."""
    ids = [("id", paper.get("paper_id")), ("arXiv", paper.get("arxiv_id")), ("DOI", paper.get("doi"))]
    ids += [("categories", ", ".join(paper.get("categories") or [])), ("files", ", ".join(paper.get("sources") or []))]
    facts = " · ".join(f"{name} {esc(value)}" for name, value in ids if value)
    return (
        f'<article class="src-card paper-detail" id="paper-{esc(paper.get("paper_id", ""))}">{paper_header(paper)}'
        f'<div class="src-meta">{facts}</div>'
        f'<p class="src-abstract">{esc_math(paper.get("text", ""))}</p></article>'
    )
