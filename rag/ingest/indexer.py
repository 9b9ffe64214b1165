"""Ingest: files -> articles -> chunks -> embeddings -> store and keyword index."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterable
from contextlib import nullcontext
from pathlib import Path

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding
from tqdm import tqdm

from rag.errors import UnreadableFile
from rag.ingest.chunk import Chunker
from rag.ingest.load import iter_files, load_file
from rag.keyword import KeywordIndex
from rag.schema import Article, IngestReport
from rag.store import ChromaStore

log = logging.getLogger(__name__)

NEAR_DUPLICATE_ARTICLE = 0.9  # cosine of mean chunk embeddings


def _file_of(source: str | None) -> str | None:
    """The file an article was read from: its source without a `#record` suffix."""
    return re.sub(r"#\d+$", "", source) if source else None


class Indexer:
    def __init__(self, store: ChromaStore, embedding: BaseEmbedding, chunker: Chunker, keyword: KeywordIndex) -> None:
        self.store = store
        self.embedding = embedding
        self.chunker = chunker
        self.keyword = keyword
        self._refreshing = threading.Lock()

    def ingest_paths(self, paths: Iterable[Path], progress: bool = False) -> IngestReport:
        """Ingest files and folders; a bad file (or record) is reported in `skipped` and the rest go on."""
        report = IngestReport()
        articles: list[Article] = []
        for path in iter_files(list(paths)):
            try:
                articles.extend(load_file(path, skipped=report.skipped))
            except UnreadableFile as e:
                report.skipped[str(path)] = e.message
                log.warning("skipped %s", e.message)
            except Exception as e:  # a failure the loader does not foresee still costs only this file
                report.skipped[str(path)] = f"{path}: could not be read ({type(e).__name__}: {e}); check the file."
                log.warning("skipped %s", path, exc_info=True)
        return self.ingest_articles(articles, progress=progress, report=report)

    def ingest_articles(
        self, articles: list[Article], progress: bool = False, report: IngestReport | None = None
    ) -> IngestReport:
        """Chunk every new or changed article, embed all their chunks in one batched pass, then store.

        An article that fails to store is reported in `skipped` (its previous version stays) and the
        rest go on; the keyword index is refreshed whatever happens.
        """
        report = report or IngestReport()
        started = time.perf_counter()
        pending: list[tuple[Article, list, bool]] = []  # (article, nodes, is_update)
        for article in self._distinct_ids(articles, report):
            stored = self.store.stored_version(article.doc_id)
            if stored and stored[0] == article.content_hash and stored[1] in ("", self.chunker.signature):
                report.unchanged.append(article.doc_id)  # same text, chunked as RAG_CHUNK_SIZE/_OVERLAP say
                continue
            if stored:
                self._warn_if_other_source(article, report)
            try:
                pending.append((article, self.chunker.split(article), stored is not None))
            except Exception as e:  # an article the splitter cannot handle
                report.skipped[article.source or article.doc_id] = f"{type(e).__name__}: {e}"
                log.warning("skipped %s: %s", article.doc_id, e)
        try:
            # The whole batch or nothing, if another process has the embedded collection open (StoreBusy).
            with self.store.writing() if pending else nullcontext():
                self._embed_and_store(pending, report, progress)
        finally:
            if pending or not self.keyword.is_current(self.store.chunk_ids()):
                self.refresh_keyword_index()
        report.seconds = time.perf_counter() - started
        return report

    def _embed_and_store(self, pending: list[tuple[Article, list, bool]], report: IngestReport, progress: bool) -> None:
        texts = [n.text for _, nodes, _ in pending for n in nodes]
        vectors = self._embed(texts, progress)
        cursor = 0
        for article, nodes, is_update in pending:
            for node in nodes:
                node.embedding = vectors[cursor]
                cursor += 1
            try:
                self._store(article, nodes)
            except Exception as e:
                where = article.source or article.doc_id
                report.skipped[where] = (
                    f"{where}: not stored ({type(e).__name__}: {e}); any earlier version of '{article.doc_id}' "
                    "is kept: ingest it again once the store is reachable."
                )
                report.not_stored.append(article.doc_id)
                log.warning("could not store %s", article.doc_id, exc_info=True)
                continue
            report.chunks += len(nodes)
            (report.updated if is_update else report.added).append(article.doc_id)

    @staticmethod
    def _distinct_ids(articles: list[Article], report: IngestReport) -> list[Article]:
        """The articles with one article per doc id: a second article claiming a taken id is skipped."""
        first: dict[str, Article] = {}
        for article in articles:
            taken = first.setdefault(article.doc_id, article)
            if taken is not article and taken.content_hash != article.content_hash:  # the same text twice: no clash
                where = article.source or article.doc_id
                report.skipped[where] = (
                    f"{where}: document id '{article.doc_id}' is already taken by {taken.source or 'another article'} "
                    "in this ingest; rename the file or give the article its own 'id'."
                )
                log.warning("skipped %s", report.skipped[where])
        return list(first.values())

    def _warn_if_other_source(self, article: Article, report: IngestReport) -> None:
        """An update read from another file than the stored version, while that file is still there,
        may be a different article under the same id (a moved file, or an upload's temporary copy, is not)."""
        old, new = (_file_of(s) for s in (self.store.source(article.doc_id), article.source))
        if old and new and old != new and new != "upload" and Path(old).is_file():
            report.warnings.append(
                f"{article.source}: replaced document '{article.doc_id}', which was read from {old}; if they are "
                "different articles, rename one file or give it its own 'id', and ingest both again."
            )
            log.warning("%s", report.warnings[-1])

    def _embed(self, texts: list[str], progress: bool) -> list[list[float]]:
        step = 256
        vectors: list[list[float]] = []
        with tqdm(total=len(texts), desc="embed", unit="chunk", disable=not progress or not texts, leave=False) as bar:
            for i in range(0, len(texts), step):
                vectors.extend(self.embedding.get_text_embedding_batch(texts[i : i + step]))
                bar.update(len(texts[i : i + step]))
        return vectors

    def _store(self, article: Article, nodes: list) -> None:
        mean = np.mean(np.asarray([n.embedding for n in nodes], dtype=np.float32), axis=0)
        mean /= max(float(np.linalg.norm(mean)), 1e-12)
        near = self.store.similar_docs(mean, exclude=article.doc_id, threshold=NEAR_DUPLICATE_ARTICLE)
        self.store.put_article(article, nodes, near, chunking=self.chunker.signature)

    def remove(self, doc_id: str) -> None:
        self.store.delete_article(doc_id)
        self.refresh_keyword_index()

    def refresh_keyword_index(self) -> None:
        with self._refreshing:  # one rebuild at a time (ingests, removals, the server-mode watcher)
            ids, texts, metas = self.store.all_chunks()
            self.keyword.rebuild(ids, texts, metas)

    def ensure_keyword_index(self) -> None:
        """At start-up: reload is enough unless the chunks changed behind our back."""
        if not self.keyword.is_current(self.store.chunk_ids()):
            self.refresh_keyword_index()
