"""Prompt templates as package data (YAML), rendered with Jinja2 and StrictUndefined: a missing variable is an error."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import jinja2
import yaml

_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=False)


class PromptError(KeyError):
    """A prompt is missing or was rendered without one of its variables."""


@dataclass(frozen=True)
class Prompt:
    name: str
    template: str
    description: str = ""

    def render(self, **variables: Any) -> str:
        try:
            return _ENV.from_string(self.template).render(**variables).strip()
        except jinja2.UndefinedError as exc:
            raise PromptError(f"prompt {self.name!r}: {exc.message}") from exc


@cache
def load_prompt(name: str) -> Prompt:
    """Load `prompts/<name>.yaml` (keys: `template`, optional `description`)."""
    path = resources.files("prompts") / f"{name}.yaml"
    if not path.is_file():
        raise PromptError(f"no prompt named {name!r}")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return Prompt(name=name, template=data["template"], description=data.get("description", ""))


def available() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files("prompts").iterdir() if p.name.endswith(".yaml"))


__all__ = ["Prompt", "PromptError", "available", "load_prompt"]
