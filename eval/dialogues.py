"""Dialogue evaluation: conversations fed turn by turn through `Assistant.ask(question, history)`.

Each dialogue is one JSON line: `{"id", "kind", "turns": [{"question", "depends", "gold_titles"?, "key_facts"?,
"gold_ref"?: {"turn", "citation"}, "gold_pool"?}], "notes"?}`. `gold_ref` means "the paper the assistant cited as
[citation] in that (1-based) turn" and is looked up in the answers of this run. The history passed on carries each
answer's citations (`rag.conversation.history_messages`, as the UI passes it).

Scores (`summarise`):
- dependent turns (`depends: true`): every gold paper cited (`found`); a gold_ref whose earlier answer has no such
  [n] counts as not found and is listed as `unscorable`. `resolved_to_gold` isolates the resolver: the gold papers
  are among the answer's `about` (the papers the follow-up was resolved to), whatever the answerer then did;
- topic-switch leaks, on later turns with `depends: false`: a cited paper that was gold in an earlier turn of the
  dialogue and is not gold (nor in `gold_pool`) here;
- with an LLM (`condense` records): whether each condense prompt held every title the previous answer cited.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from eval.questions import QuestionError, read_lines
from ingest.records import normalise_title
from rag.conversation import history_messages

PER_TURN = "dialogue_turns.jsonl"
METRICS = "dialogue_metrics.json"
REPORT = "dialogue_report.md"


class GoldRef(BaseModel):
    turn: int = Field(ge=1)
    citation: int = Field(ge=1)


class DialogueTurn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    question: str = Field(min_length=1)
    depends: bool
    gold_titles: list[str] = Field(default_factory=list)
    gold_ref: GoldRef | None = None
    gold_pool: list[str] = Field(default_factory=list)
    key_facts: list[str] = Field(default_factory=list)


class Dialogue(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1)
    kind: str = Field(min_length=1)
    turns: list[DialogueTurn] = Field(min_length=1)
    notes: str | None = None

    @model_validator(mode="after")
    def _refs_point_back(self) -> Dialogue:
        for i, t in enumerate(self.turns, start=1):
            if t.gold_ref and t.gold_ref.turn >= i:
                raise ValueError(f"turn {i}: gold_ref points at turn {t.gold_ref.turn}, which is not an earlier turn")
            if t.gold_ref and t.gold_titles:
                raise ValueError(f"turn {i}: give gold_titles or gold_ref, not both")
        return self


def load_dialogues(path: str | Path) -> list[Dialogue]:
    """Parse a dialogue file; every bad line is reported as `FILE:LINE: problem` in one `QuestionError`."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    problems: list[str] = []
    dialogues: list[Dialogue] = []
    seen: set[str] = set()
    for no, line in enumerate(read_lines(path), start=1):
        if not line.strip():
            continue
        try:
            d = Dialogue.model_validate(json.loads(line))
        except json.JSONDecodeError as exc:
            problems.append(f"{path}:{no}: invalid JSON ({exc.msg})")
            continue
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(x) for x in err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            problems.append(f"{path}:{no}: {where + ': ' if where else ''}{msg}")
            continue
        if d.id in seen:
            problems.append(f"{path}:{no}: duplicate id {d.id!r}")
        seen.add(d.id)
        dialogues.append(d)
    if problems:
        raise QuestionError(problems)
    if not dialogues:
        raise QuestionError([f"{path}: no dialogues"])
    return dialogues


def check_titles(dialogues: Sequence[Dialogue], indexed: Sequence[str], name: str) -> None:
    """Every gold title must be in the index, or the figures would be wrong without anyone noticing."""
    known = {normalise_title(t) for t in indexed}
    missing = [
        f"{name}: {d.id} turn {i}: gold title not in the index: {title!r}"
        for d in dialogues
        for i, t in enumerate(d.turns, start=1)
        for title in [*t.gold_titles, *t.gold_pool]
        if normalise_title(title) not in known
    ]
    if missing:
        raise QuestionError(missing)


def gold_of(turn: DialogueTurn, answers: Sequence[Any]) -> tuple[list[str], str | None]:
    """The gold titles of a turn, looking a gold_ref up in this run's earlier answers; (titles, why unscorable)."""
    if turn.gold_ref is None:
        return list(turn.gold_titles), None
    earlier = answers[turn.gold_ref.turn - 1]
    for c in earlier.citations:
        if c.n == turn.gold_ref.citation:
            return [c.title], None
    return [], f"turn {turn.gold_ref.turn}'s answer cites no [{turn.gold_ref.citation}]"


