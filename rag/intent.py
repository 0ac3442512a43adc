"""Question analysis: what a question asks for (its intent), what it is about, and what a good answer must contain.

Pure and rule-based (no model), so it is fast, deterministic and shared by every part that needs it: the chain
(how many papers to retrieve, an identifier to look up), both generators (how to compose or what to ask the LLM
for), the refusal rules and the `answers_question` check. The rules were written against the old dev set and the
tune set (`eval/questions/dev.jsonl`, `tune.jsonl`) and are reported on `heldout.jsonl`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from rag.asked import GENERIC_ASKED, asked_share, attribute_groups
from rag.names import QUOTED, TYPOS, salient_terms
from rag.text import STOPWORDS, tokenize

__all__ = ["GENERIC_ASKED", "Analysis", "Intent", "analyse", "asked_share", "classify", "surface", "topic_words"]


class Intent(StrEnum):
    """The kind of answer a question asks for."""

    QUANTITY = "quantity"  # a figure or result: "how many tokens", "what speed-up", "by how much"
    DEFINITION = "definition"  # "what does RS2 stand for", "what is the Switch Transformer"
    LIST = "list"  # "which papers ...", "list all papers on ..."
    SUMMARY = "summary"  # "summarize the approaches to ...", "how do papers here ..."
    COMPARE = "compare"  # two named papers or methods
    LOOKUP = "lookup"  # "which paper proposes ...": one paper from a description
    HOW = "how"  # "how does X work / compute / distill ..."
    ENTITY = "entity"  # "which dataset / benchmark / model ..."
    METADATA = "metadata"  # authors, year, venue
    ABOUT = "about"  # "tell me about X", "what is the paper X about", or an identifier / exact title
    FACT = "fact"  # any other detail of one paper


# What a good answer to each intent contains; said in refusals and in the `answers_question` check.
EXPECTED = {
    Intent.QUANTITY: "a figure",
    Intent.DEFINITION: "a definition",
    Intent.LIST: "a list of papers",
    Intent.SUMMARY: "the approaches of several papers",
    Intent.COMPARE: "points on both papers",
    Intent.LOOKUP: "a paper",
    Intent.HOW: "how the method works",
    Intent.ENTITY: "a name",
    Intent.METADATA: "authors or dates",
    Intent.ABOUT: "what the paper does",
    Intent.FACT: "the detail asked for",
}
MULTI_PAPER = frozenset({Intent.LIST, Intent.SUMMARY, Intent.COMPARE})

ARXIV_ID = re.compile(r"\b(?:arxiv\s*[:/]?\s*|abs/)?(\d{4}\.\d{4,5})(?:v\d+)?\b", re.I)
_PAPERS = r"(?:papers?|works?|studies|study|articles?|methods?|approaches|techniques|models?|frameworks?|systems?|algorithms?|publications?)"
_LIST = re.compile(
    rf"\b(list|enumerate|name|give me|show me|find me|find|collect)\b.{{0,40}}\b{_PAPERS}\b"
    rf"|\b(which|what|any|all|other|several|some)\s+([\w-]+\s+){{0,4}}(papers|works|studies|articles|publications)\b"
    rf"|\b(which|what)\s+([\w-]+\s+){{0,3}}(methods|approaches|techniques|models|frameworks|systems|algorithms)\s+(are|in|here|does|do|use|build|apply|study|address|tackle|propose|improve|reduce|make|let|attack|aim|target|rely|work|deal)\b"
    rf"|\b(are there|is there anything|anything on|anything about)\b"
    rf"|^\s*(papers|works|research|studies|anything)\s+(on|about|that|using|with|for|involving|related)\b"
    rf"|^\W*[\w\s/()-]{{0,60}}\b(papers|works|studies|articles)\s*\??\s*$"
    rf"|\b(papers|works|studies)\s+(that|which|who|where|on|about|using|with|in which)\b"
    rf"|\b(in|across) the (collection|corpus|index)\b|\bpapers here\b",
    re.I,
)
_LIST_ALL = re.compile(
    r"\b(list|give me|show me|find|name)\s+(all|every|each)\b|\ball (the )?(papers|works|studies|articles)\b"
    r"|\bevery (paper|work|study|article)\b|\b(all|every) (\w+\s+){0,3}papers\b",
    re.I,
)
_SUMMARY = re.compile(
    r"\bsummari[sz]e\b|\boverview\b|\bsurvey (of|the)\b|\bwhat (are the |kinds of )?(approaches|methods|techniques|strategies|ideas)\b"
    r"|\bhow do (the )?(papers|works|studies|methods|approaches)\b|\bhow (is|are) .{0,40}\b(tackled|addressed|handled|approached)\b"
    r"|\bwhat approaches\b|\bmain (approaches|ideas|directions)\b",
    re.I,
)
_COMPARE = re.compile(
    r"\b(compare|comparison|contrast|versus|vs\.?|differ|differs|difference|differences|distinguish)\b"
    r"|\b(improve|improves|build|builds|extend|extends|add|adds|change|changes|relate|relates)\s+(up)?on\b"
    r"|\bwhat does .{2,60} add (to|on top of|over)\b|\b(keep|keeps|drop|drops) from\b|\bdo they agree\b"
    r"|\bhow (does|do) .{2,60} (relate|compare) to\b|\bsame thing\b|\b(both|each of) (the )?(two|papers)\b"
    r"|\b(disagree|agree)\b|\bhow (does|do|did) .{2,80}\b(extend|generalize|generalise|simplify|simplifies)\b|\bboth\b.{0,40}\.\s*(what|how)\b"
    r"|^\s*[\w'\"‘’“” .:/()-]{2,80}\s+or\s+[\w'\"‘’“” .:/()-]{2,80}\s*:\s*(which|what|how)\b"
    r"|^\s*(which|who)\b[^,]{0,60},\s*[\w'\"‘’“” .:/()-]{2,60}\s+or\s+[\w'\"‘’“” .:/()-]{2,60}\?\s*$"
    r"|^\s*(which|who)\s+(one\s+)?(is|are|was|were)\s+(\w+er|better|worse|best|more\s+\w+|less\s+\w+)\s*[,:]?\s+\S.{0,60}\s+or\s+\S"
    r"|^\s*[\w'\"‘’“” .,:/()-]{2,90}\s+and\s+[\w'\"‘’“” .,:/()-]{2,90}\s+both\b"
    r"|\b(both|each of|either of|neither of)\s+.{2,90}\s+(and|or|nor)\s+"
    r"|^what (do|are|did)\s+[A-Z0-9].{1,80}\s+and\s+.{2,80}\s+(do|propose|study|show|report|find|about)\b",
    re.I,
)
_QUANTITY = re.compile(
    r"\bhow (many|much|large|big|fast|long|often|small|deep|wide|far|high|low|accurate|quickly|well)\b|\bby how\b"
    r"|\bwhat (percentage|percent|fraction|number|share|proportion|ratio|size|factor|rate|count)\b"
    r"|\b(what|which)\s+([\w+/-]+\s+){0,4}(accuracy|score|scores|speed-?ups?|perplexity|fid|bleu|f1|auc|map|psnr|ssim|error|errors|improvements?|gains?|reductions?|rates?|ratios?|compression|latency|throughput|savings?|cost|costs|results?|numbers|figures|performance|coverage|success rate|efficiency|speed)\b"
    r"|\b(speed-?ups?|compression ratios?|accuracy|fid|perplexity|mAP|top-1|pass@1)\b.{0,40}\b(does|do|did|report|reach|get|achieve|claim|give)\b"
    r"|\bhow (much )?(faster|smaller|cheaper|better|larger|more)\b|\b(times|x) (faster|smaller|fewer|cheaper)\b"
    r"|\b(report|reports|reported|claim|claims)\b.{0,30}\b(numbers?|figures?|gains?|results?)\b"
    r"|\b(latency|energy|memory|compute|computation|cost|time|accuracy|speed|storage|parameter|inference)\b.{0,30}\b(savings?|reductions?|gains?|improvements?|speed-?ups?|decrease)\b"
    r"|\b(speed-?ups?|reductions?|savings?)\b[^?]{0,60}\?\s*$",
    re.I,
)
_DEFINITION = re.compile(
    r"\bstand(s)? for\b|\b(is|are) \S+ short for\b|\bshort for\b|\bacronym\b|\babbreviat|\bwhat is (an? |the )?[\w-]+\s+in\b|\bdefin(e|ition)\b|\bmeaning of\b"
    r"|\bwhat do(es)? (the )?(\w+ ){0,3}(mean|refer to) by\b|\bwhat (do|does) .{1,40} mean\b"
    r"|(?:^|[.!?]\s+)what(?:'s| is| are) (an? |the )?[\w'‘’“”\"-]+(?: [\w'‘’“”\"-]+){0,4}(?:\s+exactly)?\s*\??\s*$",
    re.I,
)
_HOW = re.compile(
    r"^\s*how (does|do|did|is|are|can|could)\b(?!.*\b(compare|differ|relate)\b)|\bhow .{0,40}\bworks?\b|\bwhat mechanism\b|\bin what way\b|\bwhat (technique|trick|idea)\b",
    re.I,
)
_ENTITY = re.compile(
    r"\b(which|what)\s+([\w-]+\s+){0,2}(datasets?|benchmarks?|tasks?|models?|architectures?|backbones?|baselines?|"
    r"base llms?|language models?|metrics?|hardware|gpus?|problems?|languages?|domains?|flow problems|applications?|libraries|library|tools?|algorithm)\b"
    r"|\bwhat (is|are) .{1,40} (called|named)\b|\bwhat name\b|\bwhat (is|was) the name\b",
    re.I,
)
_METADATA = re.compile(
    r"\b(who (wrote|authored|are the authors|is the author)|authors? of|written by|first author|affiliation|"
    r"which (lab|university|institution|company)|(what|which) (year|venue|conference|journal)|when (was|were) .{0,80}\b(published|released|submitted))\b"
    r"|\bpapers? by [A-Z]",
    re.I,
)
_LOOKUP_START = re.compile(
    r"^\s*((which|what) (paper|work|study|article|one)\b(?!s)|is there (a|an|any)\b|i (remember|recall|need|want|am looking)\b"
    r"|looking for\b|(do you )?know (a|an|any)\b|find (me )?(the|a|an) (paper|work|study)\b|which (method|model|framework|system|approach|technique|algorithm|benchmark|dataset) (\w+ )?(\w+s|is|was|does)\b)",
    re.I,
)
_LOOKUP = re.compile(
    r"\b(which|what|is there an?|are there any|find the|name the|i remember an?|looking for an?|know an?|any)\s+"
    r"([\w-]+\s+){0,3}(paper|work|study|article|publication|preprint)\b(?!s)"
    r"|\bwhich (one|method|approach|model|framework|system|technique|algorithm) (proposes|introduces|presents|uses|does|is|was|shows|makes|lets|builds|trains|replaces|turns)\b",
    re.I,
)
_ABOUT = re.compile(
    r"^\s*(tell me (more )?about|what is .{2,120} about\b|what's .{2,120} about\b|describe|explain|summari[sz]e)\b"
    r"|\bwhat does (the )?(paper|work|study|article)\b.{0,120}\b(do|propose|present|contribute|show|about)\b"
    r"|^\s*what (does|do|did) [\w'‘’“”\"+.-]+( [\w'‘’“”\"+.-]+){0,5} (do|propose|offer|introduce|contribute)\s*\??\s*$"
    r"|\bmain (contribution|idea|finding|result)s?\b|\bin a nutshell\b|\bkey (idea|contribution|finding)s?\b"
    r"|^\s*(and\s+)?(what|how) about [^?]{2,160}\?*\s*$",  # "what about TC-GS?": a follow-up resolved to a paper
    re.I,
)
_PLURAL_LIST = re.compile(r"\b(which|what|any|list|all)\s+([\w-]+\s+){0,3}(papers|works|studies|articles)\b", re.I)
_YES_NO = re.compile(r"^\s*(is|are|does|do|did|can|could|was|were|has|have|will|would|should)\b", re.I)
# Words that say what kind of answer is wanted, not what it is about.
QUESTION_WORDS = frozenset(
    tokenize(
        "what which who whom whose how why when where does do did is are was were can could should would "
        "paper papers work works study studies method methods approach approaches model models article articles "
        "report reported reports describe describes describing find tell explain give list name mention mentions "
        "collection corpus abstract abstracts author authors about any some there here all every each please "
        "summarize summarise summary overview compare comparison contrast versus difference differences differ "
        "main key idea ideas contribution contributions propose proposes proposed present presents introduce "
        "introduces get gets achieve achieves reach reaches claim claims obtain obtains show shows related "
        "relate deal deals involving involve involves remember looking know someone anything something "
        "exact exactly really actually specifically roughly approximately much many number large big "
        "add adds make makes top keep keeps drop drops differ differs versus vs both each two former latter"
    )
)
_PAREN_ALIAS = re.compile(r"([A-Za-z][\w' -]{2,80}?)\s*\(([A-Za-z][\w-]{1,15})\)")
_TOPIC_DROP = re.compile(
    r"^\s*(hi|hello|hey|ok(ay)?|so|and|also|now|then|please|quick question|different question)\W+|\b(in (the|this) (collection|corpus|index)|here|in here|covered here|any)\b",
    re.I,
)


@dataclass
class Analysis:
    """What a question asks. `focus` are its content words (stemmed, question words removed); `names` the
    specific names it uses (acronyms, CamelCase, digit-bearing tokens, quoted phrases); `asked` the stemmed head
    words of the attribute it asks about ("tokens", "accuracy", "dataset"); `targets` the two things a
    comparison names, in the order named; `alternatives` the topic's "X or Y" branches for lists."""

    question: str
    intent: Intent
    focus: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    asked: list[str] = field(default_factory=list)
    asked_groups: list[list[str]] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)
    single: Intent = Intent.FACT  # the intent when a comparison turns out to name one paper
    list_all: bool = False
    yes_no: bool = False
    arxiv_ids: list[str] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)
    exclude: set[str] = field(default_factory=set)  # paper ids a list must leave out ("which OTHER papers ...")

    @property
    def expected(self) -> str:
        return EXPECTED[self.intent]

    @property
    def multi_paper(self) -> bool:
        return self.intent in MULTI_PAPER


