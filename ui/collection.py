"""The Collection tab's browser: the indexed papers filtered and paged, one opened, and deleted after a confirmation.

Reads the index's catalogue (`Assistant.index.papers()`, abstracts on demand) and deletes through
`Assistant.delete`, which goes through the index writer, so the vectors, BM25 and catalogue change together.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import gradio as gr

from rag.text import counted
from ui import cards
from ui.export import source_label
from ui.render import esc

log = logging.getLogger(__name__)
PAGE_SIZE = 20
HEADERS = ["Title", "Authors", "Date", "Source"]
WIDTHS = ["52%", "24%", "8%", "16%"]
# Without authors anywhere in the index (the bundled Daily Papers dumps give none) the column would always be empty.
HEADERS_NO_AUTHORS = ["Title", "Date", "Source"]
WIDTHS_NO_AUTHORS = ["66%", "10%", "24%"]
Paper = dict[str, Any]  # a catalogue entry: PaperMeta's fields (paper_id, title, sources, date, url, authors ...)


# ---- pure helpers -------------------------------------------------------------------------------------------
def catalogue(assistant: Any) -> list[Paper]:
    """Every indexed paper as a dict of its catalogue fields, sorted by title (case-insensitive)."""
    papers = [dataclasses.asdict(p) for p in assistant.index.papers().values()]
    return sorted(papers, key=lambda p: (p.get("title") or "").casefold())


def _haystack(paper: Paper) -> str:
    fields = [paper.get("title"), paper.get("paper_id"), paper.get("year"), paper.get("date"), paper.get("doi")]
    fields += [paper.get("arxiv_id"), source_label(paper), *(paper.get("authors") or []), *(paper.get("sources") or [])]
    return " ".join(str(f) for f in fields if f).casefold()


def filter_papers(papers: Sequence[Paper], query: str) -> list[Paper]:
    """Papers whose title, authors, year, date, source, arXiv id, DOI or id contain every word of `query`."""
    words = (query or "").casefold().split()
    return [p for p in papers if all(w in _haystack(p) for w in words)]


def page_of(papers: Sequence[Paper], page: int, size: int = PAGE_SIZE) -> tuple[list[Paper], int, int]:
    """(the papers on `page`, the page actually shown (clamped), the number of pages); pages count from 1."""
    pages = max(1, math.ceil(len(papers) / size))
    page = min(max(1, int(page or 1)), pages)
    return list(papers[(page - 1) * size : page * size]), page, pages


def table_rows(papers: Sequence[Paper], with_authors: bool = True) -> list[list[str]]:
    """One row per paper: title, authors (the first three; left out with `with_authors=False`), date (ISO, a year,
    or a dump's listing day "Mar 11") and readable source."""
    rows = []
    for p in papers:
        authors = list(p.get("authors") or [])
        shown = ", ".join(authors[:3]) + (" et al." if len(authors) > 3 else "")
        date = str(p.get("date") or p.get("year") or "")
        rows.append([p.get("title", ""), *([shown] if with_authors else []), date, source_label(p)])
    return rows


def table_value(papers: Sequence[Paper], with_authors: bool) -> dict[str, Any]:
    """The table's headers and rows: the Authors column only when some paper in the index has authors."""
    return {"headers": HEADERS if with_authors else HEADERS_NO_AUTHORS, "data": table_rows(papers, with_authors)}


def page_label(total: int, shown: int, page: int, pages: int, query: str, notes: Sequence[str] = ()) -> str:
    """The count line above the table; `notes` say what the collection does not record (no authors, no year)."""
    if total == 0:
        what = "No paper matches this filter" if query.strip() else "The index is empty: add papers below"
        return f'<div class="rag-paper-count">{esc(": ".join([what, *notes[:1]]) + ".")}</div>'
    if query.strip():
        matching = f"{counted(total, 'paper')} {'matches' if total == 1 else 'match'}"
    else:
        matching = f"{counted(total, 'paper')} in the index"
    extra = "".join(f" · {esc(n)}" for n in notes)
    return f'<div class="rag-paper-count">{esc(matching)} · page {page} of {pages} · {shown} shown{extra}</div>'


def collection_notes(papers: Sequence[Paper], query: str) -> list[str]:
    """What the count line says the collection lacks: no authors at all (the column is left out), and, for a
    year typed in the filter, no year on any paper."""
    notes = [] if any(p.get("authors") for p in papers) else ["no paper here records its authors"]
    asks_year = any(re.fullmatch(r"(?:19|20)\d\d", w) for w in query.split())
    if papers and asks_year and not any(p.get("year") for p in papers):
        notes.insert(0, "no paper here records a year")
    return notes


# ---- the tab ------------------------------------------------------------------------------------------------
@dataclass
class Browser:
    query: gr.Textbox
    table: gr.Dataframe
    count: gr.HTML
    prev: gr.Button
    next: gr.Button
    page: gr.State
    shown: gr.State  # the paper ids on the page, in table order
    opened: gr.State  # the open paper's id
    detail: gr.HTML
    delete: gr.Button
    confirm_row: gr.Row
    confirm_text: gr.HTML
    confirm: gr.Button
    cancel: gr.Button
    status: gr.HTML


def build_browser() -> Browser:
    """Layout only: filter, a page of papers, the opened paper with its delete button and confirmation."""
    gr.Markdown("**Browse the papers.** Click a row to open the paper.")
    with gr.Row():
        query = gr.Textbox(
            placeholder="Filter by title, author, year, source or arXiv id…",
            show_label=False,
            scale=6,
            elem_id="rag-paper-filter",
        )
        prev = gr.Button("◀ Previous", size="sm", scale=1, min_width=90, elem_id="rag-page-prev")
        nxt = gr.Button("Next ▶", size="sm", scale=1, min_width=90, elem_id="rag-page-next")
    count = gr.HTML("", js_on_load=None, elem_id="rag-paper-count")
    table = gr.Dataframe(
        headers=HEADERS,
        value=[],
        interactive=False,
        wrap=True,
        max_height=520,
        column_widths=WIDTHS,
        elem_id="rag-papers",
        show_label=False,
    )
    detail = gr.HTML("", js_on_load=None, elem_id="rag-paper")
    with gr.Row():
        delete = gr.Button(
            "Delete this paper…", variant="stop", size="sm", visible=False, scale=0, min_width=200, elem_id="rag-delete"
        )
    with gr.Row(visible=False, elem_id="rag-confirm") as confirm_row:
        confirm_text = gr.HTML("", js_on_load=None)
        confirm = gr.Button(
            "Yes, delete it", variant="stop", size="sm", scale=0, min_width=160, elem_id="rag-confirm-delete"
        )
        cancel = gr.Button("Cancel", size="sm", scale=0, min_width=120, elem_id="rag-cancel-delete")
    status = gr.HTML("", js_on_load=None, elem_id="rag-delete-status")
    return Browser(
        query=query,
        table=table,
        count=count,
        prev=prev,
        next=nxt,
        page=gr.State(1),
        shown=gr.State([]),
        opened=gr.State(None),
        detail=detail,
        delete=delete,
        confirm_row=confirm_row,
        confirm_text=confirm_text,
        confirm=confirm,
        cancel=cancel,
        status=status,
    )


def list_fn(assistant: Any) -> Callable[[str, int], tuple[Any, ...]]:
    """(filter, page) -> (table rows, count line, page shown, ids shown)."""

    def show(query: str, page: int) -> tuple[Any, ...]:
        try:
            everything = catalogue(assistant)
            papers = filter_papers(everything, query or "")
        except Exception as exc:  # an unreadable index: one line, the rest of the tab still works
            log.exception("listing the papers failed")
            message = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
            return [], f'<div class="rag-status error">Cannot list the papers: {esc(message)}</div>', 1, []
        rows, page, pages = page_of(papers, page)
        notes = collection_notes(everything, query or "")
        label = page_label(len(papers), len(rows), page, pages, query or "", notes)
        with_authors = any(p.get("authors") for p in everything)
        table = gr.update(
            value=table_value(rows, with_authors), column_widths=WIDTHS if with_authors else WIDTHS_NO_AUTHORS
        )
        return table, label, page, [p["paper_id"] for p in rows]

    return show


def open_fn(assistant: Any) -> Callable[..., tuple[Any, ...]]:
    """A row click -> (detail HTML, opened id, delete button, confirmation row hidden, status cleared)."""

    def open_paper(shown: list[str], evt: gr.SelectData) -> tuple[Any, ...]:
        row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        if not isinstance(row, int) or not 0 <= row < len(shown):
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        pid = shown[row]
        meta = assistant.index.papers().get(pid)
        if meta is None:
            note = '<div class="rag-status info">This paper is no longer in the index.</div>'
            return note, None, gr.update(visible=False), gr.update(visible=False), ""
        paper = dataclasses.asdict(meta)
        paper["text"] = assistant.index.abstracts([pid]).get(pid, "")
        return cards.paper_detail(paper), pid, gr.update(visible=True), gr.update(visible=False), ""

    return open_paper


def wire_browser(assistant: Any, b: Browser, after_change: Callable[[], tuple[Any, ...]], changed: list[Any]) -> None:
    """Filter, page, open, delete. `after_change` refreshes what a deletion changes elsewhere (stats, header,
    search sources), its outputs being `changed`."""
    show = list_fn(assistant)
    listing = [b.table, b.count, b.page, b.shown]
    private: dict[str, Any] = {"api_visibility": "private"}
    b.query.change(lambda q: show(q, 1), b.query, listing, **private)
    b.prev.click(lambda q, p: show(q, int(p) - 1), [b.query, b.page], listing, **private)
    b.next.click(lambda q, p: show(q, int(p) + 1), [b.query, b.page], listing, **private)
    b.table.select(open_fn(assistant), b.shown, [b.detail, b.opened, b.delete, b.confirm_row, b.status], **private)

    def confirm_delete(pid: str | None) -> tuple[Any, ...]:
        meta = assistant.index.papers().get(pid) if pid else None
        if meta is None:
            return gr.update(visible=False), ""
        text = (
            f"Delete <strong>{esc(meta.title)}</strong> from the index? Its vectors, BM25 entries and catalogue "
            "row are removed for every reader. It comes back if you ingest a file that contains it again."
        )
        return gr.update(visible=True), text

    def delete_paper(pid: str | None, query: str, page: int) -> tuple[Any, ...]:
        if not pid:
            return ("", gr.update(visible=False), gr.update(visible=False), None, "", *show(query, page))
        title = getattr(assistant.index.papers().get(pid), "title", pid)
        try:
            report = assistant.delete([pid])
        except Exception as exc:
            log.exception("deleting %s failed", pid)
            message = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
            status = f'<div class="rag-status error">Not deleted: {esc(message)}</div>'
            return (status, gr.update(visible=False), gr.update(), pid, gr.skip(), *show(query, page))
        if report.removed:
            status = f'<div class="rag-status ok">Deleted “{esc(title)}”. {counted(report.papers, "paper")} left.</div>'
        else:
            status = '<div class="rag-status info">That paper was already gone from the index.</div>'
        return (status, gr.update(visible=False), gr.update(visible=False), None, "", *show(query, page))

    b.delete.click(confirm_delete, b.opened, [b.confirm_row, b.confirm_text], **private)
    b.cancel.click(lambda: gr.update(visible=False), None, b.confirm_row, **private)
    b.confirm.click(
        delete_paper,
        [b.opened, b.query, b.page],
        [b.status, b.confirm_row, b.delete, b.opened, b.detail, *listing],
        concurrency_limit=1,  # one writer at a time; the index also holds a file lock
        **private,
    ).then(after_change, None, changed, **private)
