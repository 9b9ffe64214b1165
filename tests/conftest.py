"""Shared fixtures. Tiers (markers): unit tests are unmarked and fast; `e2e` tests use the
real local model; `server` tests start a real `chroma run`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.pipeline import Pipeline
from rag.settings import Settings
from tests.fixtures.fake_llm import FakeLLMServer

pytest_plugins = ["tests.fixtures.chroma_server", "tests.fixtures.http_server"]

# Model files are big: every test data dir shares the user's model dir (assembled once).
MODEL_DIR = Path(os.environ.get("RAG_TEST_MODEL_DIR") or Settings().models_path)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: uses the real local LLM (slow)")
    config.addinivalue_line("markers", "server: starts a real Chroma server")


@pytest.fixture(scope="session")
def fake_llm() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server


def make_settings(data_dir: Path, **overrides) -> Settings:
    values = dict(data_dir=data_dir, model_dir=MODEL_DIR, openai_api_key=None, openai_base_url=None, chroma_url=None)
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def fake_settings(tmp_path: Path, fake_llm: FakeLLMServer) -> Settings:
    """Real Chroma and embeddings in a fresh data dir; the stand-in LLM."""
    return make_settings(tmp_path / "data", openai_base_url=fake_llm.base_url, llm_model="fake")


@pytest.fixture
def fake_pipeline(fake_settings: Settings) -> Iterator[Pipeline]:
    with Pipeline(fake_settings, start_llm=False) as pipeline:
        pipeline.ensure_seeded()
        yield pipeline


@pytest.fixture
def memory_pipeline(fake_settings: Settings) -> Iterator[Pipeline]:
    """The seeds in in-memory parts (`tests.fixtures.fakes`: hashed-word vectors, a store in
    dictionaries) and the real keyword index: for the logic around the parts (caches, the
    in-memory copy, ingest bookkeeping), without Chroma or the embedding model."""
    from rag.components import Parts
    from rag.keyword import KeywordIndex
    from tests.fixtures.fakes import HashingEmbedder, InMemoryStore

    keyword = KeywordIndex(fake_settings.data_dir / "keyword" / fake_settings.collection)
    parts = Parts(embedder=HashingEmbedder(), store=InMemoryStore(), keyword=keyword)
    with Pipeline(fake_settings, parts=parts, start_llm=False) as pipeline:
        pipeline.ensure_seeded()
        yield pipeline


@pytest.fixture(scope="session")
def real_pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    """The embedded defaults for real: local Qwen 1.5B, ONNX MiniLM, embedded Chroma, the seeds."""
    settings = make_settings(tmp_path_factory.mktemp("real") / "data")
    with Pipeline(settings, start_llm=True) as pipeline:
        pipeline.ensure_seeded()
        yield pipeline
