"""Ingest: files -> articles -> chunks -> embeddings -> store and keyword index."""

from __future__ import annotations

import logging
import os
import queue
import re
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
from tqdm import tqdm

from rag.components import Embedder, KeywordIndex, VectorStore
from rag.errors import UnreadableFile
from rag.ingest.chunk import Chunker
from rag.ingest.load import iter_files, load_file
from rag.minilm import ChildFailed, EmbeddingProcess
from rag.schema import Article, IngestReport
from rag.store import StoredArticle

log = logging.getLogger(__name__)

NEAR_DUPLICATE_ARTICLE = 0.9  # cosine of mean chunk embeddings
BATCH_CHUNKS = 256  # chunks embedded per batch; each batch is stored while the next is embedded
# Whether a long ingest embeds in a child process (see `_Embedder`; benchmarks turn it off to compare).
CHILD_EMBEDDING = True
LOOKUP_ARTICLES = 64  # articles looked up in the store in one read before they are chunked


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
        """Ingest files and folders; a bad file (or record) is reported in `skipped` and the rest go on.

        The files are read, cleaned and chunked on this thread while the chunks read before are
        embedded and stored (see `_ingest_stream`): no core waits for the reading to end."""
        report = IngestReport()
        started = time.perf_counter()
        files = list(iter_files(list(paths)))
        with tqdm(total=len(files), desc="read and embed", unit="file", disable=not progress or not files) as bar:
            self._ingest_stream(self._read(files, report, bar), report, _Progress(bar, per_article=False))
        report.seconds = time.perf_counter() - started
        return report

    @staticmethod
    def _read(files: list[Path], report: IngestReport, bar: tqdm) -> Iterator[Article]:
        """The articles of each file in turn; a file that cannot be read goes to `report.skipped`."""
        for path in files:
            try:
                articles = load_file(path, skipped=report.skipped)
            except UnreadableFile as e:
                report.skipped[str(path)] = e.message
                log.warning("skipped %s", e.message)
                articles = []
            except Exception as e:  # a failure the loader does not foresee still costs only this file
                report.skipped[str(path)] = f"{path}: could not be read ({type(e).__name__}: {e}); check the file."
                log.warning("skipped %s", path, exc_info=True)
                articles = []
            bar.update(1)
            yield from articles

    def ingest_articles(self, articles: list[Article], progress: bool = False, report: IngestReport | None = None) -> IngestReport:
        """Chunk every new or changed article, embed the chunks in batches, and store each batch
        (see `_ingest_stream`).

        Articles stored before with the same content hash and chunking are skipped, so an
        ingest that was interrupted goes on where it stopped. An article that fails to store is
        reported in `skipped` (its previous version stays) and the rest go on.
        """
        report = report or IngestReport()
        started = time.perf_counter()
        with tqdm(total=len(articles), desc="chunk and embed", unit="article", disable=not progress) as bar:
            self._ingest_stream(iter(articles), report, _Progress(bar, per_article=True))
        report.seconds = time.perf_counter() - started
        return report

    def admit(self, article: Article, report: IngestReport) -> bool:
        """Whether the article may be indexed at all (a subclass may refuse it into `report.skipped`)."""
        return True

    def _ingest_stream(self, articles: Iterator[Article], report: IngestReport, progress: _Progress) -> None:
        """Articles as they come (read from files, or given): the changed ones are chunked on this
        thread while an embedding thread embeds the chunks before them, batch after batch, and a
        writer thread stores each embedded batch (see `_Flow`). Reading and chunking (a few ms of
        CPU a chunk: cleaning, sentence splitting) thus overlap the embedding instead of running
        before it while a core idles.

        Articles are looked up in the store a group at a time (one read for `LOOKUP_ARTICLES`
        articles); of two articles with one doc id, the first wins (see `_first_of_id`)."""
        flow = _Flow(self, report, progress)
        taken: dict[str, Article] = {}
        group: list[Article] = []
        try:
            for article in articles:
                if progress.per_article:
                    progress.read()
                if self.admit(article, report) and self._first_of_id(article, taken, report):
                    group.append(article)
                if len(group) >= LOOKUP_ARTICLES:
                    self._chunk_changed(group, report, flow)
                    group = []
            if group:
                self._chunk_changed(group, report, flow)
            flow.flush()
            progress.to_chunks()
        finally:
            flow.finish()
        if not flow.started and not self.keyword.is_current(self.store.chunk_ids()):
            self.refresh_keyword_index()  # nothing to write, but the keyword index lags the store

    def _chunk_changed(self, group: list[Article], report: IngestReport, flow: _Flow) -> None:
        """Each new or changed article of the group, chunked, to `flow`; the group is read against
        the store in one call. The unchanged ones go to `report.unchanged` (an interrupted ingest
        goes on where it stopped), the ones the splitter cannot cut to `report.skipped`."""
        stored = self.store.stored_versions([a.doc_id for a in group])
        for article in group:
            known = stored.get(article.doc_id)
            if known and known[0] == article.content_hash and known[1] in ("", self.chunker.signature):
                report.unchanged.append(article.doc_id)  # same text, chunked as RAG_CHUNK_SIZE/_OVERLAP say
                continue
            if known:
                self._warn_if_other_source(article, report)
            try:
                nodes = self.chunker.split(article)
            except Exception as e:  # an article the splitter cannot handle
                report.skipped[article.source or article.doc_id] = f"{type(e).__name__}: {e}"
                log.warning("skipped %s: %s", article.doc_id, e)
                continue
            flow.add(article, nodes, known is not None)

    def _catch_up(self) -> None:
        """After a failed batch (stored in part, perhaps): the keyword index follows the store."""
        try:
            self.refresh_keyword_index()
        except Exception:
            log.warning("could not bring the keyword index up to date; the next start does", exc_info=True)

    def _commit(self, batch: list[tuple[Article, list, bool]], report: IngestReport, progress: _Progress) -> None:
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
        progress.stored(sum(len(nodes) for _, nodes, _ in batch))

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
    def _first_of_id(article: Article, taken: dict[str, Article], report: IngestReport) -> bool:
        """Whether the article is the first of this ingest with its doc id (then it is noted in
        `taken`); a later article claiming a taken id is skipped, reported unless it is the same text."""
        first = taken.setdefault(article.doc_id, article)
        if first is article:
            return True
        if first.content_hash != article.content_hash:  # the same text twice: no clash
            where = article.source or article.doc_id
            report.skipped[where] = (
                f"{where}: document id '{article.doc_id}' is already taken by {first.source or 'another article'} "
                "in this ingest; rename the file or give the article its own 'id'."
            )
            log.warning("skipped %s", report.skipped[where])
        return False

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
                started = time.perf_counter()
                if live:  # at start-up after an upgrade or a lost index
                    log.info("building the keyword index from the store's %d articles (once; ~3 s per 1,000)", len(live))
                self.keyword.rebuild(*self.store.all_chunks())
                if live:
                    log.info("keyword index built in %.1f s", time.perf_counter() - started)
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


