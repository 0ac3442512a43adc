"""HTML for the UI: answers with linked [n] markers, source cards, search hits and index stats.

Everything here is pure (data in, HTML string out) so it is tested without a server. Every piece of text that
comes from a paper, a user or a model goes through `esc` (or `marked`, which escapes each segment) before it
meets markup: an abstract containing `<script>` or `<img onerror=...>` renders as visible text.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

_MARKER = re.compile(r"\[(\d{1,3})\]")
_WS = re.compile(r"\s+")
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-]*")
_STOPWORDS = frozenset(
    {
        *("a", "an", "and", "are", "as", "at", "be", "by", "can", "do", "does", "for", "from", "has", "have", "how"),
        *("in", "is", "it", "its", "of", "on", "or", "that", "the", "their", "this", "to", "was", "were", "what"),
        *("when", "where", "which", "who", "why", "with", "papers", "paper", "about", "any", "there", "using", "use"),
    }
)


def esc(text: object) -> str:
    """Escape text for HTML element content and quoted attribute values."""
    return html.escape("" if text is None else str(text), quote=True)


# ---- spans and highlighting ---------------------------------------------------------------------------------
def _merge(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in sorted(s for s in spans if s[1] > s[0]):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def marked(text: str, spans: Iterable[tuple[int, int]], css_class: str = "") -> str:
    """`text` escaped, with the given character spans wrapped in <mark>."""
    cls = f' class="{esc(css_class)}"' if css_class else ""
    out: list[str] = []
    pos = 0
    for start, end in _merge(spans):
        out.append(esc(text[pos:start]))
        out.append(f"<mark{cls}>{esc(text[start:end])}</mark>")
        pos = end
    out.append(esc(text[pos:]))
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
    """Spans of words in `text` starting with one of `terms` (so "diffusion" also marks "diffusion-based")."""
    if not terms:
        return []
    pattern = re.compile(r"\b(?:" + "|".join(re.escape(t) for t in terms) + r")\w*", re.IGNORECASE)
    return [(m.start(), m.end()) for m in pattern.finditer(text)]


def safe_url(url: str | None) -> str | None:
    """Only http(s) links are rendered; anything else (javascript:, data:) is dropped."""
    if not url:
        return None
    parts = urlsplit(url.strip())
    return url.strip() if parts.scheme in ("http", "https") and parts.netloc else None


def display_url(url: str | None) -> str | None:
    """A base URL fit to show: scheme, host and path, without credentials or a query string."""
    if not url:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


# ---- answers ------------------------------------------------------------------------------------------------
def card_id(n: int, turn: int | None = None) -> str:
    """The id of source card n: `src-n`, or `src-<turn>-<n>` when every answer of a conversation keeps its cards."""
    return f"src-{n}" if turn is None else f"src-{int(turn)}-{n}"


def _text_with_markers(text: str, cited: set[int], linked: bool, turn: int | None = None) -> str:
    """Escaped text whose [n] markers become links to source card n (or inert spans)."""

    def marker(m: re.Match[str]) -> str:
        n = int(m.group(1))
        if linked and n in cited:
            return f'<a class="cite" href="#{card_id(n, turn)}" title="Show source [{n}]">[{n}]</a>'
        return f'<span class="cite">[{n}]</span>'

    return _MARKER.sub(marker, esc(text))


def _paragraphs(pieces_html: str) -> str:
    """Paragraphs of escaped HTML; a run of "- " lines (the papers of a list, the points of a comparison) becomes
    a <ul>, other lines within a paragraph are joined by <br>."""
    out: list[str] = []
    for para in (p.strip() for p in re.split(r"\n\s*\n", pieces_html) if p.strip()):
        # consecutive lines of the same kind (list item or text) form one block
        blocks: list[tuple[bool, list[str]]] = []
        for line in para.split("\n"):
            item = line.startswith("- ")
            if not blocks or blocks[-1][0] != item:
                blocks.append((item, []))
            blocks[-1][1].append(line[2:] if item else line)
        for item, lines in blocks:
            out.append(
                f"<ul>{''.join(f'<li>{x}</li>' for x in lines)}</ul>" if item else f"<p>{'<br>'.join(lines)}</p>"
            )
    return "".join(out)


def streaming_html(text: str) -> str:
    """The answer as it streams in: escaped text, markers not yet linked (their cards are not shown yet)."""
    if not text.strip():
        return '<div class="rag-answer rag-pending"><span class="rag-dots">Searching the papers</span></div>'
    return f'<div class="rag-answer rag-streaming">{_paragraphs(_text_with_markers(text, set(), linked=False))}</div>'


_MARKERS = r"(?:\s*\[\d+(?:\s*[,;]\s*\d+)*\])*"


def sentence_span(answer: str, sentence: str, start: int = 0) -> tuple[int, int] | None:
    """Where an answer sentence, as the grounding check records it (markers stripped), sits in the answer text
    with its markers: they may sit between any two words or before the final period."""
    words = sentence.split()
    if not words:
        return None
    last = words[-1]
    tail = (
        re.escape(last[:-1]) + _MARKERS + re.escape(last[-1])
        if len(last) > 1 and last[-1] in ".!?"
        else re.escape(last)
    )
    body = [re.escape(w) for w in words[:-1]] + [tail]
    pattern = re.compile((_MARKERS + r"\s+").join(body) + _MARKERS, re.IGNORECASE)
    m = pattern.search(answer, start)
    return (m.start(), m.end()) if m else None


def _sentence_spans(answer: str, scores: Sequence[dict[str, Any]], unsupported: Sequence[str]) -> list[tuple[int, int]]:
    """Spans in `answer` of the sentences the grounding check did not find support for."""
    spans = []
    pos = 0
    for entry in scores:  # in answer order, so a repeated sentence is matched at its own place
        span = sentence_span(answer, entry.get("sentence", ""), pos)
        if span is None:
            continue
        pos = span[1]
        if not entry.get("supported", True):
            spans.append(span)
    if not scores:
        spans = [span for u in unsupported if (span := sentence_span(answer, u))]
    return _merge(spans)


def answer_html(answer: dict[str, Any], *, linked: bool = True, turn: int | None = None) -> str:
    """A final answer: sentences with linked [n] markers, unsupported sentences marked, refusal and warning
    shown as such, what a follow-up was resolved to, and a one-line footer (generator, grounding, time).
    With `turn`, the markers link to that answer's own cards (`sources_panel`)."""
    text = answer.get("answer") or ""
    refused = bool(answer.get("refused"))
    cited = {c["n"] for c in answer.get("citations", [])}
    grounding = answer.get("grounding") or {}
    parts: list[str] = []
    pos = 0
    body: list[str] = []
    for start, end in _sentence_spans(
        text, grounding.get("sentence_scores", []), grounding.get("unsupported_sentences", [])
    ):
        body.append(_text_with_markers(text[pos:start], cited, linked, turn))
        inner = _text_with_markers(text[start:end], cited, linked, turn)
        body.append(f'<span class="unsupported" title="Not supported by the cited abstracts">{inner}</span>')
        pos = end
    body.append(_text_with_markers(text[pos:], cited, linked, turn))
    kind = "rag-refusal" if refused else "rag-answered"
    if refused:
        parts.append('<div class="rag-badge refusal">Not answered by the collection</div>')
    parts.append(_paragraphs("".join(body)))
    if answer.get("note"):
        parts.append(f'<div class="rag-note">{esc(answer["note"])}</div>')
    if not refused:
        parts.append(signals_html(answer))
    if answer.get("warning"):
        parts.append(f'<div class="rag-warning" role="status">⚠ {esc(answer["warning"])}</div>')
    if refused and answer.get("related"):
        items = "".join(f"<li>{esc(r['title'])}</li>" for r in answer["related"][:5])
        parts.append(f'<div class="rag-related"><div>Closest papers (not citations):</div><ul>{items}</ul></div>')
    resolved = resolved_html(answer)
    if resolved:
        parts.append(resolved)
    parts.append(f'<div class="rag-foot">{esc(_footer(answer))}</div>')
    return f'<div class="rag-answer {kind}">{"".join(parts)}</div>'


