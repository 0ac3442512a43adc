"""Decontextualisation: an abstract sentence made to stand on its own in an answer, without changing what it says.

Only two kinds of edit are made, and `rag.verify.is_faithful` checks that a rewritten sentence differs from its
verbatim quote by nothing else:
1. Discourse openers that point at text the answer does not show are dropped ("However,", "To address these
   issues,", "Motivated by this finding,", "In this paper,", "Specifically,").
2. References to the authors and their method are resolved: "we" -> "the authors", "our method / approach /
   model / framework" -> the method's name (or "their method"), "this paper / work" -> "the <short title>
   paper", "the proposed method" -> the method's name.
A sentence that still opens with an unresolved "This / These / It / They / Such" is marked `dangling`, so the
composer prefers another sentence (these were the most common complaint about the old answers).
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass

# The openers seen most in the bundled abstracts (counted over their first clauses), in general forms.
_OPENER = re.compile(
    r"^(?:(?:however|moreover|furthermore|additionally|in addition|also|thus|therefore|hence|consequently|"
    r"as a result|to this end|specifically|in particular|particularly|notably|importantly|more importantly|"
    r"finally|lastly|first(?:ly)?|second(?:ly)?|third(?:ly)?|next|then|subsequently|overall|concretely|"
    r"meanwhile|nevertheless|nonetheless|instead|in contrast|conversely|on the other hand|on the one hand|"
    r"surprisingly|interestingly|remarkably|crucially|indeed|besides|further|yet|but|and|so|in practice|"
    r"empirically|experimentally|theoretically|formally|in this way|in this manner|in doing so|as such|"
    r"taken together|at the same time|in parallel|to do so|thereby|here|in this (?:paper|work|study|article|note)|"
    r"in the (?:present|current) (?:paper|work|study)|"
    r"(?:to|in order to) (?:address|tackle|overcome|solve|mitigate|alleviate|remedy|bridge|fill|close|resolve|"
    r"circumvent|avoid|handle|fix) (?:this|these|the|such|both|those|above|aforementioned|two|its|their)\b[^,]{0,60}|"
    r"(?:motivated|inspired|driven|guided) by (?:this|these|the|such|our|those)\b[^,]{0,60}|"
    r"(?:based|building|built) (?:up)?on (?:this|these|the above|such|our|those)\b[^,]{0,60}|"
    r"(?:given|despite|with) (?:this|these|that|such)\b[^,]{0,40}|"
    r"(?:in response to|in light of|because of|due to|against this backdrop|towards? (?:this|these)) ?(?:this|these|that|such|those)?\b[^,]{0,40}|"
    r"to (?:the best of )?our (?:best )?knowledge|to our best knowledge|for (?:example|instance)|"
    r"in (?:this|that) (?:case|setting|regard|context|sense)|as (?:a|an) (?:consequence|alternative)|"
    r"unlike (?:previous|prior|existing) (?:work|works|methods|approaches)),\s+|"
    r"(?:however|moreover|furthermore|thus|hence|therefore|additionally|also|finally|then)\s+(?=we\b))",
    re.I,
)
_METHOD_NOUN = r"(?:method|approach|model|framework|algorithm|technique|system|architecture|scheme|strategy|pipeline|procedure|network|design|formulation|solution|estimator|objective|loss|benchmark|dataset|library|tool)"
_OUR_METHOD = re.compile(
    rf"\b(?:our|the proposed|this proposed|the presented|our proposed|our new|our novel)\s+((?:[\w-]+\s+){{0,2}}?){_METHOD_NOUN}s?\b",
    re.I,
)
_THIS_METHOD = re.compile(rf"^(?:this|the proposed|such an?)\s+(?:new\s+|novel\s+)?{_METHOD_NOUN}\b", re.I)
_THIS_PAPER = re.compile(r"\b(?:this|the present|the current|our) (?:paper|work|study|article|note|manuscript)\b", re.I)
_WE = re.compile(r"\b[Ww]e\b")
_OUR = re.compile(r"\b[Oo]ur\b")
_US = re.compile(r"\bus\b")
_DANGLING = re.compile(
    r"^(?:this|these|that|those|it|its|they|their|them|such|the former|the latter|both|he|she|here)\b(?!\s+(?:paper|work|study|article)\b)",
    re.I,
)


@dataclass
class Rewritten:
    """A sentence for an answer (`text`) and the verbatim abstract sentence it came from (`quote`)."""

    text: str
    quote: str
    dangling: bool = False


def drop_openers(sentence: str) -> str:
    """The sentence without its discourse openers (repeatedly: "However, in this paper, we ..."), re-capitalised."""
    out = sentence.strip()
    for _ in range(3):
        m = _OPENER.match(out)
        if not m or len(out) - m.end() < 20:
            break
        out = out[m.end() :]
    return out[:1].upper() + out[1:] if out else out


def resolve_references(sentence: str, method: str | None, short: str | None) -> str:
    """ "we" -> "the authors", "our method" -> `method` (or "their method"), "this paper" -> "the <short> paper"."""
    text = sentence

    def ours(m: re.Match[str]) -> str:
        # "our method" is the method; "our proposed models" (plural) are its instances: "their proposed models"
        phrase = m.group(0)
        if method and not phrase.endswith("s") and len(phrase.split()) <= 3:
            return method
        return re.sub(r"^[Oo]ur\b", "their", phrase)

    text = _OUR_METHOD.sub(ours, text)
    if method:
        text = _THIS_METHOD.sub(method, text)
    paper = (
        "the paper"
        if not short
        else (f"the {short} paper" if not short.lower().startswith("the ") else f"{short[:1].lower()}{short[1:]} paper")
    )
    text = _THIS_PAPER.sub(paper, text)
    text = _WE.sub(lambda m: "The authors" if m.start() == 0 else "the authors", text)
    # a single author's "I include a notebook" -> "The author includes a notebook"
    text = re.sub(r"^I (\w+)\b", lambda m: f"The author {_third_person(m.group(1))}", text)
    text = _OUR.sub(lambda m: "Their" if m.start() == 0 else "their", text)
    text = _US.sub("them", text)
    return text[:1].upper() + text[1:] if text else text


def _third_person(verb: str) -> str:
    """ "include" -> "includes", "show" -> "shows", "propose" -> "proposes", "study" -> "studies"."""
    if verb.endswith(("s", "sh", "ch", "x", "o")):
        return verb + "es"
    if verb.endswith("y") and verb[-2:-1] not in "aeiou":
        return verb[:-1] + "ies"
    return verb + "s"


# The "×" of "4.5× speedup" was lost when the bundled pages were saved, leaving "4.5times"; shown as "4.5x".
_LOST_TIMES = re.compile(r"(\d)times\b")


# LaTeX left in abstracts, some with the backslashes lost when the pages were saved ("{bf C}ommittee",
# "textbf{Gen}erative", "91\\%").
_LOST_LATEX = re.compile(
    r"\{\\?(?:bf|it|em|tt|rm|sf|sc)\s+([^{}]*)\}|\\?(?:textbf|textit|emph|texttt|textrm|mathrm|mathbf|mathit)\{([^{}]*)\}"
)
_LOST_SIZING = re.compile(r"\\?(?:bigl|bigr|Bigl|Bigr|left|right)(?=[(\[{|)\]}])")


def repair(text: str) -> str:
    """Scraping and LaTeX artifacts that change no meaning: "4.5times" -> "4.5x", "{bf C}ommittee" ->
    "Committee", "91\\%" -> "91%", "$O(n^2)$" -> "O(n^2)" (pylatexenc for what is left of LaTeX)."""
    text = _LOST_TIMES.sub(r"\1x", text)
    text = _LOST_LATEX.sub(lambda m: m.group(1) if m.group(1) is not None else m.group(2), text)
    text = _LOST_SIZING.sub("", text)
    if "\\" in text or "$" in text:
        with contextlib.suppress(Exception):  # malformed LaTeX: keep the text as it is
            text = _latex_to_text(text)
    return text


def _latex_to_text(text: str) -> str:
    from pylatexenc.latex2text import LatexNodes2Text

    return LatexNodes2Text(math_mode="text").latex_to_text(text)


def lower_first(text: str, names: tuple[str | None, ...] = ()) -> str:
    """The text with its first letter lower-cased, to follow a dash ("200B tokens — the authors ..."), unless its
    first word is a name ("SMOTE", "Drop-Upcycling", "S4", "LLaMA-MoE", or one of `names`, the paper's method and
    short title: "Glimmer reduces ..." keeps its capital)."""
    first = text.split(" ", 1)[0] if text else ""
    if not first or not first[:1].isupper() or not first[1:].replace("-", "").isalpha() or not first[1:].islower():
        return text
    if any(n and first.strip(",.;:'’s") == n.split(" ", 1)[0] for n in names):
        return text
    return text[:1].lower() + text[1:]


def rewrite(sentence: str, method: str | None = None, short: str | None = None) -> Rewritten:
    """The sentence made to stand alone (see the module docstring); `dangling` when it still opens with an
    unresolved reference."""
    body = repair(resolve_references(drop_openers(sentence), method, short))
    return Rewritten(text=body, quote=sentence, dangling=bool(_DANGLING.match(body)))
