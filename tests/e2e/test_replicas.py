"""The deployment of compose.yaml as plain processes: a real `chroma run`, the real local model
served by a process of its own (`python -m rag.llm.serve`), two `rag serve` replicas and one
`rag watch`, each configured by environment only, as the compose file configures them.

What one replica stores (an HTTP upload) the other finds and answers from within its sync
interval; what the watcher takes from a feed (a local news site) both replicas find.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from rag.llm.local import free_port
from tests.conftest import MODEL_DIR
from tests.fixtures.news_site import NewsServer, publish, story

pytestmark = [pytest.mark.e2e, pytest.mark.server]

SYNC_S = 1.0  # RAG_STORE_SYNC_S of both replicas
MODEL = "qwen2.5-coder-1.5b"


def _wait(seconds: float, check: Callable[[], object], what: str, proc: subprocess.Popen | None = None) -> float:
    """Seconds until `check()` is truthy; fails after `seconds` (or when `proc` exits)."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"{what}: the process exited with code {proc.returncode}")
        try:
            if check():
                return time.monotonic() - started
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {seconds:.0f} s")


class Topology:
    """Starts processes with a clean environment plus the given variables; stops them all."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.procs: list[subprocess.Popen] = []
        self.base_env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "OPENAI_"))}

    def start(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen:
        log = open(self.tmp / f"{name}.log", "wb")
        proc = subprocess.Popen([sys.executable, *args], env={**self.base_env, **env}, stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture(scope="module")
def deployment(chroma_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    tmp = tmp_path_factory.mktemp("replicas")
    topology = Topology(tmp)
    site = NewsServer().__enter__()
    publish(site.site, site.base_url, 3)
    try:
        llm_port = free_port()
        model = topology.start("model", ["-m", "rag.llm.serve", MODEL, "--port", str(llm_port), "--slots", "2",
                                         "--context", "8192"], {"RAG_MODEL_DIR": str(MODEL_DIR)})  # fmt: skip
        llm_url = f"http://127.0.0.1:{llm_port}/v1"
        _wait(600, lambda: httpx.get(f"{llm_url}/models", timeout=5).status_code == 200, "model server", model)
        shared = {  # what compose.yaml's x-rag-env sets
            "RAG_CHROMA_URL": chroma_server, "RAG_STORE_SYNC_S": str(SYNC_S), "RAG_COLLECTION": "replicated",
            "OPENAI_BASE_URL": llm_url, "RAG_LLM_MODEL": MODEL, "RAG_AUTO_SEED": "false",
            "RAG_MODEL_DIR": str(MODEL_DIR),
        }  # fmt: skip
        replicas = {}
        for name in ("a", "b"):
            port = free_port()
            env = {**shared, "RAG_DATA_DIR": str(tmp / name), "RAG_HOST": "127.0.0.1", "RAG_PORT": str(port)}
            proc = topology.start(f"api-{name}", ["-m", "rag.cli", "serve", "--log-level", "warning"], env)
            replicas[name] = (f"http://127.0.0.1:{port}", proc)
        for name, (url, proc) in replicas.items():
            _wait(300, lambda url=url: httpx.get(f"{url}/readyz", timeout=10).status_code == 200, f"replica {name}", proc)
        watcher = topology.start("watcher", ["-m", "rag.cli", "watch"], {
            **shared, "RAG_DATA_DIR": str(tmp / "watcher"), "RAG_WATCH_FEEDS": f"{site.base_url}/feed.rss",
            "RAG_WATCH_EVERY": "2s", "RAG_FEED_HOST_INTERVAL_S": "0"})  # fmt: skip
        yield {"a": replicas["a"][0], "b": replicas["b"][0], "watcher": watcher, "site": site, "logs": tmp}
    finally:
        topology.stop()
        site.__exit__(None, None, None)


def _search(url: str, question: str) -> list[dict]:
    response = httpx.post(f"{url}/v1/search", json={"question": question, "k": 3}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["passages"]


def test_an_upload_to_one_replica_is_answered_by_the_other(deployment: dict):
    a, b = deployment["a"], deployment["b"]
    question = "How many passengers does the Orrin Sound ferry carry each day?"
    assert all(p["doc_id"] != "orrin-ferry" for p in _search(b, question))  # B has looked (and cached) before
    article = {
        "id": "orrin-ferry",
        "title": "Orrin Sound ferry doubles its winter timetable",
        "text": "The Orrin Sound ferry now carries 340 passengers each day between Kelby and the island of Orrin, "
        "the island council said on Tuesday. The operator added two winter crossings after the bridge closed "
        "for repairs. Fares stay at four pounds for residents.",
    }
    response = httpx.post(f"{a}/v1/documents", json=article, timeout=120)
    assert response.status_code == 201, response.text
    seen_after = _wait(10 * SYNC_S + 10, lambda: any(p["doc_id"] == "orrin-ferry" for p in _search(b, question)),
                       "replica B finding the article uploaded to A")  # fmt: skip
    print(f"replica B found the upload {seen_after:.1f} s after A stored it (sync interval {SYNC_S} s)")
    answer = httpx.post(f"{b}/v1/ask", json={"question": question}, timeout=300).json()
    assert not answer["abstained"], answer
    assert "340" in answer["answer"]
    assert [c["doc_id"] for c in answer["citations"]][:1] == ["orrin-ferry"]


def test_what_the_watcher_ingests_both_replicas_find(deployment: dict):
    title, _ = story(1)  # on the site's feed since the watcher started
    for name in ("a", "b"):
        url = deployment[name]
        # searched by its headline: the first paragraph says "on Monday", which a question reads as
        # a date filter (the week before now), and the site's stories are dated earlier
        _wait(120, lambda url=url: any(p["title"] == title for p in _search(url, title)),
              f"replica {name.upper()} finding the watched feed's story", deployment["watcher"])  # fmt: skip
    site = deployment["site"].site
    assert site.count("/news/story-1.html", 200) == 1  # fetched once, whatever the number of polls
