"""The HTTP API over real HTTP: real uvicorn, real Chroma and embeddings, the stand-in LLM."""

from __future__ import annotations

import asyncio
import json

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from service.routers.qa import answer_events
from tests.fixtures.http_server import sse_events

SWAP = "How many prisoners did each side agree to swap?"


@pytest.fixture(scope="module")
def client(http_service) -> httpx.Client:
    with httpx.Client(base_url=http_service.base_url, timeout=60) as c:
        yield c


def test_ask_returns_the_answer_object_with_verified_citations(client):
    r = client.post("/v1/ask", json={"question": SWAP})
    assert r.status_code == 200, r.text
    body = r.json()
    assert not body["abstained"]
    assert "1,000" in body["answer"]
    assert any("1,000" in c["text"] for c in body["citations"])
    assert {"answer", "abstained", "citations", "conflicts", "model", "timings"} <= body.keys()


def test_ask_stream_sends_evidence_then_tokens_then_citations_then_done(client):
    with client.stream("POST", "/v1/ask", json={"question": SWAP, "stream": True}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        events = list(sse_events(r))
    names = [e for e, _ in events]
    assert names[0] == "evidence" and names[1] == "token" and names[-2:] == ["citations", "done"]
    assert set(names[1:-2]) == {"token"}
    evidence = json.loads(events[0][1])["evidence"]
    assert evidence and {"id", "doc_id", "start", "end", "text"} <= evidence[0].keys()
    streamed = "".join(json.loads(d)["text"] for e, d in events if e == "token")
    answer = json.loads(events[-2][1])
    assert "1,000" in streamed and "1,000" in answer["answer"]
    assert "[" not in streamed  # markers come with the citations, never in the streamed text
    assert answer["citations"] and answer["citations"][0]["sentences"]


def test_a_streamed_sentence_the_checks_remove_is_retracted(client, fake_llm):
    with fake_llm.behaving("wrong_number"), client.stream("POST", "/v1/ask", json={"question": SWAP, "stream": True}) as r:
        events = list(sse_events(r))
    names = [e for e, _ in events]
    streamed = "".join(json.loads(d)["text"] for e, d in events if e == "token")
    assert "1,007" in streamed or "1007" in streamed  # the stand-in's wrong number went out as it was written
    assert "retract" in names and names.index("retract") < names.index("citations")
    retract = json.loads(events[names.index("retract")][1])
    answer = json.loads(events[names.index("citations")][1])
    assert retract["answer"] == answer["answer"] and "1,007" not in answer["answer"]


def test_accept_header_alone_selects_streaming(client):
    with client.stream("POST", "/v1/ask", json={"question": SWAP}, headers={"Accept": "text/event-stream"}) as r:
        names = [e for e, _ in sse_events(r)]
    assert names[-2:] == ["citations", "done"]


def test_filters_restrict_the_articles(client):
    r = client.post("/v1/ask", json={"question": SWAP, "doc_ids": ["no-such-article"]})
    assert r.status_code == 200
    assert r.json()["abstained"] and r.json()["citations"] == []


def test_search_ranks_passages_without_the_llm(client):
    r = client.post("/v1/search", json={"question": "prisoner swap", "k": 3})
    assert r.status_code == 200
    hits = r.json()["passages"]
    assert [h["rank"] for h in hits] == [1, 2, 3]
    assert all({"doc_id", "start", "end", "score", "text"} <= h.keys() for h in hits)
    assert hits[0]["score"] >= hits[-1]["score"]
    assert any("swap" in h["text"] for h in hits)


def test_chat_follow_up_is_rewritten_and_answered(client):
    messages = [
        {"role": "user", "content": SWAP},
        {"role": "assistant", "content": "They agreed to a 1,000 for 1,000 prisoner swap [1]."},
        {"role": "user", "content": "Who headed the Russian delegation?"},
    ]
    r = client.post("/v1/chat", json={"messages": messages})
    assert r.status_code == 200, r.text
    body = r.json()
    # The stand-in condenser appends the previous user question: the rewrite is visible.
    assert body["question"].startswith("Who headed the Russian delegation?") and SWAP in body["question"]
    assert "Medinsky" in body["answer"] and body["citations"]


def test_chat_stream(client):
    with client.stream("POST", "/v1/chat", json={"messages": [{"role": "user", "content": SWAP}], "stream": True}) as r:
        names = [e for e, _ in sse_events(r)]
    assert names[-2:] == ["citations", "done"]


def test_openai_sdk_plain(http_service):
    sdk = openai.OpenAI(base_url=http_service.base_url + "/v1", api_key="unused")
    assert [m.id for m in sdk.models.list().data] == ["news-rag"]
    completion = sdk.chat.completions.create(model="anything-goes", messages=[{"role": "user", "content": SWAP}])
    content = completion.choices[0].message.content
    assert "1,000" in content
    answer_text, sources = content.split("\n\nSources:\n")
    assert sources.startswith("[1] ") and "003_c1e344e38b025e9e" in sources and '"' in sources
    rag = completion.model_extra["rag"]
    assert rag["answer"] == answer_text and rag["citations"][0]["marker"] == 1
    assert completion.usage.prompt_tokens > 0


def test_openai_sdk_streaming(http_service):
    sdk = openai.OpenAI(base_url=http_service.base_url + "/v1", api_key="unused")
    chunks = list(sdk.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": SWAP}], stream=True))
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "1,000" in content and "Sources:" in content
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    assert last.model_extra["rag"]["citations"]


@pytest.mark.parametrize(
    ("kwargs", "status", "kind", "hint"),
    [
        ({"content": b'{"question": ', "headers": {"Content-Type": "application/json"}}, 400, "invalid_json", "JSON"),
        ({"content": b"question=hi"}, 400, "invalid_json", "JSON"),
        ({"json": {"question": 5}}, 422, "invalid_request", "`question`"),
        ({"json": {"question": SWAP, "k": "many"}}, 422, "invalid_request", "`k`"),
        ({"json": {"question": SWAP, "k": 0}}, 422, "invalid_request", "`k`"),
        ({"json": {"questoin": SWAP}}, 422, "invalid_request", "`question` is required"),
        ({"json": {"question": "   "}}, 400, "invalid_request", "empty"),
        ({"json": {"question": "why? " * 500}}, 400, "invalid_request", "2000"),
        ({"json": {"question": "x" * 1_100_000}}, 413, "payload_too_large", "KB"),
        ({"content": b'{"question": "\xff"}', "headers": {"Content-Type": "application/json"}}, 400, "invalid_json",
         "UTF-8"),
        ({"json": {"question": SWAP, "published_after": "0000-01-01T00:00"}}, 422, "invalid_request", "out of range"),
        ({"json": {"question": SWAP, "doc_ids": []}}, 422, "invalid_request", "`doc_ids`"),
    ],
)
def test_bad_input_gets_a_json_error_that_says_what_to_fix(client, kwargs, status, kind, hint):
    r = client.post("/v1/ask", **kwargs)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["type"] == kind and hint in error["message"]
    assert client.get("/healthz").status_code == 200  # still serving


SURROGATE = "How many prisoners did each side agree to swap? \\ud800"  # JSON text for a lone surrogate


@pytest.mark.parametrize(
    ("path", "body", "status", "hint"),
    [
        ("/v1/ask", f'{{"question": "{SURROGATE}"}}', 400, "surrogate"),
        ("/v1/ask", f'{{"question": "{SURROGATE}", "stream": true}}', 400, "surrogate"),
        ("/v1/search", f'{{"question": "{SURROGATE}"}}', 400, "surrogate"),
        ("/v1/ask", f'{{"question": "swap", "doc_ids": ["{SURROGATE}"]}}', 422, "surrogate"),
        ("/v1/chat", f'{{"messages": [{{"role": "user", "content": "{SURROGATE}"}}]}}', 422, "surrogate"),
        ("/v1/chat/completions", f'{{"messages": [{{"role": "user", "content": "{SURROGATE}"}}]}}', 422, "surrogate"),
        ("/v1/chat/completions", '{"messages": [{"role": "user", "content": [{"type": "text", "text": null}]}]}', 422,
         "string `text`"),
        ("/v1/chat/completions", '{"messages": [{"role": "user", "content": [{"type": "text", "text": 5}]}]}', 422,
         "string `text`"),
        ("/v1/documents", f'{{"text": "{SURROGATE} and more words of the article."}}', 422, "surrogate"),
        ("/v1/documents", f'{{"text": "A long enough article body, with more words.", "title": "{SURROGATE}"}}', 422,
         "surrogate"),
    ],
)  # fmt: skip
def test_text_that_is_not_unicode_is_refused_with_what_to_fix(client, path, body, status, hint):
    r = client.post(path, content=body.encode(), headers={"Content-Type": "application/json"})
    assert r.status_code == status, r.text
    assert r.json()["error"]["type"] == "invalid_request" and hint in r.json()["error"]["message"]
    assert client.get("/healthz").status_code == 200


def test_a_date_without_a_zone_is_utc_even_in_year_one(client):
    for path in ("/v1/search", "/v1/ask"):
        r = client.post(path, json={"question": SWAP, "published_after": "0001-01-01T00:00:00"})
        assert r.status_code == 200, r.text
    r = client.post("/v1/search", json={"question": SWAP, "published_before": "0001-01-01T00:00:00"})
    assert r.status_code == 200 and r.json()["passages"] == []


def test_a_follow_up_the_model_cannot_rewrite_is_asked_as_is(client):
    # The stand-in condenser echoes the follow-up when no user turn precedes it: here a lone quote,
    # which leaves the rewrite empty once its quotes are stripped.
    messages = [{"role": "assistant", "content": "Hello."}, {"role": "user", "content": '"'}]
    r = client.post("/v1/chat", json={"messages": messages})
    assert r.status_code == 200, r.text
    assert r.json()["question"] == '"'


def test_openai_stream_reports_a_failure_in_an_error_chunk(client, http_pipeline, http_service, monkeypatch):
    def failing_stream(*args, **kwargs):
        yield "The "
        raise RuntimeError("the model server went away")

    monkeypatch.setattr(http_pipeline, "stream", failing_stream)
    body = {"messages": [{"role": "user", "content": SWAP}], "stream": True}
    with client.stream("POST", "/v1/chat/completions", json=body) as r:
        data = [json.loads(d) for _, d in sse_events(r)]
    assert data[0]["choices"][0]["delta"]["role"] == "assistant"
    assert data[-1] == {"error": {"type": "internal_error", "message": "Unexpected RuntimeError; try again."}}
    assert http_service.metric("rag_llm_running") == 0
    assert client.get("/healthz").status_code == 200


def test_a_closed_event_stream_closes_the_answer_it_reads():
    closed: list[bool] = []

    async def items():
        try:
            yield "The "
            yield "answer"
        finally:
            closed.append(True)

    async def read_one_event_then_close() -> list[bool]:
        source = items()  # held here, so only an explicit close can close it
        events = answer_events(source)
        assert (await anext(events)).startswith("event: token")
        await events.aclose()
        return list(closed)

    assert asyncio.run(read_one_event_then_close()) == [True]


def test_503_has_an_error_type(client, http_service, monkeypatch):
    monkeypatch.setattr(http_service.app.state.rag, "pipeline", None)  # as while the service starts
    r = client.get("/v1/documents")
    assert r.status_code == 503 and r.json()["error"]["type"] == "unavailable"


def test_oversized_chunked_body_is_refused(client):
    def body():
        yield b'{"question": "'
        for _ in range(20):
            yield b"x" * 100_000
        yield b'"}'

    r = client.post("/v1/search", content=body(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["type"] == "payload_too_large"


def test_unknown_ids_and_routes_are_404_with_the_error_shape(client):
    r = client.get("/v1/documents/no-such-doc")
    assert r.status_code == 404 and "GET /v1/documents" in r.json()["error"]["message"]
    assert client.delete("/v1/documents/no-such-doc").status_code == 404
    r = client.get("/v1/nothing-here")
    assert r.status_code == 404 and r.json()["error"]["type"] == "not_found"
    r = client.get("/v1/ask")
    assert r.status_code == 405 and r.json()["error"]["type"] == "method_not_allowed"


def test_chat_must_end_with_a_user_message(client):
    r = client.post("/v1/chat", json={"messages": [{"role": "assistant", "content": "hi"}]})
    assert r.status_code == 400 and "user message" in r.json()["error"]["message"]
    r = client.post("/v1/chat", json={"messages": [{"role": "robot", "content": "hi"}]})
    assert r.status_code == 422 and "role" in r.json()["error"]["message"]


def test_health_ready_docs_page_and_metrics(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["ready"] and ready["llm"] == "ready" and ready["documents"] >= 5
    assert client.get("/docs").status_code == 200
    assert "/v1/chat/completions" in client.get("/openapi.json").json()["paths"]
    page = client.get("/")
    assert page.status_code == 200 and "/v1/ask" in page.text
    client.post("/v1/search", json={"question": "prisoner swap"})
    client.post("/v1/ask", json={"question": SWAP})
    text = client.get("/metrics").text
    assert 'rag_http_requests_total{method="POST",route="/v1/search",status="200"}' in text
    buckets = {tuple(sorted(s.labels.items())) for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == "rag_http_request_duration_seconds_bucket"}  # fmt: skip
    assert (("le", "+Inf"), ("method", "POST"), ("route", "/v1/ask")) in buckets
    assert "rag_llm_queue_waiting 0" in text
    tokens = next(line for line in text.splitlines() if line.startswith("rag_llm_prompt_tokens_total"))
    assert float(tokens.split()[1]) > 0
