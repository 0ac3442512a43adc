"""The Gradio app: chat with cited answers beside their source cards, search, collection and settings tabs.

`create_app(assistant)` builds the Blocks without starting anything (tests call it directly); `launch()` adds
the queue, the optional login and the styling, then serves it. Every answer goes through `Assistant`; this
module only turns its results into HTML (see `ui.render`, `ui.cards`) and Markdown (`ui.export`).
"""

from __future__ import annotations

import logging
import socket
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from ingest.formats import EXTENSIONS, FORMATS
from rag.conversation import history_messages
from rag.query import readable
from rag.text import counted
from ui import cards, collection, render
from ui.export import conversation_markdown
from ui.guard import UPLOAD_MAX_MB, UPLOAD_SWEEP, ClientGuard, check_port, discard_uploads, patient_launch_check
from ui.settings_tab import SessionViews, SettingsTab, build_settings_tab, llm_configured, wire_settings
from ui.style import launch_style

log = logging.getLogger(__name__)

EXAMPLES = [
    "Which papers reduce the memory footprint of 3D Gaussian Splatting?",
    "How do state space models like S4 handle long sequences?",
    "What speed-ups does the Switch Transformer report for pre-training?",
    "Which papers lower the inference latency of spiking neural networks?",
]
UPLOAD_TYPES = list(EXTENSIONS)  # every format `rag ingest` reads (BibTeX, RIS, JSON, CSV, dumps)
ALL_SOURCES = "All sources"
Turn = dict[str, Any]  # {"question": str, "answer": Answer dump | None, "partial": str, "error": str | None}


# ---- conversation state -------------------------------------------------------------------------------------
def history_of(turns: list[Turn]) -> list[dict[str, Any]]:
    """The conversation as the chain reads it: finished turns only, each answer with the papers it cited (so that
    "it", "the second one" or "[2]" can be resolved)."""
    history: list[dict[str, Any]] = []
    for t in turns:
        if t.get("answer"):
            history += history_messages(t["question"], t["answer"])
    return history


def chat_messages(turns: list[Turn]) -> list[dict[str, str]]:
    """The chatbot value: HTML we built (everything escaped). Every answer links its [n] markers to its own
    cards in the sources panel (`cards.sources_panel`)."""
    messages: list[dict[str, str]] = []
    for i, t in enumerate(turns, start=1):
        messages.append({"role": "user", "content": render.user_html(t["question"])})
        if t.get("error"):
            content = render.error_html(t["error"])
        elif t.get("answer"):
            content = render.answer_html(t["answer"], turn=i)
        else:
            content = render.streaming_html(t.get("partial", ""))
        messages.append({"role": "assistant", "content": content})
    return messages


def sources_of(turns: list[Turn], pending: bool = False) -> str:
    """The sources panel: every answer's cards, the latest shown."""
    return cards.sources_panel([(i, t["question"], t.get("answer")) for i, t in enumerate(turns, start=1)], pending)


def answer_options(k: int | float | None, generator: str | None) -> dict[str, Any]:
    """Per-question settings picked in the UI, passed through to the chain."""
    options: dict[str, Any] = {}
    if k:
        options["k"] = int(k)
    if generator:
        options["generator"] = generator
    return options


