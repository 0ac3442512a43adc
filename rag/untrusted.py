"""Text that comes from outside (questions, abstracts, conversation turns, LLM output) is made safe here, and only
here: control characters, markup, planted instructions, prompt fences.

The rules, in the order text meets them:
- `readable`: lone surrogates (undecodable command-line bytes) become "?", terminal escapes and control
  characters become spaces. Every entry point (CLI, UI, Python API) passes questions through it.
- `untrusted_segments` / `evidence_sentences`: abstracts are data. Only real HTML markup is taken out: a tag
  whose name is an HTML element (`<b>`, `<sub>`, `<script>`), a chat-template token (`<|im_start|>`) or one of
  the fences our prompts use (`<sources>`, `<question>`, ...). Angle brackets used as text survive:
  `<think>` tags a paper studies, `n<k and k>2`, `vector<float>`. Content inside `<script>`, `<style>` and
  fence tags is dropped whole, and a sentence that such a removal cut into is not used as evidence (it would
  be shown as a verbatim quote that the abstract never contained). Sentences that address an assistant
  ("ignore previous instructions", "SYSTEM: ...") are never evidence.
- `strip_injections`: the same instruction patterns, and code (SQL, shell: `CODE`), are cut out of a question
  before retrieval and answering; a question that was nothing else is empty, and refused.
- `fence_safe`: text put inside an LLM prompt cannot open or close our fences or carry chat-template tokens.
- `printable`: text from the index or a user shown on a terminal or written to a log: `readable`, and no
  bidirectional-override characters (which reorder what a terminal shows).
- `unlinked`: an LLM answer keeps only the links that the abstracts it cites contain; markdown links are
  flattened to their text, markdown images and HTML tags are taken out (a tag's text is kept).

The pattern lists catch the usual phrasings; they are a first line, not the defence: prompts fence retrieved
text, every answer sentence is verified against the cited abstracts, and an unsupported LLM answer is replaced.
"""

from __future__ import annotations

import re

from ingest.sentences import split_sentences
from rag.text import tokenize

# HTML element names (WHATWG HTML Living Standard, element index) plus the obsolete ones still seen in scraped
# abstracts. A tag named otherwise (`<think>`, `<k and k>`, `<float>`) is text, not markup.
HTML_ELEMENTS = frozenset(
    """a abbr acronym address area article aside audio b base basefont bdi bdo big blink blockquote body br button
    canvas caption center cite code col colgroup data datalist dd del details dfn dialog dir div dl dt em embed
    fieldset figcaption figure font footer form frame frameset h1 h2 h3 h4 h5 h6 head header hgroup hr html i
    iframe img input ins kbd label legend li link main map mark marquee math menu meta meter nav nobr noembed
    noframes noscript object ol optgroup option output p param picture plaintext pre progress q rp rt ruby s samp
    script search section select slot small source span strike strong style sub summary sup svg table tbody td
    template textarea tfoot th thead time title tr track tt u ul var video wbr xmp""".split()
)
# Tags our prompts use as fences, and the ones injections use to fake a turn: dropped with their content.
FENCE_TAGS = ("system", "question", "sources", "instructions", "instruction", "prompt", "assistant", "conversation")
_WHOLE_ELEMENTS = ("script", "style", *FENCE_TAGS)

