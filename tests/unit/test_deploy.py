"""The deployment's configuration: compose.yaml sets only real settings, with values they accept,
wired to each other (service names, ports, model name); the model server and the watcher take
what compose gives them; HNSW parameters reach the Chroma collection."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlparse

import chromadb
import numpy as np
import pytest
import yaml
from chromadb.config import Settings as ChromaSettings

from rag import cli
from rag.llm.local import LOCAL_MODELS
from rag.llm.serve import build_parser
from rag.settings import PROJECT_ROOT, Settings, env_name, get_settings, read
from rag.store import ChromaStore
from service.settings import ServiceSettings
from tests.conftest import make_settings

COMPOSE = PROJECT_ROOT / "compose.yaml"
RAG_SERVICES = ("model", "api-a", "api-b", "watcher")
REQUIRED_EXAMPLE = "https://news.example.org/rss.xml"  # for ${VAR:?...}: what a user must give


def _interpolate(value: object) -> str:
    """Compose's interpolation with nothing set: ${X:-default} -> default, ${X:?why} -> an example."""

    def one(m: re.Match) -> str:
        name, op, rest = m.group(1), m.group(2), m.group(3)
        if op == ":-":
            return rest
        if op == ":?":
            return REQUIRED_EXAMPLE
        raise AssertionError(f"${{{name}}} has no default: compose would leave it empty")

    return re.sub(r"\$\{(\w+)(:[-?])?([^}]*)\}", one, str(value))


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def _env(compose: dict, service: str) -> dict[str, str]:
    return {k: _interpolate(v) for k, v in (compose["services"][service].get("environment") or {}).items()}


def _real_names() -> set[str]:
    names = set()
    for cls in (Settings, ServiceSettings):
        for field in cls.model_fields:
            names.update(env_name(cls, field).split(" / "))
    return names


def test_compose_runs_the_whole_topology(compose: dict):
    services = compose["services"]
    assert {"chroma", *RAG_SERVICES} <= set(services)
    assert services["api-a"]["command"] == services["api-b"]["command"] == ["rag", "serve"]
    assert services["watcher"]["command"] == ["rag", "watch"]


def test_every_variable_compose_sets_is_a_setting_it_accepts(compose: dict, monkeypatch: pytest.MonkeyPatch):
    real = _real_names()
    for service in RAG_SERVICES:
        env = _env(compose, service)
        unknown = sorted(set(env) - real)
        assert not unknown, f"{service} sets variables no setting reads: {unknown}"
        for name in real:
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        read(Settings), read(ServiceSettings)  # raises InvalidSetting naming the variable


def test_the_services_reach_each_other(compose: dict, monkeypatch: pytest.MonkeyPatch):
    services = compose["services"]
    chroma_port = int(services["chroma"]["ports"][0].split(":")[-1])
    model = build_parser().parse_args([_interpolate(a) for a in services["model"]["command"][3:]])
    assert services["model"]["command"][:3] == ["python", "-m", "rag.llm.serve"]
    assert model.model in LOCAL_MODELS and model.host == "0.0.0.0"
    for name in ("api-a", "api-b", "watcher"):
        env = _env(compose, name)
        for key in env:
            monkeypatch.setenv(key, env[key])
        settings = read(Settings)
        chroma, llm = urlparse(settings.chroma_url), urlparse(settings.openai_base_url)
        assert (chroma.hostname, chroma.port) == ("chroma", chroma_port)
        assert (llm.hostname, llm.port) == ("model", model.port)
        assert settings.llm_model_name == model.model  # the served alias is the model's name
        assert settings.store_sync_s > 0, "replicas must look for each other's writes"
        assert not settings.use_local_llm
    for name in ("api-a", "api-b"):
        env = _env(compose, name)
        service = read(ServiceSettings, host=env["RAG_HOST"], port=int(env["RAG_PORT"]))
        assert service.host == "0.0.0.0"
        assert services[name]["ports"][0].endswith(f":{service.port}")
    assert {_env(compose, "watcher")["RAG_WATCH_FEEDS"]} == {REQUIRED_EXAMPLE}


def test_watch_without_feeds_names_the_variable(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture):
    monkeypatch.delenv("RAG_WATCH_FEEDS", raising=False)
    get_settings.cache_clear()
    with pytest.raises(SystemExit) as exit_:
        cli.main(["watch"])
    assert exit_.value.code == 2 and "RAG_WATCH_FEEDS" in capsys.readouterr().err
    monkeypatch.setenv("RAG_WATCH_FEEDS", "feeds/local.xml")  # a path, not a URL
    get_settings.cache_clear()
    with pytest.raises(SystemExit):
        cli.main(["watch"])
    assert "not a feed URL: feeds/local.xml" in capsys.readouterr().err
    get_settings.cache_clear()


def test_model_server_refuses_an_unknown_model_name():
    from rag.llm.serve import model_path

    with pytest.raises(SystemExit, match="neither a model file nor a local model name"):
        model_path("no-such-model")


def test_hnsw_settings_build_a_new_collection_and_search_an_existing_one(tmp_path: Path):
    settings = make_settings(tmp_path / "data", hnsw_m=12, hnsw_construction_ef=64, hnsw_search_ef=70)
    store = ChromaStore(settings, embed_model="m")
    for collection in (store.chunks, store.docs):
        hnsw = collection.configuration["hnsw"]
        assert (hnsw["space"], hnsw["max_neighbors"], hnsw["ef_construction"], hnsw["ef_search"]) == ("cosine", 12, 64, 70)
    store.close()
    # Reopened with other values: what the index was built with stays; the search breadth follows.
    store = ChromaStore(settings.model_copy(update={"hnsw_m": 40, "hnsw_search_ef": 150}), embed_model="m")
    hnsw = store.chunks.configuration["hnsw"]
    assert (hnsw["max_neighbors"], hnsw["ef_search"]) == (12, 150)
    store.close()


def test_a_collection_made_with_the_old_hnsw_metadata_keeps_working(tmp_path: Path):
    settings = make_settings(tmp_path / "data", collection="legacy", hnsw_search_ef=90)
    path = settings.data_dir / "chroma"
    path.mkdir(parents=True)
    old = chromadb.PersistentClient(path=str(path), settings=ChromaSettings(anonymized_telemetry=False))
    legacy = {"hnsw:space": "cosine", "hnsw:construction_ef": 200, "hnsw:search_ef": 200, "hnsw:M": 32, "embed_model": "m"}
    vectors = np.random.default_rng(0).normal(size=(50, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    old.get_or_create_collection("legacy", metadata=legacy).add(
        ids=[f"d#{i}" for i in range(50)], embeddings=vectors.tolist(), metadatas=[{"doc_id": "d"}] * 50)  # fmt: skip
    del old
    store = ChromaStore(settings, embed_model="m")
    hnsw = store.chunks.configuration["hnsw"]
    assert (hnsw["space"], hnsw["max_neighbors"], hnsw["ef_construction"], hnsw["ef_search"]) == ("cosine", 32, 200, 90)
    assert store.chunks.metadata["embed_model"] == "m"
    assert [i for i, _ in store.nearest(vectors[7], 1)] == ["d#7"]
    store.close()
