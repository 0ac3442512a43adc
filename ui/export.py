"""Answers and conversations as Markdown with their references, and BibTeX for the papers they cite.

What the chat's Copy button puts on the clipboard (`answer_markdown`) and what "Export conversation" downloads
(`conversation_markdown`). Pure functions of `Answer.model_dump()` dicts; BibTeX is written by bibtexparser.
"""

from __future__ import annotations

import re
import time
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from rag.text import counted

ARXIV_ABS = "https://arxiv.org/abs/"
DOI_ORG = "https://doi.org/"


def safe_url(url: str | None) -> str | None:
    """Only http(s) links are rendered or exported; anything else (javascript:, data:) is dropped."""
    if not url:
        return None
    parts = urlsplit(url.strip())
    return url.strip() if parts.scheme in ("http", "https") and parts.netloc else None


def paper_links(source: dict[str, Any]) -> dict[str, str]:
    """The links a paper's metadata gives, by kind ("url", "arxiv", "doi"), http(s) only; the arXiv and DOI ones
    are built from their identifiers, and the url is left out when it is one of them."""
    links: dict[str, str] = {}
    url = safe_url(source.get("url"))
    if source.get("arxiv_id"):
        links["arxiv"] = ARXIV_ABS + str(source["arxiv_id"]).strip()
    if source.get("doi"):
        links["doi"] = DOI_ORG + str(source["doi"]).strip()
    same = {re.sub(r"v\d+$", "", v.rstrip("/")) for v in links.values()}
    if url and re.sub(r"v\d+$", "", url.rstrip("/")) not in same:
        links = {"url": url, **links}
    return {k: v for k, v in links.items() if safe_url(v)}


def byline(source: dict[str, Any], max_authors: int = 3) -> str:
    """'A. Gu, K. Goel and C. Ré (2021)', 'A. Gu et al. (2021)', '(2021)' or ''."""
    authors = [a for a in source.get("authors") or [] if a]
    if len(authors) > max_authors:
        names = f"{authors[0]} et al."
    elif len(authors) > 1:
        names = ", ".join(authors[:-1]) + f" and {authors[-1]}"
    else:
        names = "".join(authors)
    year = source.get("year")
    return " ".join(x for x in (names, f"({year})" if year else "") if x)


def source_label(source: dict[str, Any]) -> str:
    """Where the paper came from, readably: the index's source labels ("Daily Papers, Mar 11"), else its files."""
    labels = [x for x in source.get("source_labels") or [] if x]
    return ", ".join(labels or [Path(s).name for s in source.get("sources") or [] if s])


def reference_line(n: int, source: dict[str, Any]) -> str:
    """`[n] Authors (year). Title. arXiv:id. doi:x. url` with what is known."""
    bits = [byline(source, max_authors=6), f"*{_one_line(source.get('title', ''))}*"]
    links = paper_links(source)
    if source.get("arxiv_id"):
        bits.append(f"arXiv:{source['arxiv_id']}")
    if source.get("doi"):
        bits.append(f"doi:{source['doi']}")
    link = links.get("url") or links.get("arxiv") or links.get("doi")
    if link:
        bits.append(f"<{link}>")
    return f"[{n}] " + ". ".join(b.rstrip(".") for b in bits if b) + "."


