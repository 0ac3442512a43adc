"""An optional LLM judge (off by default): scores answer correctness against the reference answer and key facts,
through the same OpenAI-compatible settings as the `openai` generator (llm_base_url, OPENAI_API_KEY, llm_model)."""

from __future__ import annotations

import json
import re
from typing import Any

from prompts import load_prompt
from rag.generators.llm import call_with_retries, describe_error, make_chat_model
from rag.settings import Settings
from rag.untrusted import fence_safe

# A reply wrapped in a Markdown code fence is still the JSON object asked for; anything else is not repaired.
_FENCED = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.S)


class JudgeReplyError(ValueError):
    """The judge's reply was not the JSON object the prompt asks for."""


def parse_verdict(text: str) -> tuple[float, str]:
    """(score in [0, 1], reason) from the judge's reply, or JudgeReplyError."""
    body = text.strip()
    fenced = _FENCED.match(body)
    if fenced:
        body = fenced.group(1)
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise JudgeReplyError(f"the judge did not reply with JSON: {text[:80]!r}") from exc
    if not isinstance(data, dict) or "score" not in data:
        raise JudgeReplyError(f'the judge reply has no "score": {text[:80]!r}')
    score = data["score"]
    if isinstance(score, bool) or not isinstance(score, int | float) or not 0 <= score <= 1:
        raise JudgeReplyError(f"the judge score must be a number from 0 to 1, got {score!r}")
    return float(score), str(data.get("reason", ""))


class LLMJudge:
    """Scores one answer per call. Refusals and questions that should be refused are scored without the LLM:
    the refuse/answer decision is already measured by the refusal metrics."""

    def __init__(self, settings: Settings, chat_model: Any = None) -> None:
        if not (settings.llm_base_url or settings.openai_api_key):
            from eval.runner import EvalSetupError

            raise EvalSetupError("--judge needs an LLM: set RAG_LLM_BASE_URL (and OPENAI_API_KEY if it needs one)")
        self.settings = settings
        self._chat = chat_model

    def _model(self) -> Any:
        if self._chat is None:
            self._chat = make_chat_model(self.settings, max_retries=0)  # retried below, within one time budget
        return self._chat

    def messages(self, question: Any, answer_text: str) -> list[tuple[str, str]]:
        reference = question.answer or ""
        if question.notes:
            reference += f" (What a good answer does: {question.notes})"
        prompt = load_prompt("judge").render(
            question=fence_safe(question.question),
            reference=reference,
            key_facts=list(question.key_facts),
            answer=fence_safe(answer_text),
        )
        return [("human", prompt)]

    def judge(self, question: Any, answer: Any) -> dict[str, Any]:
        """The judge fields of a per-question record: judge_score (None if not judged), judge_reason, judge_error."""
        if question.should_refuse or question.answer is None:
            return {}
        if answer.refused:
            return {"judge_score": 0.0, "judge_reason": "refused an answerable question", "judge_error": None}
        try:
            model, messages = self._model(), self.messages(question, answer.answer)
            reply = call_with_retries(self.settings, lambda timeout: model.invoke(messages, timeout=timeout))
            content = reply.content if isinstance(reply.content, str) else str(reply.content)
            score, reason = parse_verdict(content)
        except JudgeReplyError as exc:
            return {"judge_score": None, "judge_reason": "", "judge_error": str(exc)}
        except Exception as exc:  # a backend failure loses one verdict, not the run
            return {"judge_score": None, "judge_reason": "", "judge_error": describe_error(exc)}
        return {"judge_score": score, "judge_reason": reason, "judge_error": None}
