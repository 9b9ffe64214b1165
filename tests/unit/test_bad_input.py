"""The bad-input catalogue: what a careless or hostile client may send, over real HTTP (JSON
bodies, uploads of every type), the `rag` command and Slack, against the real app (real Chroma,
real embeddings, the stand-in LLM). Each case must get a 4xx with a message (the CLI: a non-zero
exit and a one-line reason), never a 5xx, and the service must answer normally right after it.

The catalogue's size and the 5xx count are reported in the README (figures from this module).
"""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from rag.pipeline import Pipeline
from rag.settings import get_settings
from service.settings import ServiceSettings
from service.slack_blocks import WORKING
from tests.conftest import make_settings
from tests.fixtures.fake_llm import FakeLLMServer
from tests.fixtures.http_server import ServiceServer
from tests.fixtures.slack_api import (
    BOT_USER_ID,
    SlackAPIStub,
    event_body,
    signed_headers,
    slack_api_fixture,  # noqa: F401 - the `slack_api` fixture
)

SECRET = "catalogue-signing-secret"
MAX_CHARS = 3000  # RAG_MAX_DOCUMENT_CHARS for this module: articles over it are refused
DEEP = 100_000  # nesting depth of the deeply nested JSON cases (far past Python's recursion limit)

# Two long articles from unrelated domains (each well over MAX_CHARS once cleaned).
LONG_HARBOUR = " ".join(
    f"On day {i} the harbour authority of Vellmar logged {i * 7} ships, {i * 3} of them ferries, and dredged "
    f"{i * 11} cubic metres of silt from the eastern basin." for i in range(1, 60)
)
LONG_VACCINE = " ".join(
    f"In trial week {i} the clinic in Oskarberg gave {i * 40} doses of the measles vaccine and recorded {i % 5} "
    f"mild reactions, all resolved within {i % 3 + 1} days." for i in range(1, 60)
)
assert len(LONG_HARBOUR) > 2 * MAX_CHARS and len(LONG_VACCINE) > 2 * MAX_CHARS
NESTED = "[" * DEEP + "]" * DEEP
SHORT = "The Orrin ferry carries 300 passengers a day between the two islands of the bay."


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, fake_llm: FakeLLMServer, slack_api: SlackAPIStub) -> Iterator[ServiceServer]:
    """The whole app as `rag serve` builds it (Slack Events API on), with a small article limit
    and a short body deadline."""
    settings = make_settings(tmp_path_factory.mktemp("bad-input") / "data", openai_base_url=fake_llm.base_url,
                             llm_model="fake", max_document_chars=MAX_CHARS)  # fmt: skip
    service_settings = ServiceSettings(api_keys=None, body_timeout_s=2.0, max_upload_bytes=2 * 1024 * 1024)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SLACK_BOT_TOKEN", "xoxb-catalogue")
        env.setenv("SLACK_SIGNING_SECRET", SECRET)
        env.setenv("RAG_SLACK_API_URL", slack_api.base_url)
        with Pipeline(settings, start_llm=False) as pipeline:
            pipeline.ensure_seeded()
            with ServiceServer(pipeline, service_settings, log_level="info") as server:
                yield server


def still_answering(base_url: str) -> None:
    """On a new connection: health, and a search that reaches the store and the embeddings."""
    assert httpx.get(base_url + "/healthz", timeout=10).status_code == 200
    r = httpx.post(base_url + "/v1/search", json={"question": "How many prisoners were swapped?", "k": 2}, timeout=30)
    assert r.status_code == 200 and r.json()["passages"], r.text


def assert_client_error(r: httpx.Response, status: int | tuple[int, ...]) -> dict:
    wanted = status if isinstance(status, tuple) else (status,)
    assert r.status_code in wanted, f"{r.status_code}: {r.text[:300]}"
    body = r.json()
    assert body["error"]["type"] and len(body["error"]["message"]) > 10, body  # says what is wrong
    return body


