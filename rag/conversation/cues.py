"""The words and patterns follow-ups are recognised by: referring expressions, questions that bring their own
topic, and the stemmed word sets everything is matched with (the BM25 tokenizer's, so "LLMs" meets "LLM")."""

from __future__ import annotations

import re

from rag.text import TOKEN as _TOKEN
from rag.text import tokenize

PLURAL_ACRONYM = re.compile(r"\b([A-Z]{2,}[0-9]*)s\b")  # "LLMs" and "LLM" are the same word here


def terms_of(text: str) -> list[frozenset[str]]:
    """One stem set per word ("CIFAR-10" -> {cifar-10, cifar, 10}); stop words give nothing."""
    text = PLURAL_ACRONYM.sub(r"\1", text).lower()
    return [s for tok in _TOKEN.findall(text) if (s := frozenset(tokenize(tok)))]


def stems_of(*texts: str) -> set[str]:
    return {s for t in terms_of(" ".join(texts)) for s in t}


# Words that ask about an aspect of a paper rather than name a topic ("how fast?", "which datasets?").
GENERIC = stems_of(
    "what which who how why when where whats tell explain describe give list name mention more detail details s "
    "please ok okay thanks quick question new different anything something one ones kind kinds type types "
    "paper papers work works study studies method methods approach approaches model models technique result results "
    "dataset datasets data benchmark benchmarks task tasks experiment experiments evaluate evaluated evaluation "
    "accuracy score scores performance perform improve improvement better best faster fast speed speedup "
    "memory size sizes big bigger large small scale number many much time long cost train trained training "
    "inference compare comparison differ difference versus vs baseline baselines sota state art outperform "
    "beat gain reach get got achieve report claim find found main key idea contribution problem limitation "
    "does do did is are was were can could would should make made need able help relate relation handle "
    "introduce exactly actually really even top metric metrics parameter layer version total overall level "
    "back going return returning again thing stuff similar same like whole "
    "energy power latency throughput robust robustness efficient efficiency code license hardware gpu gpus runtime "
    "compute flops generalize generalization scalable scalability quality error errors rate loss budget sample "
    "samples step steps epoch epochs iteration iterations depth width resolution input output setting settings"
)
LEAD = re.compile(r"^\s*(?:ok(?:ay)?|so|and|also|but|then|well|hmm+|quick q(?:uestion)?)?[\s,:-]*", re.I)
# Asking for further papers on the last topic: "any other papers on that?", "more like these", "what else?".
MORE = re.compile(
    r"\b(?:any|some|other|more|further|additional)\s+(?:[\w-]+\s+)?(?:papers|works|studies|articles|ones)\b"
    r"|\b(?:what|anything|anyone|who)\s+else\b|\bmore\s+like\s+(?:this|that|these|those|them|it)\b",
    re.I,
)
CONTINUATION = re.compile(r"^\s*(?:and|also|but|then|what about|how about|same for)\b", re.I)
PAPER_REQUEST = re.compile(
    r"\b(?:which|what|any|some|other|more|find|list)\s+(?:[\w-]+\s+){0,2}(?:papers|works|studies|articles)\b"
    r"|\bpapers?\s+(?:on|about|that|which|using|for|with|in)\b|\b(?:is there|are there|anything|any work|any paper)\b"
    r"|\b(?:one|something|another)\s+(?:about|on)\b|\bpapers\s*\??\s*$",
    re.I,
)
SUBJECT = re.compile(
    r"^(?:what(?:'s| is| are| do| does)|whats|who is|tell me (?:more )?about|explain|describe|compare|contrast|"
    r"summari[sz]e|how do(?:es)?)\s+(.+)",
    re.I,
)
LISTING = re.compile(
    r"^(?:compare|contrast|what (?:are|do)|tell me (?:more )?about|explain|describe|summari[sz]e|"
    r"how do(?=.*\b(?:differ|compare)))\s+(.+)",
    re.I,
)
ENUMERATION = re.compile(r"\s*(?:,|;|\band\b|\bvs\.?|\bversus\b|\bwith\b|\bor\b)\s*", re.I)
NOUN = (
    r"(?:one|ones|paper|papers|work|method|methods|model|models|approach|study|technique|framework|system|dataset|"
    r"benchmark|architecture|network|algorithm|optimizer|idea|thing|article)"
)
WRAPPER = re.compile(rf"^\s*the\s+|\s+{NOUN}\s*$", re.I)  # "the diagrams paper" -> "diagrams"
ORDINAL_WORDS = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4,
                  "fifth": 5, "5th": 5, "sixth": 6, "6th": 6, "last": -1, "final": -1, "former": 1, "latter": -1}  # fmt: skip