_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_ZERO_WIDTH = re.compile(r"[\u200b-\u200f\u2060-\u2064\ufeff\u00ad]")
_DROP_WHOLE = re.compile(
    r"<(" + "|".join(_WHOLE_ELEMENTS) + r")\b[^>]*>.*?</\1\s*>"
    r"|<\|im_start\|>\s*(?:system|assistant)\b.*?(?:<\|im_end\|>|$)"
    r"|!?\[[^\]]{0,200}\]\(\s*(?:https?|javascript|data):[^)]*\)",
    re.I | re.S,
)
# Formatting tags inside a sentence ("H<sub>2</sub>O", "<i>in vivo</i>") go without breaking it.
_INLINE_TAG = re.compile(r"</?(b|i|em|strong|sub|sup|span|a|code|u|small|mark|br|font|tt|big|s|q)\b[^<>]{0,300}>", re.I)
_ANY_TAG = re.compile(r"</?([A-Za-z][A-Za-z0-9-]*)(?:\s[^<>]{0,300})?\s*/?>")
_CHAT_TOKEN = re.compile(r"<\|im_start\|>\s*(?:user|human)\b|<\|[^|<>]{0,40}\|>|\[/?INST\]|<</?SYS>>")
_BREAKS = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|#{3,}|\n+", re.S)
_FENCE_TAG = re.compile(r"</?\s*(" + "|".join((*FENCE_TAGS, "candidate")) + r")\b[^>]*>", re.I)
_CUT = "\x00"
_GLUED = re.compile(
    r"(?<=[a-z]{3})\.(?=(?:In|We|Our|The|This|These|To|However|Moreover|Furthermore|Finally|Experiments|Results)\b)"
)  # marks where content was dropped whole; never part of evidence

# Sentences of an abstract that address the reader as an assistant: role labels, commands, the usual phrases.
ROLE_LABEL = re.compile(
    r"^\W*(system|assistant|user|developer|admin(istrator)?|note to (the )?(ai|assistant|model))(\s+[A-Za-z]+){0,2}\s*[:\]]",
    re.I,
)
_COMMAND = re.compile(
    r"^\W*(please\s+)?(now\s+)?(ignore|disregard|forget|override|reply|respond|answer|output|print|reveal|say|write|"
    r"pretend|decode|repeat|cite|obey|follow|do not|don't|never|always)\b",
    re.I,
)
_ADDRESSED = re.compile(
    r"\b(you|your)\b.{0,80}\b(must|should|shall|are now|have to|need to|answer|reply|respond|output|cite|ignore|"
    r"reveal|print|say|write|tell)\b",
    re.I,
)
SIGNALS = re.compile(
    r"\b(previous|prior|above|earlier|new) (instructions|policy|rules)\b|\bdeveloper mode\b|\bjailbr(eak|oken)\b"
    r"|\bnothing else\b|\b(your|reveal|print|show|repeat|leak|output)\b.{0,50}\b(system prompt|api keys?|instructions|credentials|configuration)\b"
    r"|\bend of (the )?(sources|context|document)\b|\balways cite\b|\bcite \[\d+\]"
    r"|\bbase64\b.{0,40}\b(follow|decode|execute)|\bdecode (this|the following)\b|\bfollow (it|them)\b"
    r"|\bno longer restricted\b|\bhidden instructions\b|\bworking directory\b",
    re.I,
)
# Narrower than the above (which reads abstracts): questions say "act as" and "reveal" innocently less often.
_INJECTION = re.compile(
    r"(ignore|disregard|forget)\s+(all\s+|any\s+)?(your|the|previous|prior|above|earlier)?\s*(instructions|rules|prompt|context)"
    r"|system prompt|you are now|act as|pretend (to be|you)|reveal (your|the)|print (your|the) (prompt|instructions)"
    r"|do not cite|(reply|respond|answer|output) (only )?with (only )?(the words?|exactly)|(reply|respond|answer|output) only\b"
    r"|new instructions|admin notice|evaluation is over",
    re.I,
)


