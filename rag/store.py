"""The Chroma component: chunks (through llama-index's Chroma vector store) and documents.

Two collections live side by side: `<name>` holds the chunks with their embeddings;
`<name>_docs` holds one record per article (full cleaned text, metadata, and the mean
of its chunk embeddings, which finds near-duplicate articles).

Each article is written as a new *version* (a stamp kept in the record and in each of its
chunks): the new chunks go in beside the old ones, then the record is flipped to the new
version in one write, then the old version's chunks are deleted. Readers take only chunks
whose version is their article's current one (`ChromaStore.live_only`), so a write cut short
at any point (even by SIGKILL) shows either the whole old article or the whole new one; what
it left behind (chunks of a version no record names) is removed by `repair` at the next start.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import numpy as np
from llama_index.core.schema import MetadataMode, TextNode
from llama_index.core.vector_stores.utils import node_to_metadata_dict

from rag.errors import InvalidInput, StoreUnavailable, UnknownDocument
from rag.schema import Article, DocInfo, Filters, timestamp
from rag.settings import Settings, public_url
from rag.storelock import collection_lock

log = logging.getLogger(__name__)

# Rows read per call when a whole collection is read: embedded Chroma reads a page's metadata with
# one SQL variable per row, and SQLite allows 32,766 (a 49,491-chunk collection read in one call
# failed with "too many SQL variables").
READ_PAGE = 10_000
ORPHAN_GRACE_S = 600.0  # a Chroma server's unclaimed chunks younger than this may be another writer's work in progress

def hnsw_configuration(settings: Settings) -> dict[str, Any]:
    """Chroma's collection configuration (its 1.x API; the `hnsw:*` metadata keys are the legacy
    spelling) for the settings' HNSW parameters. Cosine space: the embeddings are normalised."""
    return {"hnsw": {"space": "cosine", "max_neighbors": settings.hnsw_m,
                     "ef_construction": settings.hnsw_construction_ef, "ef_search": settings.hnsw_search_ef}}  # fmt: skip


def _open_collection(client: Any, name: str, settings: Settings, metadata: dict[str, Any] | None) -> Any:
    """Get or create a collection. A new one is built with the settings' HNSW parameters; one that
    exists keeps its own build parameters (fixed when its index was built, whether they came from
    `configuration` or the older `hnsw:*` metadata) and takes the settings' search breadth, which
    Chroma applies when it next loads the index (not to an index already in memory)."""
    collection = client.get_or_create_collection(name, metadata=metadata, configuration=hnsw_configuration(settings))
    hnsw = (collection.configuration or {}).get("hnsw") or {}
    if hnsw.get("ef_search") not in (None, settings.hnsw_search_ef):
        collection.modify(configuration={"hnsw": {"ef_search": settings.hnsw_search_ef}})
        log.info("collection %s: HNSW ef_search %s -> %d (RAG_HNSW_SEARCH_EF)", name, hnsw["ef_search"], settings.hnsw_search_ef)
    return collection


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


_PAUSE_AT = int(os.environ.get("RAG_TEST_PAUSE_AT_WRITE") or 0)  # see ChromaStore._fault_point


def new_version() -> str:
    """A fresh version stamp: milliseconds since the epoch (how old an unclaimed write is), then
    random bits (two writers in one millisecond)."""
    return f"{time.time_ns() // 1_000_000:011x}{secrets.token_hex(3)}"


def version_ms(version: str) -> float:
    """When a version was made; 0 for records and chunks from before versions (or unreadable)."""
    try:
        return float(int(version[:11], 16))
    except ValueError:
        return 0.0


def is_live(metadata: dict[str, Any] | None, live: dict[str, str]) -> bool:
    metadata = metadata or {}
    return live.get(metadata.get("doc_id"), None) == metadata.get("version", "")


@dataclass
class StoredArticle:
    """One article on its way into the store: its chunks (with embeddings) and its record's extras."""

    article: Article
    nodes: list[TextNode]
    near_duplicates: list[str]
    chunking: str = ""
    version: str = ""


@dataclass
class RepairReport:
    removed: int = 0  # chunks of versions no record names, deleted
    left: int = 0  # such chunks not deleted yet (maybe another writer's work in progress)
    incomplete: list[str] = field(default_factory=list)  # records whose chunks are not all there


