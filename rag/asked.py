"""What a question asks about (its attribute: "how many TOKENS", "what ACCURACY") and how a sentence speaks of it,
possibly in other words ("how fast" is answered by "7.8x speed-up", "how large a model" by "12B")."""

from __future__ import annotations

import re

from rag.text import tokenize


def attribute_groups(question: str) -> list[list[str]]:
    """The head words of each attribute a quantity/entity/fact question asks about, one group per attribute:
    "how many TOKENS ... and what ACCURACY" -> [["token"], ["accuraci"]]."""
    q = question.lower()
    heads: list[str] = []
    for m in re.finditer(r"\bhow (many|much)\s+(?=((?:[\w-]+\s+){0,3}[\w-]+))", q):
        # "how many pretraining tokens was ...": the noun before the verb is what is counted
        words = re.split(
            r"\s+(?:was|were|is|are|does|do|did|has|have|had|can|could|would|will|should|of|in|on|for|to|"
            r"with|by|at|from|than|the|a|an|it|they|this|that|and|or|how|what)\b|,",
            " " + m.group(2),
        )[0].split()
        if words:
            heads.append(words[-1] if m.group(1) == "many" or len(words) > 1 else words[0])
    for m in re.finditer(
        r"\b(what|which)\s+((?:[\w@+/-]+\s+){0,3}?)(accuracy|score|speed-?ups?|perplexity|fid|bleu|f1|auc|map|psnr|"
        r"ssim|error|improvements?|gains?|reductions?|rates?|ratios?|compression|latency|throughput|savings?|costs?|"
        r"datasets?|benchmarks?|metrics?|models?|tasks?|hardware|gpus?|size|factor|percentage|fraction|number|"
        r"coverage|success rate|efficiency)\b",
        q,
    ):
        heads.append(f"{m.group(2)}{m.group(3)}")
    for m in re.finditer(r"\bhow (fast|large|big|long|small|deep|wide|accurate)\b", q):
        heads.append(
            {
                "fast": "speed faster speedup",
                "large": "size",
                "big": "size",
                "long": "time",
                "small": "size smaller",
                "deep": "depth layers",
                "wide": "width",
                "accurate": "accuracy",
            }[m.group(1)]
        )
    for m in re.finditer(r"\b(on )?(what|which) (hardware|gpus?|devices?)\b|\bhow much (compute|time|memory)\b", q):
        heads.append(m.group(0).split()[-1])
    groups = [[t for t in tokenize(h) if t not in _question_words()] for h in heads]
    unique: dict[tuple[str, ...], list[str]] = {}
    for g in groups:
        if g:
            unique.setdefault(tuple(g), g)
    return list(unique.values())


# Attribute words that a figure may be reported with instead of the asked word ("how fast" -> "7.8x speed-up").
_ASKED_ALIASES = {
    "speed": "speedup speed-up faster times x accelerat latency throughput",
    "faster": "speedup speed-up times x accelerat",
    "speedup": "faster times x accelerat speed",
    "time": "hours days minutes seconds faster speedup latency",
    "size": "parameters params smaller compression ratio memory mb gb billion million model",
    "hardwar": "gpus gpu a100 h100 v100 tpu tpus cpu chip devices device",
    "gain": "improvement improves outperforms higher better increase boost",
    "share": "percent % fraction proportion retain retains keeps maintains preserve",
    "fraction": "percent % share proportion",
    "percentag": "percent %",
    "smaller": "compression ratio reduction fewer size",
    "accuraci": "accuracy top-1 percent %",
    "cost": "flops compute computation memory cheaper reduction",
    "perform": "accuracy score improvement outperform",
    "improv": "gain higher better increase outperform",
    "reduct": "reduce lower fewer less decrease",
    "depth": "layers layer deep",
    "token": "tokens",
    "effici": "faster speedup speed smaller reduction fewer cost x times",
    "save": "cost costs reduce reduction fewer less faster speedup smaller x times",
    "fewer": "reduce reduces reduction less lower decrease smaller",
    "less": "reduce reduces reduction fewer lower decrease smaller",
}


# Asked words too general to require in a figure's sentence: any figure the question's topic comes with will do.
GENERIC_ASKED = frozenset(
    tokenize("gain gains improvement result results performance number numbers figure effect benefit saving efficiency")
)
# "attains 90.35% on ImageNet" states an accuracy; "10-20% improvement", "by 16%", "30% fewer" state a change.
_LEVEL_PERCENT = re.compile(
    r"(?<!by )(?<!\d)(?<!-)\d+(?:\.\d+)?\s*%(?!\s*(?:-|improvement|higher|lower|fewer|reduction|less|more|faster|"
    r"slower|gain|increase|decrease|relative|absolute|of\b|smaller|larger|better|worse))",
    re.I,
)
_ANY_PERCENT = re.compile(r"\d\s*%")  # "a mere 7% of the trainable parameters" answers "what fraction"
_SHARE_WORDS = frozenset(tokenize("fraction share percentage proportion"))
_SIZE_FIGURE = re.compile(r"\b\d+(\.\d+)?\s*[BMK]\b|\b\d+(\.\d+)?\s*(billion|million|trillion)\b")


def _alias_tokens(asked: list[str]) -> set[str]:
    out = set(asked)
    for a in asked:
        for key, words in _ASKED_ALIASES.items():
            if a.startswith(key) or key.startswith(a):
                out |= set(tokenize(words)) | set(words.split())
    return out


def _loose(words: set[str]) -> set[str]:
    """Stems without hyphens ("speed-up" -> "speedup")."""
    return {w.replace("-", "") for w in words if w.replace("-", "")}


def _loose_match(tokens: set[str], aliases: set[str]) -> bool:
    """Whether a sentence's stems speak of an alias: equal, or one a prefix of the other sharing at least five
    letters ("reduc"/"reduct", "speed"/"speedup", "accur"/"accuraci"). Cutting both to five letters, as before,
    matched "experts" with "experiments" (both "exper")."""
    if tokens & aliases:
        return True
    long_aliases = [a for a in aliases if len(a) >= 5]
    return any(t.startswith(a) or a.startswith(t) for t in tokens if len(t) >= 5 for a in long_aliases)


def asked_share(groups: list[list[str]], sentence: str, tokens: set[str]) -> float:
    """Share of the question's asked attributes (one group each) a sentence speaks of, through their aliases:
    "how fast" is answered by "7.8x speed-up", "how large a model" by "12B"."""
    if not groups:
        return 0.0
    hit = 0
    loose = _loose(tokens)
    for g in groups:
        aliases = _alias_tokens(g)
        if (
            _loose_match(loose, _loose(aliases))
            or (aliases & {"x", "times"} and re.search(r"\d(x|×|times)\b", sentence))
            or ("%" in aliases and (_ANY_PERCENT if aliases & _SHARE_WORDS else _LEVEL_PERCENT).search(sentence))
            or ("size" in g and _SIZE_FIGURE.search(sentence))
        ):
            hit += 1
    return hit / len(groups)


def _question_words() -> frozenset[str]:
    from rag.intent import QUESTION_WORDS

    return QUESTION_WORDS
