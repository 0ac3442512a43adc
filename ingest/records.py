"""Records that parsers produce and chunking consumes: `Paper` and `Chunk`, with derived ids and hashes."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field

_WS = re.compile(r"\s+")
_NON_WORD = re.compile(r"[\W_]+")
_NON_SLUG = re.compile(r"[^0-9a-z]+")


def clean_text(text: str) -> str:
    """Collapse whitespace and strip; the canonical form of any title or abstract."""
    return _WS.sub(" ", text).strip()


def normalise_title(title: str) -> str:
    """Case-, accent- and punctuation-insensitive form of a title, used to derive ids and to match titles.

    Letters outside ASCII (Greek, Cyrillic, CJK) are kept: dropping them made every title written in them
    normalise to "" and share one id.
    """
    decomposed = unicodedata.normalize("NFKD", title)
    folded = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return _NON_WORD.sub(" ", folded).strip()


def paper_id_for(title: str, arxiv_id: str | None = None) -> str:
    """Stable id: the arXiv id when a source gives one, else a readable slug plus a hash of the normalised title."""
    if arxiv_id:
        return "arxiv-" + re.sub(r"[^0-9A-Za-z.]+", "-", arxiv_id.strip()).strip("-")
    norm = normalise_title(title)
    slug = _NON_SLUG.sub("-", norm)[:48].strip("-") or "untitled"
    return f"{slug}-{hashlib.sha1(norm.encode()).hexdigest()[:10]}"


@dataclass
class Paper:
    """One paper: title and abstract plus where it came from. `paper_id` and `content_hash` are derived."""

    title: str
    abstract: str
    sources: list[str] = field(default_factory=list)
    url: str | None = None
    date: str | None = None
    authors: str | None = None
    arxiv_id: str | None = None

    def __post_init__(self) -> None:
        self.title = clean_text(self.title)
        self.abstract = clean_text(self.abstract)

    @property
    def paper_id(self) -> str:
        return paper_id_for(self.title, self.arxiv_id)

    @property
    def content_hash(self) -> str:
        """Hash of everything that is indexed or shown; metadata changes re-index the paper too."""
        h = hashlib.sha256()
        for part in (self.title, self.abstract, self.url or "", self.date or "", self.authors or ""):
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