def name_chunks(item: StoredArticle, replaces: bool) -> None:
    """A first version keeps the plain ids `doc#n`; a replacing one `doc#n@<version>` (doc
    ids never hold "@"), so both versions can exist side by side until the record is flipped."""
    for node in item.nodes:
        base = node.node_id.split("@", 1)[0]
        node.id_ = f"{base}@{item.version}" if replaces else base


def opening(text: str, chars: int) -> str:
    """A text's first `chars` characters, cut after its last whole word."""
    if len(text) <= chars:
        return text
    head = text[: chars + 1]  # a space after the last kept word shows that word is whole
    return head.rstrip() if head[-1].isspace() else head.rsplit(None, 1)[0]


def chunk_row(node: TextNode, version: str) -> tuple[str, list[float], dict[str, Any], str]:
    """The row llama-index's `ChromaVectorStore.add` writes for a node, stamped with its version."""
    metadata = node_to_metadata_dict(node, remove_text=True, flat_metadata=True)
    metadata = {k: "" if v is None else v for k, v in metadata.items()}
    metadata["version"] = version
    return node.node_id, node.get_embedding(), metadata, node.get_content(metadata_mode=MetadataMode.NONE)


def mean_embedding(nodes: Sequence[TextNode]) -> np.ndarray:
    mean = np.mean(np.asarray([n.get_embedding() for n in nodes], dtype=np.float32), axis=0)
    return mean / max(float(np.linalg.norm(mean)), 1e-12)


def record_columns(items: Sequence[StoredArticle]) -> dict[str, list]:
    """The docs-collection rows of a batch: one record per article, naming its version."""
    return {
        "ids": [it.article.doc_id for it in items],
        "embeddings": [mean_embedding(it.nodes).tolist() for it in items],
        "documents": [it.article.text for it in items],
        "metadatas": [
            {
                "title": it.article.title,
                "url": it.article.url or "",
                "published_at": it.article.published_at.isoformat() if it.article.published_at else "",
                "content_hash": it.article.content_hash,
                "chunking": it.chunking,
                "chunks": len(it.nodes),
                "chars": len(it.article.text),
                "near_duplicates": json.dumps(it.near_duplicates),
                "source": it.article.source or "",
                "publisher": it.article.publisher or "",
                "author": it.article.author or "",
                "version": it.version,
            }
            for it in items
        ],
    }


