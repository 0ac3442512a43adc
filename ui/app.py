"""The Gradio app: chat with cited answers beside their source cards, search, collection and settings tabs.

`create_app(assistant)` builds the Blocks without starting anything (tests call it directly); `launch()` adds
the queue, the optional login and the styling, then serves it. Every answer goes through `Assistant`; this
module only turns its results into HTML (see `ui.render`).
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from rag.conversation import history_messages
from rag.query import readable
from ui import render
from ui.guard import UPLOAD_MAX_MB, UPLOAD_SWEEP, ClientGuard, check_port, discard_uploads
from ui.style import launch_style

log = logging.getLogger(__name__)

EXAMPLES = [
    "Which papers reduce the memory footprint of 3D Gaussian Splatting?",
    "How do state space models like S4 handle long sequences?",
    "What speed-ups does the Switch Transformer report for pre-training?",
    "Which papers lower the inference latency of spiking neural networks?",
]
UPLOAD_TYPES = [".jsonl", ".ndjson", ".csv", ".txt"]
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
    cards in the sources panel (`render.sources_panel`)."""
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
    return render.sources_panel([(i, t["question"], t.get("answer")) for i, t in enumerate(turns, start=1)], pending)


def llm_configured(settings: Any) -> bool:
    return bool(settings.openai_api_key or settings.llm_base_url)


def generator_choices(settings: Any) -> list[str]:
    """The generator choices: openai only when an endpoint is configured (otherwise it would try api.openai.com)."""
    if llm_configured(settings) or settings.generator == "openai":
        return ["auto", "extractive", "openai"]
    return ["auto", "extractive"]


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
    sources: gr.HTML


@dataclass
class SearchTab:
    query: gr.Textbox
    k: gr.Slider
    button: gr.Button
    source: gr.Dropdown
    date: gr.Textbox
    title: gr.Textbox
    results: gr.HTML


@dataclass
class CollectionTab:
    stats: gr.HTML
    refresh: gr.Button
    upload: gr.File
    status: gr.HTML
    ingest: gr.Button


@dataclass
class SettingsTab:
    k: gr.Slider
    generator: gr.Radio


def create_app(assistant: Any) -> gr.Blocks:
    """Build the UI for `assistant` (an `rag.Assistant`). Nothing is started; call `.launch()` or `launch()`."""
    stats = assistant.stats()
    with gr.Blocks(title="Paper QA", analytics_enabled=False) as demo:
        header = gr.HTML(_header(stats), elem_id="rag-header", js_on_load=None)
        turns = gr.State([])
        with gr.Tabs():
            chat = build_chat_tab()
            search = build_search_tab(assistant, stats)
            collection = build_collection_tab(assistant, stats)
            options = build_settings_tab(assistant.settings)
        # The chat reads the Settings tab's controls and the Collection tab refreshes the Search tab's source
        # list, so these events are wired once every tab exists.
        wire_chat(assistant, chat, turns, options)
        wire_collection(assistant, collection, search.source, header)
        demo.load(refresh_fn(assistant), None, [collection.stats, search.source, header], api_visibility="private")
        wire_api(assistant)
    return demo


