"""The Chroma component: chunks (through llama-index's Chroma vector store) and documents.

Two collections live side by side: `<name>` holds the chunks with their embeddings;
`<name>_docs` holds one record per article (full cleaned text, metadata, and the mean
of its chunk embeddings, which finds near-duplicate articles).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import numpy as np
from llama_index.core.schema import MetadataMode, TextNode
from llama_index.core.vector_stores.utils import node_to_metadata_dict
from llama_index.vector_stores.chroma import ChromaVectorStore

from rag.errors import InvalidInput, StoreUnavailable, UnknownDocument
from rag.schema import Article, DocInfo, Filters, timestamp
from rag.settings import Settings, public_url
from rag.storelock import collection_lock

log = logging.getLogger(__name__)

HNSW = {"hnsw:space": "cosine", "hnsw:construction_ef": 200, "hnsw:search_ef": 200, "hnsw:M": 32}


@dataclass
class ChunkHit:
    chunk_id: str
    text: str
    metadata: dict[str, Any]
    cosine: float
    embedding: np.ndarray

    def with_cosine(self, cosine: float) -> ChunkHit:
        """A copy scored for another query (cheaper than `dataclasses.replace`, on the hot path)."""
        return ChunkHit(self.chunk_id, self.text, self.metadata, cosine, self.embedding)


def _client(settings: Settings) -> Any:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_url:
        url = urlparse(settings.chroma_url)
        try:
            client = chromadb.HttpClient(
                host=url.hostname or "localhost",
                port=url.port or (443 if url.scheme == "https" else 8000),
                ssl=url.scheme == "https",
                settings=chroma_settings,
            )
            client.heartbeat()
        except Exception as e:
            raise StoreUnavailable(
                f"Chroma server at {public_url(settings.chroma_url)} is not answering ({type(e).__name__}): "
                "start it (`chroma run --path DIR --port N`) or unset RAG_CHROMA_URL to use the embedded store."
            ) from None
        return client
    path = settings.data_dir / "chroma"
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=chroma_settings)


def _chunk_row(node: TextNode) -> tuple[str, list[float], dict[str, Any], str]:
    """The row llama-index's `ChromaVectorStore.add` writes for a node (upserted here, so an update replaces it)."""
    metadata = node_to_metadata_dict(node, remove_text=True, flat_metadata=True)
    metadata = {k: "" if v is None else v for k, v in metadata.items()}
    return node.node_id, node.get_embedding(), metadata, node.get_content(metadata_mode=MetadataMode.NONE)


def _metadata_to_docinfo(doc_id: str, meta: dict[str, Any]) -> DocInfo:
    return DocInfo(
        doc_id=doc_id,
        title=meta.get("title", ""),
        url=meta.get("url") or None,
        published_at=meta.get("published_at") or None,
        content_hash=meta.get("content_hash", ""),
        chunks=int(meta.get("chunks", 0)),
        chars=int(meta.get("chars", 0)),
        near_duplicates=json.loads(meta.get("near_duplicates") or "[]"),
    )


