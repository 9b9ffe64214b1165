"""Hybrid retrieval: dense (Chroma) + keyword (BM25), fused by reciprocal rank.

Near-duplicate passages (the same sentence in several reports of one event) are
collapsed into the best-ranked one, so the top k holds diverse evidence; two
near-duplicates that state different numbers are both kept, since that is where
reports disagree.

Searches are cheap to repeat: query vectors, chunk records (text, metadata, vector)
and whole results are kept in memory until the index changes (`KeywordIndex.version`
moves on every ingest and removal made through this process). Chroma answers the
nearest-neighbour query itself, asked for ids and distances only.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from functools import lru_cache

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding

from rag.keyword import KeywordIndex, prepare
from rag.schema import Filters, Passage
from rag.settings import Settings
from rag.store import ChromaStore, ChunkHit

_NUMBER = re.compile(r"\d+(?:\.\d+)?")
MAX_RECORDS = 50_000  # chunk records kept in memory (~2 KB each)


def numbers_in(text: str) -> set[str]:
    return set(_NUMBER.findall(prepare(text)))


@dataclass
class Candidate:
    hit: ChunkHit
    fused: float = 0.0
    keyword: float | None = None
    collapsed: list[str] = field(default_factory=list)


class HybridRetriever:
    def __init__(self, store: ChromaStore, embedding: BaseEmbedding, keyword: KeywordIndex, settings: Settings) -> None:
        self.store = store
        self.embedding = embedding
        self.keyword = keyword
        self.settings = settings
        # Users repeat questions (and chat front ends resend them): embed each text once.
        self.embed_query = lru_cache(maxsize=4096)(self._embed_query)
        self._lock = threading.Lock()
        self._version = -1  # the index version the caches below belong to
        self._records: dict[str, ChunkHit] = {}
        self._results: OrderedDict[tuple, list[Passage]] = OrderedDict()

    def _embed_query(self, question: str) -> np.ndarray:
        vector = np.asarray(self.embedding.get_query_embedding(question), dtype=np.float32)
        vector.flags.writeable = False
        return vector

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
        return [replace(hit, cosine=cos) for hit, cos in found if hit is not None]

    def _retrieve(self, question: str, k: int, filters: Filters | None, mode: str) -> list[Passage]:
        s = self.settings
        query = self.embed_query(question)
        candidates: dict[str, Candidate] = {}
        if mode in ("hybrid", "dense"):
            dense = self._chunks(self.store.nearest(query, s.candidates, filters))
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
            also_in=c.collapsed,
        )
