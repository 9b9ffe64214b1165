"""Hybrid retrieval: dense (Chroma) + keyword (BM25), fused by reciprocal rank.

Near-duplicate passages (the same sentence in several reports of one event) are
collapsed into the best-ranked one, so the top k holds diverse evidence; two
near-duplicates that state different numbers are both kept, since that is where
reports disagree.

Searches are cheap to repeat: query vectors, chunk records (text, metadata, vector)
and whole results are kept in memory until the index changes (`KeywordIndex.version`
moves on every ingest and removal made through this process). A collection of up to
`memory_search_max` chunks is read into memory once per index version, and dense search
is then one exact matrix product (tens of microseconds for the seeds, where a Chroma
query costs about a millisecond of Python); a larger one is searched by Chroma's HNSW
index, asked for ids and distances only. Only chunks of each article's current version are
ever returned (`ChromaStore.live_only`): a write in progress or cut short shows no half article.
"""

from __future__ import annotations

import math
import queue
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from rag.components import Embedder, KeywordIndex, VectorStore
from rag.keyword import prepare
from rag.schema import Filters, Passage
from rag.settings import Settings
from rag.store import ChunkHit, matches

_NUMBER = re.compile(r"\d+(?:\.\d+)?")
MAX_RECORDS = 50_000  # chunk records kept in memory (~2 KB each)
FILTER_OVERSAMPLE = 10  # a date-filtered dense search first reads at least this many times the neighbours asked for
# ... and, when few chunks are in the range, about twice as many as would hold n of them were
# dates and meaning unrelated, up to this many (~13 ms at 50k chunks, ~50 ms for Chroma's filter)
FILTER_MAX_UNFILTERED = 2000
QUERY_CACHE = 4096  # question vectors kept (1.5 KB each)


def _frozen(vector) -> np.ndarray:
    out = np.array(vector, dtype=np.float32)
    out.flags.writeable = False
    return out


def numbers_in(text: str) -> set[str]:
    return set(_NUMBER.findall(prepare(text)))