# ---- chat tab -----------------------------------------------------------------------------------------------
def build_chat_tab() -> ChatTab:
    """The conversation beside the sources panel of the latest answer (layout only; see `wire_chat`)."""
    with gr.Tab("Chat", id="chat"), gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=420):
            chatbot = gr.Chatbot(
                label="Conversation",
                elem_id="rag-chat",
                height="68vh",
                render_markdown=False,  # our own escaped HTML; markdown would re-interpret paper text
                sanitize_html=True,
                allow_tags=False,
                feedback_options=None,
                buttons=["copy"],
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
        with gr.Column(scale=2, min_width=340):
            sources = gr.HTML(render.sources_html(None), elem_id="rag-sources", js_on_load=None)
    return ChatTab(chatbot=chatbot, question=question, send=send, clear=clear, sources=sources)


def respond_fn(assistant: Any) -> Callable[..., Iterator[tuple[Any, ...]]]:
    """The chat handler: streams the answer into the conversation, then shows its source cards."""

    def respond(question: str, turns: list[Turn], k: float, generator: str) -> Iterator[tuple[Any, ...]]:
        question = readable(question or "").strip()
        if not question:
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        history = history_of(turns)
        turns = [*turns, {"question": question, "answer": None, "partial": "", "error": None}]
        current = turns[-1]
        yield "", chat_messages(turns), sources_of(turns, pending=True), turns
        try:
            for piece in assistant.stream(question, history, **answer_options(k, generator)):
                if isinstance(piece, str):
                    current["partial"] += piece
                    yield gr.skip(), chat_messages(turns), gr.skip(), gr.skip()
                else:
                    current["answer"] = piece.model_dump(mode="json")
        except Exception as exc:  # the user sees one line, not a stack
            log.exception("answering %r failed", question)
            current["error"] = f"Could not answer: {_user_message(exc)}"
        if current["answer"] is None and current["error"] is None:
            current["error"] = "The answering chain ended without an answer."
        yield "", chat_messages(turns), sources_of(turns), turns

    return respond


def clear_chat() -> tuple[Any, ...]:
    return "", [], render.sources_html(None), []


def pick_example(evt: gr.SelectData) -> str:
    value = evt.value
    return value.get("text", "") if isinstance(value, dict) else str(value)


def wire_chat(assistant: Any, chat: ChatTab, turns: gr.State, options: SettingsTab) -> None:
    """Chat events: Enter (also the public `/chat` endpoint), the Ask button, an example, Clear."""
    chat_io: dict[str, Any] = {
        "fn": respond_fn(assistant),
        "inputs": [chat.question, turns, options.k, options.generator],
        "outputs": [chat.question, chat.chatbot, chat.sources, turns],
        "show_progress": "hidden",
        "concurrency_id": "answer",
    }
    chat.question.submit(**chat_io, api_name="chat")
    chat.send.click(**chat_io, api_visibility="private")
    chat.chatbot.example_select(pick_example, None, chat.question, api_visibility="private").then(
        **chat_io, api_visibility="private"
    )
    reset = [chat.question, chat.chatbot, chat.sources, turns]
    chat.clear.click(clear_chat, None, reset, api_visibility="private", queue=False)
    chat.chatbot.clear(clear_chat, None, reset, api_visibility="private", queue=False)


# ---- search tab ---------------------------------------------------------------------------------------------
def build_search_tab(assistant: Any, stats: dict[str, Any]) -> SearchTab:
    """Retrieval only: a query, k and metadata filters, ranked papers with the query words highlighted."""
    with gr.Tab("Search", id="search"):
        with gr.Row():
            query = gr.Textbox(placeholder="Search titles and abstracts…", show_label=False, scale=6)
            k = gr.Slider(1, 50, value=assistant.settings.search_k, step=1, label="k", scale=2)
            button = gr.Button("Search", variant="primary", scale=1, min_width=80)
        with gr.Row():
            source = gr.Dropdown(
                choices=_source_choices(stats), value=ALL_SOURCES, label="Source file", allow_custom_value=True
            )
            date = gr.Textbox(label="Date starts with", placeholder="e.g. Mar 11 or 2024-03")
            title = gr.Textbox(label="Title contains")
        results = gr.HTML('<div class="src-empty">Retrieval only: ranked papers, no answer.</div>', js_on_load=None)
    tab = SearchTab(query=query, k=k, button=button, source=source, date=date, title=title, results=results)
    search_io: dict[str, Any] = {
        "fn": search_fn(assistant),
        "inputs": [query, k, source, date, title],
        "outputs": results,
        "api_visibility": "private",
        "concurrency_id": "retrieval",
    }
    query.submit(**search_io)
    button.click(**search_io)
    return tab


def search_fn(assistant: Any) -> Callable[[str, float, str | None, str, str], str]:
    def search_tab(query: str, k: float, source: str | None, date: str, title: str) -> str:
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
            )
        except Exception as exc:
            log.exception("search %r failed", query)
            return f'<div class="rag-status error">Search failed: {render.esc(_user_message(exc))}</div>'
        return render.search_html(query, [h.model_dump(mode="json") for h in hits])

    return search_tab