# "which is faster, HetuMoE or SE-MoE (compared to DeepSpeed)?", "which one is more accurate A or B"
_WHICH_IS_BETTER = (
    r"^(?:which|who)\s+(?:one\s+)?(?:is|are|was|were)\s+(?:\w+er|better|worse|best|more\s+\w+|less\s+\w+)(?:\s+\w+ed)?\s*[,:]?\s+"
    r"(.+?)\s+or\s+(.+?)(?:\s+(?:on|in|for|at|when|compared|relative|according)\b|[?,.;:]|$)"
)
# "SE-MoE or HetuMoE — which ...", "DRAKES or SVDD if I want to ...": two names offered first, then the ask
_LEADING_OR = (
    r"^(?:should i (?:use|pick|choose|go with)\s+)?((?-i:[A-Z0-9][\w.+-]*(?:\s+[A-Z0-9][\w.+-]*){0,3}))\s+or\s+"
    r"((?-i:[A-Z0-9][\w.+-]*(?:\s+[A-Z0-9][\w.+-]*){0,3}))(?:\s*[—–,:?]|\s+-\s|\s+(?:if|for|when|to)\s)"
)
_WH_LEAD = re.compile(r"^(?:how|what|why|where|when|in what ways?)\s+(?:do|does|did|are|is|can|could|would)\s+", re.I)


