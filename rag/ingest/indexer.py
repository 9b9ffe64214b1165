"""Ingest: files -> articles -> chunks -> embeddings -> store and keyword index."""

from __future__ import annotations

import logging
import os
import queue
import re
import threading
import time
from collections.abc import Iterable
from contextlib import nullcontext
from pathlib import Path

import numpy as np
from tqdm import tqdm

from rag.components import Embedder, KeywordIndex, VectorStore
from rag.errors import UnreadableFile
from rag.ingest.chunk import Chunker
from rag.ingest.load import iter_files, load_file
from rag.schema import Article, IngestReport
from rag.store import StoredArticle

log = logging.getLogger(__name__)

NEAR_DUPLICATE_ARTICLE = 0.9  # cosine of mean chunk embeddings
BATCH_CHUNKS = 256  # chunks embedded per batch; each batch is stored while the next is embedded


def _file_of(source: str | None) -> str | None:
    """The file an article was read from: its source without a `#record` suffix."""
    return re.sub(r"#\d+$", "", source) if source else None


class Indexer:
    def __init__(self, store: VectorStore, embedding: Embedder, chunker: Chunker, keyword: KeywordIndex) -> None:
        self.store = store
        self.embedding = embedding
        self.chunker = chunker
        self.keyword = keyword
        self._refreshing = threading.RLock()
        self.batch_chunks = int(os.environ.get("RAG_INGEST_BATCH") or BATCH_CHUNKS)

    def ingest_paths(self, paths: Iterable[Path], progress: bool = False) -> IngestReport:
        """Ingest files and folders; a bad file (or record) is reported in `skipped` and the rest go on."""
        report = IngestReport()
        articles: list[Article] = []
        files = list(iter_files(list(paths)))
        with tqdm(total=len(files), desc="read", unit="file", disable=not progress or not files) as bar:
            for path in files:
                try:
                    articles.extend(load_file(path, skipped=report.skipped))
                except UnreadableFile as e:
                    report.skipped[str(path)] = e.message
                    log.warning("skipped %s", e.message)
                except Exception as e:  # a failure the loader does not foresee still costs only this file
                    report.skipped[str(path)] = f"{path}: could not be read ({type(e).__name__}: {e}); check the file."
                    log.warning("skipped %s", path, exc_info=True)
                bar.update(1)
            return self.ingest_articles(articles, progress=progress, report=report, bar=bar)

    def ingest_articles(
        self, articles: list[Article], progress: bool = False, report: IngestReport | None = None, bar: tqdm | None = None
    ) -> IngestReport:
        """Chunk every new or changed article, embed the chunks in batches, and store each batch
        (with a writer thread, while the next batch is embedded).

        Articles stored before with the same content hash and chunking are skipped, so an
        ingest that was interrupted goes on where it stopped. An article that fails to store is
        reported in `skipped` (its previous version stays) and the rest go on.
        """
        report = report or IngestReport()
        started = time.perf_counter()
        with nullcontext(bar) if bar is not None else tqdm(disable=not progress, unit="chunk") as bar:
            pending = self._chunk_changed(self._distinct_ids(articles, report), report, bar)
            if pending:
                bar.unit = "chunk"
                bar.set_description("embed and store", refresh=False)
                bar.reset(total=sum(len(nodes) for _, nodes, _ in pending))
                self._embed_and_store(pending, report, bar)
            elif not self.keyword.is_current(self.store.chunk_ids()):
                self.refresh_keyword_index()  # nothing to write, but the keyword index lags the store
        report.seconds = time.perf_counter() - started
        return report

    def _chunk_changed(
        self, distinct: list[Article], report: IngestReport, bar: tqdm
    ) -> list[tuple[Article, list, bool]]:
        """(article, nodes, is_update) for each new or changed article, read against the store
        in one call; the unchanged ones go to `report.unchanged` (an interrupted ingest goes on
        where it stopped), the ones the splitter cannot cut to `report.skipped`."""
        stored = self.store.stored_versions([a.doc_id for a in distinct]) if distinct else {}
        pending: list[tuple[Article, list, bool]] = []
        bar.unit = "article"
        bar.set_description("chunk", refresh=False)
        bar.reset(total=len(distinct))
        for article in distinct:
            bar.update(1)
            known = stored.get(article.doc_id)
            if known and known[0] == article.content_hash and known[1] in ("", self.chunker.signature):
                report.unchanged.append(article.doc_id)  # same text, chunked as RAG_CHUNK_SIZE/_OVERLAP say
                continue
            if known:
                self._warn_if_other_source(article, report)
            try:
                pending.append((article, self.chunker.split(article), known is not None))
            except Exception as e:  # an article the splitter cannot handle
                report.skipped[article.source or article.doc_id] = f"{type(e).__name__}: {e}"
                log.warning("skipped %s: %s", article.doc_id, e)
        return pending

    def _embed_and_store(self, pending: list[tuple[Article, list, bool]], report: IngestReport, bar: tqdm) -> None:
        """Embed batch after batch on this thread; a writer thread stores each batch's finished
        articles meanwhile. The writer holds the collection for the whole ingest, so the whole
        ingest or nothing, if another process has the embedded collection open (StoreBusy)."""
        writer = _Writer(self, report, bar)
        writer.start()
        try:
            batch: list[tuple[Article, list, bool]] = []
            texts: list[str] = []
            for item in pending:
                batch.append(item)
                texts += [n.text for n in item[1]]
                if len(texts) >= self.batch_chunks:
                    self._embed_batch(batch, texts, bar, writer)
                    batch, texts = [], []
            if batch:
                self._embed_batch(batch, texts, bar, writer)
        finally:
            try:
                writer.finish()
            finally:
                if writer.failed:
                    self._catch_up()

    def _catch_up(self) -> None:
        """After a failed batch (stored in part, perhaps): the keyword index follows the store."""
        try:
            self.refresh_keyword_index()
        except Exception:
            log.warning("could not bring the keyword index up to date; the next start does", exc_info=True)

    def _embed_batch(self, batch: list[tuple[Article, list, bool]], texts: list[str], bar: tqdm, writer: _Writer) -> None:
        writer.check()
        vectors = self.embedding.get_text_embedding_batch(texts)
        cursor = 0
        for _, nodes, _ in batch:
            for node in nodes:
                node.embedding = vectors[cursor]
                cursor += 1
        writer.put(batch)
        bar.set_postfix(embedded=bar.n + writer.queued_chunks(), refresh=False)

    def _commit(self, batch: list[tuple[Article, list, bool]], report: IngestReport, bar: tqdm) -> None:
        """Store a batch of embedded articles: near-duplicates looked up for the batch at once,
        then all chunks and records in a few writes, then the keyword index updated for them."""
        items = [StoredArticle(a, nodes, [], self.chunker.signature) for a, nodes, _ in batch]
        self._near_duplicates(items)
        try:
            self.store.put_articles(items)
            stored = items
        except Exception:
            log.warning("a batch of %d articles failed to store; storing them one by one", len(items), exc_info=True)
            stored = [it for it in items if self._store_one(it, report)]
        by_id = {it.article.doc_id: it for it in stored}
        self._index_keywords(stored)
        for article, nodes, is_update in batch:
            if article.doc_id in by_id:
                report.chunks += len(nodes)
                (report.updated if is_update else report.added).append(article.doc_id)
        bar.update(sum(len(nodes) for _, nodes, _ in batch))

    def _store_one(self, item: StoredArticle, report: IngestReport) -> bool:
        article = item.article
        try:
            self.store.put_article(article, item.nodes, item.near_duplicates, chunking=item.chunking)
            return True
        except Exception as e:
            where = article.source or article.doc_id
            report.skipped[where] = (
                f"{where}: not stored ({type(e).__name__}: {e}); any earlier version of '{article.doc_id}' "
                "is kept: ingest it again once the store is reachable."
            )
            report.not_stored.append(article.doc_id)
            log.warning("could not store %s", article.doc_id, exc_info=True)
            return False

    def _near_duplicates(self, items: list[StoredArticle]) -> None:
        """Each article's near-duplicates: stored articles (one query for the batch) and the
        articles before it in this batch (as if they had been stored one by one)."""
        means = np.stack([_mean(it.nodes) for it in items])
        found = self.store.similar_docs_many(means, [it.article.doc_id for it in items], NEAR_DUPLICATE_ARTICLE)
        similar = means @ means.T
        for k, item in enumerate(items):
            earlier = [items[j].article.doc_id for j in range(k) if similar[k, j] >= NEAR_DUPLICATE_ARTICLE]
            item.near_duplicates = list(dict.fromkeys(found[k] + [d for d in earlier if d != item.article.doc_id]))

    def _index_keywords(self, stored: list[StoredArticle]) -> None:
        if not stored:
            return
        ids = [n.node_id for it in stored for n in it.nodes]
        texts = [n.text for it in stored for n in it.nodes]
        metas = [{**n.metadata, "version": it.version} for it in stored for n in it.nodes]
        with self._refreshing:
            self.keyword.update({it.article.doc_id for it in stored}, ids, texts, metas)

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

    def remove(self, doc_id: str) -> None:
        self.store.delete_article(doc_id)
        with self._refreshing:
            self.keyword.update({doc_id}, [], [], [])

    def refresh_keyword_index(self) -> None:
        """Bring the keyword index up to the store's current articles: only the articles whose
        version changed are read and indexed (another process, or replica, wrote them)."""
        with self._refreshing:  # one change at a time (ingests, removals, the server-mode watcher)
            live = self.store.live_versions(refresh=True)
            indexed = self.keyword.doc_versions()
            changed = [d for d, v in live.items() if indexed.get(d) != v]
            gone = [d for d in indexed if d not in live]
            if not self.keyword.fingerprint or len(changed) > len(live) // 2:
                self.keyword.rebuild(*self.store.all_chunks())
            elif changed or gone:  # a version's chunks never change: new and gone versions are the difference
                self.keyword.update(set(changed) | set(gone), *self.store.chunks_of(changed))

    def ensure_keyword_index(self) -> None:
        """At start-up: remove what an interrupted write left and bring the keyword index up to
        date; nothing to do (one read of the chunk ids) when the copy on disk is current."""
        if self.keyword.is_current(self.store.chunk_ids()):
            return
        self.store.repair()
        self.refresh_keyword_index()


