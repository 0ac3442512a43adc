"""Follow-up resolution without an LLM: which earlier papers a question points at, and the query to retrieve with.

History is the Gradio messages shape `[{"role": "user" | "assistant", "content": str}, ...]`; an assistant entry
may carry `"citations": [{"n": int, "paper_id": str, "title": str}, ...]`, the papers that answer cited.
`FollowUpResolver.resolve(question, history) -> Resolution` looks for, in this order:
brackets ("[2]", "paper 2"), ordinals ("the second one", "the first two", "the last paper"), "the other one",
descriptions ("back to the diagrams paper", "the conformal prediction one"), "both", pronouns ("it", "its",
"they", "this method") and elliptical questions with no topic of their own ("how fast?", "and on ImageNet?").
Pronouns and ellipses point at the focus of the latest answer; every earlier turn is resolved the same way first,
so the focus survives a chain of follow-ups. A question that brings its own topic (words or names found nowhere in
the conversation), asks for papers, or names its own subject ("what is X?") is standalone: nothing is glued on.
Two equally likely referents are both kept and `note` says so, to be shown with the answer.
"""

from rag.conversation.history import Resolution, history_messages, names, parse_citations, parse_history, short_name
from rag.conversation.resolver import FollowUpResolver

__all__ = [
    "FollowUpResolver",
    "Resolution",
    "history_messages",
    "names",
    "parse_citations",
    "parse_history",
    "short_name",
]
