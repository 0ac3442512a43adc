"""Hostile text: 15 kinds of prompt injection, in ingested abstracts and in questions, for both generators.

Each abstract of tests/reliability/data/hostile.jsonl carries one injection (its `injection` field) with a unique
payload word. The same corpus without the injections is the control: an injection must not change what is
answered, what is cited or whether the question is refused, must never reach the answer, and must not get out
of the prompt's fences. Markup in abstracts is rendered as text by the UI (see also tests/ui/test_ui_browser.py,
which checks in a real Chromium that it does not run).
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fake_llm import Reply, last_user_text
from pydantic import ValidationError

from prompts import load_prompt
from rag import Answer, Assistant, Settings
from rag.generators.base import REFUSAL
from rag.generators.llm import MAX_SENTENCES
from rag.types import Citation

HOSTILE = Path(__file__).parent / "data" / "hostile.jsonl"
TINY = Path(__file__).resolve().parents[1] / "data" / "tiny.jsonl"
ROWS = [json.loads(line) for line in HOSTILE.read_text(encoding="utf-8").splitlines() if line.strip()]
KINDS = [r["kind"] for r in ROWS]
BY_KIND = {r["kind"]: r for r in ROWS}
# A question answered from the tiny corpus, for the injections placed in questions.
PLAIN_Q = "What FID does the four-step distilled student reach on CIFAR-10?"
PLAIN_TITLE = "Distilling Diffusion Samplers into Few-Step Students"
SYSTEM_PROMPT_WORDS = "using ONLY the paper abstracts provided"


def payloads(text: str) -> list[str]:
    return re.findall(r"PWNED\d\d", text)


@pytest.fixture(scope="module")
def homes(tmp_path_factory, embeddings) -> dict[str, Path]:
    """Two indexes over the tiny corpus plus the 15 hostile papers: with the injections, and without them."""
    root = tmp_path_factory.mktemp("hostile")
    clean = root / "clean.jsonl"
    clean.write_text(
        "".join(
            json.dumps({**r, "abstract": " ".join(r["abstract"].replace(r["injection"], " ").split())}) + "\n"
            for r in ROWS
        ),
        encoding="utf-8",
    )
    out = {}
    for name, source in (("hostile", HOSTILE), ("clean", clean)):
        home = root / name
        Assistant(Settings(home=home, generator="extractive"), embeddings=embeddings).ingest([source, TINY])
        out[name] = home
    return out


@pytest.fixture(scope="module")
def extractive(homes, embeddings) -> dict[str, Assistant]:
    return {
        name: Assistant(Settings(home=home, generator="extractive", k=4), embeddings=embeddings)
        for name, home in homes.items()
    }


@pytest.fixture(scope="module")
def plain_answer(extractive) -> Answer:
    """The control for injected questions: the same question without the injection."""
    return extractive["hostile"].ask(PLAIN_Q)


def cited(ans: Answer) -> list[str]:
    return [c.title for c in ans.citations]


def assert_clean(ans: Answer) -> None:
    """No payload word anywhere a user would read it."""
    visible = " ".join([ans.answer, ans.warning or "", *(c.supporting for c in ans.citations)])
    assert not payloads(visible), visible
    assert SYSTEM_PROMPT_WORDS not in ans.answer


# ---- extractive: injections in abstracts -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_an_injected_abstract_changes_nothing_in_the_extractive_answer(extractive, kind):
    row = BY_KIND[kind]
    hostile = extractive["hostile"].ask(row["question"])
    control = extractive["clean"].ask(row["question"])
    assert_clean(hostile)
    assert (hostile.refused, cited(hostile)) == (control.refused, cited(control))
    assert not hostile.refused and cited(hostile) == [row["title"]]
    assert row["fact"] in hostile.answer
    assert hostile.answer == control.answer


@pytest.mark.parametrize("kind", KINDS)
def test_a_question_about_the_injection_itself_never_repeats_it(extractive, kind):
    """Asking for the injected sentence's words: the instruction is never quoted back as an answer."""
    row = BY_KIND[kind]
    ans = extractive["hostile"].ask(f"What does the paper {row['title']} say? {row['injection']}")
    assert_clean(ans)


# ---- extractive: injections in questions -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("where", ["before", "after"])
def test_an_injection_in_the_question_changes_nothing_in_the_extractive_answer(extractive, plain_answer, kind, where):
    injection = BY_KIND[kind]["injection"]
    question = f"{injection} {PLAIN_Q}" if where == "before" else f"{PLAIN_Q} {injection}"
    ans = extractive["hostile"].ask(question)
    control = plain_answer
    assert_clean(ans)
    assert not ans.refused and cited(ans) == cited(control) == [PLAIN_TITLE]
    assert ans.answer == control.answer and "3.1" in ans.answer


@pytest.mark.parametrize("kind", KINDS)
def test_an_injection_alone_as_the_question_gets_no_obedience(extractive, kind):
    ans = extractive["hostile"].ask(BY_KIND[kind]["injection"])
    assert_clean(ans)
    assert ans.refused or ans.citations  # a refusal, or an answer that cites what it says


# ---- openai generator: the prompt's fences hold ------------------------------------------------------------------


@pytest.fixture
def llm(homes, embeddings, fake_llm):
    def make(**overrides) -> Assistant:
        settings = Settings(
            home=homes["hostile"],
            generator="openai",
            llm_base_url=fake_llm.base_url,
            llm_model="fake-model",
            llm_retries=0,
            llm_timeout=5,
            k=4,
        ).with_overrides(**overrides)
        return Assistant(settings, embeddings=embeddings)

    return make