# --- JSON bodies --------------------------------------------------------------------------

J = "application/json"
JSON_CASES = [
    # (id, path, raw body, content type, expected status(es))
    ("ask-not-json", "/v1/ask", b"{", J, 400),
    ("ask-empty-body", "/v1/ask", b"", J, (400, 422)),
    ("ask-array", "/v1/ask", b"[]", J, (400, 422)),
    ("ask-string", "/v1/ask", b'"how many?"', J, (400, 422)),
    ("ask-null", "/v1/ask", b"null", J, (400, 422)),
    ("ask-missing-question", "/v1/ask", b"{}", J, 422),
    ("ask-empty-question", "/v1/ask", b'{"question": ""}', J, 400),
    ("ask-blank-question", "/v1/ask", b'{"question": " \\n\\t "}', J, 400),
    ("ask-long-question", "/v1/ask", json.dumps({"question": "why " * 600}).encode(), J, 400),
    ("ask-lone-surrogate", "/v1/ask", b'{"question": "swap \\ud800?"}', J, (400, 422)),
    ("ask-question-number", "/v1/ask", b'{"question": 42}', J, 422),
    ("ask-question-list", "/v1/ask", b'{"question": ["a", "b"]}', J, 422),
    ("ask-k-true", "/v1/ask", b'{"question": "swap?", "k": true}', J, 422),
    ("ask-k-zero", "/v1/ask", b'{"question": "swap?", "k": 0}', J, 422),
    ("ask-k-huge", "/v1/ask", b'{"question": "swap?", "k": 100000}', J, 422),
    ("ask-k-string", "/v1/ask", b'{"question": "swap?", "k": "3"}', J, 422),
    ("ask-k-fraction", "/v1/ask", b'{"question": "swap?", "k": 2.5}', J, 422),
    ("ask-k-nan", "/v1/ask", b'{"question": "swap?", "k": NaN}', J, (400, 422)),
    ("ask-stream-yes", "/v1/ask", b'{"question": "swap?", "stream": "yes"}', J, 422),
    ("ask-stream-one", "/v1/ask", b'{"question": "swap?", "stream": 1}', J, 422),
    ("ask-short-string", "/v1/ask", b'{"question": "swap?", "short": "true"}', J, 422),
    ("ask-unknown-field", "/v1/ask", b'{"question": "swap?", "temperature": 2}', J, 422),
    ("ask-doc-ids-empty", "/v1/ask", b'{"question": "swap?", "doc_ids": []}', J, 422),
    ("ask-doc-ids-string", "/v1/ask", b'{"question": "swap?", "doc_ids": "abc"}', J, 422),
    ("ask-date-words", "/v1/ask", b'{"question": "swap?", "published_after": "last tuesday"}', J, 422),
    ("ask-date-year-10000", "/v1/ask", b'{"question": "swap?", "published_before": "10000-01-01"}', J, 422),
    ("ask-nested-deep", "/v1/ask", b'{"question": ' + NESTED.encode() + b"}", J, 400),
    ("ask-not-utf8", "/v1/ask", b'{"question": "caf\xe9?"}', J, 400),
    ("ask-text-plain", "/v1/ask", b"How many prisoners were swapped?", "text/plain", (400, 415, 422)),
    ("search-bad-mode", "/v1/search", b'{"question": "swap?", "mode": "fuzzy"}', J, 422),
    ("search-k-negative", "/v1/search", b'{"question": "swap?", "k": -1}', J, 422),
    ("search-question-null", "/v1/search", b'{"question": null}', J, 422),
    ("search-empty-question", "/v1/search", b'{"question": "   "}', J, 400),
    ("search-nested-deep", "/v1/search", b'{"doc_ids": ' + NESTED.encode() + b"}", J, 400),
    ("chat-no-messages", "/v1/chat", b'{"messages": []}', J, 422),
    ("chat-ends-with-assistant", "/v1/chat", b'{"messages": [{"role": "assistant", "content": "Hi"}]}', J, 400),
    ("chat-bad-role", "/v1/chat", b'{"messages": [{"role": "robot", "content": "Hi"}]}', J, 422),
    ("chat-content-list", "/v1/chat", b'{"messages": [{"role": "user", "content": ["a"]}]}', J, 422),
    ("chat-stream-string", "/v1/chat", b'{"messages": [{"role": "user", "content": "swap?"}], "stream": "true"}', J, 422),
    ("chat-empty-content", "/v1/chat", b'{"messages": [{"role": "user", "content": ""}]}', J, 400),
    ("oai-no-messages", "/v1/chat/completions", b'{"model": "x"}', J, 422),
    ("oai-part-without-text", "/v1/chat/completions", b'{"messages": [{"role": "user", "content": [{"type": "text"}]}]}', J, 422),
    ("oai-ends-with-system", "/v1/chat/completions", b'{"messages": [{"role": "system", "content": "be brief"}]}', J, 400),
    ("oai-stream-yes", "/v1/chat/completions", b'{"messages": [{"role": "user", "content": "swap?"}], "stream": "yes"}', J, 422),
    ("oai-k-true", "/v1/chat/completions", b'{"messages": [{"role": "user", "content": "swap?"}], "k": true}', J, 422),
    ("oai-nested-deep", "/v1/chat/completions", b'{"messages": ' + NESTED.encode() + b"}", J, 400),
    ("doc-missing-text", "/v1/documents", b'{"title": "No body"}', J, 422),
    ("doc-empty-text", "/v1/documents", b'{"text": ""}', J, 400),
    ("doc-too-short", "/v1/documents", b'{"text": "Hi."}', J, 400),
    ("doc-text-nested-deep", "/v1/documents", b'{"text": ' + NESTED.encode() + b"}", J, 400),
    ("doc-whole-body-nested-deep", "/v1/documents", NESTED.encode(), J, 400),
    ("doc-over-limit", "/v1/documents", json.dumps({"text": LONG_HARBOUR, "title": "Harbour log"}).encode(), J, 413),
    ("doc-over-limit-other-domain", "/v1/documents", json.dumps({"text": LONG_VACCINE, "id": "vaccine"}).encode(), J, 413),
    ("doc-title-number", "/v1/documents", json.dumps({"text": SHORT, "title": 5}).encode(), J, 422),
    ("doc-date-words", "/v1/documents", json.dumps({"text": SHORT, "published_at": "yesterday"}).encode(), J, 422),
    ("doc-id-unusable", "/v1/documents", json.dumps({"text": SHORT, "id": "///"}).encode(), 400),
    ("doc-unknown-field", "/v1/documents", json.dumps({"text": SHORT, "body": "x"}).encode(), J, 422),
    ("doc-xml", "/v1/documents", b"<doc>text</doc>", "application/xml", 415),
    ("doc-json-over-body-limit", "/v1/documents", json.dumps({"text": "x" * (1024 * 1024 + 10)}).encode(), J, 413),
]
JSON_CASES = [(c[0], c[1], c[2], J, c[3]) if len(c) == 4 else c for c in JSON_CASES]