# ---- collection tab -----------------------------------------------------------------------------------------
def build_collection_tab(assistant: Any, stats: dict[str, Any]) -> CollectionTab:
    """Index statistics and an upload that is validated before anything is written (layout only)."""
    with gr.Tab("Collection", id="collection"), gr.Row():
        with gr.Column(scale=3):
            stats_view = gr.HTML(render.stats_html(stats), js_on_load=None)
            refresh = gr.Button("Refresh", size="sm")
        with gr.Column(scale=2):
            gr.Markdown(
                "**Add papers.** JSON Lines (`title`, `abstract`, optional `id`, `url`, `date`, `authors`) "
                "or CSV with a `title,abstract` header. Files are checked first; nothing is written if "
                "any line is malformed."
            )
            upload = gr.File(label="Files", file_count="multiple", file_types=UPLOAD_TYPES, type="filepath")
            status = gr.HTML("", js_on_load=None, elem_id="rag-upload-status")
            ingest = gr.Button("Add to the index", variant="primary", interactive=False)
    return CollectionTab(stats=stats_view, refresh=refresh, upload=upload, status=status, ingest=ingest)


def refresh_fn(assistant: Any) -> Callable[[], tuple[str, Any, str]]:
    def refresh() -> tuple[str, Any, str]:
        stats = assistant.stats()
        return render.stats_html(stats), gr.update(choices=_source_choices(stats)), _header(stats)

    return refresh


def wire_collection(assistant: Any, tab: CollectionTab, source_filter: gr.Dropdown, header: gr.HTML) -> None:
    """Refresh, validate on upload, ingest; each updates the stats, the Search tab's sources and the header."""
    refresh = refresh_fn(assistant)

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

    tab.refresh.click(refresh, None, [tab.stats, source_filter, header], api_visibility="private")
    tab.upload.change(validate, tab.upload, [tab.status, tab.ingest], api_visibility="private")
    tab.ingest.click(
        ingest,
        tab.upload,
        [tab.status, tab.ingest, tab.stats, source_filter, header],
        api_visibility="private",
        concurrency_limit=1,  # one writer at a time; the index also holds a file lock
    )


# ---- settings tab -------------------------------------------------------------------------------------------
def build_settings_tab(settings: Any) -> SettingsTab:
    """Per-question answering options (k, generator) and the configuration in use."""
    with gr.Tab("Settings", id="settings"):
        gr.Markdown("These apply to your next question.")
        with gr.Row():
            k = gr.Slider(1, 20, value=settings.k, step=1, label="Papers given to the answerer (k)")
            generator = gr.Radio(
                generator_choices(settings),
                value=settings.generator,
                label="Generator",
                info=None if llm_configured(settings) else "openai: set RAG_LLM_BASE_URL or OPENAI_API_KEY",
            )
        gr.HTML(render.settings_html(settings.public_dict()), js_on_load=None)
    return SettingsTab(k=k, generator=generator)


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
    return [ALL_SOURCES, *stats.get("sources", {}).keys()]


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
    """Parse uploaded files without touching the index: (status HTML, whether they can be ingested)."""
    from ingest.parsers import ParseError, load_papers

    names = ", ".join(Path(f).name for f in files)
    try:
        papers = load_papers(files)
    except ParseError as exc:
        return _status("error", f"Not added: {_parse_error_line(exc)}"), False
    return _status("info", f"{names}: {len(papers)} valid paper{'s' if len(papers) != 1 else ''}. Ready to add."), True


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
        f"({report.chunks} chunks, {report.seconds:.1f} s).",
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
    demo.launch(**options)
    return demo