def signals_html(answer: dict[str, Any]) -> str:
    """Two signals, said plainly: whether every sentence is supported by the abstract it cites (grounding), and
    whether the answer carries what was asked (the kind of answer and the question's words). They differ: a
    supported quote can miss the question."""
    grounding = answer.get("grounding") or {}
    scores = grounding.get("sentence_scores") or []
    bad = [e for e in scores if not e.get("supported", True)]
    if not scores:
        support = ""
    elif not bad:
        support = '<span class="sig ok" title="Each sentence is stated by the abstract it cites">✓ Supported by the cited abstracts</span>'
    else:
        n = len(bad)
        support = (
            f'<span class="sig warn" title="Underlined sentences were not found in the cited abstracts">'
            f"⚠ {n} sentence{'s' if n != 1 else ''} not supported by the cited abstracts</span>"
        )
    check = answer.get("answer_check") or {}
    answers = answer.get("answers_question")
    if answers is None:
        fit = ""
    elif answers and check.get("confidence") == "high":
        fit = f'<span class="sig ok" title="{esc(check.get("expected") or "")}">✓ Answers the question</span>'
    elif answers:
        missing = ", ".join(check.get("missing_terms") or [])
        why = f"; does not mention {missing}" if missing else ""
        fit = f'<span class="sig partial">◐ Partly answers the question{esc(why)}</span>'
    else:
        missing = check.get("missing_names") or check.get("missing_terms") or []
        expected = check.get("expected") or "what was asked"
        why = f"no {expected}" if not check.get("found_expected") else f"does not mention {', '.join(missing[:4])}"
        fit = f'<span class="sig low">Low confidence: this may not answer the question ({esc(why)})</span>'
    inner = " ".join(x for x in (support, fit) if x)
    return f'<div class="rag-signals">{inner}</div>' if inner else ""


