"""Which records are the same paper, how their metadata merges, and which id each paper gets.

Records and papers
------------------
A parser gives one `SourceRecord` per (source file, record): what that file says about a paper. A `Paper` is
recomputed from all the records of that paper (`merge_records`); it is never edited in place. So the index
can keep one row per (source file, paper) and rebuild a paper whenever any of its files changes, and an
incremental ingest of one file cannot lose what another file contributed (phase 2 of issue 14):

    source_records(source TEXT, fingerprint TEXT, paper_id TEXT, line INT, record_json TEXT,
                   PRIMARY KEY (source, fingerprint))

Ingesting files F: parse F (all of it, before any write); load the stored records of every other file;
run `build_papers` over the union with `known_ids` = {(source, fingerprint): paper_id} from the table;
replace F's rows; re-embed only the papers whose `content_hash` changed (an unchanged file changes no
fingerprint, so nothing is written); delete papers no record names any more. The papers table then also
needs the merged `doi`, `arxiv_id`, `author_names` (JSON list), `categories` (JSON list), `source_labels`
(JSON list) and the ISO `date`, and `content_hash` should cover them.

Matching (one paper = one entry)
--------------------------------
1. Records sharing an arXiv id or a DOI are one paper (arXiv's own DOIs, 10.48550/arXiv.N, count as the id).
2. Records whose titles normalise alike (case, accents, punctuation, whitespace, LaTeX markup) are one paper
   unless they conflict: both carry arXiv ids (or DOIs) that differ, or their abstracts are different texts
   (word-set Jaccard below `SAME_ABSTRACT_JACCARD`, and neither contains the other). Conflicting ones stay
   separate papers, with a warning; nothing aborts.

Merging (richer metadata wins)
------------------------------
Sources are ranked by `PRIORITY` (curated metadata first: arXiv, Semantic Scholar, Hugging Face, BibTeX,
RIS, CSV, generic JSON, page dumps). Title, abstract, arXiv id, DOI and URL come from the best-ranked
record that has them (an abstract under 80% of the longest one counts as truncated and is passed over);
authors from the longest list; the date with the most precision (YYYY-MM-DD over YYYY-MM over YYYY);
categories, source files and labels are the union.

Ids
---
A paper's id is `paper_id_for(title)`: it does not depend on which sources are present, so a paper first read
from a Daily Papers dump keeps its id when an arXiv export of it arrives. When different papers share a
title, each gets the title id plus a discriminator (its arXiv id, else DOI, else an abstract fingerprint).
Given `known_ids` (from the index), a paper keeps the id its stored records had, so a newcomer with a
clashing title cannot rename a paper already indexed.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence

from ingest.records import Paper, SourceRecord, normalise_title, paper_id_for

PRIORITY = {
    "arxiv-snapshot": 0,
    "semantic-scholar": 1,
    "hf-daily-papers": 2,
    "bibtex": 3,
    "ris": 4,
    "csv": 5,
    "json": 6,
    "daily-papers-dump": 7,
}
# Measured on the 451 bundled abstracts (all 101,475 pairs of distinct papers): word-set Jaccard at most
# 0.587 (two companion papers by the same authors), every other pair under 0.37; the share of the smaller
# set found in the other at most 0.871. Versions of one abstract (whitespace, LaTeX, an edited sentence)
# stay well above both thresholds.
SAME_ABSTRACT_JACCARD = 0.7
SAME_ABSTRACT_CONTAINMENT = 0.95
_WORD = re.compile(r"\w+")

RecordKey = tuple[str, str]


def record_key(record: SourceRecord) -> RecordKey:
    """How the index names a stored record: (source file, fingerprint)."""
    return (record.source, record.fingerprint)


def _strong_keys(r: SourceRecord) -> list[str]:
    keys = [f"arxiv:{r.arxiv_id.lower()}"] if r.arxiv_id else []
    return [*keys, f"doi:{r.doi}"] if r.doi else keys


def _words(text: str) -> frozenset[str]:
    return frozenset(_WORD.findall(text.casefold()))


def abstracts_match(a: str, b: str) -> bool:
    """Whether two abstracts are the same text up to edits: Jaccard of word sets, or one containing the other
    (a truncated export)."""
    wa, wb = _words(a), _words(b)
    if not wa or not wb:
        return False
    inter = len(wa & wb)
    return inter / len(wa | wb) >= SAME_ABSTRACT_JACCARD or inter / min(len(wa), len(wb)) >= SAME_ABSTRACT_CONTAINMENT


class _Groups:
    """Union-find over record indices, with each root's members."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))
        self.members: dict[int, list[int]] = {i: [i] for i in range(n)}

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> int:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return ra
        if ra > rb:
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.members[ra].extend(self.members.pop(rb))
        return ra


def _conflict(rs: Sequence[SourceRecord], other: Sequence[SourceRecord]) -> bool:
    for attr in ("arxiv_id", "doi"):
        mine = {getattr(r, attr) for r in rs} - {None}
        theirs = {getattr(r, attr) for r in other} - {None}
        if mine and theirs and not mine & theirs:
            return True
    return not any(abstracts_match(a.abstract, b.abstract) for a in rs for b in other)


def _order(r: SourceRecord) -> tuple:
    return (PRIORITY.get(r.format, len(PRIORITY)), r.source, r.line)


