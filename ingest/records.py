"""Records that parsers produce and chunking consumes: `SourceRecord` (what one file says about one paper),
`Paper` (the merged entry) and `Chunk`, with derived ids and hashes."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass, field, fields
from functools import cached_property, lru_cache
from typing import Any

_WS = re.compile(r"\s+")
_NON_WORD = re.compile(r"[\W_]+")
_NON_SLUG = re.compile(r"[^0-9a-z]+")
# A bare "%" starts a LaTeX comment and would drop the rest of a plain-text title ("50% fewer ...").
_BARE_PERCENT = re.compile(r"(?<!\\)%")
_LATEX_HINT = re.compile(r"[\\$]|\{")


def clean_text(text: str) -> str:
    """Collapse whitespace and strip; the canonical form of any title or abstract."""
    # Fast path for text that is already clean: printable text holds no whitespace but U+0020.
    if text.isprintable() and "  " not in text and text[:1] != " " and text[-1:] != " ":
        return text
    return _WS.sub(" ", text).strip()


@lru_cache(maxsize=1)
def _latex_converter() -> Any:
    from pylatexenc.latex2text import LatexNodes2Text

    return LatexNodes2Text(math_mode="text", strict_latex_spaces=True)


def latex_to_text(text: str) -> str:
    """`\\textbf{Fast} $\\alpha$-nets` -> `Fast α-nets` (pylatexenc); text without LaTeX markup is returned as is.

    For titles anywhere and for the fields of sources that write LaTeX (BibTeX, the arXiv snapshot). Plain
    abstracts from other sources are left alone: a stray brace or dollar there is text, not markup.
    """
    if not _LATEX_HINT.search(text):
        return text
    try:
        return _latex_converter().latex_to_text(_BARE_PERCENT.sub(r"\\%", text))
    except Exception:  # pylatexenc is lenient, but a title must never fail to normalise
        return text


@lru_cache(maxsize=262_144)
def normalise_title(title: str) -> str:
    """Case-, accent-, punctuation- and LaTeX-insensitive form of a title, used to derive ids and to match titles.

    `\\textbf{Attention} is all you need.` and `attention IS all you need` normalise alike. Letters outside
    ASCII (Greek, Cyrillic, CJK) are kept: dropping them made every title written in them normalise to ""
    and share one id.
    """
    decomposed = unicodedata.normalize("NFKD", latex_to_text(title))
    folded = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return _NON_WORD.sub(" ", folded).strip()


def paper_id_for(title: str, discriminator: str | None = None) -> str:
    """Stable id: a readable slug plus a hash of the normalised title.

    `discriminator` (an arXiv id, a DOI or an abstract fingerprint) is given only when different papers
    share a title, so each keeps its own id. The id never depends on which sources gave the paper: the same
    paper read from a Daily Papers dump (no arXiv id) and from an arXiv export gets the same id.
    """
    norm = normalise_title(title)
    slug = _NON_SLUG.sub("-", norm)[:48].strip("-") or "untitled"
    base = f"{slug}-{hashlib.sha1(norm.encode()).hexdigest()[:10]}"
    if not discriminator:
        return base
    return f"{base}-{_NON_SLUG.sub('-', discriminator.lower()).strip('-')[:40]}"


@dataclass(frozen=True)
class SourceRecord:
    """What one source file says about one paper, in the project's own terms.

    `source` is the file name and `line` the line the record starts on (1-based). `date` is ISO 8601 with
    the precision the source has (`YYYY-MM-DD`, `YYYY-MM` or `YYYY`); `listed` is a date the source shows
    without a year (a Daily Papers dump's "Mar 11"), kept for display and never turned into a guessed year.
    `label` is how a person names the source ("Daily Papers, Mar 11", "Zotero export (library.csv)").
    """

    source: str
    line: int
    format: str
    title: str
    abstract: str
    authors: tuple[str, ...] = ()
    date: str | None = None
    listed: str | None = None
    arxiv_id: str | None = None
    doi: str | None = None
    url: str | None = None
    categories: tuple[str, ...] = ()
    label: str = ""

    def _fields(self) -> dict[str, Any]:
        # Not dataclasses.asdict: it deep-copies every value, and the index reads every stored record per ingest.
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def to_json(self) -> str:
        """One JSON object (the store keeps it per (source file, paper) and rebuilds the paper from it)."""
        return json.dumps(self._fields(), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> SourceRecord:
        data = json.loads(text)
        for name in ("authors", "categories"):
            data[name] = tuple(data.get(name) or ())
        return cls(**data)

    @cached_property
    def fingerprint(self) -> str:
        """Hash of everything but the line number: moving a record inside its file changes nothing."""
        data = self._fields()
        data.pop("line")
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:20]


@dataclass
class Paper:
    """One paper: title and abstract plus where it came from, merged from one or more `SourceRecord`s.

    `date` is what is shown and filtered on: ISO (`YYYY[-MM[-DD]]`) when any source gives a year, else the
    listing date of a Daily Papers dump ("Mar 11"); `listed` keeps every dump listing date of the paper, so that
    "Mar 11" still finds it once another source has given it an ISO date. `authors` is the display form of `author_names`
    (joined with ", "), kept as text because the index stores it as one column. `paper_id` is set by
    `ingest.identity` (from the title, plus a discriminator when different papers share it); when not given
    it is derived from the title. `content_hash` is derived.
    """

    title: str
    abstract: str
    sources: list[str] = field(default_factory=list)
    url: str | None = None
    date: str | None = None
    authors: str | None = None
    arxiv_id: str | None = None
    doi: str | None = None
    author_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    source_labels: tuple[str, ...] = ()
    listed: tuple[str, ...] = ()
    records: tuple[SourceRecord, ...] = ()
    paper_id: str = ""

    def __post_init__(self) -> None:
        self.title = clean_text(self.title)
        self.abstract = clean_text(self.abstract)
        if self.author_names and not self.authors:
            self.authors = ", ".join(self.author_names)
        if not self.paper_id:
            self.paper_id = paper_id_for(self.title)

    @property
    def year(self) -> int | None:
        """The year when the date carries one (ISO dates only; "Mar 11" has none)."""
        return int(self.date[:4]) if self.date and re.match(r"^\d{4}(-|$)", self.date) else None

    @property
    def content_hash(self) -> str:
        """Hash of everything that is indexed, shown or filtered on (title, abstract, url, date, listing dates,
        authors, arXiv id, DOI, categories); not of where the paper came from (files, source labels), which the
        index tracks with the paper's records."""
        h = hashlib.sha256()
        parts = (
            self.title,
            self.abstract,
            self.url or "",
            self.date or "",
            self.authors or "",
            "\x1f".join(self.author_names),
            self.arxiv_id or "",
            self.doi or "",
            "\x1f".join(self.categories),
            "\x1f".join(self.listed),
        )
        for part in parts:
            h.update(part.encode())
            h.update(b"\x00")
        return h.hexdigest()[:20]


@dataclass(frozen=True)
class Chunk:
    """A token-bounded piece of one abstract, with the title prefixed so dense search sees it."""

    paper_id: str
    chunk_no: int
    text: str
    title: str

    @property
    def chunk_id(self) -> str:
        return f"{self.paper_id}:{self.chunk_no}"
