"""The `rag` command line: the composition root that serves ingest, search, ask, stats, ui and eval.

Data goes to stdout (`--json` where output is data), progress and errors to stderr; a user error exits 1
with one clear line, never a traceback.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import click
import typer
from typer.core import TyperGroup

from rag.cli_io import (
    _check_out,
    _elsewhere_hint,
    _empty_hint,
    _endpoint,
    _err,
    _out,
    _print_answer,
    _run,
    _source_line,
    _stdin_queries,
)
from rag.settings import Settings
from rag.text import counted
from rag.untrusted import readable


class _EvalGroup(TyperGroup):
    """`rag eval FILE [OPTIONS]` runs an eval (options before or after FILE); `rag eval compare A B` compares.

    A group with its own positional argument would otherwise read `compare` as FILE, and stop reading
    options at FILE (click groups do not intersperse options and arguments).
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] in self.commands:
            super().parse_args(ctx, [])  # the run's own options at their defaults; the subcommand gets the rest
            ctx._protected_args, ctx.args = args[:1], args[1:]
            return ctx.args
        ctx.allow_interspersed_args = True
        return super().parse_args(ctx, args)


app = typer.Typer(
    help="Cited answers over machine-learning paper abstracts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
eval_app = typer.Typer(
    cls=_EvalGroup, help="Evaluate retrieval, citations, grounding and refusals.", invoke_without_command=True
)
app.add_typer(eval_app, name="eval")

T = TypeVar("T")


def _assistant(**overrides: Any) -> Any:
    from rag.assistant import Assistant

    return Assistant(Settings().with_overrides(**overrides))


@contextmanager
def _progress(label: str, unit: str = "chunk") -> Iterator[Callable[[int, int], None]]:
    """A progress callback drawing a bar on stderr; the bar is cleared when the block ends, even by an error, so
    that an error stays one line."""
    from tqdm import tqdm

    bar: dict[str, Any] = {}

    def update(done: int, total: int) -> None:
        if "bar" not in bar:
            bar["bar"] = tqdm(total=total, desc=label, unit=unit, file=sys.stderr, disable=total == 0, leave=False)
        b = bar["bar"]
        b.update(done - b.n)
        if done >= total:
            b.close()

    try:
        yield update
    finally:
        if "bar" in bar:
            bar["bar"].close()


@app.command()
def ingest(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Files or directories (dumps, JSON, CSV, BibTeX, RIS: see the README); default: the corpus"
        ),
    ] = None,
    reset: Annotated[bool, typer.Option("--reset", help="Start over: drop the index first")] = False,
    prune: Annotated[
        bool, typer.Option("--prune", help="Also drop the records of files not given, and the papers only they named")
    ] = False,
    strict: Annotated[bool, typer.Option("--strict", help="A record without an abstract is an error")] = False,
    field_map: Annotated[
        list[str] | None,
        typer.Option("--map", metavar="FIELD=COLUMN", help='e.g. --map abstract="Abstract Note" (repeatable)'),
    ] = None,
    yes: Annotated[
        bool,
        typer.Option("--yes", help="With --prune: remove even a large share of the index, or with unreadable paths"),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
) -> None:
    """Parse sources and add them to the index; unchanged papers are skipped, changed ones replaced. Skipped
    records and identity warnings go to stderr, one line each."""
    from ingest import parse_field_map

    try:
        mapping = parse_field_map(field_map or [])
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--map") from None

    def body() -> None:
        a = _assistant()
        from rag.index.locate import paper_count

        # a first ingest here while the index `make run` built is elsewhere (the manifest only: an ingest also
        # repairs an index whose other parts are damaged, so no health check here)
        if not reset and paper_count(a.settings.home) == 0:
            _elsewhere_hint(a, "ingest", prefix="note: ")
        with _progress("embedding") as progress, _progress("answer sentences", "sentence") as sentences:
            report = a.ingest(
                paths or None,
                prune=prune,
                reset=reset,
                progress=progress,
                strict=strict,
                field_map=mapping,
                sentence_progress=sentences,
                confirm=yes,
            )
        for line in report.notes():
            _err(line)
        data = report.model_dump(exclude={"files", "embedded_chunks"})
        if as_json:
            _out(json.dumps(data))
        else:
            skipped = f", {counted(len(report.skipped), 'record')} skipped" if report.skipped else ""
            _out(
                f"{counted(report.papers, 'paper')}, {counted(report.chunks, 'chunk')} in {a.settings.home}: "
                f"{report.added} added, {report.updated} updated, {report.unchanged} unchanged, "
                f"{report.removed} removed{skipped} ({report.seconds:.2f}s)"
            )

    _run(body)


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="The query; '-' reads one query per line from stdin (JSON Lines out)")],
    k: Annotated[int, typer.Option("--k", "-k", min=1, help="Number of papers")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    retriever: Annotated[str | None, typer.Option(help="hybrid, dense or bm25")] = None,
    source: Annotated[str | None, typer.Option(help="Only papers from a source file or label containing this")] = None,
    date: Annotated[
        str | None, typer.Option(help="Only papers of this date: 2024, 2024-03, 2023..2024, Mar 11")
    ] = None,
    title: Annotated[str | None, typer.Option("--title", help="Only papers whose title contains this")] = None,
    author: Annotated[str | None, typer.Option(help='Only papers with this author ("Jane Doe", "Doe")')] = None,
) -> None:
    """Rank papers for a query (hybrid dense + BM25), one entry per paper."""

    def body() -> None:
        a = _assistant(retriever=retriever)
        if _empty_hint(a, "search"):
            raise typer.Exit(1)
        opts = {"source": source, "date": date, "title_contains": title, "author": author}
        if query == "-":
            for q in _stdin_queries():
                _out(json.dumps({"query": q, "results": [s.model_dump() for s in a.search(q, k=k, **opts)]}))
            return
        results = a.search(readable(query), k=k, **opts)
        if as_json:
            _out(json.dumps([s.model_dump() for s in results]))
            return
        if not results:
            from rag.paper_filters import unmatchable

            why = unmatchable(a.index.papers().values(), author=author, date=date)
            _out("no matching papers" + (f": {'; '.join(why)}" if why else ""))
        for s in results:
            _out(_source_line(s))

    _run(body)


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the answer object as JSON")] = False,
    k: Annotated[int | None, typer.Option("--k", "-k", min=1, help="Papers handed to the answerer")] = None,
    generator: Annotated[str | None, typer.Option(help="auto, extractive or openai")] = None,
    retriever: Annotated[str | None, typer.Option(help="hybrid, dense or bm25")] = None,
) -> None:
    """Answer a question with [n] citations to papers in the collection, or say it does not answer it."""

    def body() -> None:
        a = _assistant(k=k, generator=generator, retriever=retriever)
        if _empty_hint(a, "ask"):
            raise typer.Exit(1)
        _endpoint(a.settings)
        answer = a.ask(readable(question))
        if as_json:
            _out(json.dumps(answer.model_dump(exclude={"settings"})))
            return
        _print_answer(answer)

    _run(body)