def _targets(question: str) -> list[str]:
    """The things a comparison names, in order: "compare A and B", "A vs B", "how does A differ from B",
    "compare A, B and C" (up to four)."""
    q = re.sub(r"\s+", " ", question.strip().rstrip("?.!"))
    quoted = [m.group(1) for m in QUOTED.finditer(q)]
    m = re.match(r"^(?:compare|contrast)\s+(?:the\s+)?(.+)$", q, re.I)
    if m and "," in m.group(1):  # "compare TLEG, SWS and Learngene Pool": three or four things
        items = [x.strip(" '\"‘’“”") for x in re.split(r",\s*(?:and\s+)?|\s+and\s+", m.group(1)) if x.strip()]
        if items:  # "the entropy models proposed by A, B, and C for image compression": A, B and C
            items[0] = re.sub(r"^.{0,60}?\b(?:proposed|introduced|used|presented) (?:by|in)\s+", "", items[0])
            items[-1] = re.sub(r"\s+(?:for|in|on|when|regarding)\s.*$", "", items[-1])
        if 3 <= len(items) <= 4 and all(len(x.split()) <= 8 for x in items):
            return items
    patterns = [
        _LEADING_OR,
        r"^(?:compare|contrast)\s+(?:the\s+)?(.+?)\s+(?:and|with|to|vs\.?|versus)\s+(.+?)(?:[:;,]|\s+(?:in|on|for|regarding|when|—|-)\s|$)",
        r"^(.+?)\s+(?:vs\.?|versus)\s+(.+?)(?:[:;,?]|\s+(?:in|on|for|—|-)\s|$)",
        r"(?:difference|differences) between\s+(.+?)\s+and\s+(.+?)(?:[:;,?]|\s+(?:in|on|for)\s|$)",
        r"how (?:does|do|did)\s+(.+?)\s+(?:differ from|compare (?:to|with)|relate to|improve (?:up)?on|extend|generali[sz]e|simplify|build (?:up)?on|go beyond)\s+(.+?)(?:[:;,?]|\s+(?:in|on|for)\s|$)",
        r"what does\s+(.+?)\s+add (?:to|on top of|over)\s+(.+?)(?:[:;,?]|$)",
        r"^(.+?)\s+and\s+(.+?)\s+(?:both|each|differ|disagree|agree)\b",
        r"^(?:the\s+)?(.+?)\s+and\s+(.+?)\s+both\b",
        r"\b(?:both|each of|either of|neither of)\s+(.+?)\s+(?:and|or|nor)\s+(.+?)(?:\s+(?:need|needs|use|uses|are|is|have|has|do|does|require|requires|report|reports|show|shows|work|works|rely|relies)\b|[?,.;:]|$)",
        r"^what (?:do|are|did)\s+(.+?)\s+and\s+(.+?)\s+(?:do|propose|study|show|report|find|about)\b",
        r"^tell me (?:more )?about\s+(.+?)\s+and\s+(.+?)\s*[?.!]*$",
        r"^(?:the\s+)?(.+?)\s+and\s+(.+?)\s+(?:are|is)\b",
        r"what does\s+(.+?)\s+(?:keep|take|borrow)\s+from\s+(.+?)(?:[:;,?]|\s+and\s|$)",
        r"^(.+?)\s+or\s+(.+?)\s*:",
        r"^(?:which|who)\b[^,]{0,60},\s*(.+?)\s+or\s+(.+?)\s*$",
        _WHICH_IS_BETTER,
    ]
    for pattern in patterns:
        m = re.search(pattern, q, re.I)
        if m:
            a, b = (x.strip(" '\"‘’“”") for x in m.groups())
            a = _WH_LEAD.sub("", a)  # "How do LLaMA-MoE and Drop-Upcycling differ": not "How do LLaMA-MoE"
            named = all(re.search(r"[A-Z0-9]", x) for x in (a, b))
            if a and b and (named or not pattern.startswith(r"\b(?:both")):
                return [a, b]
    return quoted[:2] if len(quoted) >= 2 else []