def resolved_html(answer: dict[str, Any]) -> str:
    """What a follow-up was taken to mean, only when something was resolved: the text searched for and the
    earlier papers it was about ("searched as: ... · about: *Title*"). Empty for a standalone question."""
    standalone = (answer.get("standalone_question") or "").strip()
    if standalone == (answer.get("question") or "").strip():
        standalone = ""
    about = [a.get("title", "") for a in answer.get("about") or [] if isinstance(a, dict)]
    bits = [f"searched as: {esc(standalone)}"] if standalone else []
    if about:
        bits.append("about: " + ", ".join(f"<em>{esc(t)}</em>" for t in about))
    return f'<div class="rag-resolved">{" · ".join(bits)}</div>' if bits else ""


def _footer(answer: dict[str, Any]) -> str:
    bits = [str(answer.get("generator") or "")]
    total = (answer.get("timings_ms") or {}).get("total")
    if total:
        bits.append(f"{total / 1000:.1f} s")
    return " · ".join(b for b in bits if b)


def error_html(message: str) -> str:
    return f'<div class="rag-answer rag-error"><div class="rag-warning" role="alert">⚠ {esc(message)}</div></div>'


def user_html(question: str) -> str:
    return f'<div class="rag-question">{esc(question)}</div>'


# ---- source cards -------------------------------------------------------------------------------------------
def _meta_line(source: dict[str, Any], with_rank: bool = False) -> str:
    bits = []
    if with_rank:
        bits.append(f"#{source.get('rank')}")
    if source.get("sources"):
        bits.append(", ".join(source["sources"]))
    if source.get("date"):
        bits.append(str(source["date"]))
    bits.append(f"score {float(source.get('score', 0.0)):.3f}")
    return f'<div class="src-meta">{esc(" · ".join(bits))}</div>'


