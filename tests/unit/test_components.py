"""Parts are injected: a pipeline runs on whatever fits the protocols of `rag.components`."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.components import Parts, build_parts
from rag.keyword import KeywordIndex
from rag.pipeline import Pipeline
from rag.store import ChromaStore
from tests.conftest import make_settings
from tests.fixtures.fakes import HashingEmbedder, InMemoryStore

ARTICLES = [
    {"id": "ferry", "title": "Ferry", "text": "The Orrin ferry carries 300 passengers across the bay to Kessel daily."},
    {"id": "bread", "title": "Bread", "text": "Knead the dough for ten minutes, then let the bread rise two hours."},
    {"id": "vote", "title": "Vote", "text": "Polls open at 9 a.m. Monday and the council counts the votes overnight."},
]


def test_a_pipeline_runs_on_the_parts_it_is_given(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", auto_seed=False)
    embedder = HashingEmbedder()
    parts = Parts(embedder=embedder, store=InMemoryStore(),
                  keyword=KeywordIndex(settings.data_dir / "keyword" / settings.collection))  # fmt: skip
    with Pipeline(settings, parts=parts, start_llm=False) as pipeline:
        for record in ARTICLES:
            pipeline.ingest_record(record, record["id"])
        assert sorted(d.doc_id for d in pipeline.documents()) == ["bread", "ferry", "vote"]
        assert pipeline.search("How long should the bread rise?", k=1)[0].doc_id == "bread"
        assert pipeline.search("ferry passengers Kessel", k=1, mode="dense")[0].doc_id == "ferry"
        assert embedder.query_batches  # questions went through the embedder given, whatever its class
        assert pipeline.store is parts.store and pipeline.retriever.embedding is embedder


def test_the_factory_builds_the_parts_the_settings_ask_for(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", auto_seed=False)
    parts = build_parts(settings)
    try:
        assert parts.embedder.model_name == "all-MiniLM-L6-v2-onnx-int8"
        assert isinstance(parts.store, ChromaStore) and isinstance(parts.keyword, KeywordIndex)
        assert parts.chat_model is None  # made by the pipeline when first needed
        assert parts.embedder.embed_queries(["one", "two"]).shape == (2, 384)
    finally:
        parts.store.close()


def test_a_collection_refuses_vectors_of_another_embedder(tmp_path: Path) -> None:
    """Swapping the embedder cannot mix vectors of two models in one collection."""
    settings = make_settings(tmp_path / "data", auto_seed=False)
    ChromaStore(settings, embed_model=HashingEmbedder.model_name).close()
    with pytest.raises(Exception, match="embedding model"):
        build_parts(settings)
