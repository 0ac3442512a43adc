"""`rag ingest`, `rag search` and `rag stats` through typer's CliRunner: output shapes, exit codes, messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ingest import Paper, load_papers
from rag.cli import app

INGEST_KEYS = {"papers", "chunks", "added", "updated", "unchanged", "removed", "seconds", "skipped", "warnings"}
SOURCE_KEYS = {"rank", "title", "paper_id", "score", "text"}
GMM_TITLE = "Gaussian Mixture Convolution Networks"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def on_corpus(monkeypatch, corpus_home, shared_model):
    """Point the CLI at the session's indexed bundled corpus (read-only)."""
    monkeypatch.setenv("RAG_HOME", str(corpus_home))


@pytest.fixture(scope="module")
def sample() -> list[Paper]:
    return load_papers()[:4]


def write_jsonl(path: Path, papers: list[Paper]) -> Path:
    path.write_text("".join(json.dumps({"title": p.title, "abstract": p.abstract}) + "\n" for p in papers))
    return path


def invoke(runner: CliRunner, args: list[str], **kw):
    result = runner.invoke(app, args, catch_exceptions=False, **kw)
    assert "Traceback" not in result.output
    return result


# ---- ingest ----------------------------------------------------------------------------------------------


def test_ingest_json_report_has_exactly_the_contract_keys(runner, tmp_path, sample):
    """Loads the model the way a user's run does (no shared-model shortcut), once."""
    src = write_jsonl(tmp_path / "p.jsonl", sample)
    result = invoke(runner, ["ingest", str(src), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert set(report) == INGEST_KEYS
    assert (report["papers"], report["added"], report["updated"], report["unchanged"], report["removed"]) == (
        4,
        4,
        0,
        0,
        0,
    )
    assert report["chunks"] >= 4
    assert isinstance(report["seconds"], float)


def test_ingest_twice_reports_everything_unchanged(runner, tmp_path, sample, fake_model):
    src = write_jsonl(tmp_path / "p.jsonl", sample)
    invoke(runner, ["ingest", str(src), "--json"])
    report = json.loads(invoke(runner, ["ingest", str(src), "--json"]).stdout)
    assert (report["added"], report["updated"], report["unchanged"]) == (0, 0, 4)


def test_ingest_prints_a_one_line_summary_without_json(runner, tmp_path, sample, fake_model):
    result = invoke(runner, ["ingest", str(write_jsonl(tmp_path / "p.jsonl", sample))])
    assert result.exit_code == 0
    [line] = result.stdout.strip().splitlines()
    assert line.startswith("4 papers, ") and "4 added, 0 updated, 0 unchanged, 0 removed" in line


def test_ingest_prune_and_reset_flags_reach_the_index(runner, tmp_path, sample, fake_model):
    a = write_jsonl(tmp_path / "a.jsonl", sample[:2])
    b = write_jsonl(tmp_path / "b.jsonl", sample[2:])
    invoke(runner, ["ingest", str(a), str(b), "--json"])
    pruned = json.loads(invoke(runner, ["ingest", str(a), "--prune", "--yes", "--json"]).stdout)
    assert (pruned["removed"], pruned["papers"]) == (2, 2)
    reset = json.loads(invoke(runner, ["ingest", str(b), "--reset", "--json"]).stdout)
    assert (reset["added"], reset["papers"], reset["removed"]) == (2, 2, 0)


def test_ingest_of_a_directory_reads_the_supported_files_in_it(runner, tmp_path, sample, fake_model):
    folder = tmp_path / "sources"
    folder.mkdir()
    write_jsonl(folder / "a.jsonl", sample[:2])
    write_jsonl(folder / "b.jsonl", sample[2:])
    report = json.loads(invoke(runner, ["ingest", str(folder), "--json"]).stdout)
    assert report["papers"] == 4


@pytest.mark.parametrize(
    ("name", "text", "line"),
    [
        ("bad.jsonl", '{"title": "T", "abstract": "A long enough abstract for a paper."}\n{"title": \n', 2),
        ("bad.csv", "title,abstract\nT,An abstract that is long enough.,extra\n", 2),
        ("bad.txt", "new\nA Title\nshort\n", 3),
    ],
)
def test_a_malformed_file_exits_1_with_file_and_line_on_stderr_and_no_traceback(runner, tmp_path, name, text, line):
    bad = tmp_path / name
    bad.write_text(text)
    result = invoke(runner, ["ingest", str(bad), "--json"])
    assert result.exit_code == 1
    assert result.stdout == ""
    [message] = result.stderr.strip().splitlines()
    assert message.startswith(f"error: {bad}:{line}: ")
    stats = json.loads(invoke(runner, ["stats", "--json"]).stdout)
    assert stats["papers"] == 0


def test_a_missing_path_exits_1_with_one_line(runner, tmp_path):
    result = invoke(runner, ["ingest", str(tmp_path / "nope.jsonl")])
    assert result.exit_code == 1
    assert result.stderr.strip() == f"error: {tmp_path / 'nope.jsonl'}: no such file or directory"


# ---- search ----------------------------------------------------------------------------------------------


def test_search_json_is_a_ranked_list_of_k_papers(runner, on_corpus):
    result = invoke(runner, ["search", "gaussian mixture convolution", "--k", "3", "--json"])
    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout)
    assert len(hits) == 3
    assert all(set(h) >= SOURCE_KEYS for h in hits)
    assert [h["rank"] for h in hits] == [1, 2, 3]
    assert len({h["paper_id"] for h in hits}) == 3
    assert hits[0]["title"] == GMM_TITLE
    assert hits[0]["text"].startswith("This paper proposes a novel method for deep learning")
    assert all(isinstance(h["score"], float) for h in hits)


def test_search_dash_reads_queries_from_stdin_and_prints_json_lines(runner, on_corpus):
    result = invoke(runner, ["search", "-", "--k", "2"], input="gaussian mixture convolution\n\nspeech synthesis\n")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["query"] for line in lines] == ["gaussian mixture convolution", "speech synthesis"]
    assert all(len(line["results"]) == 2 and set(line["results"][0]) >= SOURCE_KEYS for line in lines)
    assert lines[0]["results"][0]["title"] == GMM_TITLE


