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


def test_warm_up_loads_what_the_first_question_and_article_would_wait_for(tmp_path: Path) -> None:
    """In a fresh process (in-memory parts): spaCy, dateparser's tables, WordNet and the
    splitter's sentence tokenizer are not loaded by building a pipeline, and are after warm_up."""
    import subprocess
    import sys

    script = f"""
import sys
from llama_index.core.utils import globals_helper
from rag.keyword import KeywordIndex
from rag.components import Parts
from rag.nlp import lexicon, parse
from rag.pipeline import Pipeline
from tests.conftest import make_settings
from tests.fixtures.fakes import HashingEmbedder, InMemoryStore
settings = make_settings({str(tmp_path / "data")!r}, auto_seed=False)
parts = Parts(embedder=HashingEmbedder(), store=InMemoryStore(), keyword=KeywordIndex(settings.data_dir / "kw"))
with Pipeline(settings, parts=parts, start_llm=False) as pipeline:
    loaded = lambda: (parse._nlp is not None, globals_helper._punkt_tokenizer is not None,
                      "dateparser.languages.loader" in sys.modules, lexicon._reader is not None)
    print(loaded())
    pipeline.warm_up()
    print(loaded())
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2], timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    before, after = out.stdout.strip().splitlines()[-2:]
    assert before == "(False, False, False, False)" and after == "(True, True, True, True)", out.stdout
