"""One settings object for the whole product: environment (`RAG_` prefix), `.env`, or per-call overrides."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, PrivateAttr, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from rag.redact import install_log_redaction, redact_url, register, url_secrets

__all__ = ["Settings", "redact_url"]

# Offline by construction: no hub look-ups, no telemetry, whatever imports us first.
for _key, _value in {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "ANONYMIZED_TELEMETRY": "False",
    "TOKENIZERS_PARALLELISM": "false",
    "TRANSFORMERS_VERBOSITY": "error",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
}.items():
    os.environ.setdefault(_key, _value)
install_log_redaction()  # no log record of this process carries a configured secret
KEY_VARIABLES = ("OPENAI_API_KEY", "RAG_OPENAI_API_KEY")


def default_model_cache() -> Path:
    """Where derived model files go (the onnxruntime copy of the embedding model, file digests): RAG_MODEL_CACHE,
    else $XDG_CACHE_HOME/rag, else ~/.cache/rag. Shared by every index on the machine: the files are keyed by
    the model's digest."""
    explicit = os.environ.get("RAG_MODEL_CACHE", "").strip()
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "rag"


def _default_home() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "rag"


class Settings(BaseSettings):
    """Everything configurable. Every answer and eval run records `public_dict()` of the settings that made it."""

    model_config = SettingsConfigDict(
        env_prefix="RAG_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
        hide_input_in_errors=True,  # a validation error must never echo the API key back
    )

    # Index
    home: Path = Field(
        default_factory=_default_home, description="Directory holding the index (Chroma, BM25, manifest)"
    )
    chroma_url: str | None = Field(
        None, description="http://host:port of a `chroma run` server; local files when unset"
    )
    collection: str = Field("papers", min_length=3, max_length=512)
    embedding_model: str = Field(
        "all-MiniLM-L6-v2",
        description="'all-MiniLM-L6-v2' (bundled), a sentence-transformers model directory, or 'openai:<model>'",
    )
    embed_batch_size: int = Field(64, ge=1, le=4096)
    model_cache: Path = Field(
        default_factory=default_model_cache,
        description="Directory for derived model files (the embedding model's onnxruntime copy), keyed by digest",
    )
    sentence_vectors_at_ingest: bool = Field(
        True,
        description="embed every abstract sentence at ingest into the model cache, so that extractive answers "
        "read their sentence vectors instead of computing them (about 9 sentences per paper)",
    )
    chunk_tokens: int = Field(200, ge=32, le=8192)
    chunk_overlap: int = Field(40, ge=0, le=4096)

    # Retrieval
    retriever: Literal["hybrid", "dense", "bm25"] = "hybrid"
    k: int = Field(5, ge=1, le=100, description="papers handed to the answerer")
    search_k: int = Field(10, ge=1, le=1000, description="papers returned by search")
    candidates: int = Field(50, ge=1, le=5000, description="chunks fetched from each retriever before fusion")
    fusion: Literal["convex", "rrf"] = Field(
        "convex",
        description="how hybrid search fuses dense and BM25: normalised-score combination or reciprocal rank fusion",
    )
    alpha: float = Field(0.3, ge=0, le=1, description="dense weight in convex fusion (BM25 gets 1 - alpha)")
    rrf_k: int = Field(60, ge=1, description="reciprocal rank fusion constant")

    # Answering
    generator: Literal["auto", "extractive", "openai"] = "auto"
    llm_model: str = "gpt-4o-mini"
    llm_base_url: str | None = None
    openai_api_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("OPENAI_API_KEY", "RAG_OPENAI_API_KEY", "openai_api_key")
    )
    llm_timeout: float = Field(
        30.0,
        gt=0,
        description="seconds per LLM request; a question's LLM work (condense, answer, retries, stream) gets "
        "llm_timeout x (llm_retries + 1) in all, wall clock",
    )
    llm_retries: int = Field(2, ge=0, le=10)
    llm_concurrency: int = Field(
        16,
        ge=1,
        le=256,
        description="LLM requests in flight at once per assistant; further questions get the extractive answer "
        "at once, with a warning (so a slow backend cannot hold every UI answer slot)",
    )
    llm_temperature: float = Field(0.0, ge=0, le=2)
    llm_max_tokens: int = Field(512, ge=16)
    max_question_tokens: int = Field(512, ge=16, description="longer questions are cut to this many tokens")

    # UI
    ui_host: str = "127.0.0.1"
    ui_port: int = Field(7860, ge=0, le=65535)
    ui_auth: SecretStr | None = Field(None, description="user:password to require a login")
    ui_concurrency: int = Field(4, ge=1, le=64)

    # Why the API key is not sent to `llm_base_url` (a `.env` redirected it), or None; see `_guard_key`.
    _key_withheld: str | None = PrivateAttr(None)

    def __init__(self, **values: Any) -> None:
        super().__init__(**values)
        self._key_withheld = self._guard_key(values)

    @field_validator("chroma_url", "llm_base_url", mode="before")
    @classmethod
    def _empty_is_none(cls, v: Any) -> Any:
        return None if isinstance(v, str) and not v.strip() else v

    @field_validator("home")
    @classmethod
    def _home_is_a_directory(cls, v: Path) -> Path:
        # `RAG_HOME=/some/file` would otherwise fail deep inside SQLite or Chroma with a traceback.
        path = Path(v).expanduser()
        if path.exists() and not path.is_dir():
            raise ValueError(f"RAG_HOME {path} is a file, not a directory: point it at a directory for the index")
        return v

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.chunk_overlap >= self.chunk_tokens:
            raise ValueError("chunk_overlap must be smaller than chunk_tokens")
        if self.ui_auth is not None and ":" not in self.ui_auth.get_secret_value():
            raise ValueError("RAG_UI_AUTH must look like user:password")
        # Every secret this process knows is masked in whatever it prints or logs (rag.redact).
        secrets = [f.get_secret_value() for f in self._secret_fields().values() if f is not None]
        auth = self.ui_auth.get_secret_value().partition(":") if self.ui_auth else ("", "", "")
        register([*secrets, auth[2], *url_secrets(self.llm_base_url), *url_secrets(self.chroma_url)])
        return self

    def _secret_fields(self) -> dict[str, SecretStr | None]:
        return {name: getattr(self, name) for name, f in type(self).model_fields.items() if _is_secret(f.annotation)}

    def _guard_key(self, explicit: dict[str, Any]) -> str | None:
        """A `.env` in the working directory may set `RAG_LLM_BASE_URL`; it must not silently send a key that
        came from the real environment to another host. Such a key is withheld from that host, and the reason
        (shown when the assistant starts) says how to allow it. A key the same `.env` holds, or a base URL set
        in the environment or by the caller, is the user's own choice."""
        if self.openai_api_key is None or not self.llm_base_url or "llm_base_url" in explicit:
            return None
        key = self.openai_api_key.get_secret_value()
        if os.environ.get("RAG_LLM_BASE_URL") or key not in {os.environ.get(v) for v in KEY_VARIABLES}:
            return None
        env_file = explicit.get("_env_file", self.model_config.get("env_file"))
        if not env_file or not Path(str(env_file)).is_file():
            return None
        from dotenv import dotenv_values

        in_file = dotenv_values(str(env_file))
        if key in {in_file.get(v) for v in KEY_VARIABLES}:
            return None
        return (
            f"RAG_LLM_BASE_URL in {env_file} points the LLM at {self.llm_host}, but the API key comes from your "
            f"environment: the key is not sent there (set RAG_LLM_BASE_URL in the environment, or put the key in "
            f"{env_file}, if {self.llm_host} should receive it)"
        )

    @property
    def llm_host(self) -> str:
        """The host (and port) that LLM requests, and the API key, go to: `api.openai.com` when no base URL
        is set. Never the user, password or query of the URL."""
        from urllib.parse import urlsplit

        try:
            parts = urlsplit(self.llm_base_url or "https://api.openai.com/v1")
            return (parts.hostname or "?") + (f":{parts.port}" if parts.port else "")
        except ValueError:
            return "an unparseable base URL"

    @property
    def key_withheld(self) -> str | None:
        """Why the API key is not sent to the LLM endpoint (see `_guard_key`), or None."""
        return self._key_withheld

    def llm_api_key(self) -> str | None:
        """The API key to send to `llm_host`: None when there is none, or when it is withheld."""
        if self.openai_api_key is None or self._key_withheld:
            return None
        return self.openai_api_key.get_secret_value()

    def endpoint_line(self) -> str:
        """One line for the start of a session that answers with the LLM: where requests (and the key) go."""
        key = "no API key" if self.openai_api_key is None else "API key withheld" if self._key_withheld else "API key"
        return f"LLM endpoint: {self.llm_host} (model {self.llm_model}, {key})"

    def with_overrides(self, **overrides: Any) -> Settings:
        """A copy with some fields changed, validated like the original (None values are ignored)."""
        data = self.model_dump()
        data.update({k: v for k, v in overrides.items() if v is not None})
        copy = type(self).model_validate(data)
        if "llm_base_url" not in overrides or overrides["llm_base_url"] is None:
            copy._key_withheld = self._key_withheld
        return copy

    @property
    def resolved_generator(self) -> Literal["extractive", "openai"]:
        if self.generator != "auto":
            return self.generator
        return "openai" if (self.openai_api_key or self.llm_base_url) else "extractive"

    def public_dict(self) -> dict[str, Any]:
        """Settings safe to print, log or record: secrets are never included."""
        secret = self._secret_fields()
        data = self.model_dump(mode="json", exclude=set(secret))
        for key in ("chroma_url", "llm_base_url"):
            data[key] = redact_url(data[key])
        for name, value in secret.items():
            data[f"{name}_set"] = value is not None
        data["openai_api_key_set"] = self.openai_api_key is not None  # the name eval reports already read
        data["resolved_generator"] = self.resolved_generator
        data["llm_host"] = self.llm_host
        data["llm_key_withheld"] = self._key_withheld is not None
        return data


def _is_secret(annotation: Any) -> bool:
    """A `SecretStr` field, alone or in a union (`SecretStr | None`)."""
    from typing import get_args

    return annotation is SecretStr or any(_is_secret(a) for a in get_args(annotation))