@pytest.mark.parametrize(("path", "body", "content_type", "status"), [c[1:] for c in JSON_CASES], ids=[c[0] for c in JSON_CASES])
def test_bad_json_body(service: ServiceServer, path: str, body: bytes, content_type: str, status) -> None:
    r = httpx.post(service.base_url + path, content=body, headers={"Content-Type": content_type}, timeout=60)
    assert_client_error(r, status)
    still_answering(service.base_url)


# --- other request shapes -----------------------------------------------------------------

OTHER_CASES = [
    ("put-ask", "PUT", "/v1/ask", 405),
    ("get-ask", "GET", "/v1/ask", 405),
    ("unknown-route", "GET", "/v1/nothing-here", 404),
    ("unknown-document", "GET", "/v1/documents/no-such-article", 404),
    ("delete-unknown-document", "DELETE", "/v1/documents/no-such-article", 404),
    ("document-id-traversal", "GET", "/v1/documents/..%2F..%2Fetc%2Fpasswd", 404),
    ("document-id-nul", "GET", "/v1/documents/%00", 404),
    ("feedback-bad-rating", "GET", "/v1/feedback?rating=sideways", (400, 422)),
]


@pytest.mark.parametrize(("method", "path", "status"), [c[1:] for c in OTHER_CASES], ids=[c[0] for c in OTHER_CASES])
def test_bad_method_or_path(service: ServiceServer, method: str, path: str, status) -> None:
    assert_client_error(httpx.request(method, service.base_url + path, timeout=30), status)
    still_answering(service.base_url)


