"""Queueing, disconnects and API keys, over real HTTP with a slow stand-in LLM."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import httpx
import openai
import pytest

from rag.pipeline import Pipeline
from service.settings import ServiceSettings
from tests.conftest import make_settings
from tests.fixtures.http_server import ServiceServer, SlowLLMServer, sse_events

SWAP = "How many prisoners did each side agree to swap?"
KEYS = "k-alpha-123,k-beta-456"


@pytest.fixture(scope="module")
def slow_llm() -> Iterator[SlowLLMServer]:
    with SlowLLMServer(delay_s=1.0, token_delay_s=0.15) as server:
        yield server


@pytest.fixture(scope="module")
def slow_pipeline(tmp_path_factory: pytest.TempPathFactory, slow_llm: SlowLLMServer) -> Iterator[Pipeline]:
    settings = make_settings(tmp_path_factory.mktemp("http-load") / "data", openai_base_url=slow_llm.base_url, llm_model="fake")
    with Pipeline(settings, start_llm=False) as pipeline:
        pipeline.ensure_seeded()
        yield pipeline


@pytest.fixture(scope="module")
def one_at_a_time(slow_pipeline: Pipeline) -> Iterator[ServiceServer]:
    """Like the local model: one answer at a time, one more may wait."""
    with ServiceServer(slow_pipeline, ServiceSettings(api_keys=None, llm_concurrency=1, queue_size=1)) as server:
        yield server


@pytest.fixture(scope="module")
def with_keys(slow_pipeline: Pipeline) -> Iterator[ServiceServer]:
    with ServiceServer(slow_pipeline, ServiceSettings(api_keys=KEYS), log_level="debug") as server:
        yield server


def _wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_full_queue_gets_429_while_search_and_health_stay_fast(one_at_a_time, slow_llm, monkeypatch):
    monkeypatch.setattr(slow_llm.httpd, "token_delay_s", 0.05)  # each answer holds the model ~3 s
    url = one_at_a_time.base_url
    results: list[int] = []

    def ask() -> None:
        results.append(httpx.post(url + "/v1/ask", json={"question": SWAP}, timeout=60).status_code)

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for t in threads:
        t.start()
    _wait_for(lambda: one_at_a_time.metric("rag_llm_running") == 1 and one_at_a_time.metric("rag_llm_queue_waiting") == 1)

    r = httpx.post(url + "/v1/ask", json={"question": SWAP}, timeout=10)
    assert r.status_code == 429
    assert r.json()["error"]["type"] == "busy" and "Retry" in r.json()["error"]["message"]
    assert int(r.headers["Retry-After"]) >= 1
    r = httpx.post(url + "/v1/ask", json={"question": SWAP, "stream": True}, timeout=10)
    assert r.status_code == 429  # refused before the stream starts
    sdk = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)
    with pytest.raises(openai.RateLimitError):
        sdk.chat.completions.create(model="x", messages=[{"role": "user", "content": SWAP}])

    started = time.perf_counter()
    search = httpx.post(url + "/v1/search", json={"question": "prisoner swap"}, timeout=10)
    docs = httpx.get(url + "/v1/documents", timeout=10)
    health = httpx.get(url + "/healthz", timeout=10)
    assert search.status_code == docs.status_code == health.status_code == 200
    assert time.perf_counter() - started < 2.0  # not stuck behind the model

    for t in threads:
        t.join(timeout=60)
    assert results == [200, 200]
    assert one_at_a_time.metric("rag_llm_rejected_total") == 3
    assert one_at_a_time.metric("rag_llm_running") == 0 and one_at_a_time.metric("rag_llm_queue_waiting") == 0


def test_client_that_disconnects_mid_stream_stops_its_generation(one_at_a_time, slow_llm):
    aborted_before = slow_llm.httpd.aborted
    disconnects_before = one_at_a_time.metric("rag_stream_disconnects_total")
    started = time.perf_counter()
    with httpx.stream("POST", one_at_a_time.base_url + "/v1/ask", json={"question": SWAP, "stream": True}, timeout=60) as r:
        events = sse_events(r)
        assert next(events)[0] == "evidence"  # the evidence comes before the model writes
        event, _ = next(events)
        assert event == "token"
    # ~45 words at 0.15 s each would take ~7 s more: the model is freed long before.
    _wait_for(lambda: one_at_a_time.metric("rag_llm_running") == 0, timeout=3)
    assert time.perf_counter() - started < 5
    _wait_for(lambda: one_at_a_time.metric("rag_stream_disconnects_total") == disconnects_before + 1, timeout=3)
    _wait_for(lambda: slow_llm.httpd.aborted == aborted_before + 1, timeout=3)
    # and the line is free for the next question
    assert httpx.post(one_at_a_time.base_url + "/v1/search", json={"question": SWAP}).status_code == 200


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/ask", {"question": SWAP}),
        ("/v1/chat", {"messages": [{"role": "user", "content": SWAP}]}),
        ("/v1/chat/completions", {"model": "m", "messages": [{"role": "user", "content": SWAP}]}),
    ],
)
def test_client_that_gives_up_on_an_answer_stops_its_generation(one_at_a_time, slow_llm, path, body):
    aborted_before = slow_llm.httpd.aborted
    disconnects_before = one_at_a_time.metric("rag_stream_disconnects_total")
    started = time.perf_counter()
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(one_at_a_time.base_url + path, json=body, timeout=1.5)  # the model is mid-answer by then
    # ~45 words at 0.15 s each would hold the model ~8 s: it is freed long before.
    _wait_for(lambda: one_at_a_time.metric("rag_llm_running") == 0, timeout=3)
    assert time.perf_counter() - started < 4.5
    _wait_for(lambda: one_at_a_time.metric("rag_stream_disconnects_total") == disconnects_before + 1, timeout=3)
    _wait_for(lambda: slow_llm.httpd.aborted == aborted_before + 1, timeout=3)


def test_client_that_gives_up_in_the_queue_is_not_answered(one_at_a_time, slow_llm, monkeypatch):
    monkeypatch.setattr(slow_llm.httpd, "token_delay_s", 0.05)  # the first answer holds the model ~3 s
    url = one_at_a_time.base_url
    first = threading.Thread(target=lambda: httpx.post(url + "/v1/ask", json={"question": SWAP}, timeout=60))
    first.start()
    _wait_for(lambda: one_at_a_time.metric("rag_llm_running") == 1)
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(url + "/v1/ask", json={"question": SWAP}, timeout=0.5)
    _wait_for(lambda: one_at_a_time.metric("rag_llm_queue_waiting") == 0, timeout=1)
    assert one_at_a_time.metric("rag_llm_running") == 1  # it left the queue while the first still runs
    first.join(timeout=60)


def test_hosted_backends_answer_concurrently(slow_pipeline, slow_llm, monkeypatch):
    monkeypatch.setattr(slow_llm.httpd, "token_delay_s", 0.0)  # each answer: the 1 s delay, then at once
    with ServiceServer(slow_pipeline, ServiceSettings(api_keys=None, llm_concurrency=4, queue_size=0)) as server:
        codes: list[int] = []

        def ask() -> None:
            r = httpx.post(server.base_url + "/v1/chat/completions", timeout=60,
                           json={"model": "m", "messages": [{"role": "user", "content": SWAP}]})  # fmt: skip
            codes.append(r.status_code)

        started = time.perf_counter()
        threads = [threading.Thread(target=ask) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        elapsed = time.perf_counter() - started
    assert codes == [200] * 4
    assert elapsed < 2.5  # side by side; one after another would take over 4 s


def test_api_keys_guard_v1_but_not_health_metrics_docs(with_keys, caplog):
    caplog.set_level(logging.DEBUG)
    url = with_keys.base_url
    r = httpx.post(url + "/v1/search", json={"question": SWAP})
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Bearer"
    assert "Authorization: Bearer" in r.json()["error"]["message"]
    r = httpx.post(url + "/v1/search", json={"question": SWAP}, headers={"Authorization": "Bearer wrong-key-789"})
    assert r.status_code == 401 and r.json()["error"]["type"] == "unauthorized"
    assert httpx.get(url + "/v1/documents", headers={"Authorization": "Bearer k-beta-456"}).status_code == 200
    r = httpx.post(url + "/v1/search", json={"question": SWAP}, headers={"Authorization": "Bearer k-alpha-123"})
    assert r.status_code == 200
    for path in ("/v1/models", "/v1/documents/x", "/v1/ask"):
        assert httpx.get(url + path).status_code == 401 or path == "/v1/ask"
    for path in ("/healthz", "/readyz", "/metrics", "/docs", "/openapi.json", "/"):
        assert httpx.get(url + path).status_code == 200, path

    sdk = openai.OpenAI(base_url=url + "/v1", api_key="k-alpha-123")
    assert sdk.chat.completions.create(model="x", messages=[{"role": "user", "content": SWAP}]).choices[0].message.content
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=url + "/v1", api_key="nope", max_retries=0).models.list()

    logged = caplog.text
    assert "POST /v1/search" in logged  # the access log was captured ...
    for secret in ("k-alpha-123", "k-beta-456", "wrong-key-789", KEYS):
        assert secret not in logged  # ... and no key is in it


def test_the_benchmarks_lean_client_reads_what_httpx_reads(with_keys):
    import asyncio
    import json

    from tests.benchmarks.bench_http import LeanClient

    url, key = with_keys.base_url, {"Authorization": "Bearer k-alpha-123"}

    async def replies() -> list:
        anonymous, client = LeanClient(url, {}), LeanClient(url, key)
        try:
            got = [await anonymous.post("/v1/search", json={"question": SWAP})]
            got += [await client.post("/v1/search", json={"question": SWAP, "k": 3}) for _ in range(3)]
            assert len(client.idle) == 1, "the connection is kept alive and reused"
            return got
        finally:
            await anonymous.aclose()
            await client.aclose()

    denied, *found = asyncio.run(replies())
    assert denied.status_code == 401 and denied.headers["Www-Authenticate"] == "Bearer"
    expected = httpx.post(url + "/v1/search", json={"question": SWAP, "k": 3}, headers=key).json()["passages"]
    for reply in found:
        assert reply.status_code == 200 and json.loads(reply.body)["passages"] == expected
