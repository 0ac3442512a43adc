"""The Settings tab: per-question options, this session's LLM endpoint (the API key never leaves the server's
environment for an endpoint typed into the page), and the configuration in use, described as the code runs it."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import gradio as gr

from ui import render


def status_html(kind: str, message: str) -> str:
    return f'<div class="rag-status {kind}">{render.esc(message)}</div>'


def llm_configured(settings: Any) -> bool:
    return bool(settings.openai_api_key or settings.llm_base_url)


def generator_choices(settings: Any) -> list[str]:
    """The generator choices: openai only when an endpoint is configured (otherwise it would try api.openai.com)."""
    if llm_configured(settings) or settings.generator == "openai":
        return ["auto", "extractive", "openai"]
    return ["auto", "extractive"]


# ---- the session's LLM endpoint ---------------------------------------------------------------------------
# Where langchain-openai (the `openai` generator) sends requests when no base URL is configured.
DEFAULT_BASE_URL = "https://api.openai.com/v1"


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or (443 if parts.scheme == "https" else 80)


def session_endpoint(base_url: str, model: str, settings: Any) -> tuple[dict[str, Any] | None, str]:
    """Check the Settings tab's endpoint fields: (endpoint, status HTML), endpoint None when they are not usable.

    The endpoint is {"base_url", "model", "send_key"}. The API key stays in the server's environment: it is sent
    only to the endpoint it was configured for (same scheme, host and port), never to one typed into the page,
    where anyone with the page could otherwise have it sent to a server of theirs."""
    base_url, model = (base_url or "").strip(), (model or "").strip() or settings.llm_model
    if not render.safe_url(base_url):
        return None, status_html(
            "error", "Not changed: the base URL must be an http(s) address, e.g. http://127.0.0.1:8080/v1"
        )
    if urlsplit(base_url).username or urlsplit(base_url).password:
        return None, status_html(
            "error", "Not changed: put no credentials in the URL; the key stays in the environment."
        )
    configured = settings.llm_base_url or DEFAULT_BASE_URL
    send_key = bool(settings.openai_api_key) and _origin(base_url) == _origin(configured)
    if send_key:
        key_note = "the API key from the environment is sent to it"
    elif settings.openai_api_key:
        key_note = "it is called without the environment's API key, which goes only to the configured endpoint"
    else:
        key_note = "no API key is set"
    message = f"This session now answers with {render.display_url(base_url)}, model {model}; {key_note}."
    return {"base_url": base_url, "model": model, "send_key": send_key}, status_html("ok", message)


class SessionViews:
    """The app's assistant as each session's endpoint needs it: one view per endpoint (sharing the index and
    its loaded model), kept for reuse, at most `limit` of them."""

    def __init__(self, assistant: Any, limit: int = 16) -> None:
        self.assistant = assistant
        self.limit = limit
        self._views: dict[tuple[str, str, bool], Any] = {}
        self._lock = threading.Lock()

    def get(self, endpoint: dict[str, Any] | None) -> Any:
        if not endpoint:
            return self.assistant
        key = (endpoint["base_url"], endpoint["model"], bool(endpoint.get("send_key")))
        with self._lock:
            view = self._views.pop(key, None)
            if view is None:
                overrides: dict[str, Any] = {"llm_base_url": key[0], "llm_model": key[1]}
                if not key[2]:
                    overrides["openai_api_key"] = None
                view = self.assistant.with_settings(**overrides)
            self._views[key] = view  # most recently used last
            while len(self._views) > self.limit:
                self._views.pop(next(iter(self._views)))
            return view


@dataclass
class SettingsTab:
    k: gr.Slider
    generator: gr.Radio
    base_url: gr.Textbox
    model: gr.Textbox
    apply: gr.Button
    reset: gr.Button
    status: gr.HTML
    config: gr.HTML
    endpoint: gr.State  # this session's LLM endpoint (`session_endpoint`), None for the configured one


# ---- settings tab -------------------------------------------------------------------------------------------
def build_settings_tab(settings: Any) -> SettingsTab:
    """Per-question answering options, this session's LLM endpoint, and the configuration in use (layout only)."""
    with gr.Tab("Settings", id="settings"):
        gr.Markdown("These apply to your next question.")
        with gr.Row():
            k = gr.Slider(
                1,
                20,
                value=settings.k,
                step=1,
                label="Papers to use",
                info="How many of the best-matching papers the answer is written from (lists read more).",
                elem_id="rag-k",
            )
            generator = gr.Radio(
                generator_choices(settings),
                value=settings.generator,
                label="Answer with",
                info=(
                    "extractive: sentences quoted from the papers (offline); openai: an OpenAI-compatible LLM; "
                    "auto: the LLM when one is configured"
                ),
                elem_id="rag-generator",
            )
        gr.Markdown(
            "**LLM endpoint for this session.** Any OpenAI-compatible server (vLLM, llama.cpp, Ollama, OpenAI). "
            "The API key is never shown here: it stays in the server's environment (`OPENAI_API_KEY`) and is "
            "sent only to the endpoint it was configured for."
        )
        with gr.Row():
            base_url = gr.Textbox(
                label="Base URL",
                placeholder="http://127.0.0.1:8080/v1",
                value=render.display_url(settings.llm_base_url) or "",
                scale=4,
                elem_id="rag-llm-url",
            )
            model = gr.Textbox(label="Model", value=settings.llm_model, scale=2, elem_id="rag-llm-model")
            apply = gr.Button("Use for this session", variant="primary", scale=1, elem_id="rag-llm-apply")
            reset = gr.Button("Back to the configured one", scale=1, elem_id="rag-llm-reset")
        status = gr.HTML("", js_on_load=None, elem_id="rag-llm-status")
        config = gr.HTML(render.settings_html(settings.public_dict()), js_on_load=None, elem_id="rag-config")
    return SettingsTab(
        k=k,
        generator=generator,
        base_url=base_url,
        model=model,
        apply=apply,
        reset=reset,
        status=status,
        config=config,
        endpoint=gr.State(None),
    )


def wire_settings(settings: Any, tab: SettingsTab) -> None:
    """Set this session's LLM endpoint (checked; the next answer uses it) or go back to the configured one."""

    def apply(base_url: str, model: str, current: dict[str, Any] | None) -> tuple[Any, ...]:
        endpoint, message = session_endpoint(base_url, model, settings)
        if endpoint is None:
            return current, message, gr.skip(), gr.skip()
        public = settings.with_overrides(llm_base_url=endpoint["base_url"], llm_model=endpoint["model"]).public_dict()
        public["openai_api_key_set"] = endpoint["send_key"]
        radio = gr.update(choices=["auto", "extractive", "openai"], value="openai")
        return endpoint, message, radio, render.settings_html(public, endpoint)

    def reset() -> tuple[Any, ...]:
        radio = gr.update(choices=generator_choices(settings), value=settings.generator)
        url, config = render.display_url(settings.llm_base_url) or "", render.settings_html(settings.public_dict())
        return None, status_html("info", "Back to the configured endpoint."), radio, config, url, settings.llm_model

    outputs = [tab.endpoint, tab.status, tab.generator, tab.config]
    tab.apply.click(apply, [tab.base_url, tab.model, tab.endpoint], outputs, api_visibility="private")
    tab.reset.click(reset, None, [*outputs, tab.base_url, tab.model], api_visibility="private")