def score_turn(d: Dialogue, i: int, answers: Sequence[Any], golds: Sequence[list[str]]) -> dict[str, Any]:
    """One turn's record: what was asked and answered, whether its gold was cited, what leaked."""
    turn, answer = d.turns[i], answers[i]
    gold, unscorable = gold_of(turn, answers)
    cited = [c.title for c in answer.citations]
    cited_norm = {normalise_title(t) for t in cited}
    record: dict[str, Any] = {
        "id": d.id,
        "kind": d.kind,
        "turn": i + 1,
        "question": turn.question,
        "depends": turn.depends,
        "gold": gold,
        "answer": answer.answer,
        "citations": [f"[{c.n}] {c.title}" for c in answer.citations],
        "refused": answer.refused,
        "standalone_question": answer.standalone_question,
        "about": [p.title for p in getattr(answer, "about", [])],
        "warning": answer.warning,
        "found": None,
        "leaked": [],
    }
    if turn.depends:
        about = {normalise_title(t) for t in record["about"]}
        record["found"] = bool(gold) and all(normalise_title(g) in cited_norm for g in gold)
        record["resolved_to_gold"] = bool(gold) and all(normalise_title(g) in about for g in gold)
        record["unscorable"] = unscorable
    elif i > 0:
        here = {normalise_title(t) for t in [*gold, *turn.gold_pool]}
        earlier = {normalise_title(t) for g in golds[:i] for t in g} - here
        record["leaked"] = [t for t in cited if normalise_title(t) in earlier]
    if turn.key_facts:
        text = answer.answer.lower()
        record["key_facts_stated"] = sum(f.lower() in text for f in turn.key_facts) / len(turn.key_facts)
    return record