def metadata_to_docinfo(doc_id: str, meta: dict[str, Any]) -> DocInfo:
    return DocInfo(
        doc_id=doc_id,
        title=meta.get("title", ""),
        url=meta.get("url") or None,
        published_at=meta.get("published_at") or None,
        content_hash=meta.get("content_hash", ""),
        chunks=int(meta.get("chunks", 0)),
        chars=int(meta.get("chars", 0)),
        near_duplicates=json.loads(meta.get("near_duplicates") or "[]"),
        source=meta.get("publisher") or None,
        author=meta.get("author") or None,
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
        metadata = {"embed_model": embed_model} if embed_model else None
        self.chunks = _open_collection(self.client, name, settings, metadata)
        built_with = (self.chunks.metadata or {}).get("embed_model")
        if embed_model and built_with and built_with != embed_model:
            raise InvalidInput(
                f"Collection '{name}' holds vectors of embedding model '{built_with}', not '{embed_model}': "
                "set RAG_COLLECTION to a new name (and ingest again) or switch RAG_EMBED_BACKEND back."
            )
        self.docs = _open_collection(self.client, f"{name}_docs", settings, metadata)
        self._live: dict[str, str] | None = None  # see live_versions
        self._live_guard = threading.Lock()
        self._writes = 0  # store writes made by this process (see _fault_point)

    # --- writing -----------------------------------------------------------------


    def close(self) -> None:
        """Release the Chroma client (an embedded store's system stops when its last client
        goes: its indexes leave memory)."""
        close = getattr(self.client, "close", None)
        if close is not None:
            try:
                close()
            except Exception:  # noqa: BLE001 - closing twice, or a server already gone
                pass
    def writing(self) -> AbstractContextManager:
        """Exclusive use of an embedded collection while writing (a Chroma server needs none)."""
        return self._lock.writing() if self._lock else nullcontext()

    def _write_if_free(self) -> AbstractContextManager[bool]:
        """Exclusive use now if no other process has the embedded collection open (no waiting)."""
        return self._lock.writing_if_free() if self._lock else nullcontext(True)

    def put_article(
        self, article: Article, nodes: Sequence[TextNode], near_duplicates: list[str], chunking: str = ""
    ) -> None:
        """Store one article as a new version (see `put_articles`)."""
        self.put_articles([StoredArticle(article, list(nodes), near_duplicates, chunking)])

    def put_articles(self, items: Sequence[StoredArticle]) -> None:
        """Store a batch of articles, each as a new version, in few Chroma calls.

        1. every article's chunks are written under its new version (beside any old one);
        2. the records are flipped to the new versions (one write: from here readers see them);
        3. the old versions' chunks are deleted.
        A failure before 2 deletes what 1 wrote (the old versions stay whole, and their old
        content hash makes the next ingest try again); anything an interruption leaves is
        unreachable for readers and removed by `repair`. Each node's id is set to the id
        it is stored under (an update's chunks carry their version in the id).
        """
        if not items:
            return
        with self.writing():
            current = self._versions([it.article.doc_id for it in items])
            for it in items:
                it.version = new_version()
                name_chunks(it, replaces=it.article.doc_id in current)
            rows = [chunk_row(n, it.version) for it in items for n in it.nodes]
            try:
                self._upsert(rows)
            except Exception:
                self._discard([row[0] for row in rows])
                raise
            try:
                self._fault_point()
                self.docs.upsert(**record_columns(items))
            except Exception:
                self._discard_unclaimed(items)
                raise
            self._note_live({it.article.doc_id: it.version for it in items})
            try:
                self._delete_stale(list(current))
            except Exception:  # the articles are stored: what is left is unreachable, and the next start removes it
                log.warning("could not delete the replaced chunks of %d articles", len(current), exc_info=True)

    def _discard(self, ids: list[str]) -> None:
        """Best effort: a version that was never made current goes (else `repair` takes it)."""
        try:
            self._delete(ids)
        except Exception:
            log.warning("could not delete the chunks of an unfinished write; the next start removes them")

    def _discard_unclaimed(self, items: Sequence[StoredArticle]) -> None:
        """After a failed flip: the new chunks of articles whose record does not name them (a
        write can fail after it was applied, on a server: those are kept)."""
        try:
            now = self._versions([it.article.doc_id for it in items])
        except Exception:
            return  # the store is away: `repair` decides at the next start
        self._note_live({it.article.doc_id: it.version for it in items if now.get(it.article.doc_id) == it.version})
        self._discard([n.node_id for it in items if now.get(it.article.doc_id) != it.version for n in it.nodes])

    def _delete_stale(self, doc_ids: list[str]) -> None:
        """Chunks of these articles whose version is not their record's (the replaced ones)."""
        if not doc_ids:
            return
        live = self._versions(doc_ids)
        stale = []
        for batch in self._batches(doc_ids):
            got = self.chunks.get(where={"doc_id": {"$in": batch}}, include=["metadatas"])
            stale += [i for i, m in zip(got["ids"], got["metadatas"]) if not is_live(m, live)]
        self._delete(stale)

    def _upsert(self, rows: list[tuple]) -> None:
        for batch in self._batches(rows):
            self._fault_point()
            ids, embeddings, metadatas, documents = (list(column) for column in zip(*batch))
            self.chunks.upsert(ids=ids, embeddings=embeddings, metadatas=metadatas, documents=documents)

    def _delete(self, ids: list[str]) -> None:
        for batch in self._batches(ids):
            self._fault_point()
            self.chunks.delete(ids=batch)

    @staticmethod
    def _read_all(collection, include: list[str], ids: list[str] | None = None) -> dict[str, list]:
        """Every row of a collection, or the rows of `ids` (ids and `include`), in pages of
        `READ_PAGE` rows: by offset for the whole collection, by slices of `ids` otherwise."""
        out: dict[str, list] = {"ids": [], **{field: [] for field in include}}
        if ids is not None and not ids:
            return out  # Chroma refuses an empty list of ids
        offset = 0
        while True:
            if ids is None:
                got = collection.get(include=include, limit=READ_PAGE, offset=offset)
            else:
                got = collection.get(ids=ids[offset : offset + READ_PAGE], include=include)
            for field in out:
                out[field] += list(got[field])
            offset += READ_PAGE
            if (len(got["ids"]) < READ_PAGE) if ids is None else offset >= len(ids):
                return out

    def _batches(self, items: list) -> Iterator[list]:
        """`items` in slices no longer than Chroma accepts in one call."""
        step = self.client.get_max_batch_size()
        for start in range(0, len(items), step):
            yield items[start : start + step]

    def _fault_point(self) -> None:
        """Test hook for interruption tests: with RAG_TEST_PAUSE_AT_WRITE=N, the Nth store write of
        this process is not made; the process says so on stderr and waits to be killed."""
        self._writes += 1
        if _PAUSE_AT and self._writes == _PAUSE_AT:
            print(f"paused before store write {self._writes}", file=sys.stderr, flush=True)
            while True:
                time.sleep(60)

    def delete_article(self, doc_id: str) -> None:
        """The record goes first (readers stop seeing the article at once), then its chunks.
        An article of which only chunks are left (an interrupted write) can be removed too."""
        has_record = bool(self.docs.get(ids=[doc_id], include=[])["ids"])
        if not has_record and not self.chunks.get(where={"doc_id": doc_id}, include=[], limit=1)["ids"]:
            raise UnknownDocument(doc_id)
        with self.writing():
            if has_record:
                self._fault_point()
                self.docs.delete(ids=[doc_id])
            self._note_live({doc_id: None})
            self._fault_point()
            self.chunks.delete(where={"doc_id": doc_id})
            self._forget_near_duplicate(doc_id)

    def _forget_near_duplicate(self, doc_id: str) -> None:
        """Articles that were noted as repeating the removed one no longer name it."""
        got = self._read_all(self.docs, ["metadatas"])
        changed = {}
        for other, meta in zip(got["ids"], got["metadatas"]):
            near = json.loads((meta or {}).get("near_duplicates") or "[]")
            if doc_id in near:
                changed[other] = {**meta, "near_duplicates": json.dumps([d for d in near if d != doc_id])}
        if changed:
            self.docs.update(ids=list(changed), metadatas=list(changed.values()))

    def repair(self) -> RepairReport:
        """Remove what interrupted writes left: chunks of a version that no record names.

        In the embedded store no other process can be writing while this one has the collection
        open (see rag.storelock), so every such chunk is left over, and goes if no other process
        has the collection open (else a later start removes it; readers skip it meanwhile). On a
        Chroma server other writers may be at work, so only chunks older than `ORPHAN_GRACE_S`
        go. A record whose own chunks are incomplete (left by code from before versions) is
        reported, not deleted.
        """
        live = self.live_versions(refresh=True)
        got = self._read_all(self.chunks, ["metadatas"])
        leftover, young, found = [], [], {}
        now_ms = time.time() * 1000
        for chunk_id, meta in zip(got["ids"], got["metadatas"]):
            meta = meta or {}
            if is_live(meta, live):
                found[meta.get("doc_id")] = found.get(meta.get("doc_id"), 0) + 1
            elif self._lock is None and now_ms - version_ms(meta.get("version", "")) < ORPHAN_GRACE_S * 1000:
                young.append(chunk_id)
            else:
                leftover.append(chunk_id)
        removed = 0
        if leftover:
            with self._write_if_free() as free:
                if free:
                    self._delete(leftover)
                    removed = len(leftover)
                    log.info("removed %d chunks left by an interrupted write", removed)
        broken = self._mark_incomplete(found)
        return RepairReport(removed=removed, left=len(leftover) - removed + len(young), incomplete=broken)

    def _mark_incomplete(self, found: dict[str, int]) -> list[str]:
        """Records with fewer chunks of their version than they count (only code from before
        versions could leave one): their content hash is cleared, so the next ingest of the
        article writes it again instead of skipping it as unchanged."""
        got = self._read_all(self.docs, ["metadatas"])
        broken = {i: m for i, m in zip(got["ids"], got["metadatas"]) if found.get(i, 0) < int((m or {}).get("chunks", 0))}
        if broken:
            log.warning("articles missing some of their chunks (ingest them again): %s", ", ".join(sorted(broken)))
            with self._write_if_free() as free:
                if free:
                    self.docs.update(ids=list(broken), metadatas=[{**m, "content_hash": ""} for m in broken.values()])
        return sorted(broken)

    # --- which version of each article readers see ---------------------------------------

    def _versions(self, doc_ids: list[str]) -> dict[str, str]:
        """The current version of each of these articles that has a record ("" for records
        from before versions)."""
        out: dict[str, str] = {}
        for batch in self._batches(list(dict.fromkeys(doc_ids))):
            got = self.docs.get(ids=batch, include=["metadatas"])
            out.update({i: (m or {}).get("version", "") for i, m in zip(got["ids"], got["metadatas"])})
        return out

    def live_versions(self, refresh: bool = False) -> dict[str, str]:
        """doc id -> current version, kept in memory: read once, updated by this process's
        writes, re-read on `refresh` (another process may have written: see the store watcher)."""
        with self._live_guard:
            if self._live is None or refresh:
                got = self._read_all(self.docs, ["metadatas"])
                self._live = {i: (m or {}).get("version", "") for i, m in zip(got["ids"], got["metadatas"])}
            return self._live

    def _note_live(self, changes: dict[str, str | None]) -> None:
        with self._live_guard:
            if self._live is None:
                return
            live = dict(self._live)  # readers iterate the old dict undisturbed
            for doc_id, version in changes.items():
                if version is None:
                    live.pop(doc_id, None)
                else:
                    live[doc_id] = version
            self._live = live

    def live_only(self, hits: list[ChunkHit]) -> list[ChunkHit]:
        """The hits that belong to the current version of a listed article. A hit the map in
        memory doubts has its article's record read again first (one read for all of them): on
        a Chroma server another process may have changed the article since this one last looked."""
        live = self.live_versions()
        doubtful = {h.metadata.get("doc_id") for h in hits if not is_live(h.metadata, live)}
        if doubtful:
            now = self._versions(sorted(d for d in doubtful if isinstance(d, str)))
            self._note_live({d: now.get(d) for d in doubtful})
            live = self.live_versions()
        return [h for h in hits if is_live(h.metadata, live)]


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
        got = self._read_all(self.docs, ["metadatas"])
        docs = [metadata_to_docinfo(i, m) for i, m in zip(got["ids"], got["metadatas"])]
        return sorted(docs, key=lambda d: d.doc_id)

    def get_doc(self, doc_id: str) -> tuple[DocInfo, str]:
        got = self.docs.get(ids=[doc_id], include=["metadatas", "documents"])
        if not got["ids"]:
            raise UnknownDocument(doc_id)
        return metadata_to_docinfo(doc_id, got["metadatas"][0]), got["documents"][0]

    def openings(self, doc_ids: list[str], chars: int) -> dict[str, str]:
        """The first `chars` characters (cut at a word) of each of these stored articles, in one read."""
        got = self._read_all(self.docs, ["documents"], list(dict.fromkeys(doc_ids)))
        return {i: opening(text or "", chars) for i, text in zip(got["ids"], got["documents"])}

    def stored_versions(self, doc_ids: list[str]) -> dict[str, tuple[str, str]]:
        """(content hash, chunking) of each of these articles that is stored, in few reads."""
        out: dict[str, tuple[str, str]] = {}
        for batch in self._batches(list(dict.fromkeys(doc_ids))):
            got = self.docs.get(ids=batch, include=["metadatas"])
            for i, m in zip(got["ids"], got["metadatas"]):
                out[i] = ((m or {}).get("content_hash", ""), (m or {}).get("chunking", ""))
        return out

    def similar_docs(self, embedding: np.ndarray, exclude: str, threshold: float) -> list[str]:
        return self.similar_docs_many(np.asarray([embedding]), [exclude], threshold)[0]

    def similar_docs_many(
        self, embeddings: np.ndarray, excludes: list[str], threshold: float, n: int = 5
    ) -> list[list[str]]:
        """For each embedding, the stored articles (other than its own) at cosine >= threshold,
        of the n nearest: one query for the whole batch."""
        count = self.docs.count()
        if count == 0 or len(embeddings) == 0:
            return [[] for _ in excludes]
        got = self.docs.query(
            query_embeddings=np.asarray(embeddings).tolist(), n_results=min(n, count), include=["distances"]
        )
        return [
            [i for i, d in zip(ids, dists) if i != exclude and 1 - d >= threshold]
            for ids, dists, exclude in zip(got["ids"], got["distances"], excludes)
        ]

    def count_chunks(self) -> int:
        return self.chunks.count()

    def articles_fingerprint(self) -> str:
        """Changes whenever an article is added, changed or removed (by any process)."""
        got = self._read_all(self.docs, ["metadatas"])
        pairs = sorted(
            f"{i}\t{(m or {}).get('content_hash', '')}\t{(m or {}).get('version', '')}"
            for i, m in zip(got["ids"], got["metadatas"])
        )
        return hashlib.sha256("\n".join(pairs).encode()).hexdigest()

    def chunk_ids(self) -> list[str]:
        """Every chunk id in the collection, those of unfinished or replaced versions included."""
        return sorted(self._read_all(self.chunks, [])["ids"])

    def all_chunks(self) -> tuple[list[str], list[str], list[dict[str, Any]]]:
        """The chunks readers see (of current versions): ids, texts, metadata."""
        got = self._read_all(self.chunks, ["documents", "metadatas"])
        live = self.live_versions()
        rows = [(i, t, m) for i, t, m in zip(got["ids"], got["documents"], got["metadatas"]) if is_live(m, live)]
        return [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]

    def chunks_of(self, doc_ids: list[str]) -> tuple[list[str], list[str], list[dict[str, Any]]]:
        """The current chunks of these articles: ids, texts, metadata."""
        ids, texts, metas = [], [], []
        live = self.live_versions()
        for batch in self._batches(list(doc_ids)):
            got = self.chunks.get(where={"doc_id": {"$in": batch}}, include=["documents", "metadatas"])
            for i, t, m in zip(got["ids"], got["documents"], got["metadatas"]):
                if is_live(m, live):
                    ids.append(i), texts.append(t), metas.append(m)
        return ids, texts, metas

    def get_chunks(self, ids: list[str] | None) -> list[ChunkHit]:
        """The chunks with these ids (all chunks for None) that readers may see, without a cosine."""
        got = self._read_all(self.chunks, ["documents", "metadatas", "embeddings"], ids)
        if ids is None:
            ids = got["ids"]
        hits = self.live_only(
            [ChunkHit(i, t, m, 0.0, np.asarray(e, dtype=np.float32))
             for i, t, m, e in zip(got["ids"], got["documents"], got["metadatas"], got["embeddings"])]
        )
        by_id = {h.chunk_id: h for h in hits}
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
    dated: list[dict[str, Any]] = []
    if filters.published_after:
        dated.append({"published_ts": {"$gte": timestamp(filters.published_after)}})
    if filters.published_before:
        dated.append({"published_ts": {"$lte": timestamp(filters.published_before)}})
        dated.append({"published_ts": {"$gte": 0}})  # undated articles do not match a date range
    if dated and filters.keep_undated:
        dated = [{"$or": [dated[0] if len(dated) == 1 else {"$and": dated}, {"published_ts": {"$lt": 0}}]}]
    clauses += dated
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def matching_dates(filters: Filters, published_ts: np.ndarray) -> np.ndarray:
    """`matches` for many chunks at once by their articles' publication timestamps (-1: undated),
    for filters that name no articles."""
    ok = np.ones(len(published_ts), dtype=bool)
    if filters.published_after:
        ok &= published_ts >= timestamp(filters.published_after)
    if filters.published_before:
        ok &= (published_ts >= 0) & (published_ts <= timestamp(filters.published_before))
    if filters.keep_undated:
        ok |= published_ts < 0
    return ok


def matches(filters: Filters | None, metadata: dict[str, Any]) -> bool:
    """The same filter as `chroma_where`, for the keyword index."""
    if filters is None:
        return True
    ts = int(metadata.get("published_ts", -1))
    if filters.doc_ids and metadata.get("doc_id") not in filters.doc_ids:
        return False
    if ts < 0 and filters.keep_undated:
        return True
    if filters.published_after and ts < timestamp(filters.published_after):
        return False
    if filters.published_before and not 0 <= ts <= timestamp(filters.published_before):
        return False
    return True

