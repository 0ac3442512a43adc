"""The index: a SQLite manifest (the record of what is committed), Chroma vectors and BM25 beside them.

manifest.py   the catalogue of committed papers and chunks, and the settings the index was built with
dense.py      Chroma (local files or a `chroma run` server; injectable client)
sparse.py     BM25 and the product's lexical tokenizer
snapshot.py   a frozen, versioned view of one committed state that retrieval and the generators read
health.py     is it readable, complete, and built with these settings and this embedding model?
writer.py     the only code that writes: lock, journal, the commit protocol (recovery.py: after a crash)
api.py        `Index`: fresh snapshots before every query, writes routed to the writer
"""

from rag.index.api import Index
from rag.index.errors import (
    IndexBusy,
    IndexCorrupt,
    IndexMismatch,
    IndexProblem,
    IndexUnavailable,
    IndexWriteFailed,
)
from rag.index.rows import PaperMeta
from rag.index.snapshot import Snapshot, StaleSnapshot

__all__ = [
    "Index",
    "IndexBusy",
    "IndexCorrupt",
    "IndexMismatch",
    "IndexProblem",
    "IndexUnavailable",
    "IndexWriteFailed",
    "PaperMeta",
    "Snapshot",
    "StaleSnapshot",
]