def _user_message(exc: Exception) -> str:
    """One line for the user; the traceback goes to the log."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:500]


# ---- the app ------------------------------------------------------------------------------------------------
@dataclass
class ChatTab:
    chatbot: gr.Chatbot
    question: gr.Textbox
    send: gr.Button
    clear: gr.Button
    export: gr.DownloadButton
    sources: gr.HTML


@dataclass
class SearchTab:
    query: gr.Textbox
    k: gr.Slider
    button: gr.Button
    source: gr.Dropdown
    date: gr.Textbox
    title: gr.Textbox
    author: gr.Textbox
    results: gr.HTML


@dataclass
class CollectionTab:
    stats: gr.HTML
    refresh: gr.Button
    upload: gr.File
    status: gr.HTML
    ingest: gr.Button
    browser: collection.Browser


def create_app(assistant: Any) -> gr.Blocks:
    """Build the UI for `assistant` (an `rag.Assistant`). Nothing is started; call `.launch()` or `launch()`."""
    stats = assistant.stats()
    views = SessionViews(assistant)
    exports = Path(tempfile.mkdtemp(prefix="rag-ui-export-"))
    with gr.Blocks(title="Paper QA", analytics_enabled=False) as demo:
        header = gr.HTML(_header(stats), elem_id="rag-header", js_on_load=None)
        turns = gr.State([])
        with gr.Tabs():
            chat = build_chat_tab()
            search = build_search_tab(assistant, stats)
            papers = build_collection_tab(assistant, stats)
            options = build_settings_tab(assistant.settings)
        # The chat reads the Settings tab's controls and the Collection tab refreshes the Search tab's source
        # list, so these events are wired once every tab exists.
        wire_chat(views, chat, turns, options, exports)
        wire_collection(assistant, papers, search.source, header)
        wire_settings(assistant.settings, options)
        browse = collection.list_fn(assistant)
        b = papers.browser
        demo.load(refresh_fn(assistant), None, [papers.stats, search.source, header], api_visibility="private")
        demo.load(lambda: browse("", 1), None, [b.table, b.count, b.page, b.shown], api_visibility="private")
        wire_api(assistant)
    return demo


# ---- chat tab -----------------------------------------------------------------------------------------------
def build_chat_tab() -> ChatTab:
    """The conversation beside the sources panel of the latest answer (layout only; see `wire_chat`)."""
    with gr.Tab("Chat", id="chat"), gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=420):
            chatbot = gr.Chatbot(
                label="Conversation",
                show_label=False,  # Gradio floats the label over the first message once the chat scrolls
                elem_id="rag-chat",
                height="68vh",
                render_markdown=False,  # our own escaped HTML; markdown would re-interpret paper text
                sanitize_html=True,
                allow_tags=False,
                latex_delimiters=[],  # math is marked up by ui.latex and typeset once, by the page's KaTeX
                feedback_options=None,
                buttons=[],  # Gradio's copy takes the message's HTML; each answer has a Markdown Copy button
                examples=[{"text": q} for q in EXAMPLES],
                placeholder="**Ask about the papers in the collection.** Answers cite their sources.",
            )
            with gr.Row():
                question = gr.Textbox(
                    label="Question",
                    placeholder="Ask a question, or a follow-up…",
                    show_label=False,
                    scale=8,
                    lines=1,
                    max_lines=6,
                    autofocus=True,
                    elem_id="rag-question",
                )
                send = gr.Button("Ask", variant="primary", scale=1, min_width=80, elem_id="rag-send")
                clear = gr.Button("Clear", scale=1, min_width=80, elem_id="rag-clear")
            with gr.Row():
                export = gr.DownloadButton(
                    "Export conversation (Markdown + BibTeX)",
                    value=None,
                    interactive=False,
                    size="sm",
                    variant="secondary",
                    scale=0,
                    min_width=300,
                    elem_id="rag-export",
                )
        with gr.Column(scale=2, min_width=340):
            sources = gr.HTML(cards.sources_html(None), elem_id="rag-sources", js_on_load=None)
    return ChatTab(chatbot=chatbot, question=question, send=send, clear=clear, export=export, sources=sources)


def write_export(directory: Path, session: str, turns: list[Turn]) -> str:
    """The conversation as a Markdown file for the export button, one file per session, rewritten each turn."""
    folder = directory / "".join(c for c in session if c.isalnum())[:64]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "paper-qa-conversation.md"
    path.write_text(conversation_markdown(turns), encoding="utf-8")
    return str(path)


def respond_fn(views: SessionViews, exports: Path) -> Callable[..., Iterator[tuple[Any, ...]]]:
    """The chat handler: streams the answer into the conversation, then shows its source cards and makes the
    conversation downloadable."""

    def respond(
        question: str,
        turns: list[Turn],
        k: float,
        generator: str,
        endpoint: dict[str, Any] | None = None,
        request: gr.Request | None = None,
    ) -> Iterator[tuple[Any, ...]]:
        question = readable(question or "").strip()
        if not question:
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        assistant = views.get(endpoint)
        history = history_of(turns)
        turns = [*turns, {"question": question, "answer": None, "partial": "", "error": None}]
        current = turns[-1]
        yield "", chat_messages(turns), sources_of(turns, pending=True), turns, gr.skip()
        try:
            for piece in assistant.stream(question, history, **answer_options(k, generator)):
                if isinstance(piece, str):
                    current["partial"] += piece
                    yield gr.skip(), chat_messages(turns), gr.skip(), gr.skip(), gr.skip()
                else:
                    current["answer"] = piece.model_dump(mode="json")
        except Exception as exc:  # the user sees one line, not a stack
            log.exception("answering %r failed", question)
            current["error"] = f"Could not answer: {_user_message(exc)}"
        if current["answer"] is None and current["error"] is None:
            current["error"] = "The answering chain ended without an answer."
        session = getattr(request, "session_hash", None) or "api"
        try:
            export: Any = gr.update(value=write_export(exports, session, turns), interactive=True)
        except OSError as exc:  # a full disk costs the download, not the answer
            log.warning("conversation export not written: %s", exc)
            export = gr.skip()
        yield "", chat_messages(turns), sources_of(turns), turns, export

    return respond


def clear_chat() -> tuple[Any, ...]:
    return "", [], cards.sources_html(None), [], gr.update(value=None, interactive=False)


def pick_example(evt: gr.SelectData) -> str:
    value = evt.value
    return value.get("text", "") if isinstance(value, dict) else str(value)


def wire_chat(views: SessionViews, chat: ChatTab, turns: gr.State, options: SettingsTab, exports: Path) -> None:
    """Chat events: Enter (also the public `/chat` endpoint), the Ask button, an example, Clear."""
    chat_io: dict[str, Any] = {
        "fn": respond_fn(views, exports),
        "inputs": [chat.question, turns, options.k, options.generator, options.endpoint],
        "outputs": [chat.question, chat.chatbot, chat.sources, turns, chat.export],
        "show_progress": "hidden",
        "concurrency_id": "answer",
    }
    chat.question.submit(**chat_io, api_name="chat")
    chat.send.click(**chat_io, api_visibility="private")
    chat.chatbot.example_select(pick_example, None, chat.question, api_visibility="private").then(
        **chat_io, api_visibility="private"
    )
    reset = [chat.question, chat.chatbot, chat.sources, turns, chat.export]
    chat.clear.click(clear_chat, None, reset, api_visibility="private", queue=False)
    chat.chatbot.clear(clear_chat, None, reset, api_visibility="private", queue=False)


# ---- search tab ---------------------------------------------------------------------------------------------
def build_search_tab(assistant: Any, stats: dict[str, Any]) -> SearchTab:
    """Retrieval only: a query, how many papers, metadata filters; ranked papers with the query words marked."""
    with gr.Tab("Search", id="search"):
        with gr.Row():
            query = gr.Textbox(placeholder="Search titles and abstracts…", show_label=False, scale=6)
            k = gr.Slider(1, 50, value=assistant.settings.search_k, step=1, label="Papers to show", scale=2)
            button = gr.Button("Search", variant="primary", scale=1, min_width=80)
        with gr.Row():
            source = gr.Dropdown(
                choices=_source_choices(stats), value=ALL_SOURCES, label="Source", allow_custom_value=True
            )
            date = gr.Textbox(label="Date", placeholder="e.g. 2024, 2024-03, 2023..2024 or Mar 11")
            title = gr.Textbox(label="Title contains")
            author = gr.Textbox(label="Author", placeholder="e.g. Jane Doe")
        results = gr.HTML('<div class="src-empty">Retrieval only: ranked papers, no answer.</div>', js_on_load=None)
    tab = SearchTab(
        query=query, k=k, button=button, source=source, date=date, title=title, author=author, results=results
    )
    search_io: dict[str, Any] = {
        "fn": search_fn(assistant),
        "inputs": [query, k, source, date, title, author],
        "outputs": results,
        "api_visibility": "private",
        "concurrency_id": "retrieval",
    }
    query.submit(**search_io)
    button.click(**search_io)
    return tab


def search_fn(assistant: Any) -> Callable[..., str]:
    def search_tab(query: str, k: float, source: str | None, date: str, title: str, author: str = "") -> str:
        query = readable(query or "").strip()
        if not query:
            return '<div class="src-empty">Type a query to search the collection.</div>'
        try:
            hits = assistant.search(
                query,
                k=int(k),
                source=None if source in (None, "", ALL_SOURCES) else source,
                date=(date or "").strip() or None,
                title_contains=(title or "").strip() or None,
                author=(author or "").strip() or None,
            )
        except Exception as exc:
            log.exception("search %r failed", query)
            return f'<div class="rag-status error">Search failed: {render.esc(_user_message(exc))}</div>'
        why: list[str] = []
        if not hits and ((author or "").strip() or (date or "").strip()):
            from rag.paper_filters import unmatchable

            papers = assistant.index.papers().values()
            why = unmatchable(papers, author=(author or "").strip() or None, date=(date or "").strip() or None)
        return cards.search_html(query, [h.model_dump(mode="json") for h in hits], why)

    return search_tab


# ---- collection tab -----------------------------------------------------------------------------------------
def build_collection_tab(assistant: Any, stats: dict[str, Any]) -> CollectionTab:
    """The papers (browse, open, delete), index statistics, and an upload that is validated before anything is
    written (layout only)."""
    with gr.Tab("Collection", id="collection"):
        browser = collection.build_browser()
        with gr.Row():
            with gr.Column(scale=3):
                stats_view = gr.HTML(render.stats_html(stats), js_on_load=None)
                refresh = gr.Button("Refresh", size="sm")
            with gr.Column(scale=2):
                gr.Markdown(upload_help())
                upload = gr.File(
                    label="Files", file_count="multiple", file_types=UPLOAD_TYPES, type="filepath", elem_id="rag-upload"
                )
                status = gr.HTML("", js_on_load=None, elem_id="rag-upload-status")
                ingest = gr.Button("Add to the index", variant="primary", interactive=False)
    return CollectionTab(
        stats=stats_view, refresh=refresh, upload=upload, status=status, ingest=ingest, browser=browser
    )


def upload_help() -> str:
    """What the upload takes, from the format registry (`ingest.formats.FORMATS`), so it never lags behind what
    `rag ingest` reads."""
    kinds = "\n".join(f"- {f.label}: {' '.join(f'`{e}`' for e in f.extensions)}" for f in FORMATS)
    return (
        f"**Add papers** from any file `rag ingest` reads:\n\n{kinds}\n\nEach record needs a title and an abstract; "
        "authors, a date or year, an arXiv id, a DOI and a link are kept when the file has them. Files are checked "
        "first; nothing is written if any line is malformed."
    )


def refresh_fn(assistant: Any) -> Callable[[], tuple[str, Any, str]]:
    def refresh() -> tuple[str, Any, str]:
        stats = assistant.stats()
        return render.stats_html(stats), gr.update(choices=_source_choices(stats)), _header(stats)

    return refresh


def wire_collection(assistant: Any, tab: CollectionTab, source_filter: gr.Dropdown, header: gr.HTML) -> None:
    """Refresh, validate on upload, ingest, browse and delete; each change updates the stats, the Search tab's
    sources, the header and the list of papers."""
    refresh = refresh_fn(assistant)
    browse = collection.list_fn(assistant)
    b = tab.browser
    listing = [b.table, b.count, b.page, b.shown]

    def validate(files: list[str] | None) -> tuple[str, Any]:
        if not files:
            return "", gr.update(interactive=False)
        message, ok = validate_files(files)
        if not ok:
            discard_uploads(files)  # refused: nothing will read them again
        return message, gr.update(interactive=ok)

    def ingest(files: list[str] | None) -> tuple[str, Any, str, Any, str]:
        message = ingest_files(assistant, files) if files else ""
        discard_uploads(files or [])  # added (the index holds them now) or refused: the upload is done
        stats_view, choices, head = refresh()
        return message, gr.update(interactive=False), stats_view, choices, head

    tab.refresh.click(refresh, None, [tab.stats, source_filter, header], api_visibility="private").then(
        browse, [b.query, b.page], listing, api_visibility="private"
    )
    tab.upload.change(validate, tab.upload, [tab.status, tab.ingest], api_visibility="private")
    tab.ingest.click(
        ingest,
        tab.upload,
        [tab.status, tab.ingest, tab.stats, source_filter, header],
        api_visibility="private",
        concurrency_limit=1,  # one writer at a time; the index also holds a file lock
    ).then(browse, [b.query, b.page], listing, api_visibility="private")
    collection.wire_browser(assistant, b, refresh, [tab.stats, source_filter, header])


# ---- the public API -----------------------------------------------------------------------------------------
def wire_api(assistant: Any) -> None:
    """The named endpoints for gradio_client users: plain JSON in and out."""

    def ask(question: str, history: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """Answer a question with [n] citations; returns the `rag ask --json` object. `history` is the conversation
        so far, `[{"role": "user" | "assistant", "content": str}, ...]`; an assistant entry may carry the papers it
        cited, `"citations": [{"n", "paper_id", "title"}]`, so that "it" or "the second one" can be resolved."""
        question = readable(question or "").strip()
        if not question:
            raise gr.Error("question is empty")
        return assistant.ask(question, history or []).model_dump(mode="json")

    def search(query: str, k: int = 10) -> list[dict[str, Any]]:
        """Ranked papers for a query, best first (retrieval only)."""
        query = readable(query or "").strip()
        if not query:
            raise gr.Error("query is empty")
        return [s.model_dump(mode="json") for s in assistant.search(query, k=int(k))]

    gr.api(ask, api_name="ask", concurrency_id="answer")
    gr.api(search, api_name="search", concurrency_id="retrieval")


def _source_choices(stats: dict[str, Any]) -> list[str]:
    """The sources by their readable labels ("Daily Papers, Mar 11 (dump 0)", "Zotero export (library.csv)"),
    which the source filter matches like file names; the files when the index has no labels."""
    return [ALL_SOURCES, *(stats.get("labels") or stats.get("sources") or {}).keys()]


def _header(stats: dict[str, Any]) -> str:
    n = stats.get("papers", 0)
    return (
        "<h1>Paper QA</h1>"
        f"<p>Ask about {n:,} machine-learning paper abstracts. Every answer cites the papers it comes from; "
        "click a [n] to see the supporting sentences.</p>"
    )


# ---- collection: validate, then ingest ---------------------------------------------------------------------
def _parse_error_line(exc: Exception) -> str:
    """`file.jsonl:3: reason`, naming the upload by its own name rather than the server's temp path."""
    path, line, reason = getattr(exc, "path", None), getattr(exc, "line", None), getattr(exc, "reason", None)
    if path is None or reason is None:
        return _user_message(exc)
    where = Path(path).name + (f":{line}" if line is not None else "")
    return f"{where}: {reason}"


