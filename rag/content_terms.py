"""Which words of a question an answer must carry: its content words (nouns, names, the attribute asked about),
not the generic verbs a question is phrased with ("how does X HANDLE failures", "how much memory does X SAVE",
"on which datasets was X EVALUATED") nor fragments such as the "s" of a possessive ("COMET's").

Used by the `answers_question` check (`rag.verify.answer_check`): a missing generic verb says nothing about
whether the answer carries what was asked, and naming it ("no mention of handle") only confuses.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from rag.text import tokenize

# Verbs that say how a question is phrased, not what it is about: what a method does in general (use, handle,
# save, improve), how a paper shows it (evaluate, report, show) and how it came out (write, publish). Read from
# the dev, tune and held-out questions' focus words; verbs that name a technique (prune, distill, compress,
# quantize, train) are content and stay out of this list.
GENERIC_VERBS = (
    "use utilize utilise employ adopt leverage apply rely need require allow enable let help handle manage cope "
    "deal address tackle solve save perform achieve obtain reach attain beat outperform surpass improve boost "
    "evaluate assess validate measure test benchmark verify report show demonstrate find claim argue suggest "
    "state mention describe explain present introduce propose study investigate explore consider examine "
    "contain include involve support offer provide produce yield give get make do take keep go come work run "
    "build serve pick choose select try look aim focus target call name write author publish release submit "
    "appear post lead bring hold mean"
).split()
_IRREGULAR = {
    "write": "wrote written",
    "make": "made",
    "take": "took taken",
    "get": "got gotten",
    "do": "did done",
    "go": "went gone",
    "come": "came",
    "give": "gave given",
    "keep": "kept",
    "find": "found",
    "run": "ran",
    "build": "built",
    "choose": "chose chosen",
    "show": "shown",
    "beat": "beaten",
    "deal": "dealt",
    "lead": "led",
    "bring": "brought",
    "hold": "held",
    "mean": "meant",
    "submit": "submitted submitting",
}


def _inflections(verb: str) -> set[str]:
    """The regular forms of an English verb (-s, -ed, -ing), its irregular ones, and British -ise spellings."""
    if verb.endswith("e"):
        stem = verb[:-1]
        forms = {verb, verb + "s", stem + "ed", stem + "ing"}
    elif verb.endswith("y") and verb[-2:-1] not in "aeiou":
        forms = {verb, verb[:-1] + "ies", verb[:-1] + "ied", verb + "ing"}
    elif re.search(r"(?:s|sh|ch|x|z)$", verb):
        forms = {verb, verb + "es", verb + "ed", verb + "ing"}
    elif re.fullmatch(r"[^aeiou]*[aeiou][bdgmnpt]", verb):  # one syllable ending consonant-vowel-consonant: "get"
        forms = {verb, verb + "s", verb + verb[-1] + "ed", verb + verb[-1] + "ing"}
    else:
        forms = {verb, verb + "s", verb + "ed", verb + "ing"}
    return forms | set(_IRREGULAR.get(verb, "").split())


GENERIC_VERB_FORMS = frozenset(form for verb in GENERIC_VERBS for form in _inflections(verb))
_WORD = re.compile(r"[\w][\w.+/-]*")
# Words after which a verb's form is a noun ("which BENCHMARK", "the TEST set", "for USE in"), so content.
_NOUN_CUES = frozenset(
    "a an the this that these those its their his her our your my which what whose each every any some no "
    "of for in on at with from about per".split()
)


def content_terms(question: str, stems: Iterable[str], keep: Iterable[str] = ()) -> list[str]:
    """`stems` (the question's stemmed focus words) without those that are not content: a single character (the
    "s" of "COMET's", a stray letter), or a stem the question only uses as one of its generic verbs
    (`GENERIC_VERBS`, any form: "handle", "evaluated", "saves"). `keep` are stems that stay whatever they are
    (the attribute asked about). Order kept."""
    kept = set(keep)
    forms: dict[str, set[str]] = {}
    for word in _WORD.findall(question):
        for stem in tokenize(word):
            forms.setdefault(stem, set()).add(word.lower())
    out = []
    for stem in stems:
        if stem in kept:
            out.append(stem)
            continue
        if len(stem) < 2:
            continue
        used = forms.get(stem)
        if used and used <= GENERIC_VERB_FORMS:
            continue
        out.append(stem)
    return out
