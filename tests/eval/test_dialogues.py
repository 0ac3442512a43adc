"""The dialogue evaluation: file checks, scoring (gold references, leaks), the history it passes on, the CLI, and
the `openai` path's condense inputs against the fake server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fake_llm import FakeLLMServer
from quoting_llm import quoting_responder
from typer.testing import CliRunner

from eval.dialogues import Dialogue, load_dialogues, run_dialogues, run_file, score_turn, summarise
from eval.questions import QuestionError
from rag import Assistant, Settings
from rag.cli import app
from rag.types import Answer, Citation, Source

TINY = Path(__file__).resolve().parents[1] / "data" / "tiny.jsonl"
FASTDIFF = "FastDiff: Training-Free Acceleration of Diffusion Sampling"
SKIP = "Step Skipping for Diffusion Models via Cached Attention"
SPEECH = "Sparse Mixture of Experts for Speech Recognition"
MOLGT = "Graph Transformers for Molecular Property Prediction"

DIALOGUES = [
    {
        "id": "d1",
        "kind": "pronoun",
        "turns": [
            {"question": "Tell me about the FastDiff sampler", "gold_titles": [FASTDIFF], "depends": False},
            {"question": "What speedup does it report?", "gold_titles": [FASTDIFF], "depends": True, "key_facts": ["4.2x"]},
            {"question": "Does it need retraining?", "gold_titles": [FASTDIFF], "depends": True},
        ],
    },
    {
        "id": "d2",
        "kind": "ordinal",
        "turns": [
            {"question": "Which papers speed up diffusion sampling?", "gold_titles": [FASTDIFF, SKIP], "depends": False},
            {"question": "what about the second one?", "gold_ref": {"turn": 1, "citation": 2}, "depends": True},
        ],
    },
    {
        "id": "d3",
        "kind": "switch",
        "turns": [
            {"question": "Tell me about the FastDiff sampler", "gold_titles": [FASTDIFF], "depends": False},
            {"question": "Which paper uses a mixture of experts for speech recognition?", "gold_titles": [SPEECH], "depends": False},
        ],
    },
]  # fmt: skip


def write(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def src(rank: int, title: str) -> Source:
    return Source(rank=rank, title=title, paper_id=f"id-{rank}", score=1.0, text="t")


def ans(question: str, cited: list[str], text: str = "x") -> Answer:
    sources = [src(i, t) for i, t in enumerate(cited, 1)]
    citations = [Citation(n=i, title=t, paper_id=f"id-{i}") for i, t in enumerate(cited, 1)]
    return Answer(question=question, answer=text, citations=citations, sources=sources)


# ---- the file ----------------------------------------------------------------------------------------------
def test_a_bad_dialogue_file_names_each_bad_line(tmp_path):
    path = write(
        tmp_path / "d.jsonl",
        [
            DIALOGUES[0],
            "{not json",
            {"id": "x", "kind": "k", "turns": [{"question": "q", "depends": False}, {"question": "q2"}]},
            {
                "id": "y",
                "kind": "k",
                "turns": [{"question": "q", "depends": True, "gold_ref": {"turn": 1, "citation": 1}}],
            },
            DIALOGUES[0],
        ],
    )
    with pytest.raises(QuestionError) as err:
        load_dialogues(path)
    assert err.value.problems == [
        f"{path}:2: invalid JSON (Expecting property name enclosed in double quotes)",
        f"{path}:3: turns.1.depends: Field required",
        f"{path}:4: turn 1: gold_ref points at turn 1, which is not an earlier turn",
        f"{path}:5: duplicate id 'd1'",
    ]


def test_the_committed_dev_set_loads():
    dialogues = load_dialogues(Path(__file__).resolve().parents[2] / "eval" / "questions" / "dialogues-dev.jsonl")
    assert len(dialogues) >= 60 and all(2 <= len(d.turns) <= 3 for d in dialogues)


# ---- scoring -----------------------------------------------------------------------------------------------
def test_a_gold_reference_is_looked_up_in_this_runs_answers():
    d = Dialogue.model_validate(DIALOGUES[1])
    answers = [ans("q1", [FASTDIFF, SKIP]), ans("q2", [SKIP])]
    record = score_turn(d, 1, answers, [[FASTDIFF, SKIP]])
    assert record["gold"] == [SKIP] and record["found"] is True
    missing = score_turn(d, 1, [ans("q1", [FASTDIFF]), ans("q2", [FASTDIFF])], [[FASTDIFF]])
    assert missing["found"] is False and missing["unscorable"] == "turn 1's answer cites no [2]"


def test_a_switch_citing_an_earlier_gold_paper_is_a_leak():
    d = Dialogue.model_validate(DIALOGUES[2])
    leaked = score_turn(d, 1, [ans("q1", [FASTDIFF]), ans("q2", [SPEECH, FASTDIFF])], [[FASTDIFF], [SPEECH]])
    clean = score_turn(d, 1, [ans("q1", [FASTDIFF]), ans("q2", [SPEECH, MOLGT])], [[FASTDIFF], [SPEECH]])
    assert leaked["leaked"] == [FASTDIFF] and clean["leaked"] == []
    metrics = summarise([leaked, clean])
    assert metrics["switch_turns"] == 2 and metrics["switch_leaks"] == 1 and metrics["switch_leak_rate"] == 0.5


class _Scripted:
    """Answers from a table and remembers the history it was given."""

    def __init__(self, answers: dict[str, Answer]) -> None:
        self.answers = answers
        self.histories: list[list[dict]] = []

    def ask(self, question: str, history: list[dict], **_: Any) -> Answer:
        self.histories.append([dict(h) for h in history])
        return self.answers[question]


def test_the_runner_passes_the_history_with_citations_as_the_ui_does():
    d = Dialogue.model_validate(DIALOGUES[0])
    first = ans(d.turns[0].question, [FASTDIFF], "FastDiff is training-free [1].")
    fake = _Scripted({t.question: first if i == 0 else ans(t.question, [FASTDIFF]) for i, t in enumerate(d.turns)})
    records = run_dialogues(fake, [d])
    assert fake.histories[0] == []
    assert fake.histories[1] == [
        {"role": "user", "content": "Tell me about the FastDiff sampler"},
        {
            "role": "assistant",
            "content": "FastDiff is training-free [1].",
            "citations": [{"n": 1, "paper_id": "id-1", "title": FASTDIFF}],
        },
    ]
    assert len(fake.histories[2]) == 4
    assert [r["found"] for r in records] == [None, True, True]


# ---- real runs on the tiny corpus --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_home(tmp_path_factory, embeddings) -> Path:
    home = tmp_path_factory.mktemp("dialogue-tiny") / "index"
    Assistant(Settings(home=home, generator="extractive"), embeddings=embeddings).ingest([TINY])
    return home


def test_rag_eval_dialogues_writes_the_run(tiny_home, tmp_path, monkeypatch):
    monkeypatch.setenv("RAG_HOME", str(tiny_home))
    monkeypatch.setenv("RAG_K", "4")
    path = write(tmp_path / "d.jsonl", DIALOGUES)
    result = CliRunner().invoke(app, ["eval", "dialogues", str(path), "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "run" / "dialogue_metrics.json").read_text())
    assert metrics["dependent_turns"] == 3 and metrics["dependent_found"] == 3 and metrics["switch_leaks"] == 0
    assert metrics["by_kind"]["switch"]["switch_turns"] == 1
    turns = [json.loads(line) for line in (tmp_path / "run" / "dialogue_turns.jsonl").read_text().splitlines()]
    assert turns[1]["about"] == [FASTDIFF] and turns[1]["key_facts_stated"] == 1.0
    assert "| **all** | 3 | 3 (1.0) | 3 | 1 | 0 |" in (tmp_path / "run" / "dialogue_report.md").read_text()


def test_an_unknown_gold_title_stops_the_run_before_it_starts(tiny_home, tmp_path, monkeypatch):
    monkeypatch.setenv("RAG_HOME", str(tiny_home))
    bad = json.loads(json.dumps(DIALOGUES[2]))
    bad["turns"][1]["gold_titles"] = ["A Paper That Is Not There"]
    result = CliRunner().invoke(app, ["eval", "dialogues", str(write(tmp_path / "d.jsonl", [bad]))])
    assert result.exit_code == 1 and "gold title not in the index: 'A Paper That Is Not There'" in result.output


def test_on_the_openai_path_each_condense_prompt_carries_the_previous_citations(tiny_home, tmp_path):
    path = write(tmp_path / "d.jsonl", DIALOGUES)
    with FakeLLMServer(default=quoting_responder) as llm:
        settings = Settings(
            home=tiny_home, generator="openai", llm_base_url=llm.base_url, llm_model="fake-model", llm_retries=0, k=4
        )
        metrics = run_file(path, tmp_path / "run", settings=settings)
        condense_requests = [r for r in llm.chat_requests if "Standalone question:" in json.dumps(r)]
    assert metrics["condense"] == {
        "follow_up_turns": 4,
        "prompts_sent": 4,
        "previous_answer_cited_something": 4,
        "prompts_with_all_previous_citations": 4,
        "rate": 1.0,
    }
    assert len(condense_requests) == 4 and f"[1] {FASTDIFF}" in json.dumps(condense_requests[0])
    assert metrics["switch_leaks"] == 0 and metrics["dependent_found"] == 2  # the stand-in cites only [1]