def validate_files(files: list[str]) -> tuple[str, bool]:
    """Parse uploaded files without touching the index (`Assistant.check_files`): (status HTML, whether they can
    be ingested). Records without an abstract are counted, not fatal."""
    from ingest.parsers import ParseError
    from rag.assistant import Assistant

    names = ", ".join(Path(f).name for f in files)
    try:
        check = Assistant.check_files(files)
    except ParseError as exc:
        return _status("error", f"Not added: {_parse_error_line(exc)}"), False
    n = check.papers
    skipped = f"; {counted(len(check.skipped), 'record')} without an abstract will be skipped" if check.skipped else ""
    return _status("info", f"{names}: {counted(n, 'valid paper')}{skipped}. Ready to add."), True


def ingest_files(assistant: Any, files: list[str]) -> str:
    """Ingest uploaded files; a malformed file raises before anything is written, and the message says where."""
    from ingest.parsers import ParseError

    try:
        report = assistant.ingest(files)
    except ParseError as exc:
        return _status("error", f"Not added (nothing was written): {_parse_error_line(exc)}")
    except Exception as exc:
        log.exception("ingest failed")
        return _status("error", f"Ingest failed: {_user_message(exc)}")
    return _status(
        "ok",
        f"Added {report.added}, updated {report.updated}, unchanged {report.unchanged} "
        f"({counted(report.chunks, 'chunk')}, {report.seconds:.1f} s).",
    )