def cited_sources(answer: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    """(n, source) for every citation of an answer, by number."""
    by_id = {s.get("paper_id"): s for s in answer.get("sources") or []}
    out = []
    for c in sorted(answer.get("citations") or [], key=lambda c: c["n"]):
        source = by_id.get(c.get("paper_id")) or {"title": c.get("title", ""), "paper_id": c.get("paper_id")}
        out.append((int(c["n"]), source))
    return out


def answer_markdown(answer: dict[str, Any]) -> str:
    """An answer as Markdown: its text with the [n] markers (lists stay "- " lists), its note and warning, then
    the reference list the markers point at (or, for a refusal, the closest papers, which are not citations)."""
    parts = [(answer.get("answer") or "").strip()]
    if answer.get("note"):
        parts.append(f"*{_one_line(answer['note'])}*")
    if answer.get("warning"):
        parts.append(f"> Warning: {_one_line(answer['warning'])}")
    refs = cited_sources(answer)
    if refs:
        parts.append("References:\n\n" + "\n".join(f"- {reference_line(n, s)}" for n, s in refs))
    elif answer.get("refused") and answer.get("related"):
        items = [f"- {reference_line(i, s)[len(f'[{i}] ') :]}" for i, s in enumerate(answer["related"][:5], 1)]
        parts.append("Closest papers (not citations):\n\n" + "\n".join(items))
    return "\n\n".join(p for p in parts if p) + "\n"


def conversation_markdown(turns: Sequence[dict[str, Any]], title: str = "Paper QA conversation") -> str:
    """A whole conversation: each question and its answer (with references), then BibTeX for every cited paper
    whose metadata allows an entry. `turns` as the UI keeps them: {"question", "answer" (dump or None), "error"}."""
    lines = [f"# {title}", "", f"Exported {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.", ""]
    cited: list[dict[str, Any]] = []
    for i, turn in enumerate(turns, start=1):
        lines += [f"## {i}. {_one_line(turn.get('question', ''))}", ""]
        answer = turn.get("answer")
        if answer:
            lines += [answer_markdown(answer).rstrip(), ""]
            cited += [s for _, s in cited_sources(answer)]
        elif turn.get("error"):
            lines += [f"> {_one_line(turn['error'])}", ""]
    lines += ["## BibTeX", ""]
    unique = list({str(s.get("paper_id") or s.get("title")): s for s in cited}.values())
    if not unique:
        lines += ["No paper was cited in this conversation, so there is no BibTeX entry.", ""]
        return "\n".join(lines)
    lacking = [s for s in unique if not has_bib_metadata(s)]
    if lacking:
        bare, dumps = len(lacking), any(source_label(s).startswith("Daily Papers") for s in lacking)
        if bare == len(unique):
            which = "The entry below is" if bare == 1 else f"All {bare} entries below are"
        else:
            which = f"{bare} of the {counted(len(unique), 'entry', 'entries')} below {'is' if bare == 1 else 'are'}"
        lines += [
            f"{which} incomplete (title and source only): the collection records no authors, year, arXiv id or DOI for "
            f"{'that paper' if bare == 1 else 'those papers'}{' (the Daily Papers dumps give none)' if dumps else ''}. "
            f"Complete {'it' if bare == 1 else 'them'} before citing.",
            "",
        ]
    lines += ["```bibtex", bibtex(unique).rstrip(), "```", ""]
    return "\n".join(lines)


def has_bib_metadata(source: dict[str, Any]) -> bool:
    """Whether a paper's entry can be complete: it has authors, a year, an arXiv id or a DOI (a title alone is not
    a reference anyone could look up; such an entry is marked incomplete)."""
    return bool(source.get("authors") or source.get("year") or source.get("arxiv_id") or source.get("doi"))


INCOMPLETE = "incomplete record: the collection has no authors, year, arXiv id or DOI for this paper"


def bibtex(sources: Iterable[dict[str, Any]]) -> str:
    """BibTeX `@misc` entries (arXiv's own export style: eprint, archivePrefix, primaryClass), one per paper, keys
    like `gu2021efficiently`; a paper without authors, year or identifier gets its title, `howpublished` (its
    source label) and a `note` saying the entry is incomplete; '' for no papers. Written by bibtexparser: text is
    LaTeX-encoded by pylatexenc (math kept, braces and `%`, `&` escaped), values enclosed in braces."""
    import bibtexparser
    from bibtexparser import middlewares as mw
    from bibtexparser.model import Entry, Field

    library = bibtexparser.Library()
    raw: dict[str, list[tuple[str, str]]] = {}  # identifiers and links: written as they are, not LaTeX-encoded
    seen: set[str] = set()
    for s in sources:
        pid = str(s.get("paper_id") or s.get("title"))
        if pid in seen:
            continue
        seen.add(pid)
        text = [("title", _one_line(s.get("title", "")))]
        authors = [_one_line(a) for a in s.get("authors") or [] if a]
        if authors:
            text.append(("author", " and ".join(authors)))
        if not has_bib_metadata(s):
            if source_label(s):
                text.append(("howpublished", source_label(s)))
            text.append(("note", INCOMPLETE))
        key = _unique(_cite_key(s), {e.key for e in library.entries})
        library.add(Entry("misc", key, [Field(k, v) for k, v in text]))
        raw[key] = _identifiers(s)
    if not library.entries:
        return ""
    library = mw.LatexEncodingMiddleware(keep_math=True, enclose_urls=False).transform(library)
    for entry in library.entries:
        for k, v in raw[entry.key]:
            entry.set_field(Field(k, v.replace("{", "").replace("}", "")))  # an identifier never needs braces
    enclose = mw.AddEnclosingMiddleware(reuse_previous_enclosing=False, enclose_integers=False, default_enclosing="{")
    return bibtexparser.write_string(library, unparse_stack=[enclose])


def _identifiers(s: dict[str, Any]) -> list[tuple[str, str]]:
    """The year, arXiv, DOI and link fields of an entry."""
    out = [("year", str(s["year"]))] if s.get("year") else []
    if s.get("arxiv_id"):
        out += [("eprint", str(s["arxiv_id"])), ("archivePrefix", "arXiv")]
        if s.get("categories"):
            out.append(("primaryClass", str(s["categories"][0])))
    if s.get("doi"):
        out.append(("doi", str(s["doi"])))
    link = paper_links(s)
    if link.get("url") or link.get("arxiv"):
        out.append(("url", link.get("url") or link["arxiv"]))
    return out


def _cite_key(source: dict[str, Any]) -> str:
    """first author's last name + year + first significant title word, ASCII letters and digits only."""
    authors = source.get("authors") or []
    last = authors[0].split()[-1] if authors and authors[0].split() else ""
    words = [w for w in re.findall(r"[A-Za-z0-9]+", _ascii(source.get("title", ""))) if w.lower() not in _SMALL]
    key = f"{_ascii(last)}{source.get('year') or ''}{words[0] if words else ''}".lower()
    return re.sub(r"[^a-z0-9]", "", key) or "paper"


_SMALL = frozenset({"a", "an", "the", "on", "of", "for", "to", "in", "and", "with", "is", "are", "towards"})


def _unique(key: str, taken: set[str]) -> str:
    if key not in taken:
        return key
    return next(f"{key}{c}" for c in "bcdefghijklmnopqrstuvwxyz" if f"{key}{c}" not in taken)


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _one_line(text: object) -> str:
    return " ".join(str(text or "").split())
