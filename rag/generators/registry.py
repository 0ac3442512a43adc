"""The generator registry: a generator is one module that registers a factory under its name here.

`create(name, assistant, get)` builds one for an assistant; `get` returns another registered generator by name
(the `openai` generator falls back to `extractive`). Adding a generator is its module plus one `@register` line;
the chain, the CLI's `--generator` choices and the settings check read `names()`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rag.assistant import Assistant
    from rag.generators.base import Generator

Factory = Callable[["Assistant", Callable[[str], "Generator"]], "Generator"]
_FACTORIES: dict[str, Factory] = {}


def register(name: str) -> Callable[[Factory], Factory]:
    """Decorator: `@register("extractive")` on a factory `(assistant, get) -> Generator`."""

    def wrap(factory: Factory) -> Factory:
        _FACTORIES[name] = factory
        return factory

    return wrap


def names() -> list[str]:
    """The registered generator names, in registration order."""
    _load()
    return list(_FACTORIES)


def create(name: str, assistant: Assistant, get: Callable[[str], Any]) -> Generator:
    """A new generator `name` for `assistant`; raises KeyError naming the known ones for an unknown name."""
    _load()
    try:
        factory = _FACTORIES[name]
    except KeyError:
        raise KeyError(f"unknown generator {name!r}; known: {', '.join(_FACTORIES)}") from None
    return factory(assistant, get)


def _load() -> None:
    # The built-in generators register themselves when their modules are imported.
    import rag.generators.extractive_factory
    import rag.generators.llm  # noqa: F401