def _title(source: dict[str, Any]) -> str:
    url = safe_url(source.get("url"))
    title = esc(source.get("title", ""))
    if url:
        return f'<a href="{esc(url)}" target="_blank" rel="noopener noreferrer">{title}</a>'
    return title


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
        items.append(f'<li class="{state}">“{esc(s.get("sentence", ""))}”{score_html}{label}</li>')
    supports_html = (
        f'<div class="src-supports"><div class="src-label">Supports in the answer</div><ul>{"".join(items)}</ul></div>'
        if items
        else ""
    )
    return (
        f'<article class="src-card" id="{card_id(n, turn)}">'
        f'<header><span class="src-n">[{n}]</span><h4 class="src-title">{_title(source)}</h4></header>'
        f"{_meta_line(source)}{supports_html}"
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
    head = f'<div class="src-head">{len(cards)} cited paper{"s" if len(cards) != 1 else ""}</div>'
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
        f'<article class="src-card related"><header><h4 class="src-title">{_title(source)}</h4></header>'
        f'{_meta_line(source)}<p class="src-abstract">{esc(source.get("text", ""))}</p></article>'
    )


# ---- search and collection ----------------------------------------------------------------------------------
def search_html(query: str, hits: Sequence[dict[str, Any]]) -> str:
    """Ranked papers for the Search tab, query words highlighted in titles and abstracts."""
    if not hits:
        return '<div class="src-empty">No papers match. Try other words or loosen the filters.</div>'
    terms = query_terms(query)
    cards = []
    for h in hits:
        title, text = h.get("title", ""), h.get("text", "")
        url = safe_url(h.get("url"))
        title_html = marked(title, term_spans(title, terms), "hit")
        if url:
            title_html = f'<a href="{esc(url)}" target="_blank" rel="noopener noreferrer">{title_html}</a>'
        cards.append(
            f'<article class="src-card hit" id="hit-{int(h.get("rank", 0))}">'
            f'<header><span class="src-n">{int(h.get("rank", 0))}</span><h4 class="src-title">{title_html}</h4></header>'
            f"{_meta_line(h)}"
            f'<p class="src-abstract">{marked(text, term_spans(text, terms), "hit")}</p></article>'
        )
    return f'<div class="src-head">{len(hits)} paper{"s" if len(hits) != 1 else ""}</div>' + "".join(cards)


def stats_html(stats: dict[str, Any]) -> str:
    """The index at a glance: counts, model, chunking, last update, and papers per source file."""
    rows = [
        ("Papers", f"{stats.get('papers', 0):,}"),
        ("Chunks", f"{stats.get('chunks', 0):,}"),
        ("Embedding model", stats.get("embedding_model", "")),
        ("Chunking", f"{stats.get('chunk_tokens', '')} tokens, {stats.get('chunk_overlap', '')} overlap"),
        ("Vector store", f"{stats.get('chroma', '')} · collection {stats.get('collection', '')}"),
        ("Last update", stats.get("updated_at") or "never"),
    ]
    table = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows)
    sources = "".join(
        f"<tr><td>{esc(name)}</td><td>{int(n):,}</td></tr>" for name, n in (stats.get("sources") or {}).items()
    )
    src_table = (
        f'<table class="rag-table"><thead><tr><th>Source file</th><th>Papers</th></tr></thead><tbody>{sources}</tbody></table>'
        if sources
        else '<div class="src-empty">The index is empty: upload a file below.</div>'
    )
    return f'<div class="rag-stats"><table class="rag-table kv">{table}</table>{src_table}</div>'


def settings_html(public: dict[str, Any]) -> str:
    """The answering configuration, as `Settings.public_dict()` gives it (never a key, only whether one is set)."""
    rows = [
        ("Generator", f"{public.get('generator')} (resolves to {public.get('resolved_generator')})"),
        ("LLM model", public.get("llm_model")),
        ("LLM base URL", display_url(public.get("llm_base_url")) or "default (api.openai.com)"),
        ("API key", "set" if public.get("openai_api_key_set") else "not set"),
        (
            "Retriever",
            f"{public.get('retriever')} · {public.get('candidates')} candidates · RRF k={public.get('rrf_k')}",
        ),
        ("Embedding model", public.get("embedding_model")),
        ("Index", public.get("home")),
    ]
    table = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows)
    return f'<table class="rag-table kv">{table}</table>'