class ChromaStore:
    def __init__(self, settings: Settings, embed_model: str = "") -> None:
        self.settings = settings
        self.client = _client(settings)
        name = settings.collection
        if not 3 <= len(name) <= 58:
            raise InvalidInput(f"RAG_COLLECTION must be 3-58 characters long, got {name!r}.")
        # An embedded collection has one writer at a time across processes (see rag.storelock).
        self._lock = None if settings.chroma_url else collection_lock(settings.data_dir / "chroma", name)
        # The collection remembers which embedding model filled it: vectors of two models never mix.
        metadata = {**HNSW, "embed_model": embed_model} if embed_model else HNSW
        self.chunks = self.client.get_or_create_collection(name, metadata=metadata)
        built_with = (self.chunks.metadata or {}).get("embed_model")
        if embed_model and built_with and built_with != embed_model:
            raise InvalidInput(
                f"Collection '{name}' holds vectors of embedding model '{built_with}', not '{embed_model}': "
                "set RAG_COLLECTION to a new name (and ingest again) or switch RAG_EMBED_BACKEND back."
            )
        self.docs = self.client.get_or_create_collection(f"{name}_docs", metadata=metadata)
        self.vector_store = ChromaVectorStore(chroma_collection=self.chunks)

    # --- writing -----------------------------------------------------------------

    def writing(self) -> AbstractContextManager:
        """Exclusive use of an embedded collection while writing (a Chroma server needs none)."""
        return self._lock.writing() if self._lock else nullcontext()

    def put_article(
        self, article: Article, nodes: Sequence[TextNode], near_duplicates: list[str], chunking: str = ""
    ) -> None:
        """Replace the article's chunks, then its record.

        New chunks are written (in batches Chroma accepts) before stale ones go, and the record,
        with the content hash, comes last: if a write fails, the previous version is put back and
        the old hash makes the next ingest try again.
        """
        with self.writing():
            self._replace_chunks(article, nodes)
            self._put_record(article, nodes, near_duplicates, chunking)

    def _replace_chunks(self, article: Article, nodes: Sequence[TextNode]) -> None:
        old = self.chunks.get(where={"doc_id": article.doc_id}, include=["embeddings", "metadatas", "documents"])
        old_rows = list(zip(old["ids"], old["embeddings"], old["metadatas"], old["documents"]))
        new_ids = {n.node_id for n in nodes}
        try:
            self._upsert([_chunk_row(n) for n in nodes])
        except Exception:
            self._restore(old_rows, new_ids)
            raise
        self._delete([i for i in old["ids"] if i not in new_ids])

    def _put_record(
        self, article: Article, nodes: Sequence[TextNode], near_duplicates: list[str], chunking: str
    ) -> None:
        mean = np.mean([n.get_embedding() for n in nodes], axis=0)
        mean = mean / max(float(np.linalg.norm(mean)), 1e-12)
        self.docs.upsert(
            ids=[article.doc_id],
            embeddings=[mean.tolist()],
            documents=[article.text],
            metadatas=[
                {
                    "title": article.title,
                    "url": article.url or "",
                    "published_at": article.published_at.isoformat() if article.published_at else "",
                    "content_hash": article.content_hash,
                    "chunking": chunking,
                    "chunks": len(nodes),
                    "chars": len(article.text),
                    "near_duplicates": json.dumps(near_duplicates),
                    "source": article.source or "",
                }
            ],
        )

    def _restore(self, old_rows: list[tuple], new_ids: set[str]) -> None:
        """Undo a half-written replacement: the old chunks back, the new version's other chunks gone."""
        try:
            self._upsert(old_rows)
            self._delete(sorted(new_ids - {row[0] for row in old_rows}))
        except Exception:
            log.exception("could not put the previous chunks back; ingest the article again to repair it")

    def _upsert(self, rows: list[tuple]) -> None:
        for batch in self._batches(rows):
            ids, embeddings, metadatas, documents = (list(column) for column in zip(*batch))
            self.chunks.upsert(ids=ids, embeddings=embeddings, metadatas=metadatas, documents=documents)

    def _delete(self, ids: list[str]) -> None:
        for batch in self._batches(ids):
            self.chunks.delete(ids=batch)

    def _batches(self, items: list) -> Iterator[list]:
        """`items` in slices no longer than Chroma accepts in one call."""
        step = self.client.get_max_batch_size()
        for start in range(0, len(items), step):
            yield items[start : start + step]

    def delete_article(self, doc_id: str) -> None:
        if not self.docs.get(ids=[doc_id], include=[])["ids"]:
            raise UnknownDocument(doc_id)
        with self.writing():
            self.chunks.delete(where={"doc_id": doc_id})
            self.docs.delete(ids=[doc_id])
            self._forget_near_duplicate(doc_id)

    def _forget_near_duplicate(self, doc_id: str) -> None:
        """Articles that were noted as repeating the removed one no longer name it."""
        got = self.docs.get(include=["metadatas"])
        changed = {}
        for other, meta in zip(got["ids"], got["metadatas"]):
            near = json.loads((meta or {}).get("near_duplicates") or "[]")
            if doc_id in near:
                changed[other] = {**meta, "near_duplicates": json.dumps([d for d in near if d != doc_id])}
        if changed:
            self.docs.update(ids=list(changed), metadatas=list(changed.values()))

    # --- reading -----------------------------------------------------------------

    def content_hash(self, doc_id: str) -> str | None:
        stored = self.stored_version(doc_id)
        return stored[0] if stored else None

    def stored_version(self, doc_id: str) -> tuple[str, str] | None:
        """(content hash, chunking) of the stored article; chunking is "" for records written
        before it was kept."""
        got = self.docs.get(ids=[doc_id], include=["metadatas"])
        if not got["ids"]:
            return None
        meta = got["metadatas"][0] or {}
        return meta.get("content_hash", ""), meta.get("chunking", "")

    def source(self, doc_id: str) -> str | None:
        """Where the stored version of the article was read from (a path, "upload", or None)."""
        got = self.docs.get(ids=[doc_id], include=["metadatas"])
        return (got["metadatas"][0].get("source") or None) if got["ids"] else None

    def list_docs(self) -> list[DocInfo]:
        got = self.docs.get(include=["metadatas"])
        docs = [_metadata_to_docinfo(i, m) for i, m in zip(got["ids"], got["metadatas"])]
        return sorted(docs, key=lambda d: d.doc_id)

    def get_doc(self, doc_id: str) -> tuple[DocInfo, str]:
        got = self.docs.get(ids=[doc_id], include=["metadatas", "documents"])
        if not got["ids"]:
            raise UnknownDocument(doc_id)
        return _metadata_to_docinfo(doc_id, got["metadatas"][0]), got["documents"][0]

    def similar_docs(self, embedding: np.ndarray, exclude: str, threshold: float) -> list[str]:
        if self.docs.count() == 0:
            return []
        got = self.docs.query(
            query_embeddings=[embedding.tolist()], n_results=min(5, self.docs.count()), include=["distances"]
        )
        return [i for i, d in zip(got["ids"][0], got["distances"][0]) if i != exclude and 1 - d >= threshold]

    def count_chunks(self) -> int:
        return self.chunks.count()

    def articles_fingerprint(self) -> str:
        """Changes whenever an article is added, changed or removed (by any process)."""
        got = self.docs.get(include=["metadatas"])
        pairs = sorted(f"{i}\t{(m or {}).get('content_hash', '')}" for i, m in zip(got["ids"], got["metadatas"]))
        return hashlib.sha256("\n".join(pairs).encode()).hexdigest()

    def chunk_ids(self) -> list[str]:
        return sorted(self.chunks.get(include=[])["ids"])

    def all_chunks(self) -> tuple[list[str], list[str], list[dict[str, Any]]]:
        got = self.chunks.get(include=["documents", "metadatas"])
        return got["ids"], got["documents"], got["metadatas"]

    def get_chunks(self, ids: list[str] | None) -> list[ChunkHit]:
        """The chunks with these ids (all chunks for None), without a cosine."""
        if ids is not None and not ids:
            return []
        got = self.chunks.get(ids=ids, include=["documents", "metadatas", "embeddings"])
        if ids is None:
            ids = got["ids"]
        by_id = {
            i: ChunkHit(i, t, m, 0.0, np.asarray(e, dtype=np.float32))
            for i, t, m, e in zip(got["ids"], got["documents"], got["metadatas"], got["embeddings"])
        }
        return [by_id[i] for i in ids if i in by_id]

    def nearest(self, embedding: np.ndarray, n: int, filters: Filters | None = None) -> list[tuple[str, float]]:
        """(chunk id, cosine) of the n nearest chunks, best first: ids and distances only."""
        got = self.chunks.query(
            query_embeddings=[np.asarray(embedding).tolist()],
            n_results=n,
            where=chroma_where(filters),
            include=["distances"],
        )
        return [(i, 1.0 - float(d)) for i, d in zip(got["ids"][0], got["distances"][0])]


def chroma_where(filters: Filters | None) -> dict[str, Any] | None:
    if filters is None:
        return None
    clauses: list[dict[str, Any]] = []
    if filters.doc_ids:
        clauses.append({"doc_id": {"$in": list(filters.doc_ids)}})
    if filters.published_after:
        clauses.append({"published_ts": {"$gte": timestamp(filters.published_after)}})
    if filters.published_before:
        clauses.append({"published_ts": {"$lte": timestamp(filters.published_before)}})
        clauses.append({"published_ts": {"$gte": 0}})  # undated articles do not match a date range
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def matches(filters: Filters | None, metadata: dict[str, Any]) -> bool:
    """The same filter as `chroma_where`, for the keyword index."""
    if filters is None:
        return True
    ts = int(metadata.get("published_ts", -1))
    if filters.doc_ids and metadata.get("doc_id") not in filters.doc_ids:
        return False
    if filters.published_after and ts < timestamp(filters.published_after):
        return False
    if filters.published_before and not 0 <= ts <= timestamp(filters.published_before):
        return False
    return True

