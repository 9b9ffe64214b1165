"""Failures of what the service depends on, with stand-ins that fail for real: an LLM that
hangs up mid-answer, a remote LLM that goes away and comes back, a model process that is
killed or frozen (a real child process, supervised), and streams that end normally."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from rag.llm.local import LocalLLMServer, free_port
from rag.pipeline import Pipeline
from service.settings import ServiceSettings
from service.slack_blocks import web_url
from tests.conftest import make_settings
from tests.fixtures.fake_llm import _Handler
from tests.fixtures.http_server import ServiceServer, sse_events

SWAP = "How many prisoners did each side agree to swap?"


def wait_for(predicate, timeout: float = 20.0, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


# --- an LLM that hangs up in the middle of its answer -------------------------------------


class _HangsUp(_Handler):
    """The stand-in LLM; while the server's `hang_up` is set, it starts a streamed answer
    (chunked, as llama.cpp sends it) and then drops the connection: the process died."""

    def do_POST(self) -> None:
        if not self.server.hang_up:  # type: ignore[attr-defined]
            return super().do_POST()
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
        delta = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "fake",
                 "choices": [{"index": 0, "delta": {"content": "The prisoners "}, "finish_reason": None}]}  # fmt: skip
        chunk = f"data: {json.dumps(delta)}\n\n".encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        self.wfile.flush()
        self.connection.shutdown(socket.SHUT_RDWR)
        self.close_connection = True


class HangingUpLLM:
    def __init__(self, port: int = 0) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), _HangsUp)
        self.httpd.hang_up = False  # type: ignore[attr-defined]
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def flaky_llm() -> Iterator[HangingUpLLM]:
    llm = HangingUpLLM()
    yield llm
    llm.close()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, flaky_llm: HangingUpLLM) -> Iterator[ServiceServer]:
    settings = make_settings(tmp_path_factory.mktemp("reliability") / "data", openai_base_url=flaky_llm.base_url, llm_model="fake")
    with Pipeline(settings, start_llm=False) as pipeline:
        pipeline.ensure_seeded()
        with ServiceServer(pipeline, ServiceSettings(api_keys=None)) as server:
            server.app.state.rag.PROBE_TTL_S = 0.0  # /readyz asks the LLM every time (tests only)
            yield server


@pytest.fixture
def hanging_up(flaky_llm: HangingUpLLM) -> Iterator[None]:
    flaky_llm.httpd.hang_up = True  # type: ignore[attr-defined]
    try:
        yield
    finally:
        flaky_llm.httpd.hang_up = False  # type: ignore[attr-defined]


def test_llm_hanging_up_mid_answer_is_503_then_the_next_question_is_answered(service, hanging_up, flaky_llm):
    url = service.base_url
    r = httpx.post(url + "/v1/ask", json={"question": SWAP}, timeout=60)
    assert r.status_code == 503, r.text
    assert r.json()["error"]["type"] == "llm_unavailable" and "retry" in r.json()["error"]["message"]

    with httpx.stream("POST", url + "/v1/ask", json={"question": SWAP, "stream": True}, timeout=60) as streamed:
        events = list(sse_events(streamed))
    assert events[-1][0] == "error" and json.loads(events[-1][1])["type"] == "llm_unavailable", events

    with httpx.stream("POST", url + "/v1/chat/completions", json={"messages": [{"role": "user", "content": SWAP}], "stream": True},
                      timeout=60) as streamed:  # fmt: skip
        last = [data for _, data in sse_events(streamed)][-1]
    assert json.loads(last)["error"]["type"] == "llm_unavailable", last

    flaky_llm.httpd.hang_up = False  # type: ignore[attr-defined]
    r = httpx.post(url + "/v1/ask", json={"question": SWAP}, timeout=60)
    assert r.status_code == 200 and "1,000" in r.json()["answer"], r.text


def test_completed_streams_are_not_counted_as_disconnects(service):
    before = service.metric("rag_stream_disconnects_total")
    for _ in range(3):
        with httpx.stream("POST", service.base_url + "/v1/ask", json={"question": SWAP, "stream": True}, timeout=60) as r:
            assert [e for e, _ in sse_events(r)][-1] == "done"
    with httpx.stream("POST", service.base_url + "/v1/chat/completions",
                      json={"messages": [{"role": "user", "content": SWAP}], "stream": True}, timeout=60) as r:  # fmt: skip
        assert list(r.iter_lines())[-2:] == ["data: [DONE]", ""] or "[DONE]" in r.text
    time.sleep(0.3)
    assert service.metric("rag_stream_disconnects_total") == before

    with httpx.stream("POST", service.base_url + "/v1/ask", json={"question": SWAP, "stream": True}, timeout=60) as r:
        next(r.iter_lines())  # the client leaves after the first line
    wait_for(lambda: service.metric("rag_stream_disconnects_total") == before + 1, 5, "the disconnect to be counted")


def test_readyz_follows_a_remote_llm_that_goes_away_and_comes_back(service, flaky_llm):
    url = service.base_url
    assert httpx.get(url + "/readyz", timeout=10).status_code == 200
    port = flaky_llm.port
    flaky_llm.close()
    try:
        r = httpx.get(url + "/readyz", timeout=10)
        assert r.status_code == 503 and r.json()["llm"] == "failed", r.text
        assert "does not answer" in r.json()["error"] and f"127.0.0.1:{port}" in r.json()["error"]
        r = httpx.post(url + "/v1/ask", json={"question": SWAP}, timeout=60)
        assert r.status_code == 503 and r.json()["error"]["type"] == "llm_unavailable"
    finally:
        back = HangingUpLLM(port)  # the same address: the LLM is back
        flaky_llm.httpd = back.httpd
    assert httpx.get(url + "/readyz", timeout=10).status_code == 200
    assert httpx.post(url + "/v1/ask", json={"question": SWAP}, timeout=60).status_code == 200


# --- the local model's process, supervised ------------------------------------------------


class StandInModelProcess(LocalLLMServer):
    """The real supervisor around a small real process that answers /health like the model
    server (Python's http.server on a folder holding a `health` file), so kills and freezes
    are real signals to a real child, without loading 1 GB of model."""

    CHECK_EVERY_S = 0.1
    HEALTH_TIMEOUT_S = 0.5

    def __init__(self, settings, root: Path) -> None:
        super().__init__(settings)
        self.root = root
        (root / "health").write_text("ok")

    def command(self, progress: bool = False) -> list[str]:
        return [sys.executable, "-m", "http.server", str(self.port), "--bind", "127.0.0.1", "--directory", str(self.root)]


@pytest.fixture
def model_process(tmp_path: Path) -> Iterator[StandInModelProcess]:
    server = StandInModelProcess(make_settings(tmp_path / "data"), tmp_path)
    server.start(timeout_s=30)
    try:
        yield server
    finally:
        server.stop()


def _restarted(server: StandInModelProcess, old_pid: int, restarts: int):
    process = server.process
    return server.status == "ready" and server.restarts == restarts and process and process.pid != old_pid and server.healthy()


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGSTOP], ids=["killed", "frozen"])
def test_a_failed_model_process_is_restarted_on_the_same_port(model_process: StandInModelProcess, how: signal.Signals):
    port, pid = model_process.port, model_process.process.pid
    assert model_process.healthy() and model_process.status == "ready"
    os.kill(pid, how)
    wait_for(lambda: model_process.status == "restarting", 10, "the supervisor to notice")
    assert not model_process.healthy()
    wait_for(lambda: _restarted(model_process, pid, 1), 20, "the restart")
    assert model_process.port == port and model_process.base_url.endswith(f":{port}/v1")
    assert ("exited" if how == signal.SIGKILL else "frozen") in model_process.last_failure
    assert not Path(f"/proc/{pid}").exists(), "the failed process was not ended and reaped"


def test_stopping_ends_the_supervision_and_the_process(model_process: StandInModelProcess):
    process = model_process.process
    model_process.stop()
    assert process.poll() is not None and model_process.status == "stopped"
    time.sleep(0.5)
    assert model_process.process is None, "a stopped server must not be restarted"


def test_restarts_back_off_while_the_process_cannot_start(tmp_path: Path):
    """A model that keeps failing to start is retried at growing intervals, not in a tight loop."""

    class NeverStarts(StandInModelProcess):
        attempts: list[float] = []

        def command(self, progress: bool = False) -> list[str]:
            if self.process is None and self.status == "restarting":
                self.attempts.append(time.monotonic())
                return [sys.executable, "-c", "raise SystemExit(3)"]
            return super().command(progress)

    server = NeverStarts(make_settings(tmp_path / "data"), tmp_path)
    server.start(timeout_s=30)
    try:
        os.kill(server.process.pid, signal.SIGKILL)
        wait_for(lambda: len(server.attempts) >= 3, 30, "three attempts")
        gaps = [b - a for a, b in zip(server.attempts, server.attempts[1:])]
        assert gaps[1] - gaps[0] > 1.0, gaps  # pauses of 2 s, then 4 s (each plus the same start-up time)
        assert server.status == "restarting" and "code 3" in server.last_failure
    finally:
        server.stop()


# --- links ----------------------------------------------------------------------------------

URLS = [
    ("https://news.example/harbour", True),
    ("http://example.org/a?b=c", True),
    ("javascript:alert(document.cookie)", False),
    ("JavaScript:alert(1)", False),
    (" javascript:alert(1)", False),
    ("data:text/html,<script>alert(1)</script>", False),
    ("vbscript:msgbox(1)", False),
    ("file:///etc/passwd", False),
    ("//evil.example/x", False),
    ("not a url", False),
    ("", False),
]


@pytest.mark.parametrize(("url", "linked"), URLS)
def test_only_http_urls_become_slack_links(url: str, linked: bool):
    assert (web_url(url) is not None) == linked


def test_only_http_urls_become_links_on_the_chat_page():
    """The page's own `webUrl` function, run by Node on the same cases (the browser's URL parser)."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("needs node to run the chat page's script")
    page = (Path(__file__).parents[2] / "service" / "static" / "index.html").read_text()
    function = re.search(r"function webUrl\(url\) \{.*?\n\}", page, flags=re.S)
    assert function, "the chat page has no webUrl function"
    script = function.group(0) + f"\nconsole.log(JSON.stringify({json.dumps([u for u, _ in URLS])}.map((u) => webUrl(u) !== null)));"
    done = subprocess.run([node, "-e", script], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [linked for _, linked in URLS]


# --- what counts as a store outage ---------------------------------------------------------


def test_only_failures_inside_chromas_client_are_store_outages(tmp_path: Path):
    """A refused connection inside Chroma's client is the store's outage (503); the same error
    from anywhere else is not relabelled (a bug of ours stays a logged 500)."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    from rag.errors import LLMUnavailable
    from service.errors import store_problem

    settings = make_settings(tmp_path / "data", chroma_url=f"http://127.0.0.1:{free_port()}")
    port = int(settings.chroma_url.rsplit(":", 1)[1])
    with pytest.raises(Exception) as chroma_failure:
        chromadb.HttpClient(host="127.0.0.1", port=port, settings=ChromaSettings(anonymized_telemetry=False)).heartbeat()
    assert f"Chroma server at http://127.0.0.1:{port}" in store_problem(chroma_failure.value, settings)
    with pytest.raises(httpx.ConnectError) as elsewhere:
        httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
    assert store_problem(elsewhere.value, settings) is None
    try:
        raise LLMUnavailable("the model went away") from elsewhere.value
    except LLMUnavailable as e:
        assert store_problem(e, settings) is None


def test_a_bad_request_is_a_400_while_the_model_loads(service):
    # The model not loaded yet (no gate): a request the client must fix says so, not "retry later".
    state = service.app.state.rag
    gate, state.gate = state.gate, None
    try:
        url = service.base_url
        r = httpx.post(url + "/v1/ask", json={"question": "   "}, timeout=30)
        assert r.status_code == 400 and "empty" in r.json()["error"]["message"], r.text
        r = httpx.post(url + "/v1/ask", json={"question": SWAP, "since": "not a date"}, timeout=30)
        assert r.status_code == 400, r.text
        r = httpx.post(url + "/v1/chat/completions", json={"messages": [{"role": "user", "content": ""}]}, timeout=30)
        assert r.status_code == 400, r.text
        r = httpx.post(url + "/v1/ask", json={"question": SWAP}, timeout=30)  # a good one waits for the model
        assert r.status_code == 503 and "loading" in r.json()["error"]["message"], r.text
    finally:
        state.gate = gate
    assert httpx.post(service.base_url + "/v1/ask", json={"question": SWAP}, timeout=60).status_code == 200
