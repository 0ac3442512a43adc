"""Follow-ups through the whole chain (tiny corpus): history carrying citations, referred papers retrieved first,
topic switches left clean, ambiguity said in the answer, and the `openai` path's condense prompt and fallback."""

from __future__ import annotations

from fake_llm import Reply, Status, last_user_text, messages_text

from ingest.records import paper_id_for
from rag.conversation import history_messages

FASTDIFF = "FastDiff: Training-Free Acceleration of Diffusion Sampling"
SKIP = "Step Skipping for Diffusion Models via Cached Attention"
DISTILL = "Distilling Diffusion Samplers into Few-Step Students"
SPEECH = "Sparse Mixture of Experts for Speech Recognition"


def cited(ans) -> list[str]:
    return [c.title for c in ans.citations]


def turn(assistant, question: str, history: list, **kw):
    ans = assistant.ask(question, history, **kw)
    history += history_messages(question, ans)
    return ans


def test_a_pronoun_chain_stays_on_the_paper_and_retrieves_it_first(tiny_assistant):
    history: list = []
    turn(tiny_assistant, "Tell me about the FastDiff sampler", history)
    for question in ("What speedup does it report?", "Does it need retraining?", "does it work for text-to-image?"):
        ans = turn(tiny_assistant, question, history)
        assert [p.title for p in ans.about] == [FASTDIFF], question
        assert ans.sources[0].title == FASTDIFF  # referred first, even where another abstract matches the words
        assert cited(ans) == [FASTDIFF] and "FastDiff" in ans.standalone_question
    assert {s.title for s in ans.sources} > {FASTDIFF}  # ... then widened with the normal ranking


def test_an_ordinal_and_a_bracket_single_out_a_paper_of_a_listed_answer(tiny_assistant):
    history: list = []
    first = turn(tiny_assistant, "Which papers speed up diffusion sampling?", history)
    assert len(first.citations) >= 2
    second = next(c for c in first.citations if c.n == 2).title
    for question in ("what about the second one?", "does [2] need extra training?"):
        ans = tiny_assistant.ask(question, history)
        assert [p.title for p in ans.about] == [second], question
        assert cited(ans) == [second] and ans.sources[0].title == second


def test_a_topic_switch_is_searched_as_asked_and_cites_nothing_from_before(tiny_assistant):
    history: list = []
    turn(tiny_assistant, "Tell me about the FastDiff sampler", history)
    turn(tiny_assistant, "What speedup does it report?", history)
    ans = tiny_assistant.ask("Which paper uses a mixture of experts for speech recognition?", history)
    assert ans.standalone_question is None and ans.about == []
    assert cited(ans) == [SPEECH]


def test_two_equally_likely_referents_are_said_in_the_answer(tiny_assistant):
    history: list = []
    turn(tiny_assistant, "compare FastDiff and Step Skipping", history)
    ans = tiny_assistant.ask("What speedup does it report?", history)
    assert {p.title for p in ans.about} == {FASTDIFF, SKIP}
    assert ans.warning and "could mean" in ans.warning and "FastDiff" in ans.warning and "Step Skipping" in ans.warning
    both = tiny_assistant.ask("do both of them need retraining?", history)
    assert set(cited(both)) == {FASTDIFF, SKIP} and not both.warning


def test_streaming_a_resolved_follow_up_gives_the_same_answer(tiny_assistant):
    history: list = []
    turn(tiny_assistant, "Tell me about the FastDiff sampler", history)
    pieces = list(tiny_assistant.stream("What speedup does it report?", history))
    streamed, final = "".join(p for p in pieces if isinstance(p, str)), pieces[-1]
    asked = tiny_assistant.ask("What speedup does it report?", history)
    assert final.answer == asked.answer == streamed and final.about == asked.about


def test_a_follow_up_the_referred_paper_cannot_answer_widens(tiny_assistant):
    history: list = []
    turn(tiny_assistant, "Tell me about the FastDiff sampler", history)
    ans = tiny_assistant.ask("and what word error rate does the speech recognition model reach?", history)
    assert "4.8" in ans.answer and SPEECH in cited(ans)


def test_the_condense_prompt_gets_the_previous_answers_citations(llm_assistant, fake_llm):
    def responder(request):
        if "Standalone question:" in messages_text(request):
            return Reply("What does Step Skipping for Diffusion Models via Cached Attention report?")
        text = last_user_text(request)
        n = 1 if "[1] Step Skipping" in text else 2
        return Reply(f"The method skips redundant attention computation in later denoising steps [{n}].")

    fake_llm.set_default(responder)
    history = [
        {"role": "user", "content": "Which papers speed up diffusion sampling?"},
        {
            "role": "assistant",
            "content": "FastDiff reuses features [1]. Step skipping caches attention [2].",
            "citations": [
                {"n": 1, "paper_id": paper_id_for(FASTDIFF), "title": FASTDIFF},
                {"n": 2, "paper_id": paper_id_for(SKIP), "title": SKIP},
            ],
        },
    ]
    ans = llm_assistant().ask("what does the second one report?", history=history)
    condense = next(r for r in fake_llm.chat_requests if "Standalone question:" in messages_text(r))
    prompt = messages_text(condense)
    assert f"[1] {FASTDIFF}" in prompt and f"[2] {SKIP}" in prompt
    assert ans.standalone_question.startswith("What does Step Skipping")
    assert [p.title for p in ans.about] == [SKIP] and ans.sources[0].title == SKIP
    assert cited(ans) == [SKIP] and ans.generator == "openai"


def test_a_failing_condense_call_falls_back_to_the_resolver(llm_assistant, fake_llm):
    fake_llm.script(Status(500))  # the condense call (no retries in this fixture)
    fake_llm.set_default(Reply("The method skips redundant attention computation in later denoising steps [1]."))
    history = [
        {"role": "user", "content": "Which papers speed up diffusion sampling?"},
        {
            "role": "assistant",
            "content": "FastDiff reuses features [1]. Step skipping caches attention [2].",
            "citations": [
                {"n": 1, "paper_id": paper_id_for(FASTDIFF), "title": FASTDIFF},
                {"n": 2, "paper_id": paper_id_for(SKIP), "title": SKIP},
            ],
        },
    ]
    ans = llm_assistant().ask("what does the second one report?", history=history)
    assert ans.standalone_question == f"what does {SKIP} report?"
    assert [p.title for p in ans.about] == [SKIP] and cited(ans) == [SKIP] and ans.generator == "openai"


def test_other_papers_leave_out_what_the_last_answer_cited(tiny_assistant):
    history: list = []
    first = turn(tiny_assistant, "Which papers speed up diffusion sampling?", history)
    assert first.citations
    for question in ("which other papers speed up diffusion sampling?", "any other papers on that?"):
        ans = tiny_assistant.ask(question, history)
        assert not set(cited(ans)) & set(cited(first)), question
        if ans.refused:
            assert "besides those already cited" in ans.answer
