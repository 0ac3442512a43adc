"""Answers and conversations as Markdown with their references, and BibTeX for the papers that carry metadata.

What the chat's Copy button puts on the clipboard (`answer_markdown`) and what "Export conversation" downloads
(`conversation_markdown`). Pure functions of `Answer.model_dump()` dicts; BibTeX is written by pybtex.
"""

from __future__ import annotations

import re
import time
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

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
    entries = bibtex(cited)
    lines += ["## BibTeX", ""]
    if entries:
        lines += ["```bibtex", entries.rstrip(), "```", ""]
    else:
        lines += ["No cited paper carries the author, year or identifier metadata a BibTeX entry needs.", ""]
    return "\n".join(lines)


def has_bib_metadata(source: dict[str, Any]) -> bool:
    """A BibTeX entry is written for a paper with authors, a year, an arXiv id or a DOI (a title alone is not a
    reference anyone could look up)."""
    return bool(source.get("authors") or source.get("year") or source.get("arxiv_id") or source.get("doi"))


def bibtex(sources: Iterable[dict[str, Any]]) -> str:
    """BibTeX `@misc` entries (arXiv's own export style: eprint, archivePrefix, primaryClass) for the papers with
    metadata, each once, keys like `gu2021efficiently`; '' when none has any."""
    from pybtex.database import BibliographyData, Entry, Person

    entries: dict[str, Any] = {}
    seen: set[str] = set()
    for s in sources:
        pid = str(s.get("paper_id") or s.get("title"))
        if pid in seen or not has_bib_metadata(s):
            continue
        seen.add(pid)
        fields = [("title", _balanced(_one_line(s.get("title", ""))))]
        if s.get("year"):
            fields.append(("year", str(s["year"])))
        if s.get("arxiv_id"):
            fields += [("eprint", str(s["arxiv_id"])), ("archivePrefix", "arXiv")]
            if s.get("categories"):
                fields.append(("primaryClass", str(s["categories"][0])))
        if s.get("doi"):
            fields.append(("doi", _balanced(str(s["doi"]))))
        link = paper_links(s)
        if link.get("url") or link.get("arxiv"):
            fields.append(("url", link.get("url") or link["arxiv"]))
        persons = {"author": [Person(_balanced(a)) for a in s.get("authors") or [] if a]}
        key = _unique(_cite_key(s), entries)
        entries[key] = Entry("misc", fields=fields, persons=persons if persons["author"] else None)
    return BibliographyData(entries=entries).to_string("bibtex") if entries else ""


def _cite_key(source: dict[str, Any]) -> str:
    """first author's last name + year + first significant title word, ASCII letters and digits only."""
    authors = source.get("authors") or []
    last = authors[0].split()[-1] if authors and authors[0].split() else ""
    words = [w for w in re.findall(r"[A-Za-z0-9]+", _ascii(source.get("title", ""))) if w.lower() not in _SMALL]
    key = f"{_ascii(last)}{source.get('year') or ''}{words[0] if words else ''}".lower()
    return re.sub(r"[^a-z0-9]", "", key) or "paper"


_SMALL = frozenset({"a", "an", "the", "on", "of", "for", "to", "in", "and", "with", "is", "are", "towards"})


def _unique(key: str, taken: dict[str, Any]) -> str:
    if key not in taken:
        return key
    return next(f"{key}{c}" for c in "bcdefghijklmnopqrstuvwxyz" if f"{key}{c}" not in taken)


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _one_line(text: object) -> str:
    return " ".join(str(text or "").split())


def _balanced(text: str) -> str:
    """BibTeX values need balanced braces; a title with a stray one loses its braces."""
    depth = 0
    for ch in text:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth < 0:
            break
    return text if depth == 0 else text.replace("{", "").replace("}", "")
