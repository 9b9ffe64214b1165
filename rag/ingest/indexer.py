"""Ingest: files -> articles -> chunks -> embeddings -> store and keyword index."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
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


class Indexer:
    def __init__(self, store: ChromaStore, embedding: BaseEmbedding, chunker: Chunker, keyword: KeywordIndex) -> None:
        self.store = store
        self.embedding = embedding
        self.chunker = chunker
        self.keyword = keyword

    def ingest_paths(self, paths: Iterable[Path], progress: bool = False) -> IngestReport:
        """Ingest files and folders; a bad file is reported in `skipped` and the rest go on."""
        report = IngestReport()
        articles: list[Article] = []
        for path in iter_files(list(paths)):
            try:
                articles.extend(load_file(path))
            except UnreadableFile as e:
                report.skipped[str(path)] = e.message
                log.warning("skipped %s", e.message)
        return self.ingest_articles(articles, progress=progress, report=report)

    def ingest_articles(
        self, articles: list[Article], progress: bool = False, report: IngestReport | None = None
    ) -> IngestReport:
        """Chunk every new or changed article, embed all their chunks in one batched pass, then store."""
        report = report or IngestReport()
        started = time.perf_counter()
        pending: list[tuple[Article, list, bool]] = []  # (article, nodes, is_update)
        for article in articles:
            old_hash = self.store.content_hash(article.doc_id)
            if old_hash == article.content_hash:
                report.unchanged.append(article.doc_id)
                continue
            try:
                pending.append((article, self.chunker.split(article), old_hash is not None))
            except Exception as e:  # an article the splitter cannot handle
                report.skipped[article.source or article.doc_id] = f"{type(e).__name__}: {e}"
                log.warning("skipped %s: %s", article.doc_id, e)
        texts = [n.text for _, nodes, _ in pending for n in nodes]
        vectors = self._embed(texts, progress)
        cursor = 0
        for article, nodes, is_update in pending:
            for node in nodes:
                node.embedding = vectors[cursor]
                cursor += 1
            self._store(article, nodes)
            report.chunks += len(nodes)
            (report.updated if is_update else report.added).append(article.doc_id)
        if pending or not self.keyword.is_current(self.store.chunk_ids()):
            self.refresh_keyword_index()
        report.seconds = time.perf_counter() - started
        return report

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
        self.store.put_article(article, nodes, near)

    def remove(self, doc_id: str) -> None:
        self.store.delete_article(doc_id)
        self.refresh_keyword_index()

    def refresh_keyword_index(self) -> None:
        ids, texts, metas = self.store.all_chunks()
        self.keyword.rebuild(ids, texts, metas)

    def ensure_keyword_index(self) -> None:
        """At start-up: reload is enough unless the chunks changed behind our back."""
        if not self.keyword.is_current(self.store.chunk_ids()):
            self.refresh_keyword_index()
