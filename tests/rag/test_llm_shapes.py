"""The `openai` generator is told the shape the question asks for (the same intent the extractive composer uses),
against the real local OpenAI-compatible server (tests/fake_llm.py)."""

from __future__ import annotations

import re

from fake_llm import Reply, last_user_text


def numbered_titles(request: dict) -> dict[str, int]:
    return {m.group(2): int(m.group(1)) for m in re.finditer(r"\[(\d+)\] (.+)", last_user_text(request))}


def test_a_list_question_asks_the_model_for_one_bullet_per_paper_and_verifies_each(llm_assistant, fake_llm):
    def bullets(request: dict) -> Reply:
        n = numbered_titles(request)
        fast = next(v for k, v in n.items() if k.startswith("FastDiff"))
        cache = next(v for k, v in n.items() if k.startswith("Step Skipping"))
        return Reply(
            f"- FastDiff: Training-Free Acceleration of Diffusion Sampling [{fast}]: a training-free sampler that "
            f"reuses intermediate features across denoising steps.\n"
            f"- Step Skipping for Diffusion Models via Cached Attention [{cache}]: skips redundant attention "
            f"computation in later denoising steps, with no additional training."
        )

    fake_llm.set_default(bullets)
    ans = llm_assistant().ask("Which papers speed up diffusion sampling without retraining?")
    prompt = last_user_text(fake_llm.chat_requests[-1])
    assert "one bullet per paper" in prompt
    assert ans.intent == "list" and ans.generator == "openai"
    assert [c.n for c in ans.citations] == [1, 2]  # numbered in order of first appearance
    assert ans.answer.splitlines()[0].startswith("- FastDiff") and "[1]" in ans.answer.splitlines()[0]
    assert ans.grounding.supported_fraction == 1.0


def test_a_comparison_asks_for_parallel_points_and_a_figure_question_for_the_figure_first(llm_assistant, fake_llm):
    fake_llm.set_default(Reply("The collection does not answer this question."))
    a = llm_assistant()
    a.ask(
        "Compare FastDiff: Training-Free Acceleration of Diffusion Sampling with Step Skipping for Diffusion Models via Cached Attention"
    )
    assert "parallel bullets, one per paper" in last_user_text(fake_llm.chat_requests[-1])
    a.ask("How much does FastDiff reduce sampling time?")
    assert "Lead with the figure" in last_user_text(fake_llm.chat_requests[-1])
    a.ask("Tell me about FastDiff")
    assert "bullet" not in last_user_text(fake_llm.chat_requests[-1])