@app.command()
def stats(as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False) -> None:
    """Papers, chunks, sources, index location and embedding model."""

    def body() -> None:
        a = _assistant()
        a.index.check_health()
        st = a.stats()
        if not st["papers"]:
            _elsewhere_hint(a, "stats")
        if as_json:
            _out(json.dumps(st))
            return
        _out(f"papers:          {st['papers']}")
        _out(f"chunks:          {st['chunks']}")
        _out(f"index:           {st['index']}")
        _out(f"chroma:          {st['chroma']} (collection {st['collection']})")
        _out(f"embedding model: {st['embedding_model']}")
        _out(f"chunking:        {st['chunk_tokens']} tokens, {st['chunk_overlap']} overlap")
        _out(f"updated:         {st['updated_at'] or 'never'}")
        _out("sources:")  # by their readable labels ("Daily Papers, Mar 11 (dump 0)"); --json also names the files
        for name, n in (st.get("labels") or st["sources"]).items():
            _out(f"  {name}: {counted(n, 'paper')}")

    _run(body)


@app.command()
def ui(
    host: Annotated[str | None, typer.Option(help="Interface to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="Port")] = None,
) -> None:
    """Open the Gradio chat UI."""

    def body() -> None:
        from ui.app import launch
        from ui.guard import check_port

        a = _assistant(ui_host=host, ui_port=port)
        if a.settings.ui_port:  # a busy port fails before anything is loaded or ingested
            check_port(a.settings.ui_host, a.settings.ui_port)
        a.index.check_health()
        if a.index.is_empty():
            if _elsewhere_hint(a, "ui"):  # the index `make run` built is elsewhere: no second copy without asking
                raise typer.Exit(1)
            _err("the index is empty; ingesting the bundled corpus first")
            with _progress("embedding") as progress, _progress("answer sentences", "sentence") as sentences:
                a.ingest(progress=progress, sentence_progress=sentences)
        _err("loading the models ...")
        a.warm()  # before the server says it is running: its first answer must not pay for loading them
        _warm_gradio()
        launch(a)

    _run(body)


def _warm_gradio() -> None:
    """Gradio switches matplotlib's backend around every event (`gradio.utils.MatplotlibBackendMananger`, its
    spelling); the first switch imports matplotlib and pyplot, about 0.8 s the first question would wait for."""
    try:
        from gradio.utils import MatplotlibBackendMananger
    except ImportError:  # another gradio: nothing to warm
        return
    with MatplotlibBackendMananger():
        pass


@eval_app.callback()
def eval_run(
    ctx: typer.Context,
    questions: Annotated[Path | None, typer.Argument(help="Questions, JSON Lines (see eval/README)")] = None,
    out: Annotated[Path, typer.Option(help="Output directory")] = Path("runs/latest"),
    retrieval_only: Annotated[bool, typer.Option("--retrieval-only", help="Skip generation")] = False,
    generator: Annotated[str | None, typer.Option(help="auto, extractive or openai")] = None,
    retriever: Annotated[str | None, typer.Option(help="hybrid, dense or bm25")] = None,
    k: Annotated[int | None, typer.Option("--k", "-k", min=1, help="Papers handed to the answerer")] = None,
    types: Annotated[str | None, typer.Option(help="Only these question types, comma-separated")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N questions")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Skip questions already in per_question.jsonl")] = False,
    judge: Annotated[bool, typer.Option("--judge", help="Also score answers with the LLM judge")] = False,
) -> None:
    """Run an evaluation: `rag eval QUESTIONS.jsonl --out DIR`; `rag eval compare RUN_A RUN_B`;
    `rag eval dialogues DIALOGUES.jsonl --out DIR`."""
    if ctx.invoked_subcommand is not None:
        return
    if questions is None:
        _err("error: give a questions file, e.g. rag eval eval/questions/dev.jsonl")
        raise typer.Exit(2)

    def body() -> None:
        from eval import run_eval

        _check_out(out)
        if not retrieval_only:
            _endpoint(Settings().with_overrides(generator=generator))
        metrics = run_eval(
            questions,
            out=out,
            retrieval_only=retrieval_only,
            generator=generator,
            retriever=retriever,
            k=k,
            types=types.split(",") if types else None,
            limit=limit,
            resume=resume,
            judge=judge,
            progress=True,
        )
        _out(json.dumps({"retrieval": metrics.get("retrieval"), "answers": metrics.get("answers")}, indent=2))
        _err(f"report: {out / 'report.md'}")

    _run(body)


@eval_app.command("dialogues")
def eval_dialogues(
    dialogues: Annotated[Path, typer.Argument(help="Dialogues, JSON Lines (see eval/README)")],
    out: Annotated[Path, typer.Option(help="Output directory")] = Path("runs/dialogues"),
    generator: Annotated[str | None, typer.Option(help="auto, extractive or openai")] = None,
    k: Annotated[int | None, typer.Option("--k", "-k", min=1, help="Papers handed to the answerer")] = None,
    kinds: Annotated[str | None, typer.Option(help="Only these dialogue kinds, comma-separated")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N dialogues")] = None,
) -> None:
    """Feed multi-turn dialogues turn by turn (history with citations) and score follow-ups and topic switches."""

    def body() -> None:
        from eval.dialogues import run_file

        _check_out(out)
        metrics = run_file(
            dialogues,
            out,
            generator=generator,
            k=k,
            kinds=kinds.split(",") if kinds else None,
            limit=limit,
            progress=True,
        )
        _out(json.dumps({key: v for key, v in metrics.items() if key not in ("settings", "by_kind")}, indent=2))
        _err(f"report: {out / 'dialogue_report.md'}")

    _run(body)


@eval_app.command("compare")
def eval_compare(
    run_a: Annotated[Path, typer.Argument(help="Baseline run directory")],
    run_b: Annotated[Path, typer.Argument(help="New run directory")],
) -> None:
    """Print metric deltas between two runs and the questions that flipped."""

    def body() -> None:
        from eval.report import compare_runs

        _out(compare_runs(run_a, run_b))

    _run(body)


def main() -> None:  # pragma: no cover - console script entry
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