def _named_pair(question: str) -> bool:
    """Whether a comparison's two targets are both names (a capital or a digit): "GMFlow or DD", not "speed or
    memory"."""
    targets = _targets(question)
    return len(targets) >= 2 and all(re.search(r"[A-Z0-9]", t) for t in targets)


def _alias_map(question: str) -> dict[str, str]:
    """ "3D Gaussian Splatting (3DGS)" -> {"3DGS": "3D Gaussian Splatting"}: either form names the topic."""
    out = {}
    for m in _PAREN_ALIAS.finditer(question):
        long, short = m.group(1).strip(), m.group(2)
        words = long.split()
        # keep only as many words before the parenthesis as the acronym has letters (plus a little slack)
        keep = max(1, min(len(words), len(re.sub(r"[^A-Za-z]", "", short)) + 1))
        out[short] = " ".join(words[-keep:])
    return out


def _lookup_or_quantity(q: str) -> Intent:
    """A question opening like a lookup ("which paper ...", "I need ...") asks for a paper, unless it opens with
    a request for a figure about one ("In the RS2 paper, how much ...")."""
    numeric = _QUANTITY.search(q) and not re.match(r"\s*(which|is there|i |looking|know|find)", q, re.I)
    return Intent.QUANTITY if numeric else Intent.LOOKUP


