"""A stand-in LLM for dialogue runs on the `openai` path, served by the fake OpenAI-compatible server.

It condenses nothing (the question comes back as asked, so retrieval rests on the follow-up resolver) and answers
with the first sentence of source [1], cited. What such a run measures is the path itself: whether each condense
prompt carried the previous answer's citations, and whether the referred paper reached source [1].

    python tests/eval/quoting_llm.py eval/questions/dialogues-dev.jsonl --out runs/dialogues-dev-openai
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import sys
from pathlib import Path

from ingest.sentences import split_sentences

try:
    from fake_llm import FakeLLMServer, Reply, last_user_text, messages_text
except ImportError:  # run as a script: load tests/fake_llm.py by path (tests/ on sys.path would shadow `ingest`)
    _spec = importlib.util.spec_from_file_location("fake_llm", Path(__file__).resolve().parents[1] / "fake_llm.py")
    _fake = importlib.util.module_from_spec(_spec)
    sys.modules["fake_llm"] = _fake
    _spec.loader.exec_module(_fake)
    FakeLLMServer, Reply, last_user_text, messages_text = (
        _fake.FakeLLMServer,
        _fake.Reply,
        _fake.last_user_text,
        _fake.messages_text,
    )

_QUESTION = re.compile(r"Last user question: (.*)\n")
_FIRST_SOURCE = re.compile(r"\[1\] [^\n]*\n([^\n]+)")


def quoting_responder(request: dict) -> Reply:
    text = messages_text(request)
    if "Standalone question:" in text:
        m = _QUESTION.search(text)
        return Reply(m.group(1) if m else "")
    m = _FIRST_SOURCE.search(last_user_text(request))
    if not m:
        return Reply("The collection does not answer this question.")
    return Reply(split_sentences(m.group(1))[0].rstrip(".") + " [1].")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dialogues", type=Path)
    parser.add_argument("--out", type=Path, default=Path("runs/dialogues-openai"))
    args = parser.parse_args(argv)

    from eval.dialogues import run_file
    from rag.settings import Settings

    with FakeLLMServer(default=quoting_responder) as llm:
        settings = Settings(generator="openai", llm_base_url=llm.base_url, llm_model="fake-model", llm_retries=0)
        metrics = run_file(args.dialogues, args.out, settings=settings, progress=True)
    print(json.dumps({k: v for k, v in metrics.items() if k not in ("settings", "by_kind")}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