COUNTS = {"two": 2, "three": 3, "four": 4, "2": 2, "3": 3, "4": 4}
BRACKET = re.compile(r"\[(\d{1,2})\]|\b(?:paper|source|reference|citation|ref)\s*#?(\d{1,2})\b", re.I)
ORDINAL = re.compile(
    rf"\b(?:the\s+)?(first|1st|second|2nd|third|3rd|fourth|4th|fifth|5th|sixth|6th|last|final)\s+"
    rf"(?:(two|three|four|2|3|4)\b(?:\s+{NOUN})?|{NOUN})\b(?!\s+(?:to|that|which|who|ever)\b)"
    r"|\bthe\s+(former|latter)\b|\bthe\s+(first|second|third|fourth|fifth|last)(?=\s*[?.!,]|\s*$)",
    re.I,
)
# "the previous paper", "the original one": a paper an earlier turn was about, not one of a list.
EARLIER = re.compile(rf"\bthe\s+(previous|earlier|prior|original|initial)\s+{NOUN}\b|\bthe\s+one\s+before\b", re.I)
OTHER = re.compile(rf"\bthe\s+other\s+{NOUN}\b|\bthe\s+other\b(?=\s*[,?.!]|\s*$)", re.I)
BOTH = re.compile(
    r"\b(?:both of (?:them|these|those)|each of them|either of them|which of them|which one|the two|both)\b"
    r"(?!\s+[\w-]+(?:\s+[\w-]+){0,3}\s+and\b)",
    re.I,
)
BACK_TO = re.compile(
    r"\b(?:back to|returning to|return to|going back to)\s+(?:the\s+)?([^,.;:?!]+?)(?:\s+-\s*|\s*[,.;:!]\s*|(?=\?)|$)",
    re.I,
)
DESCRIBED = re.compile(rf"\bthe\s+((?:[\w+'/-]+\s+){{1,5}}?){NOUN}\b", re.I)
EXPLETIVE = re.compile(
    r"\b(?:is|was|would|will|could|can|isn't)\s+it\s+(?:even\s+|really\s+|actually\s+|still\s+|also\s+)?(?:be\s+)?"
    r"(?:possible|true|feasible|worth|necessary|better|common|hard|easy|useful|helpful|ok|okay|fine|sensible|"
    r"reasonable|practical|realistic|a good idea)\b"
    r"|\b(?:does|do|did|would|will|can)\s+it\s+(?:even\s+|really\s+|actually\s+)?(?:make sense|matter|pay off)\b"
    r"|\bit\s+(?:is|was|seems|would be)\s+(?:possible|true|known|feasible|worth|necessary|said|claimed)\b",
    re.I,
)
SINGULAR = re.compile(
    rf"\b(?:it|its|itself)\b|\b(?:this|that)\s+{NOUN}\b|\bthe\s+(?:paper|model|method|approach|authors|work|"
    rf"study|same\s+\w+)\b(?!\s+(?:on|about|for|with|that|which|in)\b)|\b(?:about|of|on|with|for|from|by|explain|"
    rf"is)\s+(?:this|that)\s*(?=[?.!,]|$)",
    re.I,
)
PLURAL = re.compile(rf"\b(?:they|them|their|theirs|themselves)\b|\b(?:these|those)\s+{NOUN}\b", re.I)
CLAUSE = re.compile(r"\s(?:and|but|so)\s|[,;:?!]|\s-\s")
# Names: two capitals or a digit ("FuXi-RTM", "KAT", "GPT-4o"), or a capitalised word inside a sentence ("Hydra").
NAMED = re.compile(r"\b[\w+-]*(?:[A-Z][\w+-]*[A-Z0-9]|\d)[\w+-]*|(?<=[a-z,;:] )[A-Z][a-z]{2,}\b")


def occurs(term: frozenset[str], stems: set[str]) -> bool:
    """Whether a word occurs in `stems`: itself ("cifar-10"), or all of its parts ("cifar", "10")."""
    whole = max(term, key=len)
    parts = term - {whole}
    return whole in stems or bool(parts and parts <= stems)


def is_new(term: frozenset[str], known: set[str]) -> bool:
    return not occurs(term, known)
