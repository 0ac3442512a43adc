"""One settings object for the whole product: environment (`RAG_` prefix), `.env`, or per-call overrides."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

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


def redact_url(url: str | None) -> str | None:
    """Drop `user:password@` from a URL before it is shown or recorded."""
    if not url:
        return url
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


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
    llm_timeout: float = Field(30.0, gt=0, description="seconds per LLM request")
    llm_retries: int = Field(2, ge=0, le=10)
    llm_temperature: float = Field(0.0, ge=0, le=2)
    llm_max_tokens: int = Field(512, ge=16)
    max_question_tokens: int = Field(512, ge=16, description="longer questions are cut to this many tokens")

    # UI
    ui_host: str = "127.0.0.1"
    ui_port: int = Field(7860, ge=0, le=65535)
    ui_auth: SecretStr | None = Field(None, description="user:password to require a login")
    ui_concurrency: int = Field(4, ge=1, le=64)

    @field_validator("chroma_url", "llm_base_url", mode="before")
    @classmethod
    def _empty_is_none(cls, v: Any) -> Any:
        return None if isinstance(v, str) and not v.strip() else v

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.chunk_overlap >= self.chunk_tokens:
            raise ValueError("chunk_overlap must be smaller than chunk_tokens")
        if self.ui_auth is not None and ":" not in self.ui_auth.get_secret_value():
            raise ValueError("RAG_UI_AUTH must look like user:password")
        return self

    def with_overrides(self, **overrides: Any) -> Settings:
        """A copy with some fields changed, validated like the original (None values are ignored)."""
        data = self.model_dump()
        data.update({k: v for k, v in overrides.items() if v is not None})
        return type(self).model_validate(data)

    @property
    def resolved_generator(self) -> Literal["extractive", "openai"]:
        if self.generator != "auto":
            return self.generator
        return "openai" if (self.openai_api_key or self.llm_base_url) else "extractive"

    def public_dict(self) -> dict[str, Any]:
        """Settings safe to print, log or record: secrets are never included."""
        data = self.model_dump(mode="json", exclude={"openai_api_key", "ui_auth"})
        for key in ("chroma_url", "llm_base_url"):
            data[key] = redact_url(data[key])
        data["openai_api_key_set"] = self.openai_api_key is not None
        data["ui_auth_set"] = self.ui_auth is not None
        data["resolved_generator"] = self.resolved_generator
        return data