class _Progress:
    """One bar for the whole ingest: over the files (or the given articles) while they are read
    and chunked, with the chunks stored so far beside it; then, once all are read, over the
    chunks still being embedded and stored."""

    def __init__(self, bar: tqdm, per_article: bool) -> None:
        self.bar = bar
        self.per_article = per_article  # the bar counts articles (else files, counted by the reader)
        self.sent = 0  # chunks handed to the embedding
        self.done = 0  # chunks stored (or given up)
        self._on_chunks = False
        self._lock = threading.Lock()  # the writer thread reports beside the reading thread

    def read(self) -> None:
        self.bar.update(1)

    def submitted(self, chunks: int) -> None:
        with self._lock:
            self.sent += chunks
            self._note()

    def stored(self, chunks: int) -> None:
        with self._lock:
            self.done += chunks
            if self._on_chunks:
                self.bar.update(chunks)
            else:
                self._note()

    def to_chunks(self) -> None:
        """Everything is read: the bar follows the chunks still on their way."""
        with self._lock:
            if self.done >= self.sent:
                return
            self._on_chunks = True
            self.bar.unit = "chunk"
            self.bar.set_description("embed and store", refresh=False)
            self.bar.set_postfix_str("", refresh=False)
            self.bar.reset(total=self.sent)
            # Starts at the chunks already stored, which count in neither its rate nor its estimate.
            self.bar.initial = self.bar.n = self.bar.last_print_n = self.done
            self.bar.refresh()

    def _note(self) -> None:
        self.bar.set_postfix(stored=f"{self.done}/{self.sent} chunks", refresh=False)


class _Flow:
    """Chunks on their way into the store: gathered into batches of `batch_chunks` chunks (whole
    articles), embedded on one thread (`_Embedder`) and stored on another (`_Writer`), while the
    thread that adds them reads and chunks the next articles. Both threads start with the first
    batch, so an ingest with nothing to write takes no write lock."""

    def __init__(self, indexer: Indexer, report: IngestReport, progress: _Progress) -> None:
        self.indexer = indexer
        self.report = report
        self.progress = progress
        self.batch: list[tuple[Article, list, bool]] = []
        self.texts: list[str] = []
        self.writer: _Writer | None = None
        self.embedder: _Embedder | None = None

    @property
    def started(self) -> bool:
        return self.writer is not None

    def add(self, article: Article, nodes: list, is_update: bool) -> None:
        self.batch.append((article, nodes, is_update))
        self.texts += [n.text for n in nodes]
        if len(self.texts) >= self.indexer.batch_chunks:
            self.flush()

    def flush(self) -> None:
        """Hand the gathered batch to the embedding thread (waits while it is a batch behind)."""
        if not self.batch:
            return
        if self.writer is None:
            writer = _Writer(self.indexer, self.report, self.progress)
            writer.start()  # StoreBusy here: nothing of this ingest is written
            self.writer, self.embedder = writer, _Embedder(self.indexer, writer)
        self.progress.submitted(len(self.texts))
        self.embedder.put(self.batch, self.texts)
        self.batch, self.texts = [], []

    def finish(self) -> None:
        """Wait until every batch handed over is embedded and stored; raise the first error met."""
        if self.writer is None:
            return
        try:
            self.embedder.finish()
        finally:
            try:
                self.writer.finish()
            finally:
                if self.writer.failed:
                    self.indexer._catch_up()