def test_search_filters_and_retriever_options_apply(runner, on_corpus):
    hits = json.loads(invoke(runner, ["search", "language models", "--k", "5", "--source", "004_", "--json"]).stdout)
    assert len(hits) == 5
    assert all(any("004_" in s for s in h["sources"]) for h in hits)
    titled = json.loads(invoke(runner, ["search", "networks", "--title", "gaussian mixture conv", "--json"]).stdout)
    assert [h["title"] for h in titled] == [GMM_TITLE]
    dated = json.loads(invoke(runner, ["search", "learning", "--k", "5", "--date", "Jul 17", "--json"]).stdout)
    assert dated and all(h["date"] == "Jul 17" for h in dated)
    bm25 = json.loads(invoke(runner, ["search", "gaussian mixture", "--retriever", "bm25", "--json"]).stdout)
    assert all(h["dense_rank"] is None and h["bm25_rank"] == h["rank"] for h in bm25)


def test_search_prints_numbered_lines_without_json(runner, on_corpus):
    result = invoke(runner, ["search", "gaussian mixture convolution", "--k", "2"])
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].lstrip().startswith("1. " + GMM_TITLE)
    no_match = invoke(runner, ["search", "networks", "--title", "no such title anywhere"])
    assert no_match.stdout.strip() == "no matching papers"


def test_search_lines_say_a_dumps_listing_day_once_and_other_dates_as_they_are(runner, on_corpus):
    line = invoke(runner, ["search", "jointly learned exit and inference dynamic neural network", "--k", "1"]).stdout
    assert line.rstrip().endswith("(score 1.0000; Daily Papers, Mar 11 (dump 0))"), line
    assert line.count("Mar 11") == 1
    from rag.cli import _source_line
    from rag.types import Source

    dated = Source(rank=2, title="T", paper_id="t", score=0.5, text="x", date="2023-10-14", authors=["A", "B"])
    dated.source_labels = ["arXiv (arxiv.jsonl)"]
    assert _source_line(dated) == "  2. T  (score 0.5000; arXiv (arxiv.jsonl); 2023-10-14; A et al.)"


def test_a_search_filtered_on_metadata_the_collection_lacks_says_so(runner, on_corpus):
    by_author = invoke(runner, ["search", "mixture of experts", "--author", "Jane Doe"]).stdout.strip()
    assert by_author == (
        "no matching papers: no paper in this collection records its authors (Daily Papers page dumps give none), "
        "so the author filter matches nothing"
    )
    by_year = invoke(runner, ["search", "mixture of experts", "--date", "2023..2024"]).stdout.strip()
    assert by_year.startswith("no matching papers: no paper in this collection records a year; filter on a listing")


def test_searching_an_empty_index_exits_1_telling_to_run_ingest(runner):
    result = invoke(runner, ["search", "anything", "--json"])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "rag ingest" in result.stderr


def test_searching_with_mismatched_chunk_settings_exits_1_naming_the_fix(runner, monkeypatch, on_corpus):
    monkeypatch.setenv("RAG_CHUNK_TOKENS", "150")
    result = invoke(runner, ["search", "anything"])
    assert result.exit_code == 1
    [message] = result.stderr.strip().splitlines()
    assert "chunk_tokens=200" in message and "rag ingest --reset" in message


def test_an_invalid_setting_exits_1_with_one_line(runner, monkeypatch):
    monkeypatch.setenv("RAG_CHUNK_TOKENS", "not-a-number")
    result = invoke(runner, ["search", "anything"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: invalid setting")


# ---- stats -----------------------------------------------------------------------------------------------


def test_stats_json_describes_the_corpus_index(runner, on_corpus, corpus_home):
    st = json.loads(invoke(runner, ["stats", "--json"]).stdout)
    assert (st["papers"], st["index"], st["embedding_model"]) == (451, str(corpus_home), "all-MiniLM-L6-v2")
    assert st["chunks"] > 451
    assert (st["chunk_tokens"], st["chunk_overlap"]) == (200, 40)
    assert st["sources"] == {
        "000_a9aabe229f134cb9.txt": 58,
        "001_bf2de4deb3b23c5a.txt": 72,
        "002_eaa1cd8e17f6e22e.txt": 89,
        "003_681d261d95f8e320.txt": 191,
        "004_7843a07b3109b710.txt": 84,
    }


def test_stats_prints_readable_lines(runner, on_corpus):
    out = invoke(runner, ["stats"]).stdout
    assert "papers:          451" in out
    assert "Daily Papers (dump 3): 191 papers" in out  # the dump's readable label, not its file's hash
    assert "Daily Papers, Mar 11 (dump 0): 58 papers" in out and ".txt" not in out


def test_stats_on_an_empty_index_reports_zero(runner):
    st = json.loads(invoke(runner, ["stats", "--json"]).stdout)
    assert (st["papers"], st["chunks"]) == (0, 0)


@pytest.mark.parametrize("command", ["ingest", "search", "stats"])
def test_every_index_command_has_help(runner, command):
    result = invoke(runner, [command, "--help"])
    assert result.exit_code == 0
    assert "--json" in result.stdout