def _mean(nodes: list) -> np.ndarray:
    mean = np.mean(np.asarray([n.embedding for n in nodes], dtype=np.float32), axis=0)
    return mean / max(float(np.linalg.norm(mean)), 1e-12)


class _Writer:
    """The thread that stores embedded batches while the next one is embedded. It holds the
    collection's write lock for the whole ingest; an error it meets (other than one article's,
    which `_commit` isolates) stops the ingest at the next batch."""

    def __init__(self, indexer: Indexer, report: IngestReport, bar: tqdm) -> None:
        self.indexer = indexer
        self.report = report
        self.bar = bar
        self.queue: queue.Queue = queue.Queue(maxsize=2)  # embedding runs at most two batches ahead
        self.error: BaseException | None = None
        self.failed = False
        self._ready = threading.Event()
        self._queued = 0
        self._thread = threading.Thread(target=self._run, name="ingest-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._ready.wait()
        self.check()

    def check(self) -> None:
        if self.error is not None:
            raise self.error

    def put(self, batch: list) -> None:
        self._queued += sum(len(nodes) for _, nodes, _ in batch)
        while True:
            self.check()
            try:
                self.queue.put(batch, timeout=0.5)
                return
            except queue.Full:
                continue

    def queued_chunks(self) -> int:
        return self._queued - self.bar.n

    def finish(self) -> None:
        if self._thread.is_alive():
            self.queue.put(None)
            self._thread.join()
        self.check()

    def _run(self) -> None:
        try:
            with self.indexer.store.writing():
                self._ready.set()
                while (batch := self.queue.get()) is not None:
                    if self.error is None:
                        self._commit(batch)
        except BaseException as e:  # noqa: BLE001 - handed to the embedding thread
            self.error = self.error or e
            self.failed = True
        finally:
            self._ready.set()

    def _commit(self, batch: list) -> None:
        # Whatever else has been embedded meanwhile goes in the same writes.
        while True:
            try:
                more = self.queue.get_nowait()
            except queue.Empty:
                break
            if more is None:
                self.queue.put(None)
                break
            batch = batch + more
        try:
            self.indexer._commit(batch, self.report, self.bar)
        except Exception as e:  # the embedding thread stops at its next batch; later ones are not stored
            self.error, self.failed = e, True
