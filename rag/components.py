"""The parts a pipeline is made of, each behind a small protocol, and the one factory that
builds the real ones from settings.

    ChatModel     the model that writes answers (real: `rag.llm.client.ChatLLM`, an
                  OpenAI-compatible server, local or hosted)
    Embedder      text to vectors (real: `rag.embed.OnnxMiniLMEmbedding`, or OpenAI's)
    VectorStore   chunks, their vectors and the article records (real: `rag.store.ChromaStore`)
    KeywordIndex  BM25 over the chunks (real: `rag.keyword.KeywordIndex`)

`Pipeline(settings, parts=Parts(...))` takes any objects that fit (tests pass the in-memory
fakes of `tests/fixtures/fakes.py`: `HashingEmbedder`, `InMemoryStore`, the latter held to the
real store by `tests/unit/test_store_contract.py`); `Pipeline(settings)` builds the real ones
with `build_parts`. The protocols list what
the pipeline, the indexer and the retriever call, nothing more.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from rag.schema import DocInfo, Filters

if TYPE_CHECKING:
    from rag.llm.client import Completion, Message
    from rag.settings import Settings
    from rag.store import ChunkHit, RepairReport, StoredArticle


class ChatModel(Protocol):
    model: str
    base_url: str  # shown in messages and logs
    max_tokens: int
    concurrency: int  # how many questions the backend answers at once (sizes the admission gate)

    def complete(
        self, messages: list[Message], max_tokens: int | None = None, response_format: dict | None = None
    ) -> Completion: ...

    def stream(
        self, messages: list[Message], completion: Completion, max_tokens: int | None = None,
        response_format: dict | None = None,
    ) -> Iterator[str]: ...  # fmt: skip


class Embedder(Protocol):
    model_name: str  # a collection remembers it: vectors of two models never mix

    def get_text_embedding_batch(self, texts: list[str], show_progress: bool = False) -> list[list[float]]: ...

    def embed_queries(self, questions: list[str]) -> np.ndarray:
        """One row per question; questions that arrive together are embedded as one batch."""
        ...

    # Optional, found with getattr: `embed_texts(texts) -> np.ndarray`, the embedder's own batching
    # of passages (`rag.ingest.indexer.embed_texts`), and `child_process()`, an embedding child
    # process for a long ingest (`rag.minilm.EmbeddingProcess`).


class VectorStore(Protocol):
    def writing(self) -> AbstractContextManager: ...
    def put_article(
        self, article: Any, nodes: Sequence[Any], near_duplicates: list[str], chunking: str = ""
    ) -> None: ...
    def put_articles(self, items: Sequence[StoredArticle]) -> None: ...
    def delete_article(self, doc_id: str) -> None: ...
    def repair(self) -> RepairReport: ...
    def live_versions(self, refresh: bool = False) -> dict[str, str]: ...
    def live_only(self, hits: list[ChunkHit]) -> list[ChunkHit]: ...
    def source(self, doc_id: str) -> str | None: ...
    def list_docs(self) -> list[DocInfo]: ...
    def get_doc(self, doc_id: str) -> tuple[DocInfo, str]: ...
    def openings(self, doc_ids: list[str], chars: int) -> dict[str, str]: ...
    def stored_versions(self, doc_ids: list[str]) -> dict[str, tuple[str, str]]: ...
    def similar_docs_many(
        self, embeddings: np.ndarray, excludes: list[str], threshold: float, n: int = 5
    ) -> list[list[str]]: ...
    def count_chunks(self) -> int: ...
    def articles_fingerprint(self) -> str: ...
    def chunk_ids(self) -> list[str]: ...
    def all_chunks(self) -> tuple[list[str], list[str], list[dict[str, Any]]]: ...
    def chunks_of(self, doc_ids: list[str]) -> tuple[list[str], list[str], list[dict[str, Any]]]: ...
    def get_chunks(self, ids: list[str] | None) -> list[ChunkHit]: ...
    def nearest(self, embedding: np.ndarray, n: int, filters: Filters | None = None) -> list[tuple[str, float]]: ...
    def close(self) -> None: ...


class KeywordIndex(Protocol):
    version: int  # changes with every update: caches of search results key on it

    def fingerprint(self) -> str: ...
    def is_current(self, ids: list[str]) -> bool: ...
    def live_chunks(self) -> list[tuple[str, str]]: ...
    def doc_versions(self) -> dict[str, str]: ...
    def metadata_of(self, ids: list[str]) -> list[dict[str, Any] | None]: ...
    def count_dated(self, filters: Filters) -> tuple[int, int]: ...
    def rebuild(self, ids: list[str], texts: list[str], metadatas: list[dict[str, Any]]) -> None: ...
    def update(
        self, remove_docs: Iterable[str], ids: list[str], texts: list[str], metadatas: list[dict[str, Any]]
    ) -> None: ...
    def search(self, query: str, n: int, filters: Filters | None = None) -> list[tuple[str, float]]: ...
    def abbreviations(self, query: str) -> dict[str, str]: ...


@dataclass
class Parts:
    """What a pipeline is built from. `chat_model` may be left out: the settings' model is then
    made on first use (a local one is started only when a question needs it)."""

    embedder: Embedder
    store: VectorStore
    keyword: KeywordIndex
    chat_model: ChatModel | None = None


def build_parts(settings: Settings, *, chat_model: ChatModel | None = None) -> Parts:
    """The real parts the settings ask for (the chat model, unless given, is made later by the
    pipeline, as starting a local one takes a while)."""
    from rag.embed import build_embedding
    from rag.keyword import KeywordIndex as BM25Index
    from rag.store import ChromaStore

    embedder = build_embedding(settings)
    store = ChromaStore(settings, embed_model=embedder.model_name)
    keyword = BM25Index(settings.data_dir / "keyword" / settings.collection)
    return Parts(embedder=embedder, store=store, keyword=keyword, chat_model=chat_model)

