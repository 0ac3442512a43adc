"""Batch evals: question files in, metrics, per-question records and a readable report out.

>>> from eval import run_eval
>>> metrics = run_eval("eval/questions/dev.jsonl", out="runs/dev", retrieval_only=True)
"""

from eval.questions import Question, QuestionError, load_questions
from eval.runner import run_eval

__all__ = ["Question", "QuestionError", "load_questions", "run_eval"]
