"""The per-article size limit (RAG_MAX_DOCUMENT_CHARS), enforced on what is actually indexed.

Every way in (CLI files and folders, HTTP uploads of any type, JSON bodies, the seeds) passes
each cleaned `Article` through `Indexer.admit` before it is chunked, so the limit is checked
there, once, on the text that would be chunked. A check on the raw request (bytes of a file, a guess at the
longest record) can be fooled by a byte-order mark or a junk line that the loader tolerates;
the cleaned article cannot.
"""

from __future__ import annotations

import logging

from rag.ingest.indexer import Indexer
from rag.schema import Article, IngestReport

log = logging.getLogger(__name__)


def too_large(article: Article, max_chars: int) -> str | None:
    """Why this article may not be indexed (its cleaned text is over the limit), else None."""
    if len(article.text) <= max_chars:
        return None
    where = article.source or article.doc_id
    return (
        f"{where}: the article is {len(article.text):,} characters after cleaning, over the limit of {max_chars:,} "
        "(RAG_MAX_DOCUMENT_CHARS); split it into several articles, or raise the limit."
    )


def within_limit(articles: list[Article], max_chars: int, report: IngestReport) -> list[Article]:
    """The articles under the limit; each one over it goes into `report.skipped` and `report.too_large`."""
    kept = []
    for article in articles:
        if reason := too_large(article, max_chars):
            report.skipped[article.source or article.doc_id] = reason
            report.too_large.append(article.doc_id)
            log.warning("skipped %s", reason)
        else:
            kept.append(article)
    return kept


class LimitedIndexer(Indexer):
    """An `Indexer` that refuses articles over `max_chars`; the others in the same ingest go on."""

    def __init__(self, *args, max_chars: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.max_chars = max_chars

    def admit(self, article: Article, report: IngestReport) -> bool:
        """Every article of every ingest passes here (files, uploads, feeds) before it is chunked."""
        return bool(within_limit([article], self.max_chars, report))