def _summary_or_about(q: str) -> Intent:
    approaches = _LIST.search(q) or re.search(r"\b(approaches|methods|papers|works|strategies)\b", q, re.I)
    return Intent.SUMMARY if approaches else Intent.ABOUT


# (test, intent or a function of the question), most specific first; the first test that holds decides.
_RULES: list[tuple[Callable[[str, bool], bool], Intent | Callable[[str], Intent]]] = [
    (lambda q, c: bool(ARXIV_ID.search(q)), Intent.ABOUT),
    (lambda q, c: bool(_METADATA.search(q)), Intent.METADATA),
    # "which one is more accurate, GMFlow or DD?" picks between two named things: a comparison, not a lookup
    (lambda q, c: c and bool(re.match(r"\s*(which|who)\b.*\bor\b", q, re.I)) and _named_pair(q), Intent.COMPARE),
    (lambda q, c: c and bool(re.match(_LEADING_OR, q, re.I)) and _named_pair(q), Intent.COMPARE),
    # "tell me about SimQ-NAS and 'A Hardware-Aware System ...'": two named papers, side by side
    (
        lambda q, c: c and bool(re.match(r"\s*tell me (more )?about\b.+\band\b", q, re.I)) and _named_pair(q),
        Intent.COMPARE,
    ),
    (
        lambda q, c: bool(_LOOKUP_START.search(q)) and not _LIST_ALL.search(q) and not _PLURAL_LIST.search(q),
        _lookup_or_quantity,
    ),
    (
        lambda q, c: (
            bool(_SUMMARY.search(q)) and not re.search(r"^\s*summari[sz]e\s+(the\s+)?(paper|work|article)\b", q, re.I)
        ),
        _summary_or_about,
    ),
    (lambda q, c: c and bool(_COMPARE.search(q)) and len(_targets(q)) >= 2, Intent.COMPARE),
    (
        lambda q, c: bool(_LIST_ALL.search(q) or _PLURAL_LIST.search(q) or (_LIST.search(q) and not _LOOKUP.search(q))),
        Intent.LIST,
    ),
    (lambda q, c: bool(_QUANTITY.search(q)), Intent.QUANTITY),
    (lambda q, c: bool(_LOOKUP.search(q)), Intent.LOOKUP),
    (lambda q, c: bool(_DEFINITION.search(q)), Intent.DEFINITION),
    (lambda q, c: bool(_ABOUT.search(q)), Intent.ABOUT),
    # "which dataset does X use" names X; "which generative model is trained so that ..." describes a paper
    (lambda q, c: bool(_ENTITY.search(q)), lambda q: Intent.ENTITY if salient_terms(q) else Intent.LOOKUP),
    (lambda q, c: bool(_HOW.search(q)), Intent.HOW),
    (lambda q, c: c and bool(_COMPARE.search(q)), Intent.COMPARE),
]