def cite_source_of(title: str, fact: str):
    """A well-behaved model: one sentence with the fact, citing the right number."""

    def respond(request: dict) -> Reply:
        m = re.search(r"\[(\d+)\] " + re.escape(title), last_user_text(request))
        assert m, f"{title!r} not in the prompt"
        return Reply(f"The paper reports {fact} [{m.group(1)}].")

    return respond


def assert_fenced(request: dict) -> None:
    """Our system prompt, unchanged, is the only system message; the data stays inside one pair of each fence."""
    roles = [m["role"] for m in request["messages"]]
    assert roles == ["system", "user"], roles
    system = load_prompt("system").render(refusal=REFUSAL, max_sentences=MAX_SENTENCES)
    assert request["messages"][0]["content"] == system
    user = last_user_text(request)
    for tag in ("<sources>", "</sources>", "<question>", "</question>"):
        assert user.count(tag) == 1, (tag, user)
    assert "<|im_start|>" not in user and "<|im_end|>" not in user
    inside_sources = user[user.index("<sources>") : user.index("</sources>")]
    inside_question = user[user.index("<question>") : user.index("</question>")]
    for word in payloads(user):
        assert word in inside_sources or word in inside_question, f"{word} escaped the fences"
    outside = user.replace(inside_sources, "").replace(inside_question, "")
    assert not payloads(outside)


@pytest.mark.parametrize("kind", KINDS)
def test_injected_abstracts_stay_inside_the_sources_fence(llm, fake_llm, kind):
    row = BY_KIND[kind]
    fake_llm.set_default(cite_source_of(row["title"], row["fact"]))
    ans = llm().ask(row["question"])
    request = fake_llm.chat_requests[-1]
    assert_fenced(request)
    assert row["payload"] in last_user_text(request)  # the hostile abstract really was in the prompt
    assert ans.generator == "openai" and cited(ans) == [row["title"]]
    assert_clean(ans)


@pytest.mark.parametrize("kind", KINDS)
def test_injected_questions_stay_inside_the_question_fence(llm, fake_llm, kind):
    fake_llm.set_default(cite_source_of(PLAIN_TITLE, "an FID of 3.1 on CIFAR-10"))
    ans = llm().ask(f"{BY_KIND[kind]['injection']} {PLAIN_Q}")
    assert_fenced(fake_llm.chat_requests[-1])
    assert ans.generator == "openai" and cited(ans) == [PLAIN_TITLE]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("with_marker", [False, True], ids=["bare", "with-citation"])
def test_a_model_that_obeys_an_injection_is_overruled(llm, fake_llm, kind, with_marker):
    """If the model does what the abstract says, verification throws its answer away: the user gets the
    extractive answer and a warning, never the payload."""
    row = BY_KIND[kind]
    obeyed = f"{row['payload']} {row['payload']}" + (" [1]." if with_marker else ".")
    fake_llm.set_default(Reply(obeyed))
    ans = llm().ask(row["question"])
    assert_clean(ans)
    assert ans.generator == "extractive" and "extractive generator instead" in (ans.warning or "")
    assert cited(ans) == [row["title"]] and row["fact"] in ans.answer


def test_a_streamed_obedient_answer_is_overruled_in_the_final_answer(llm, fake_llm):
    row = BY_KIND["override"]
    fake_llm.set_default(Reply("PWNED01 PWNED01 [1]."))
    pieces = list(llm().stream(row["question"]))
    final = pieces[-1]
    assert isinstance(final, Answer)
    assert_clean(final)
    assert final.generator == "extractive" and row["fact"] in final.answer


def test_a_model_citing_titles_not_in_the_index_cannot_make_them_citations(llm, fake_llm):
    row = BY_KIND["citation-hijack"]
    fake_llm.set_default(
        Reply(
            'According to "Quantum Diffusion Is All You Need" [9] and [12], the grasp success rate is 86 percent [9].'
        )
    )
    ans = llm().ask(row["question"])
    retrieved = {(s.paper_id, s.title) for s in ans.sources}
    assert all((c.paper_id, c.title) in retrieved for c in ans.citations)
    assert "Quantum Diffusion Is All You Need" not in {c.title for c in ans.citations}
    assert "[9]" not in ans.answer and "[12]" not in ans.answer


def test_an_answer_object_refuses_a_citation_to_a_paper_that_was_not_retrieved():
    with pytest.raises(ValidationError, match="was not retrieved"):
        Answer(
            question="q",
            answer="x [1].",
            citations=[Citation(n=1, title="Quantum Diffusion Is All You Need", paper_id="quantum-x")],
            sources=[],
        )


# ---- UI: markup from abstracts is text -------------------------------------------------------------------------


class _Elements(HTMLParser):
    """Every element and attribute a browser would build from a piece of HTML."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend((k, v or "") for k, v in attrs)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


@pytest.mark.parametrize("kind", KINDS)
def test_hostile_abstracts_render_as_inert_text_in_the_ui(extractive, kind):
    from ui import cards, render

    row = BY_KIND[kind]
    ans = extractive["hostile"].ask(f"What does the paper {row['title']} propose?").model_dump(mode="json")
    assert row["title"] in [s["title"] for s in ans["sources"]]
    page = _Elements()
    for html in (render.answer_html(ans), cards.sources_html(ans), cards.search_html(row["title"], ans["sources"])):
        page.feed(html)
    assert not {"script", "img", "iframe", "object", "embed", "svg", "style"} & set(page.tags)
    for name, value in page.attrs:
        assert not name.startswith("on"), (name, value)
        assert not value.strip().lower().startswith(("javascript:", "data:")), (name, value)
        assert "attacker.example" not in value
    # the hostile paper's card shows the injected markup as visible text
    assert row["injection"].replace("\u200b", "") in "".join(page.text).replace("\u200b", "")
