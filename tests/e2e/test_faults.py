"""The fault suite: faults injected into a running service, which must fail cleanly (503 with the
right kind, or an SSE `error` event) and recover on its own, without restarting `rag serve`.

- the real local model's process killed in the middle of a streamed answer, then frozen
  (SIGSTOP) under a question: each time a clean 503 / `error` event, the process restarted by
  the supervisor, /readyz not ready meanwhile and ready again, the next question answered;
- a real Chroma server stopped and started again: 503 `store_unavailable` while it is away,
  then articles listed, added and cited again.

Markers: `e2e` (real model) and `server` (a Chroma server); both run in CI (`make test`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from rag.llm.local import free_port
from rag.pipeline import Pipeline
from service.settings import ServiceSettings
from tests.conftest import make_settings
from tests.fixtures.http_server import ServiceServer, sse_events

SWAP = "How many prisoners did each side agree to swap?"


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def readiness(url: str) -> tuple[int, dict]:
    r = httpx.get(url + "/readyz", timeout=30)
    return r.status_code, r.json()


# --- the local model ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model_service(real_pipeline: Pipeline) -> Iterator[ServiceServer]:
    with ServiceServer(real_pipeline, ServiceSettings(api_keys=None)) as server:
        yield server


@pytest.mark.e2e
def test_model_killed_mid_answer_then_frozen_is_503_restarted_and_answering_again(model_service: ServiceServer, real_pipeline):
    url, local = model_service.base_url, real_pipeline.local_llm
    assert local is not None and local.status == "ready"
    restarts = local.restarts

    # 1. Killed while it streams an answer: the stream ends with an error event of the right kind.
    killed = local.process.pid
    events = []
    with httpx.stream("POST", url + "/v1/ask", json={"question": SWAP, "stream": True}, timeout=300) as r:
        assert r.status_code == 200
        for event, data in sse_events(r):
            events.append((event, data))
            if event == "token" and sum(e == "token" for e, _ in events) == 2:
                os.kill(killed, signal.SIGKILL)
    assert events[-1][0] == "error", events[-3:]
    assert json.loads(events[-1][1])["type"] == "llm_unavailable"
    status, body = readiness(url)
    assert status == 503 and body["llm"] in ("restarting", "failed"), body  # not ready while it is down
    r = httpx.post(url + "/v1/ask", json={"question": SWAP}, timeout=60)
    assert r.status_code == 503 and r.json()["error"]["type"] == "llm_unavailable", r.text  # fast, clear

    came_back = time.monotonic()
    wait_for(lambda: readiness(url)[0] == 200, 300, "/readyz to be ready again")
    print(f"\nmodel killed mid-answer: restarted and ready in {time.monotonic() - came_back:.1f} s")
    assert local.restarts == restarts + 1 and local.process.pid != killed

    # 2. The next question is answered, by the new process.
    r = httpx.post(url + "/v1/ask", json={"question": SWAP}, timeout=300)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert not answer["abstained"] and answer["citations"], answer
    assert "1,000" in answer["answer"] or "1000" in answer["answer"]

    # 3. Frozen (SIGSTOP) under a question: a clean 503 soon, not after the 120 s LLM timeout.
    frozen = local.process.pid
    result: dict = {}

    def ask() -> None:
        started = time.monotonic()
        result["response"] = httpx.post(url + "/v1/ask", json={"question": SWAP}, timeout=300)
        result["seconds"] = time.monotonic() - started

    asking = threading.Thread(target=ask)
    asking.start()
    wait_for(lambda: model_service.metric("rag_llm_running") == 1, 60, "the question to reach the model")
    time.sleep(1.0)
    os.kill(frozen, signal.SIGSTOP)
    try:
        asking.join(timeout=90)
        assert not asking.is_alive(), "the question is still held by a frozen model"
    finally:
        if Path(f"/proc/{frozen}").exists():
            os.kill(frozen, signal.SIGCONT)
    assert result["response"].status_code == 503, result["response"].text
    assert result["response"].json()["error"]["type"] == "llm_unavailable"
    print(f"model frozen under a question: 503 after {result['seconds']:.1f} s")
    assert result["seconds"] < 60
    wait_for(lambda: readiness(url)[0] == 200, 300, "/readyz to be ready again after the freeze")
    assert local.restarts == restarts + 2 and "frozen" in (local.last_failure or "")


# --- a Chroma server --------------------------------------------------------------------------


class ChromaProcess:
    """`chroma run` on a fixed port and folder, so it can be stopped and started again as the
    same server (its data kept)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        chroma = shutil.which("chroma") or str(Path(sys.executable).with_name("chroma"))
        with open(self.path / "server.log", "ab") as log:
            self.process = subprocess.Popen([chroma, "run", "--path", str(self.path / "db"), "--host", "127.0.0.1",
                                             "--port", str(self.port)], stdout=log, stderr=subprocess.STDOUT)  # fmt: skip

        def up() -> bool:
            assert self.process.poll() is None, f"chroma run exited: see {self.path / 'server.log'}"
            try:
                return httpx.get(f"{self.url}/api/v2/heartbeat", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(up, 60, "the Chroma server")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)


