"""Word-level text helpers shared by retrieval, answering, verification and the UI: one stop-word list, one
number extractor, one stemmed tokenizer.

Stop words are the usual English function words (the NLTK/Lucene lists) plus the words every abstract uses
about itself ("paper", "propose", "show"); negations are stop words for retrieval but are kept when the
meaning of a phrase matters (`NEGATIONS`, used by the key-fact check in `eval.metrics`).
"""

from __future__ import annotations

import re
from functools import lru_cache

import Stemmer

NEGATIONS = frozenset({"no", "not", "without", "never", "none", "nor", "neither", "cannot"})
STOPWORDS = frozenset(
    "a about above after again against all am an and any are as at be because been before being below between "
    "both but by can could did do does doing down during each few for from further had has have having he her "
    "here hers herself him himself his how i if in into is it its itself just me more most my myself no nor not "
    "now of off on once only or other our ours ourselves out over own same she should so some such than that the "
    "their theirs them themselves then there these they this those through to too under until up very was we "
    "were what when where which while who whom why will with would you your yours yourself yourselves paper "
    "papers propose proposed show shows also using use used via based".split()
)

TOKEN = re.compile(r"[a-z0-9]+(?:[.-][a-z0-9]+)*")
_TOKEN = TOKEN
# A stand-alone number: not part of a word or name ("GPT-4", "CUB-200-2011", "ResNet50", "3D", "3DGS" are names,
# not figures; "200B", "12GB" are figures), with its thousands separators and decimals; "3.5x", "29%" and "7×" keep their digits.
_NUMBER = re.compile(
    r"(?<![\w.\-])\d+(?:,\d{3})*(?:\.\d+)?(?!\d)(?!(?:st|nd|rd|th|D)\b)(?!-[A-Z])(?!(?!(?:GB|MB|KB|TB|GHz|FLOPs?)\b)[A-Z]{2,})"
)
# "ImageNet-64/128": the number after the slash continues the name.
_NAME_SLASH = re.compile(r"[A-Za-z][\w]*-\d+(?:/\d+)+")


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english")


def stem(words: list[str]) -> list[str]:
    """Snowball (Porter 2) English stems, as PyStemmer computes them."""
    return _stemmer().stemWords(words)


def tokenize(text: str) -> list[str]:
    """Lower-case word tokens, stop words dropped, Snowball-stemmed; hyphenated and dotted terms are kept whole
    and also split into their parts ("gpt-4" -> "gpt-4", "gpt", "4"). The tokenizer of BM25 and of every
    lexical overlap in the answerer, so that both count the same words. Short texts (sentences, titles, questions)
    are memoised: the answerer tokenises the same abstract sentences question after question."""
    if len(text) <= 2000:
        return list(_tokenize_cached(text))
    return _tokenize(text)


@lru_cache(maxsize=200_000)
def _tokenize_cached(text: str) -> tuple[str, ...]:
    return tuple(_tokenize(text))


def _tokenize(text: str) -> list[str]:
    out: list[str] = []
    for tok in _TOKEN.findall(text.lower()):
        parts = [tok] if not re.search(r"[.-]", tok) else [tok, *re.split(r"[.-]", tok)]
        out.extend(p for p in parts if p and p not in STOPWORDS)
    return stem(out)


# "OLMo 2", "Llama 3", "CIFAR 10": a small whole number right after a name is its version, unless a metric's
# value ("BLEU 28") or followed by a unit ("Llama 2 7B" keeps the 7).
_NAME_BEFORE = re.compile(r"(?:^|\s)([A-Za-z]*[A-Z][A-Za-z]*)\s$")
_UNIT_AFTER = re.compile(r"\s*(?:%|x\b|×|times\b|[KMBT]\b|-?fold\b|\.\d)")
_METRICS = frozenset("BLEU FID PSNR SSIM AP MAP F1 AUC ROUGE IOU MIOU EM WER CER LPIPS NDCG MRR".split())


def _version_of_name(text: str, m: re.Match[str]) -> bool:
    before = _NAME_BEFORE.search(text[max(0, m.start() - 40) : m.start()])
    if not before or len(m.group(0)) > 2 or "." in m.group(0) or before.group(1).upper() in _METRICS:
        return False
    return not _UNIT_AFTER.match(text, m.end())


def numbers(text: str) -> list[str]:
    """The stand-alone numbers a text states, in order, normalised ("8,000" -> "8000", "13.90" -> "13.9").

    Digits inside names are not numbers: "GPT-4", "ResNet-50", "ImageNet-64/128", "CUB-200-2011" state no
    figure. >>> numbers("up to 7.8x faster on 8,000 cars with GPT-4") == ["7.8", "8000"]
    """
    out = []
    in_names = {i for m in _NAME_SLASH.finditer(text) for i in range(m.start(), m.end())}
    for m in _NUMBER.finditer(text):
        if m.start() in in_names:
            continue
        if re.match(r"\d\)", text[m.start() : m.end() + 1]) and (m.start() == 0 or text[m.start() - 1] in " (;:"):
            continue  # an enumerator: "1) use the frozen model ... 2) predict"
        if _version_of_name(text, m):
            continue
        n = m.group(0).replace(",", "")
        if "." in n:
            n = n.rstrip("0").rstrip(".")
        out.append(n)
    return out


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """A count with its noun agreeing: `counted(1, "paper")` -> "1 paper", `counted(2, "paper")` -> "2 papers",
    `counted(3, "match", "matches")`; thousands separated ("1,204 papers"). The one place the product's messages
    pluralise, so that no message says "1 papers" or "paper(s)"."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"