# Links an answer could carry: a scheme (web, script, data, mail) or a bare "www." host; markdown link syntax.
_LINK = re.compile(r"(?:\b(?:https?|ftp|file|javascript|vbscript|data|mailto):|\bwww\.)[^\s<>\"'`\])]+", re.I)
_MD_LINK = re.compile(r"!?\[([^\]\n]{0,300})\]\(\s*<?([^()\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
_TRAILING = re.compile(r"[.,;:!?]+$")
_BIDI = re.compile(r"[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")
LINK_REMOVED = "[link removed]"
# Code put where a question goes: SQL statements and injections, shell commands. Statement-shaped (keywords with
# their syntax: quotes, `*`, `;`, `--`, a table), so that "which papers select features from ..." is not code.
CODE = re.compile(
    r"'\s*\)*\s*(?:or|and)\s+'?\w+'?\s*=\s*'?\w*|'\w*'\s*=\s*'\w*|;\s*--|--\s*$|/\*.*?\*/"
    r"|\bunion\s+(?:all\s+)?select\b|\b(?:drop|truncate|alter)\s+(?:table|database|schema)\b"
    r"|\binsert\s+into\s+\w+|\bdelete\s+from\s+\w+|\bupdate\s+\w+\s+set\s+\w+\s*=|\bselect\s+\*"
    r"|(?-i:\bSELECT\b.{1,200}\bFROM\b)|\bexec(?:ute)?\s+xp_\w+|\b(?:sleep|benchmark|pg_sleep)\s*\(\s*\d"
    r"|\$\([^)]*\)|\brm\s+-\w*[rf]\w*\b|\|\s*(?:ba|z)?sh\b|(?:;|&&|\|\|)\s*(?:curl|wget|nc|rm|cat|sh|bash)\b"
    r"|/etc/(?:passwd|shadow)\b",
    re.I | re.S,
)
# `$(...)`, or a backquoted command (a backquoted `torch.compile` is a name, not a command)
_SUBSTITUTION = re.compile(
    r"\$\([^)]*\)|`\s*(?:cat|rm|curl|wget|nc|sh|bash|ls|id|whoami|echo|python3?|perl|chmod|sudo)\b[^`]*`"
)

_ASKS = re.compile(r"\?|\b(what|which|who|how|why|when|where|whether|is there|are there)\b", re.I)


def readable(text: str) -> str:
    """Text safe to tokenise, embed, print and send on: lone surrogates become "?", terminal escapes (CSI and
    OSC sequences) and control characters become spaces. Newlines and tabs are kept."""
    text = text.encode("utf-8", "replace").decode("utf-8")
    return _CONTROL.sub(" ", _ANSI_ESCAPE.sub(" ", text))


def printable(text: str) -> str:
    """Text safe to print on a terminal or write to a log: `readable` (no escape sequences, no control
    characters, no lone surrogates) and no bidirectional overrides. Newlines and tabs are kept."""
    return _BIDI.sub("", readable(text))


def unlinked(text: str, allowed: str) -> tuple[str, list[str]]:
    """`text` (an LLM answer) as plain text, without the links that `allowed` (the abstracts it cites) does not
    contain: each becomes "[link removed]". Markdown links become their text (and their link, when allowed);
    markdown images go (an answer shows none); HTML tags go, their text stays (`<a href=...>Click</a>` is
    "Click"). Returns the text and the links removed."""
    removed: list[str] = []
    known = allowed.lower()

    def keep(url: str) -> bool:
        return bool(url) and url.lower() in known

    def markdown(m: re.Match[str]) -> str:
        label, url = m.group(1).strip(), m.group(2).strip()
        if m.group(0).startswith("!"):
            removed.append(url)
            return ""
        if keep(url):
            return f"{label} ({url})" if label else url
        if url:
            removed.append(url)
        return label or LINK_REMOVED

    def bare(m: re.Match[str]) -> str:
        url = m.group(0)
        tail = _TRAILING.search(url)
        core = url[: tail.start()] if tail else url
        if keep(core):
            return url
        removed.append(core)
        return LINK_REMOVED + (tail.group(0) if tail else "")

    def tag(m: re.Match[str]) -> str:
        for url in _LINK.findall(m.group(0)):
            removed.append(_TRAILING.sub("", url))
        return " "

    text = _MD_LINK.sub(markdown, text)
    text = _ANY_TAG.sub(lambda m: tag(m) if m.group(1).lower() in HTML_ELEMENTS else m.group(0), text)
    return re.sub(r"[ \t]{2,}", " ", _LINK.sub(bare, text)).strip(), removed


def _strip_markup(text: str) -> tuple[str, bool]:
    """Real markup out, text-like angle brackets kept; `_CUT` where content was dropped whole."""
    plain = _ZERO_WIDTH.sub("", text)
    found = False

    def drop(m: re.Match[str]) -> str:
        nonlocal found
        found = True
        return f" {_CUT} "

    plain = _DROP_WHOLE.sub(drop, plain)
    plain, n_inline = _INLINE_TAG.subn("", plain)

    def tag(m: re.Match[str]) -> str:
        nonlocal found
        if m.group(1).lower() in HTML_ELEMENTS or m.group(1).lower() in FENCE_TAGS:
            found = True
            return "\n"
        return m.group(0)

    plain = _ANY_TAG.sub(tag, plain)
    plain, n_chat = _CHAT_TOKEN.subn("\n", plain)
    return plain, found or bool(n_inline or n_chat)


def untrusted_segments(text: str) -> tuple[list[str], bool]:
    """Text with markup taken out, as the runs of prose between markup; and whether any markup was found.
    A run that had content dropped out of it whole keeps a `\\x00` marker where the cut was."""
    plain, found = _strip_markup(text)
    pieces = [" ".join(p.split()) for p in _BREAKS.split(plain)]
    breaks = any(m.group(0).strip() for m in _BREAKS.finditer(plain))
    return [p for p in pieces if p and p != _CUT], found or breaks


def is_instruction(sentence: str) -> bool:
    """A sentence of an abstract that talks to an assistant instead of describing research."""
    return bool(
        ROLE_LABEL.search(sentence)
        or _COMMAND.search(sentence)
        or _ADDRESSED.search(sentence)
        or SIGNALS.search(sentence)
    )


def evidence_sentences(abstract: str) -> list[str]:
    """The sentences of an abstract that may answer a question, verbatim: no markup, no planted instructions,
    no fragments, and none that a removal of content cut into."""
    segments, _ = untrusted_segments(abstract)
    out = []
    for segment in segments:
        # "...without re-training.In the CFDBench paper": a sentence glued to the next when the page was saved
        segment = _GLUED.sub(". ", segment)
        for sentence in split_sentences(segment):
            if _CUT in sentence:
                continue
            if len(tokenize(sentence)) >= 2 and not is_instruction(sentence):
                out.append(sentence)
    return out


def strip_injections(question: str) -> tuple[str, bool]:
    """The question without the sentences that try to instruct the system; and whether any were found."""
    segments, marked_up = untrusted_segments(question)
    segments = [s.replace(_CUT, " ").strip() for s in segments]
    # a command substitution may hold a pipe (`$(curl ... | sh)`): out before the pipes split the text
    substituted = [_SUBSTITUTION.sub(" ", s) for s in segments]
    marked_up = marked_up or substituted != segments
    segments = [s for s in substituted if s.strip()]
    parts = [
        p for seg in segments for chunk in re.split(r"\s*(?:-{3,}|\|)\s*", seg) for p in split_sentences(chunk) if p
    ] or ([] if substituted != segments else [" ".join(question.split())])

    def hostile(p: str) -> bool:
        return bool(_INJECTION.search(p) or SIGNALS.search(p) or ROLE_LABEL.search(p) or CODE.search(p))

    kept = [p for p in parts if not hostile(p)]
    if not kept:  # the instruction may share its sentence with the real question: cut out just the instruction
        kept = [" ".join(SIGNALS.sub(" ", _INJECTION.sub(" ", p)).split()) for p in parts if not CODE.search(p)]
        # what is left is a question only if it still asks something
        kept = [p for p in kept if len(tokenize(p)) >= 2 and not ROLE_LABEL.search(p) and _ASKS.search(p)]
    if len(kept) > 1:  # a stray word left between two instructions ("... this question. PWNED05.") is noise
        kept = [p for p in kept if len(tokenize(p)) >= 2] or kept
    # A leading "Actually, before that:" is what is left of the instruction it followed.
    kept = [
        re.sub(
            r"^(actually|but|instead|first|then)?,?\s*(before (that|you do that)|first)\s*[:,]\s*", "", p, flags=re.I
        )
        for p in kept
    ]
    return " ".join(kept).strip(), marked_up or len(kept) != len(parts) or any(hostile(p) for p in parts)


def fence_safe(text: str) -> str:
    """Untrusted text must not close or open our prompt fences, nor carry chat-template tokens (`<|im_start|>`),
    which some local servers read as real turn boundaries."""
    return _CHAT_TOKEN.sub("[token removed]", _FENCE_TAG.sub("[tag removed]", text))