@pytest.mark.server
def test_chroma_server_stopped_and_started_is_503_then_recovers_without_a_restart(tmp_path: Path, fake_llm):
    chroma = ChromaProcess(tmp_path)
    chroma.start()
    try:
        settings = make_settings(tmp_path / "data", chroma_url=chroma.url, openai_base_url=fake_llm.base_url, llm_model="fake",
                                 store_sync_s=0.5)  # fmt: skip
        with Pipeline(settings, start_llm=False) as pipeline:
            pipeline.ensure_seeded()
            with ServiceServer(pipeline, ServiceSettings(api_keys=None)) as service:
                _outage_and_recovery(service.base_url, chroma)
    finally:
        chroma.stop()


def _outage_and_recovery(url: str, chroma: ChromaProcess) -> None:
    assert len(httpx.get(url + "/v1/documents", timeout=30).json()["documents"]) == 5
    chroma.stop()

    statuses = []
    for method, path, body in [
        ("GET", "/v1/documents", None),
        ("GET", "/v1/documents/000_c997f82a8e66a72f", None),
        ("POST", "/v1/documents", {"text": "The Orrin ferry now carries 450 passengers a day, its operator said.", "id": "orrin"}),
        ("DELETE", "/v1/documents/001_ef64d0a538e35855", None),
    ]:
        r = httpx.request(method, url + path, json=body, timeout=60)
        statuses.append(r.status_code)
        assert r.status_code == 503, f"{method} {path}: {r.status_code} {r.text}"
        error = r.json()["error"]
        assert error["type"] == "store_unavailable" and chroma.url.removeprefix("http://") in error["message"], error
    for path, body in [("/v1/ask", {"question": SWAP}), ("/v1/search", {"question": SWAP})]:
        r = httpx.post(url + path, json=body, timeout=60)  # may still be served from memory; never a 500
        statuses.append(r.status_code)
        assert r.status_code == 200 or (r.status_code == 503 and r.json()["error"]["type"] == "store_unavailable"), r.text
    status, ready = readiness(url)
    assert status == 503 and "Chroma server" in (ready["error"] or ""), ready
    assert httpx.get(url + "/healthz", timeout=10).status_code == 200  # the process itself is fine

    chroma.start()  # the same server, back with its data
    wait_for(lambda: readiness(url)[0] == 200, 60, "/readyz to be ready again")
    assert len(httpx.get(url + "/v1/documents", timeout=30).json()["documents"]) == 5, "an article was lost"
    r = httpx.post(url + "/v1/documents", json={"text": "The Orrin ferry now carries 450 passengers a day, its operator said.",
                                                "id": "orrin", "title": "Orrin ferry"}, timeout=60)  # fmt: skip
    assert r.status_code == 201, r.text
    answer = httpx.post(url + "/v1/ask", json={"question": "How many passengers does the Orrin ferry carry a day?"}, timeout=60).json()
    assert "orrin" in {c["doc_id"] for c in answer["citations"]}, answer
    print(f"\nChroma server stopped and started: {len(statuses)} requests during the outage, statuses {sorted(set(statuses))}")