def _status(kind: str, message: str) -> str:
    return f'<div class="rag-status {kind}">{render.esc(message)}</div>'


# ---- serving ------------------------------------------------------------------------------------------------
def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def auth_pair(settings: Any) -> tuple[str, str] | None:
    """RAG_UI_AUTH=user:password as the (user, password) pair Gradio's login takes."""
    if settings.ui_auth is None:
        return None
    user, _, password = settings.ui_auth.get_secret_value().partition(":")
    return user, password


def launch(assistant: Any, **kw: Any) -> gr.Blocks:
    """Build and serve the app with the assistant's UI settings (host, port, login, concurrency).

    Keyword arguments go to `gr.Blocks.launch` and win over the settings; `prevent_thread_lock=True` returns at
    once with the server running (tests, the load test), and `demo.local_url` / `demo.close()` then apply.
    A port of 0 means any free port; a busy port raises `PortInUse` (an OSError) naming it.

    Answering gets `ui_concurrency` slots for its own work plus, with an LLM configured, `llm_concurrency` for
    questions waiting on the backend (the generator's gate never lets more wait), so a slow backend cannot
    starve extractive answers. Failed logins and uploads are limited per client (`ui.guard`); uploads are
    capped at UPLOAD_MAX_MB per file and deleted once handled, or after an hour.
    """
    from starlette.middleware import Middleware

    s = assistant.settings
    demo = create_app(assistant)
    answer_slots = s.ui_concurrency + (s.llm_concurrency if llm_configured(s) else 0)
    demo.queue(default_concurrency_limit=answer_slots, max_size=max(64, 16 * answer_slots))
    demo.delete_cache = demo.delete_cache or UPLOAD_SWEEP
    options: dict[str, Any] = {
        "server_name": s.ui_host,
        "server_port": s.ui_port or free_port(s.ui_host),
        "auth": auth_pair(s),
        "auth_message": "This assistant requires a login.",
        "show_error": True,
        "footer_links": ["api"],
        "max_file_size": f"{UPLOAD_MAX_MB}mb",
        "ssr_mode": False,
        "quiet": False,
        "app_kwargs": {"middleware": [Middleware(ClientGuard)]},
        **launch_style(),
    }
    options.update(kw)
    if options.get("server_port") == 0:
        options["server_port"] = free_port(options["server_name"])
    check_port(options["server_name"], int(options["server_port"]))
    if llm_configured(s) or s.generator == "openai":
        log.warning("%s", s.endpoint_line())
        if s.key_withheld:
            log.warning("%s", s.key_withheld)
    patient_launch_check()
    demo.launch(**options)
    return demo