# --- uploads ------------------------------------------------------------------------------

BOM = "\ufeff"
UPLOAD_CASES = [
    # (id, file name, content, expected status)
    ("no-suffix-type", "article.exe", b"MZ\x90\x00binary", 400),
    ("pdf", "article.pdf", b"%PDF-1.4 fake", 400),
    ("empty-txt", "empty.txt", b"", 400),
    ("blank-txt", "blank.txt", b"   \n\n  ", 400),
    ("binary-txt", "photo.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 20, 400),
    # A legacy encoding is read now (charset-normalizer); only bytes that are text in no encoding are refused.
    ("undecodable-txt", "noise.txt", bytes(range(128, 256)) * 3, 400),
    ("invalid-json", "broken.json", b'{"text": "unterminated', 400),
    ("json-without-text", "notext.json", json.dumps({"title": "No body here"}).encode(), 400),
    ("json-title-number", "title.json", json.dumps({"text": SHORT, "title": 7}).encode(), 400),
    ("json-nested-deep", "nested.json", ("[" * 600_000 + "]" * 600_000).encode(), 400),
    ("jsonl-nested-deep", "nested.jsonl", ("[" * 600_000 + "]" * 600_000 + "\n").encode(), 400),
    ("jsonl-all-lines-bad", "bad.jsonl", b"not json\n{\"title\": \"x\"}\n", 400),
    ("txt-over-limit", "harbour.txt", LONG_HARBOUR.encode(), 413),
    ("md-over-limit", "vaccine.md", ("# Vaccine trial\n\n" + LONG_VACCINE).encode(), 413),
    ("html-over-limit", "harbour.html", f"<html><body><p>{LONG_HARBOUR}</p></body></html>".encode(), 413),
    ("json-bom-over-limit", "bom.json", (BOM + json.dumps({"text": LONG_HARBOUR})).encode(), 413),
    ("jsonl-junk-line-over-limit", "junk.jsonl", ("junk\n" + json.dumps({"text": LONG_VACCINE}) + "\n").encode(), 413),
    ("jsonl-bom-over-limit", "bom.jsonl", (BOM + json.dumps({"text": LONG_HARBOUR}) + "\n").encode(), 413),
    ("json-list-over-limit", "list.json", json.dumps([{"text": LONG_HARBOUR}, {"text": LONG_VACCINE, "id": "v"}]).encode(), 413),
    ("upload-over-body-limit", "huge.txt", b"word " * (450 * 1024), 413),
]


@pytest.mark.parametrize(("name", "content", "status"), [c[1:] for c in UPLOAD_CASES], ids=[c[0] for c in UPLOAD_CASES])
def test_bad_upload(service: ServiceServer, name: str, content: bytes, status: int) -> None:
    r = httpx.post(service.base_url + "/v1/documents", files={"file": (name, content)}, timeout=120)
    body = assert_client_error(r, status)
    if status == 413 and "body" not in body["error"]["message"]:
        assert "RAG_MAX_DOCUMENT_CHARS" in body["error"]["message"], body
    still_answering(service.base_url)


MALFORMED_FORMS = [
    ("no-file-field", {"data": {"text": SHORT}}, 400),
    ("file-without-name", {"files": {"file": ("", SHORT.encode())}}, 400),
    ("two-files", {"files": [("file", ("a.txt", SHORT.encode())), ("file", ("b.txt", SHORT.encode()))]}, 400),
]


@pytest.mark.parametrize(("kwargs", "status"), [c[1:] for c in MALFORMED_FORMS], ids=[c[0] for c in MALFORMED_FORMS])
def test_malformed_multipart(service: ServiceServer, kwargs: dict, status: int) -> None:
    if "data" in kwargs:  # a multipart body with no file part at all
        kwargs = {"files": {"note": (None, kwargs["data"]["text"])}}
    assert_client_error(httpx.post(service.base_url + "/v1/documents", timeout=30, **kwargs), status)
    still_answering(service.base_url)


def test_multipart_without_boundary(service: ServiceServer) -> None:
    r = httpx.post(service.base_url + "/v1/documents", content=b"--x\r\n\r\nhello", headers={"Content-Type": "multipart/form-data"})
    assert_client_error(r, 400)
    still_answering(service.base_url)


def test_a_good_article_in_a_file_with_an_over_limit_one_is_ingested_and_the_other_named(service: ServiceServer) -> None:
    """The limit costs only the article over it: the rest of the file is indexed."""
    lines = [json.dumps({"text": SHORT, "id": "orrin-ferry"}), json.dumps({"text": LONG_VACCINE, "id": "vaccine-log"})]
    r = httpx.post(service.base_url + "/v1/documents", files={"file": ("mixed.jsonl", "\n".join(lines).encode())}, timeout=60)
    assert r.status_code == 201, r.text
    report = r.json()["report"]
    assert report["added"] == ["orrin-ferry"] and report["too_large"] == ["vaccine-log"]
    assert "RAG_MAX_DOCUMENT_CHARS" in " ".join(report["skipped"].values())
    assert httpx.get(service.base_url + "/v1/documents/vaccine-log").status_code == 404
    assert httpx.delete(service.base_url + "/v1/documents/orrin-ferry").status_code == 200


# --- bodies sent slowly, secrets in query strings -----------------------------------------


def test_a_body_sent_slowly_gets_408_and_frees_the_connection(service: ServiceServer) -> None:
    host, port = service.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"POST /v1/ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"que")
        started = time.monotonic()
        reply = b""
        while chunk := sock.recv(65536):  # the server answers, then closes the connection
            reply += chunk
        waited = time.monotonic() - started
    assert reply.startswith(b"HTTP/1.1 408"), reply[:200]
    assert b"RAG_BODY_TIMEOUT_S" in reply and waited < 10
    still_answering(service.base_url)


def test_query_strings_never_reach_the_access_log(service: ServiceServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="uvicorn.access")
    r = httpx.get(service.base_url + "/v1/documents?api_key=sk-live-very-secret&token=t0ps3cret", timeout=30)
    assert r.status_code == 200  # a query is ignored, never a way in
    time.sleep(0.2)
    access = [record.getMessage() for record in caplog.records if record.name == "uvicorn.access"]
    assert any("/v1/documents" in line for line in access), access
    assert not any("very-secret" in line or "t0ps3cret" in line for line in access), access


# --- Slack --------------------------------------------------------------------------------


def slack_post(service: ServiceServer, body: str, *, secret: str = SECRET, headers: dict | None = None, **kw) -> httpx.Response:
    content_type = "application/x-www-form-urlencoded" if body.startswith("payload=") else "application/json"
    return httpx.post(service.base_url + "/slack/events", content=body.encode("utf-8", "surrogatepass"),
                      headers={**signed_headers(secret, body, content_type=content_type, **kw), **(headers or {})},
                      timeout=30)  # fmt: skip


SLACK_REFUSED = [
    # (id, body, signing secret, extra headers, timestamp offset): every one must be turned away (4xx)
    ("wrong-secret", event_body({"type": "app_mention", "text": "hi", "channel": "C1", "user": "U1", "ts": "1.1"}), "nope", None, 0),
    ("stale-timestamp", event_body({"type": "app_mention", "text": "hi", "channel": "C1", "user": "U1", "ts": "1.1"}), SECRET, None, -900),
    ("timestamp-not-a-number", "{}", SECRET, {"X-Slack-Request-Timestamp": "soon"}, 0),
    ("no-signature", "{}", SECRET, {"X-Slack-Signature": ""}, 0),
    ("signature-not-hex", "{}", SECRET, {"X-Slack-Signature": "v0=zzzz"}, 0),
    ("unsigned-not-json", "{not json", "nope", None, 0),
    ("unsigned-nested-deep", '{"event": ' + NESTED + "}", "nope", None, 0),
]


@pytest.mark.parametrize(("body", "secret", "headers", "offset"), [c[1:] for c in SLACK_REFUSED], ids=[c[0] for c in SLACK_REFUSED])
def test_slack_requests_not_from_slack_are_refused(service: ServiceServer, body: str, secret: str, headers, offset: int) -> None:
    r = slack_post(service, body, secret=secret, headers=headers, timestamp=int(time.time()) + offset)
    assert 400 <= r.status_code < 500, r.text
    still_answering(service.base_url)


SLACK_MALFORMED = [
    # (id, signed body): from Slack's signing key but not a request Slack sends; 4xx or a plain ack
    ("not-json", "{not json"),
    ("empty", ""),
    ("nested-deep", '{"event": ' + NESTED + "}"),
    ("payload-not-json", "payload=%7Bbroken"),
    ("payload-nested-deep", "payload=" + "%5B" * 5000 + "%5D" * 5000),
    ("event-not-an-object", json.dumps({"type": "event_callback", "event": "hello", "event_id": "Ev1"})),
    ("unknown-type", json.dumps({"type": "something_else"})),
]


@pytest.mark.parametrize("body", [c[1] for c in SLACK_MALFORMED], ids=[c[0] for c in SLACK_MALFORMED])
def test_signed_but_malformed_slack_requests_get_no_5xx(service: ServiceServer, body: str) -> None:
    r = slack_post(service, body)
    assert r.status_code < 500, r.text
    still_answering(service.base_url)


SLACK_BAD_QUESTIONS = [
    ("empty-mention", ""),
    ("long-question", "why " * 700),
    ("lone-surrogate", "swap \ud800?"),
]


@pytest.mark.parametrize("text", [c[1] for c in SLACK_BAD_QUESTIONS], ids=[c[0] for c in SLACK_BAD_QUESTIONS])
def test_slack_bad_question_gets_an_explanation_in_its_thread(service: ServiceServer, slack_api: SlackAPIStub, text: str) -> None:
    """Slack must get its 200 within 3 s whatever the text; the person gets a reply that says what to fix."""
    message = slack_api.add_user_message("C0BAD001", "U0CAROL1", f"<@{BOT_USER_ID}> {text}")
    body = event_body({**message, "type": "app_mention", "channel": "C0BAD001"})
    assert slack_post(service, body).status_code == 200

    def reply() -> dict | None:
        for m in slack_api.messages.get("C0BAD001", []):
            if m.get("thread_ts") == message["ts"] and m.get("bot_id") and m.get("text") != WORKING:
                return m
        return None

    answer = slack_api.wait_for(reply, what="the bot's reply")
    assert answer["text"].strip()  # an explanation or an answer, never silence
    still_answering(service.base_url)


# --- the CLI ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cli_env(tmp_path_factory: pytest.TempPathFactory, fake_llm: FakeLLMServer) -> Iterator[Path]:
    """`rag` in this process, on its own data dir (no seeds), with the article limit set."""
    folder = tmp_path_factory.mktemp("cli-bad-input")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("RAG_DATA_DIR", str(folder / "data"))
        env.setenv("RAG_AUTO_SEED", "false")
        env.setenv("RAG_MAX_DOCUMENT_CHARS", str(MAX_CHARS))
        env.setenv("OPENAI_BASE_URL", fake_llm.base_url)
        env.setenv("RAG_LLM_MODEL", "fake")
        env.delenv("OPENAI_API_KEY", raising=False)
        env.delenv("RAG_CHROMA_URL", raising=False)
        get_settings.cache_clear()
        yield folder
    get_settings.cache_clear()


def write(folder: Path, name: str, content: bytes) -> str:
    path = folder / name
    path.write_bytes(content)
    return str(path)


CLI_CASES = [
    # (id, argv builder, words the one-line reason must contain)
    ("ingest-missing-file", lambda d: ["ingest", str(d / "nowhere.txt")], "no such file"),
    ("ingest-unsupported-type", lambda d: ["ingest", write(d, "a.exe", b"MZ")], "unsupported type"),
    ("ingest-binary", lambda d: ["ingest", write(d, "b.txt", b"\x00\x01\x02" * 50)], "binary"),
    ("ingest-nested-json", lambda d: ["ingest", write(d, "n.json", ("[" * 600_000 + "]" * 600_000).encode())], "nested too deeply"),
    ("ingest-over-limit-txt", lambda d: ["ingest", write(d, "harbour.txt", LONG_HARBOUR.encode())], "RAG_MAX_DOCUMENT_CHARS"),
    ("ingest-over-limit-bom-json", lambda d: ["ingest", write(d, "v.json", (BOM + json.dumps({"text": LONG_VACCINE})).encode())],
     "RAG_MAX_DOCUMENT_CHARS"),  # fmt: skip
    ("ingest-over-limit-junk-jsonl", lambda d: ["ingest", write(d, "j.jsonl", ("junk\n" + json.dumps({"text": LONG_HARBOUR})).encode())],
     "RAG_MAX_DOCUMENT_CHARS"),  # fmt: skip
    ("ask-empty-question", lambda d: ["ask", " "], "question is empty"),
    ("ask-long-question", lambda d: ["ask", "why " * 600], "characters long"),
    ("remove-unknown", lambda d: ["remove", "no-such-article"], "No document"),
]


@pytest.mark.parametrize(("argv", "reason"), [c[1:] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES])
def test_cli_bad_input_is_one_clear_line(cli_env: Path, capsys: pytest.CaptureFixture, argv, reason: str) -> None:
    from rag.cli import main

    with pytest.raises(SystemExit) as exited:
        main(argv(cli_env))
    assert exited.value.code not in (0, None)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith(("error:", "skipped:"))]
    assert lines and any(reason in line for line in lines), err


# --- the tally ----------------------------------------------------------------------------

CASES = len(JSON_CASES) + len(OTHER_CASES) + len(UPLOAD_CASES) + len(MALFORMED_FORMS) + 1 + 1 + 1 + len(SLACK_REFUSED) \
    + len(SLACK_MALFORMED) + len(SLACK_BAD_QUESTIONS) + len(CLI_CASES)  # fmt: skip


def test_zz_no_request_of_the_catalogue_got_a_5xx(service: ServiceServer) -> None:
    """Runs last in this module: the service's own count of responses by status."""
    assert CASES >= 60
    text = httpx.get(service.base_url + "/metrics", timeout=10).text
    statuses = [int(line.split('status="')[1].split('"')[0]) for line in text.splitlines() if line.startswith("rag_http_requests_total{")]
    assert statuses and not [s for s in statuses if s >= 500], [line for line in text.splitlines() if 'status="5' in line]
    print(f"\nbad-input catalogue: {CASES} cases, 0 responses 5xx")
