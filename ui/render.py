"""HTML for the UI: answers with linked [n] markers, their signals and copy button, index stats and settings.

Everything here is pure (data in, HTML string out) so it is tested without a server. Every piece of text that
comes from a paper, a user or a model goes through `esc` (or `esc_math`, which escapes and marks up LaTeX for the
browser's KaTeX) before it meets markup: an abstract containing `<script>` or `<img onerror=...>` renders as
visible text. Paper cards and search hits are in `ui.cards`.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from rag.record import support_basis
from rag.text import counted
from ui.export import answer_markdown, safe_url
from ui.latex import math_span, split_math

__all__ = ["answer_html", "display_url", "esc", "safe_url", "settings_html", "stats_html", "streaming_html"]

_MARKER = re.compile(r"\[(\d{1,3})\]")


def esc(text: object) -> str:
    """Escape text for HTML element content and quoted attribute values."""
    return html.escape("" if text is None else str(text), quote=True)


def _merge(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in sorted(s for s in spans if s[1] > s[0]):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


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
    """Escaped text whose [n] markers become links to source card n (or inert spans); LaTeX is marked up as
    math (`ui.latex`), and a "[1]" inside math stays math."""

    def marker(m: re.Match[str]) -> str:
        n = int(m.group(1))
        if linked and n in cited:
            return f'<a class="cite" href="#{card_id(n, turn)}" title="Show source [{n}]">[{n}]</a>'
        return f'<span class="cite">[{n}]</span>'

    return "".join(
        _MARKER.sub(marker, esc(piece)) if kind is None else math_span(piece, kind) for piece, kind in split_math(text)
    )


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
    copy = (
        '<button class="rag-copy" type="button" title="Copy the answer as Markdown with its references">Copy</button>'
    )
    parts.append(f'<div class="rag-foot"><span>{esc(_footer(answer))}</span>{copy}</div>')
    # What Copy puts on the clipboard; kept in the page as text (the chat's sanitiser drops data- attributes).
    parts.append(f'<pre class="rag-md" hidden>{esc(answer_markdown(answer))}</pre>')
    return f'<div class="rag-answer {kind}">{"".join(parts)}</div>'


def signals_html(answer: dict[str, Any]) -> str:
    """Two signals, said plainly: whether every sentence is supported by the abstract it cites (grounding), and
    whether the answer carries what was asked (the kind of answer and the question's words). They differ: a
    supported quote can miss the question."""
    grounding = answer.get("grounding") or {}
    scores = grounding.get("sentence_scores") or []
    bad = [e for e in scores if not e.get("supported", True)]
    basis = support_basis(scores)  # the abstracts, or the papers' records for "who wrote X?" answers
    if not scores:
        support = ""
    elif not bad:
        support = (
            f'<span class="sig ok" title="Each sentence is stated by {esc(basis)}">✓ Supported by {esc(basis)}</span>'
        )
    else:
        support = (
            f'<span class="sig warn" title="Underlined sentences were not found in {esc(basis)}">'
            f"⚠ {esc(counted(len(bad), 'sentence'))} not supported by {esc(basis)}</span>"
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


# ---- index and settings -------------------------------------------------------------------------------------
def stats_html(stats: dict[str, Any]) -> str:
    """The index at a glance: counts, model, chunking, last update, and papers per source (by label)."""
    rows = [
        ("Papers", f"{stats.get('papers', 0):,}"),
        ("Chunks", f"{stats.get('chunks', 0):,}"),
        ("Embedding model", stats.get("embedding_model", "")),
        ("Chunking", f"{stats.get('chunk_tokens', '')} tokens, {stats.get('chunk_overlap', '')} overlap"),
        ("Vector store", f"{stats.get('chroma', '')} · collection {stats.get('collection', '')}"),
        ("Last update", stats.get("updated_at") or "never"),
    ]
    table = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows)
    by_source = stats.get("labels") or stats.get("sources") or {}  # readable labels, not the dumps' hashed names
    sources = "".join(f"<tr><td>{esc(name)}</td><td>{int(n):,}</td></tr>" for name, n in by_source.items())
    src_table = (
        f'<table class="rag-table"><thead><tr><th>Source</th><th>Papers</th></tr></thead><tbody>{sources}</tbody></table>'
        if sources
        else '<div class="src-empty">The index is empty: upload a file below.</div>'
    )
    return f'<div class="rag-stats"><table class="rag-table kv">{table}</table>{src_table}</div>'


def retrieval_description(public: dict[str, Any]) -> str:
    """How search ranks papers, said from the settings the code reads (`rag.retrieval.HybridRetriever`)."""
    mode = public.get("retriever")
    chunks = f"{counted(int(public.get('candidates') or 0), 'chunk')} from each retriever, collapsed to papers"
    if mode == "dense":
        return (
            f"dense only (Chroma, cosine) · {counted(int(public.get('candidates') or 0), 'chunk')}, collapsed to papers"
        )
    if mode == "bm25":
        return f"BM25 only · {counted(int(public.get('candidates') or 0), 'chunk')}, collapsed to papers"
    if public.get("fusion") == "rrf":
        fusion = f"reciprocal rank fusion (k={public.get('rrf_k')})"
    else:
        alpha = float(public.get("alpha") or 0.0)
        fusion = f"convex fusion of normalised scores ({alpha:.2f} dense + {1 - alpha:.2f} BM25)"
    return f"hybrid: dense (Chroma, cosine) + BM25 · {chunks} · {fusion}"


def settings_html(public: dict[str, Any], endpoint: dict[str, Any] | None = None) -> str:
    """The answering configuration, as `Settings.public_dict()` gives it (never a key, only whether one is set).
    `endpoint` is this session's LLM endpoint when one was set in the Settings tab."""
    base_url = display_url(public.get("llm_base_url")) or "default (api.openai.com)"
    model = public.get("llm_model")
    if endpoint:
        base_url = f"{display_url(endpoint.get('base_url'))} (this session)"
        model = f"{endpoint.get('model') or model} (this session)"
    rows = [
        ("Generator", f"{public.get('generator')} (resolves to {public.get('resolved_generator')})"),
        ("LLM model", model),
        ("LLM base URL", base_url),
        ("API key", "set in the environment" if public.get("openai_api_key_set") else "not set"),
        ("Retrieval", retrieval_description(public)),
        ("Embedding model", public.get("embedding_model")),
        ("Index", public.get("home")),
    ]
    table = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows)
    return f'<table class="rag-table kv">{table}</table>'