class QueryBatcher:
    """Embeds questions that arrive together as one batch: a worker thread takes whatever
    has queued while the previous batch ran (a lone question goes at once, no timer).
    On two cores a batch of 8 short questions costs about half of 8 single calls."""

    def __init__(self, embed: Callable[[list[str]], np.ndarray], max_batch: int = 32) -> None:
        self._embed = embed
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[list[tuple[str, Future]]] = queue.SimpleQueue()
        threading.Thread(target=self._work, name="query-embedding", daemon=True).start()

    def __call__(self, text: str) -> np.ndarray:
        return self.many([text])[0]

    def many(self, texts: list[str]) -> list[np.ndarray]:
        """Several texts of one caller, queued together: they go in one batch (with others')."""
        futures = [Future() for _ in texts]
        self._queue.put(list(zip(texts, futures)))
        return [f.result() for f in futures]

    def _work(self) -> None:
        while True:
            batch = self._queue.get()
            while len(batch) < self._max_batch:
                try:
                    batch.extend(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                vectors = self._embed([text for text, _ in batch])
            except Exception as exc:  # noqa: BLE001 - each waiting caller gets the error
                for _, future in batch:
                    future.set_exception(exc)
                continue
            for (_, future), vector in zip(batch, vectors):
                future.set_result(vector)


@dataclass
class Mirror:
    """Every chunk of a small collection, in memory: dense search is one matrix product."""

    hits: list[ChunkHit]
    vectors: np.ndarray = field(init=False)  # (chunks, dim), unit rows

    def __post_init__(self) -> None:
        vectors = np.stack([h.embedding for h in self.hits]) if self.hits else np.zeros((0, 1), np.float32)
        self.vectors = vectors / np.clip(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12, None)

    def nearest(self, query: np.ndarray, n: int, filters: Filters | None = None) -> list[ChunkHit]:
        """The n chunks most similar to the query (exact cosine), best first."""
        if not self.hits:
            return []
        scores = self.vectors @ (query / max(float(np.linalg.norm(query)), 1e-12))
        if filters is not None:
            keep = np.fromiter((matches(filters, h.metadata) for h in self.hits), dtype=bool, count=len(self.hits))
            scores = np.where(keep, scores, -np.inf)
        n = min(n, int(np.isfinite(scores).sum()))
        top = np.argpartition(-scores, n - 1)[:n] if 0 < n < len(scores) else np.arange(n)
        top = top[np.argsort(-scores[top], kind="stable")]
        return [self.hits[i].with_cosine(float(scores[i])) for i in top]


@dataclass
class Candidate:
    hit: ChunkHit
    fused: float = 0.0
    keyword: float | None = None
    collapsed: list[str] = field(default_factory=list)


class HybridRetriever:
    def __init__(self, store: VectorStore, embedding: Embedder, keyword: KeywordIndex, settings: Settings) -> None:
        self.store = store
        self.embedding = embedding
        self.keyword = keyword
        self.settings = settings
        # Users repeat questions (and chat front ends resend them): embed each text once.
        self._queries: OrderedDict[str, np.ndarray] = OrderedDict()
        self._queries_lock = threading.Lock()
        # Concurrent questions share a batch (one model run, or one request to a hosted embedder).
        self._batcher = QueryBatcher(embedding.embed_queries)
        self._lock = threading.Lock()
        self._version = -1  # the index version the caches below belong to
        self._records: dict[str, ChunkHit] = {}
        self._results: OrderedDict[tuple, list[Passage]] = OrderedDict()
        self._mirror: Mirror | None = None
        self._mirror_version = -1  # the version `_mirror` was read for (None then: too many chunks)
        self._last_mirror: Mirror | None = None  # the copy before the last change
        self._mirror_load = threading.Lock()  # one thread reads the collection, the others wait for it

    def embed_query(self, question: str) -> np.ndarray:
        """The question's vector (read-only), embedded once however often it is asked."""
        with self._queries_lock:
            vector = self._queries.get(question)
            if vector is not None:
                self._queries.move_to_end(question)
                return vector
        vector = _frozen(self._batcher(question))
        self._remember({question: vector})
        return vector

    def embed_together(self, texts: list[str]) -> None:
        """Embed texts one search will need in one batch (on two cores, two short texts cost about
        what one does): a question and the events it is dated by. `embed_query` then finds them."""
        with self._queries_lock:
            todo = [t for t in dict.fromkeys(texts) if t not in self._queries]
        if todo:
            self._remember({t: _frozen(v) for t, v in zip(todo, self._batcher.many(todo), strict=True)})

    def _remember(self, vectors: dict[str, np.ndarray]) -> None:
        with self._queries_lock:
            self._queries.update(vectors)
            while len(self._queries) > QUERY_CACHE:
                self._queries.popitem(last=False)

    def clear_query_cache(self) -> None:
        """Forget every question's vector (benchmarks measure the embedding too)."""
        with self._queries_lock:
            self._queries.clear()

    def retrieve(
        self, question: str, k: int | None = None, filters: Filters | None = None, mode: str = "hybrid"
    ) -> list[Passage]:
        """Top k passages for the question; `mode` is hybrid, dense or keyword (for baselines)."""
        k = k or self.settings.top_k
        cached = self.cached(question, k, filters, mode)
        if cached is not None:
            return cached
        version = self._version
        ranked = self._retrieve(question, k, filters, mode)
        key = self._key(question, k, filters, mode)
        with self._lock:
            if self.settings.search_cache and version == self._version == self.keyword.version:
                self._results[key] = ranked
                while len(self._results) > self.settings.search_cache:
                    self._results.popitem(last=False)
        return list(ranked)

    def cached(
        self, question: str, k: int | None = None, filters: Filters | None = None, mode: str = "hybrid"
    ) -> list[Passage] | None:
        """The result of this exact search if it was made since the index last changed, else None."""
        key = self._key(question, k or self.settings.top_k, filters, mode)
        with self._lock:
            self._sync()
            found = self._results.get(key)
            if found is None:
                return None
            self._results.move_to_end(key)
            return list(found)

    @staticmethod
    def _key(question: str, k: int, filters: Filters | None, mode: str) -> tuple:
        return (question, k, filters.model_dump_json() if filters else "", mode)

    def _sync(self) -> None:
        """Forget cached records and results once the index has changed (under the lock)."""
        if self._version != self.keyword.version:
            self._version = self.keyword.version
            self._records.clear()
            self._results.clear()
            self._last_mirror = self._mirror or self._last_mirror  # brought up to date at the next read
            self._mirror = None

    def _chunks(self, scored: list[tuple[str, float]]) -> list[ChunkHit]:
        """Records for (chunk id, cosine) pairs: from memory, else one read from the store."""
        with self._lock:
            self._sync()
            version = self._version
            missing = [cid for cid, _ in scored if cid not in self._records]
        fetched = {hit.chunk_id: hit for hit in self.store.get_chunks(missing)}
        with self._lock:
            if version == self._version == self.keyword.version:
                if len(self._records) + len(fetched) > MAX_RECORDS:
                    self._records.clear()  # a very large collection: keep the recent ones only
                self._records.update(fetched)
            found = [(fetched.get(cid) or self._records.get(cid), cos) for cid, cos in scored]
        return self.store.live_only([hit.with_cosine(cos) for hit, cos in found if hit is not None])

    def mirror(self) -> Mirror | None:
        """The in-memory copy of the collection for the current index version, read on first
        use; None when the collection has more than `memory_search_max` chunks."""
        with self._mirror_load:
            with self._lock:
                self._sync()
                version = self._version
                if self._mirror_version == version:
                    return self._mirror
            count = self.store.count_chunks()
            mirror = self._read_mirror() if count <= self.settings.memory_search_max else None
            with self._lock:
                if version == self._version == self.keyword.version:
                    self._mirror, self._mirror_version = mirror, version
                    if mirror is not None and len(mirror.hits) <= MAX_RECORDS:
                        self._records.update((h.chunk_id, h) for h in mirror.hits)
            return mirror

    def _read_mirror(self) -> Mirror:
        """The collection in memory. After a change made here, the previous copy is brought up to
        date: chunks the keyword index lists that it holds (same id, same version) are kept, and only
        the others are read, so an added article costs its own chunks, not the whole collection."""
        previous = self._last_mirror
        if previous is None or not self.keyword.fingerprint:
            return Mirror(self.store.get_chunks(None))
        held = {h.chunk_id: h for h in previous.hits}
        hits, missing = [], []
        for chunk_id, version in self.keyword.live_chunks():
            hit = held.get(chunk_id)
            if hit is not None and hit.metadata.get("version", "") == version:
                hits.append(hit)
            else:
                missing.append(chunk_id)
        return Mirror(hits + self.store.get_chunks(missing))

    def _dense(self, query: np.ndarray, n: int, filters: Filters | None) -> list[ChunkHit]:
        mirror = self.mirror()
        if mirror is not None:  # read before the last write of this process, maybe: current versions only
            return self.store.live_only(mirror.nearest(query, n, filters))
        return self._chunks(self._nearest(query, n, filters))

    def _nearest(self, query: np.ndarray, n: int, filters: Filters | None) -> list[tuple[str, float]]:
        """The store's n nearest chunks in the filters. A date range is first applied to the
        nearest chunks found unfiltered, with the dates the keyword index holds for them: when n
        of them fall in the range (or every chunk the range holds), they are the n nearest in it
        (a nearer one in the range would be among them). How many are read grows as the range's
        share of the collection shrinks: `FILTER_OVERSAMPLE` * n at least, twice n / share when
        that is more, so that a range of a tenth of the archive is served as fast as one of half.
        A range that holds no chunk costs one small unfiltered search, which shows that no
        candidate is unknown. Chroma's filtered query builds its set of allowed ids from its
        metadata table at each search (~50-175 ms at 50k chunks, against ~2 ms for an unfiltered
        one; 2,000 unfiltered neighbours ~13 ms), and asking it for the candidates' metadata
        costs ~30 ms for 200 (the node JSON comes with it). A range too narrow for
        `FILTER_MAX_UNFILTERED`, a list of articles (narrow by nature) or a candidate the keyword
        index does not know yet (another replica's new chunk) is left to Chroma's filtered query."""
        if filters is None or filters.doc_ids or not (filters.published_after or filters.published_before):
            return self.store.nearest(query, n, filters)
        in_range, live = self.keyword.count_dated(filters)
        read = n * FILTER_OVERSAMPLE
        if in_range:
            read = max(read, math.ceil(2 * n * live / in_range))
        if read <= FILTER_MAX_UNFILTERED:
            near = self.store.nearest(query, read)
            metadata = self.keyword.metadata_of([chunk_id for chunk_id, _ in near])
            if all(m is not None for m in metadata):
                inside = [hit for hit, m in zip(near, metadata) if matches(filters, m)]
                if len(inside) >= min(n, in_range):
                    return inside[:n]
        return self.store.nearest(query, n, filters)

    def _retrieve(self, question: str, k: int, filters: Filters | None, mode: str) -> list[Passage]:
        s = self.settings
        query = self.embed_query(question)
        candidates: dict[str, Candidate] = {}
        if mode in ("hybrid", "dense"):
            dense = self._dense(query, s.candidates, filters)
            for rank, hit in enumerate(dense):
                candidates[hit.chunk_id] = Candidate(hit, fused=1.0 / (s.rrf_k + rank + 1))
        if mode in ("hybrid", "keyword"):
            keyword_hits = self.keyword.search(question, s.candidates, filters)
            missing = [(cid, 0.0) for cid, _ in keyword_hits if cid not in candidates]
            for hit in self._chunks(missing):
                hit.cosine = float(hit.embedding @ query)
                candidates[hit.chunk_id] = Candidate(hit)
            for rank, (cid, score) in enumerate(keyword_hits):
                if cid in candidates:
                    candidates[cid].fused += 1.0 / (s.rrf_k + rank + 1)
                    candidates[cid].keyword = score
        ranked = sorted(candidates.values(), key=lambda c: (-c.fused, c.hit.chunk_id))
        ranked = [c for c in ranked if c.hit.cosine >= s.min_passage_score or c.keyword]
        kept = self._collapse(ranked, k)
        best = 2.0 / (s.rrf_k + 1) if mode == "hybrid" else 1.0 / (s.rrf_k + 1)
        return [self._passage(c, best) for c in kept]

    def _collapse(self, ranked: list[Candidate], k: int) -> list[Candidate]:
        kept: list[Candidate] = []
        for cand in ranked:
            twin = next(
                (
                    other
                    for other in kept
                    if float(other.hit.embedding @ cand.hit.embedding) >= self.settings.near_duplicate
                    and numbers_in(other.hit.text) == numbers_in(cand.hit.text)
                ),
                None,
            )
            if twin is not None:
                twin.collapsed.append(cand.hit.chunk_id)
                continue
            kept.append(cand)
            if len(kept) == k:
                break
        return kept

    @staticmethod
    def _passage(c: Candidate, best: float) -> Passage:
        m = c.hit.metadata
        return Passage(
            chunk_id=c.hit.chunk_id,
            doc_id=m["doc_id"],
            title=m.get("title", ""),
            text=c.hit.text,
            start=int(m["start"]),
            end=int(m["end"]),
            score=round(min(c.fused / best, 1.0), 4),
            dense_score=round(c.hit.cosine, 4),
            keyword_score=round(c.keyword, 4) if c.keyword is not None else None,
            url=m.get("url") or None,
            published_at=_published(m),
            also_in=c.collapsed,
            source=m.get("publisher") or None,
            author=m.get("author") or None,
        )


def _published(metadata: dict) -> datetime | None:
    """The article's date from a chunk's `published_ts` (seconds, UTC; -1 or absent: undated)."""
    ts = int(metadata.get("published_ts", -1) or -1)
    return datetime.fromtimestamp(ts, UTC) if ts >= 0 else None