def group_records(records: Sequence[SourceRecord]) -> tuple[list[list[SourceRecord]], list[str]]:
    """Records -> one list per paper (papers and their records in input order), plus warnings about
    same-title papers kept apart.

    The result does not depend on the order of the input (nor of the files).
    """
    groups = _Groups(len(records))
    first_with: dict[str, int] = {}
    for i, r in enumerate(records):
        for key in _strong_keys(r):
            if key in first_with:
                groups.union(first_with[key], i)
            else:
                first_with[key] = i

    by_title: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(records):
        by_title[normalise_title(r.title)].append(i)
    warnings = []
    for norm in sorted(by_title):
        roots = sorted({groups.find(i) for i in by_title[norm]}, key=lambda g: _canonical(groups, records, g))
        clusters: list[int] = []
        for root in roots:
            mine = [records[i] for i in groups.members[groups.find(root)]]
            for c in clusters:
                theirs = [records[i] for i in groups.members[groups.find(c)]]
                if not _conflict(mine, theirs):
                    groups.union(c, root)
                    break
            else:
                clusters.append(root)
        if len({groups.find(c) for c in clusters}) > 1:
            places = ", ".join(f"{records[groups.find(c)].source}:{records[groups.find(c)].line}" for c in clusters)
            warnings.append(
                f"{len(clusters)} different papers share the title {records[by_title[norm][0]].title[:80]!r} "
                f"({places}); kept apart by their ids or abstracts"
            )
    ordered = sorted((sorted(members) for members in groups.members.values()), key=lambda m: m[0])
    return [[records[i] for i in members] for members in ordered], warnings


def _canonical(groups: _Groups, records: Sequence[SourceRecord], root: int) -> tuple:
    rs = [records[i] for i in groups.members[groups.find(root)]]
    keys = sorted(k for r in rs for k in _strong_keys(r))
    return (0 if keys else 1, keys, sorted(_order(r) for r in rs))


def merge_records(records: Sequence[SourceRecord], paper_id: str = "") -> tuple[Paper, list[str]]:
    """One paper from all its records (see the module docstring for the rule), plus warnings when the
    records of one paper (matched by arXiv id or DOI) carry different abstracts."""
    ranked = sorted(records, key=_order)
    longest = max(len(r.abstract) for r in ranked)
    best = next(r for r in ranked if len(r.abstract) >= 0.8 * longest)
    warnings = []
    odd = [r for r in ranked if r.abstract != best.abstract and not abstracts_match(r.abstract, best.abstract)]
    if odd:
        places = ", ".join(f"{r.source}:{r.line}" for r in odd)
        warnings.append(
            f"{best.title[:80]!r}: {places} give a different abstract; kept the one from {best.source}:{best.line}"
        )

    def first(attr: str) -> str | None:
        return next((getattr(r, attr) for r in ranked if getattr(r, attr)), None)

    authors = max((r.authors for r in ranked), key=len)
    date = max((r.date for r in ranked if r.date), key=len, default=None)
    paper = Paper(
        title=ranked[0].title,
        abstract=best.abstract,
        sources=list(dict.fromkeys(r.source for r in records)),
        url=first("url"),
        date=date or first("listed"),
        arxiv_id=first("arxiv_id"),
        doi=first("doi"),
        author_names=authors,
        categories=tuple(dict.fromkeys(c for r in ranked for c in r.categories)),
        source_labels=tuple(dict.fromkeys(r.label for r in records if r.label)),
        listed=tuple(dict.fromkeys(r.listed for r in records if r.listed)),
        records=tuple(records),
        paper_id=paper_id,
    )
    return paper, warnings


def _discriminator(rs: Sequence[SourceRecord]) -> str:
    ranked = sorted(rs, key=_order)
    if arxiv := next((r.arxiv_id for r in ranked if r.arxiv_id), None):
        return arxiv
    if doi := next((r.doi for r in ranked if r.doi), None):
        return "doi-" + hashlib.sha1(doi.encode()).hexdigest()[:8]
    words = " ".join(sorted(_words(ranked[0].abstract)))
    return "a" + hashlib.sha1(words.encode()).hexdigest()[:8]


def assign_ids(groups: Sequence[Sequence[SourceRecord]], known_ids: Mapping[RecordKey, str] | None = None) -> list[str]:
    """A paper id per group: the id its records already had in the index (`known_ids`), else the title id,
    else (when different papers share the title) the title id plus a discriminator."""
    known = known_ids or {}
    ids: list[str | None] = [None] * len(groups)
    claimed: set[str] = set()
    order = sorted(range(len(groups)), key=lambda g: sorted(_order(r) for r in groups[g]))
    for g in order if known else ():
        votes = Counter(known[k] for r in groups[g] if (k := record_key(r)) in known)
        for pid, _ in sorted(votes.items(), key=lambda kv: (-kv[1], kv[0])):
            if pid not in claimed:
                ids[g] = pid
                claimed.add(pid)
                break
    titles = {g: sorted(groups[g], key=_order)[0].title for g in range(len(groups))}
    base = {g: paper_id_for(titles[g]) for g in range(len(groups)) if ids[g] is None}
    shared = Counter(base.values())
    for g in order:
        if ids[g] is not None:
            continue
        pid = base[g]
        if shared[pid] > 1 or pid in claimed:
            pid = paper_id_for(titles[g], _discriminator(groups[g]))
        n = 2
        while pid in claimed:  # two discriminators alike: cannot happen for distinct papers, but never collide
            pid = f"{pid.rsplit('~', 1)[0]}~{n}"
            n += 1
        ids[g] = pid
        claimed.add(pid)
    return [pid for pid in ids if pid is not None]


def build_papers(
    records: Iterable[SourceRecord], known_ids: Mapping[RecordKey, str] | None = None
) -> tuple[list[Paper], list[str]]:
    """Records from any number of files -> papers (in order of first appearance) and warnings."""
    records = list(records)
    groups, warnings = group_records(records)
    papers = []
    for rs, pid in zip(groups, assign_ids(groups, known_ids), strict=True):
        paper, notes = merge_records(rs, pid)
        papers.append(paper)
        warnings.extend(notes)
    return papers, warnings
