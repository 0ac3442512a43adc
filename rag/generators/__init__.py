"""Answer generators behind one interface and one registry: `extractive` (offline default) and `openai` (any
OpenAI-compatible endpoint). See `rag.generators.registry`."""

from rag.generators.base import REFUSAL, Draft, Generator, is_refusal, refusal_text
from rag.generators.extractive import ExtractiveGenerator
from rag.generators.llm import LLMGenerator

__all__ = ["REFUSAL", "Draft", "ExtractiveGenerator", "Generator", "LLMGenerator", "is_refusal", "refusal_text"]