def classify(question: str, allow_compare: bool = True) -> Intent:
    """The intent of a question (see `Intent`); the first of `_RULES` that holds decides, else `FACT`.
    `allow_compare=False` gives the intent to fall back on when a "comparison" names only one paper of the
    collection ("OliVe vs GOBO: speed-up?" asks for OliVe's figures)."""
    q = question.strip()
    for test, outcome in _RULES:
        if test(q, allow_compare):
            return outcome if isinstance(outcome, Intent) else outcome(q)
    return Intent.FACT


# Misspelt question words seen in real questions ("wich papers ..."): read as meant before classifying.


def analyse(question: str) -> Analysis:
    """Analyse a (cleaned, standalone) question. Never raises; an empty question gives an empty `FACT` analysis."""
    q = " ".join(TYPOS.get(w.lower(), w) for w in question.split())
    intent = classify(q)
    names = [n for n in salient_terms(q) if not ARXIV_ID.fullmatch(n) and n.lower() != "arxiv"]
    groups = attribute_groups(q)
    focus = [t for t in dict.fromkeys(tokenize(_TOPIC_DROP.sub(" ", q))) if t not in QUESTION_WORDS]
    return Analysis(
        question=q,
        intent=intent,
        focus=focus,
        names=names,
        asked=list(dict.fromkeys(t for g in groups for t in g)),
        asked_groups=groups,
        targets=_targets(q) if intent == Intent.COMPARE else [],
        single=classify(q, allow_compare=False) if intent == Intent.COMPARE else intent,
        list_all=bool(_LIST_ALL.search(q)),
        yes_no=bool(_YES_NO.search(q)),
        arxiv_ids=[m.group(1) for m in ARXIV_ID.finditer(q)],
        aliases=_alias_map(q),
    )