def run_dialogues(
    assistant: Any,
    dialogues: Sequence[Dialogue],
    *,
    options: dict[str, Any] | None = None,
    condense_prompts: Callable[[], list[str]] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[dict[str, Any]]:
    """Ask every dialogue turn by turn; returns one record per turn. `condense_prompts`, when given, returns (and
    forgets) the condense prompts sent to the LLM since its last call, so each turn can check its own."""
    records: list[dict[str, Any]] = []
    for done, d in enumerate(dialogues, start=1):
        history: list[dict[str, Any]] = []
        answers: list[Any] = []
        golds: list[list[str]] = []
        for i, turn in enumerate(d.turns):
            if condense_prompts:
                condense_prompts()
            t0 = time.perf_counter()
            answer = assistant.ask(turn.question, history, **(options or {}))
            latency = (time.perf_counter() - t0) * 1000
            answers.append(answer)
            golds.append(gold_of(turn, answers)[0])
            record = score_turn(d, i, answers, golds)
            record["latency_ms"] = round(latency, 1)
            if condense_prompts and i > 0:
                record["condense"] = condense_check(condense_prompts(), answers[i - 1])
            records.append(record)
            history += history_messages(turn.question, answer)
        if progress:
            progress(done, len(dialogues))
    return records


def condense_check(prompts: list[str], previous: Any) -> dict[str, Any]:
    """Whether the condense prompt of a turn was sent and held every title the previous answer cited."""
    titles = [c.title for c in previous.citations]
    prompt = prompts[-1] if prompts else ""
    return {
        "sent": bool(prompts),
        "previous_cited": len(titles),
        "titles_in_prompt": sum(" ".join(t.split()) in " ".join(prompt.split()) for t in titles),
    }


class RecordingChatModel:
    """Wraps a chat model (`invoke` only) and keeps the condense prompts it is sent, so a dialogue run on the
    `openai` path can check what each follow-up's condense step was given."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self._prompts: list[str] = []
        self._lock = threading.Lock()

    def invoke(self, messages: Any, *args: Any, **kwargs: Any) -> Any:
        text = "\n".join(m[1] if isinstance(m, tuple) else str(getattr(m, "content", m)) for m in messages)
        if "<conversation>" in text and "Standalone question:" in text:
            with self._lock:
                self._prompts.append(text)
        return self.model.invoke(messages, *args, **kwargs)

    def take_condense_prompts(self) -> list[str]:
        with self._lock:
            taken, self._prompts = self._prompts, []
        return taken


def run_file(
    path: str | Path,
    out: str | Path,
    *,
    settings: Any = None,
    generator: str | None = None,
    k: int | None = None,
    kinds: Sequence[str] | None = None,
    limit: int | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """`rag eval dialogues`: load, check the gold titles against the index, run, write, return the metrics."""
    from rag.assistant import Assistant
    from rag.generators.llm import make_chat_model
    from rag.settings import Settings

    dialogues = load_dialogues(path)
    if kinds:
        dialogues = [d for d in dialogues if d.kind in kinds]
    dialogues = dialogues[:limit] if limit else dialogues
    base = (settings or Settings()).with_overrides(generator=generator, k=k)
    recorder = RecordingChatModel(make_chat_model(base, max_retries=0)) if base.resolved_generator == "openai" else None
    assistant = Assistant(base, llm=recorder)
    assistant.index.check_health()
    check_titles(dialogues, [p.title for p in assistant.index.papers().values()], Path(path).name)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(dialogues), desc="dialogues", unit="dialogue", file=sys.stderr, leave=False)
    records = run_dialogues(
        assistant,
        dialogues,
        condense_prompts=recorder.take_condense_prompts if recorder else None,
        progress=(lambda done, total: bar.update(done - bar.n)) if bar else None,
    )
    if bar:
        bar.close()
    metrics = summarise(records)
    metrics["settings"] = base.public_dict()
    write_run(Path(out), records, metrics)
    return metrics


def _rate(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def _scores(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    dependent = [r for r in records if r["depends"]]
    switches = [r for r in records if not r["depends"] and r["turn"] > 1]
    found = sum(bool(r["found"]) for r in dependent)
    leaks = [r for r in switches if r["leaked"]]
    return {
        "dependent_turns": len(dependent),
        "dependent_found": found,
        "dependent_found_rate": _rate(found, len(dependent)),
        "dependent_unscorable": sum(bool(r.get("unscorable")) for r in dependent),
        "dependent_resolved_to_gold": sum(bool(r.get("resolved_to_gold")) for r in dependent),
        "switch_turns": len(switches),
        "switch_leaks": len(leaks),
        "switch_leak_rate": _rate(len(leaks), len(switches)),
    }


def summarise(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Headline figures, the same per dialogue kind, key facts and (LLM runs) condense inputs."""
    facts = [r["key_facts_stated"] for r in records if "key_facts_stated" in r]
    out: dict[str, Any] = {
        "dialogues": len({r["id"] for r in records}),
        "turns": len(records),
        **_scores(records),
        "key_facts_stated": round(sum(facts) / len(facts), 4) if facts else None,
        "by_kind": {k: _scores([r for r in records if r["kind"] == k]) for k in sorted({r["kind"] for r in records})},
    }
    checks = [r["condense"] for r in records if "condense" in r]
    if checks:
        with_citations = [c for c in checks if c["previous_cited"]]
        full = sum(c["titles_in_prompt"] == c["previous_cited"] for c in with_citations)
        out["condense"] = {
            "follow_up_turns": len(checks),
            "prompts_sent": sum(c["sent"] for c in checks),
            "previous_answer_cited_something": len(with_citations),
            "prompts_with_all_previous_citations": full,
            "rate": _rate(full, len(with_citations)),
        }
    return out


def write_run(out: Path, records: Sequence[dict[str, Any]], metrics: dict[str, Any]) -> None:
    """`dialogue_turns.jsonl`, `dialogue_metrics.json` and a short `dialogue_report.md` in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    (out / PER_TURN).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    (out / METRICS).write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    (out / REPORT).write_text(report(records, metrics), encoding="utf-8")


def report(records: Sequence[dict[str, Any]], metrics: dict[str, Any]) -> str:
    lines = [
        "# Dialogue evaluation",
        "",
        f"{metrics['dialogues']} dialogues, {metrics['turns']} turns.",
        "",
        "| kind | dependent turns | gold cited | resolved to gold | switch turns | leaks |",
        "|---|---|---|---|---|---|",
    ]
    for kind, s in [*metrics["by_kind"].items(), ("**all**", metrics)]:
        lines.append(
            f"| {kind} | {s['dependent_turns']} | {s['dependent_found']} ({s['dependent_found_rate']}) "
            f"| {s['dependent_resolved_to_gold']} | {s['switch_turns']} | {s['switch_leaks']} |"
        )
    if metrics.get("condense"):
        c = metrics["condense"]
        lines += ["", f"Condense prompts holding every title the previous answer cited: "
                  f"{c['prompts_with_all_previous_citations']} of {c['previous_answer_cited_something']}."]  # fmt: skip
    misses = [r for r in records if r["found"] is False or r["leaked"]]
    if misses:
        lines += ["", "## Misses and leaks", ""]
        for r in misses:
            what = f"leaked {r['leaked']}" if r["leaked"] else f"gold {r['gold']} not cited"
            why = f" ({r['unscorable']})" if r.get("unscorable") else ""
            lines.append(f"- {r['id']} turn {r['turn']} `{r['question']}`: {what}{why}; cited {r['citations']}")
    return "\n".join(lines) + "\n"