def embed_texts(embedding: Embedder, texts: list[str]) -> list[list[float]]:
    """The texts' vectors by the embedder's own batching when it has one (`embed_texts`: the local
    model sorts a whole ingest batch by length, so its padded batches waste little), else by
    llama-index's `get_text_embedding_batch`, which first cuts the texts into groups of
    `embed_batch_size` (8): sorting 8 texts saves little padding, and each group pays for
    llama-index's events. Measured on 1,200 news chunks in batches of 256, alternated, 2 cores:
    71.5-72.8 chunks/s against 49.1-61.6."""
    own = getattr(embedding, "embed_texts", None)
    return own(texts).tolist() if callable(own) else embedding.get_text_embedding_batch(texts)


class _Embedder:
    """The thread that embeds batch after batch (on the embedder's own sessions) and hands each to
    the writer. An error stops it; the thread that feeds it raises the error at its next batch.

    An ingest of more than one batch is a long one: the store writes each batch while the next is
    embedded, and chromadb holds Python's GIL for the whole of each write, which stalls embedding
    in this process. So at its second batch, an embedder that can (`child_process`, the local
    model) starts a child process that embeds the same way (the same vectors), and the batches
    go there once it is up (~0.5 s). A child that fails costs nothing: the batch is embedded
    here, as are the ones after it (`rag.minilm` has the measurements)."""

    def __init__(self, indexer: Indexer, writer: _Writer) -> None:
        self.indexer = indexer
        self.writer = writer
        self.queue: queue.Queue = queue.Queue(maxsize=1)  # chunking runs at most one batch ahead
        self.error: BaseException | None = None
        self.child: EmbeddingProcess | None = None
        self._batches = 0
        self._thread = threading.Thread(target=self._run, name="ingest-embed", daemon=True)
        self._thread.start()

    def check(self) -> None:
        if self.error is not None:
            raise self.error
        self.writer.check()

    def put(self, batch: list, texts: list[str]) -> None:
        while True:
            self.check()
            try:
                self.queue.put((batch, texts), timeout=0.5)
                return
            except queue.Full:
                continue

    def finish(self) -> None:
        if self._thread.is_alive():
            self.queue.put(None)  # the thread takes every item, after an error too
            self._thread.join()
        if self.child is not None:
            self.child.close()
        if self.error is not None:
            raise self.error

    def _vectors(self, texts: list[str]) -> list:
        self._batches += 1
        start_child = getattr(self.indexer.embedding, "child_process", None)
        if self._batches == 2 and start_child is not None and CHILD_EMBEDDING:
            self.child = start_child()
        child = self.child
        if child is not None and child.ready:
            try:
                return child.embed(texts).tolist()
            except ChildFailed as e:
                log.warning("embedding in this process from now on: %s", e)
                self.child = None
                child.close()
        return embed_texts(self.indexer.embedding, texts)

    def _run(self) -> None:
        while (item := self.queue.get()) is not None:
            if self.error is not None:
                continue
            batch, texts = item
            try:
                vectors = self._vectors(texts)
                cursor = 0
                for _, nodes, _ in batch:
                    for node in nodes:
                        node.embedding = vectors[cursor]
                        cursor += 1
                self.writer.put(batch)
            except BaseException as e:  # noqa: BLE001 - raised by the feeding thread
                self.error = e


class _Writer:
    """The thread that stores embedded batches while the next one is embedded. It holds the
    collection's write lock for the whole ingest; an error it meets (other than one article's,
    which `_commit` isolates) stops the ingest at the next batch."""

    def __init__(self, indexer: Indexer, report: IngestReport, progress: _Progress) -> None:
        self.indexer = indexer
        self.report = report
        self.progress = progress
        self.queue: queue.Queue = queue.Queue(maxsize=2)  # embedding runs at most two batches ahead
        self.error: BaseException | None = None
        self.failed = False
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ingest-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._ready.wait()
        self.check()

    def check(self) -> None:
        if self.error is not None:
            raise self.error

    def put(self, batch: list) -> None:
        while True:
            self.check()
            try:
                self.queue.put(batch, timeout=0.5)
                return
            except queue.Full:
                continue

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
        except BaseException as e:  # noqa: BLE001 - raised by the thread that feeds the embedding
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
            self.indexer._commit(batch, self.report, self.progress)
        except Exception as e:  # the embedding thread stops at its next batch; later ones are not stored
            self.error, self.failed = e, True