def surface(question: str, stems: list[str] | set[str], limit: int = 6) -> str:
    """The question's own words whose stems are in `stems`, in order ("how many TOKENS ..." -> "tokens"): how a
    refusal names what was asked, in the user's words. A single letter (the "s" of "COMET's") is never one."""
    wanted = set(stems)
    words = [w for w in re.findall(r"[\w][\w.+/-]*", question) if len(w) > 1 and set(tokenize(w)) & wanted]
    return " ".join(dict.fromkeys(words[:limit]))


# Stems that say the same thing in abstracts ("faster", "speed-up", "accelerates" a method), as a paper's word
# set is widened for a list question's topic coverage. Only families where any member names the same claim.
SAME_CLAIM = (
    frozenset({"speed", "speedup", "speed-up", "faster", "fast", "acceler", "quicker"}),
    frozenset({"cheaper", "cost-effect", "inexpens"}),
)


def widen(tokens: set[str]) -> set[str]:
    """`tokens` (stems) plus every `SAME_CLAIM` family one of them belongs to: {"faster"} -> the speed family."""
    out = set(tokens)
    for family in SAME_CLAIM:
        if out & family:
            out |= family
    if {"languag", "model"} <= out:  # "large language models" is what "LLM" abbreviates
        out |= {"llm", "llms"}
    return out


# "... without retraining", "no need for labels": a condition on the papers, not their topic.
_CONDITION = re.compile(r"\b(?:without(?:\s+any)?|no need (?:for|to)|free of)\s+([\w-]+)", re.I)


def topic_words(analysis: Analysis) -> list[str]:
    """The focus words that name the topic of a list/summary question (stop and question words removed, and the
    word of a "without X" condition: a paper that says "requires retraining" is not on "without retraining")."""
    condition = {t for m in _CONDITION.finditer(analysis.question) for t in tokenize(m.group(1))}
    condition |= {"without"}
    return [t for t in analysis.focus if t not in STOPWORDS and t not in condition]
