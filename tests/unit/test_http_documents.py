"""Documents over real HTTP: an upload is answerable at once; a deleted one is never cited."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.fixtures.http_server import sse_events

ARTICLE = (
    "The city of Vellmar opened its new harbour lighthouse on Monday. The lighthouse stands 64 metres tall "
    "and its lamp can be seen from 40 kilometres out at sea. Mayor Ilse Korrhof said the tower cost 12 million euros."
)
QUESTION = "How many metres tall does the Vellmar lighthouse stand?"


@pytest.fixture(scope="module")
def client(http_service) -> httpx.Client:
    with httpx.Client(base_url=http_service.base_url, timeout=60) as c:
        yield c


def _cited(client: httpx.Client, question: str) -> tuple[dict, set[str]]:
    body = client.post("/v1/ask", json={"question": question}).json()
    return body, {c["doc_id"] for c in body["citations"]}


def _searched(client: httpx.Client, question: str) -> set[str]:
    return {h["doc_id"] for h in client.post("/v1/search", json={"question": question, "k": 10}).json()["passages"]}


def test_json_upload_then_ask_then_delete(client):
    assert "vellmar-lighthouse" not in _searched(client, QUESTION)  # this search is now remembered
    r = client.post("/v1/documents", json={"text": ARTICLE, "title": "Vellmar lighthouse opens", "id": "vellmar-lighthouse",
                                           "published_at": "2025-05-12T09:00:00Z"})  # fmt: skip
    assert r.status_code == 201, r.text
    assert r.json()["report"]["added"] == ["vellmar-lighthouse"]
    assert r.json()["documents"][0]["title"] == "Vellmar lighthouse opens"

    answer, cited = _cited(client, QUESTION)
    assert "vellmar-lighthouse" in cited and "64 metres" in answer["answer"]
    assert "vellmar-lighthouse" in _searched(client, QUESTION), "the remembered search was forgotten on upload"

    doc = client.get("/v1/documents/vellmar-lighthouse").json()
    assert doc["text"].startswith("The city of Vellmar") and doc["published_at"].startswith("2025-05-12")
    citation = next(c for c in answer["citations"] if c["doc_id"] == "vellmar-lighthouse")
    assert doc["text"][citation["start"] : citation["end"]] == citation["text"]
    assert "vellmar-lighthouse" in [d["doc_id"] for d in client.get("/v1/documents").json()["documents"]]

    assert client.delete("/v1/documents/vellmar-lighthouse").json() == {"deleted": "vellmar-lighthouse"}
    assert client.get("/v1/documents/vellmar-lighthouse").status_code == 404
    answer, cited = _cited(client, QUESTION)
    assert "vellmar-lighthouse" not in cited
    assert "vellmar-lighthouse" not in _searched(client, QUESTION)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("vellmar.txt", ARTICLE.encode()),
        ("vellmar.md", ("# Vellmar lighthouse opens\n\n" + ARTICLE).encode()),
        ("vellmar.markdown", ("# Vellmar lighthouse opens\n\n" + ARTICLE).encode()),
        ("vellmar.html", f"<html><head><title>Vellmar lighthouse opens</title></head><body><p>{ARTICLE}</p></body></html>".encode()),
        ("vellmar.htm", f"<html><body><p>{ARTICLE}</p></body></html>".encode()),
        ("vellmar.json", json.dumps({"text": ARTICLE, "title": "Vellmar lighthouse opens"}).encode()),
        ("vellmar.jsonl", (json.dumps({"text": ARTICLE, "id": "vellmar"}) + "\n").encode()),
    ],
)
def test_file_upload_each_type_is_answerable_then_deleted(client, name, content):
    r = client.post("/v1/documents", files={"file": (name, content)})
    assert r.status_code == 201, r.text
    doc_id = r.json()["documents"][0]["doc_id"]
    assert doc_id == "vellmar"
    _, cited = _cited(client, QUESTION)
    assert doc_id in cited
    assert client.delete(f"/v1/documents/{doc_id}").status_code == 200
    _, cited = _cited(client, QUESTION)
    assert doc_id not in cited


@pytest.mark.parametrize(
    ("kwargs", "status", "kind", "hint"),
    [
        ({"files": {"file": ("photo.png", b"\x89PNG....")}}, 400, "unreadable_file", "unsupported type"),
        ({"files": {"file": ("empty.txt", b"   ")}}, 400, "unreadable_file", "empty"),
        ({"files": {"file": ("bin.txt", b"abc\x00def" * 10)}}, 400, "unreadable_file", "binary"),
        ({"files": {"file": ("bad.json", b"{nope")}}, 400, "unreadable_file", "invalid JSON"),
        ({"files": {"other": ("a.txt", ARTICLE.encode())}}, 400, "invalid_request", "`file`"),
        ({"files": {"file": ("big.txt", b"word " * 2_200_000)}}, 413, "payload_too_large", "KB"),
        ({"files": {"file": ("big.json", json.dumps({"text": "word " * 220_000}).encode())}}, 413, "payload_too_large",
         "characters"),
        ({"files": {"file": ("big.jsonl", json.dumps({"text": "word " * 220_000}).encode())}}, 413, "payload_too_large",
         "characters"),
        ({"json": {"title": "no text"}}, 422, "invalid_request", "`text` is required"),
        ({"json": {"text": 12}}, 422, "invalid_request", "`text`"),
        ({"json": {"text": "x" * 900_000 + " " + "y" * 200_000}}, 413, "payload_too_large", ""),
        ({"content": b"{", "headers": {"Content-Type": "application/json"}}, 400, "invalid_json", "JSON"),
        ({"content": b"hello", "headers": {"Content-Type": "text/plain"}}, 415, "unsupported_media_type", "multipart"),
    ],
)
def test_bad_uploads_say_what_to_fix(client, kwargs, status, kind, hint):
    r = client.post("/v1/documents", **kwargs)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["type"] == kind and hint in error["message"]
    assert "/tmp" not in error["message"]  # the server's temp paths stay private


def test_document_size_limit_below_the_body_limit(client):
    text = "Lighthouses guide ships. " * 45_000  # ~1.1 M characters, under the 10 MB upload limit
    r = client.post("/v1/documents", files={"file": ("long.txt", text.encode())})
    assert r.status_code == 413 and "characters" in r.json()["error"]["message"]


def _ids(r: httpx.Response) -> list[str]:
    assert r.status_code == 201, r.text
    return [d["doc_id"] for d in r.json()["documents"]]


def test_non_latin_file_names_and_titles_make_distinct_ids(client):
    other = ARTICLE.replace("Vellmar", "Ostrava").replace("64", "71")
    uploads = [
        {"files": {"file": ("новости.txt", ARTICLE.encode())}},
        {"files": {"file": ("другое.txt", other.encode())}},
        {"json": {"text": ARTICLE, "title": "Новости дня"}},
        {"json": {"text": ARTICLE, "title": "Café opens"}},
        {"json": {"text": other, "title": "Cafè opens"}},  # the same slug, "Caf-opens"
    ]
    ids = [_ids(client.post("/v1/documents", **kwargs)) for kwargs in uploads]
    flat = [doc_id for found in ids for doc_id in found]
    assert all(len(found) == 1 for found in ids) and len(set(flat)) == len(flat), ids
    assert flat[3].startswith("Caf-opens-") and flat[4].startswith("Caf-opens-")
    listed = {d["doc_id"] for d in client.get("/v1/documents").json()["documents"]}
    assert set(flat) <= listed  # none overwrote another
    for doc_id in flat:
        assert client.delete(f"/v1/documents/{doc_id}").status_code == 200


def test_an_uploaded_jsonl_reports_each_bad_line_by_the_uploaded_name(client):
    good = json.dumps({"id": "pellin-pass", "text": "Snow closed the Pellin pass road for six hours on Sunday."})
    body = "\n".join(['{"text": "cut', good, json.dumps({"text": 5})]).encode()
    r = client.post("/v1/documents", files={"file": ("wires.jsonl", body)})
    assert r.status_code == 201, r.text
    assert sorted(r.json()["report"]["skipped"]) == ["wires.jsonl:1", "wires.jsonl:3"]
    assert "rag-upload" not in r.text  # no temporary path
    assert client.delete("/v1/documents/pellin-pass").status_code == 200


def test_an_upload_the_store_fails_to_write_is_503_and_the_service_goes_on(client, http_pipeline, monkeypatch):
    class RefusesWrites:
        """The chunk collection of a Chroma that stops taking writes (a server gone mid-upload)."""

        def __init__(self, real) -> None:
            self.real = real

        def upsert(self, **kwargs) -> None:
            raise ConnectionError("store down")

        def __getattr__(self, name: str):
            return getattr(self.real, name)

    monkeypatch.setattr(http_pipeline.store, "chunks", RefusesWrites(http_pipeline.store.chunks))
    r = client.post("/v1/documents", json={"text": ARTICLE, "id": "never-stored"})
    assert r.status_code == 503 and r.json()["error"]["type"] == "store_unavailable", r.text
    assert "ingest it again" in r.json()["error"]["message"]
    monkeypatch.undo()
    assert client.get("/v1/documents/never-stored").status_code == 404
    assert _ids(client.post("/v1/documents", json={"text": ARTICLE, "id": "never-stored"})) == ["never-stored"]
    assert client.delete("/v1/documents/never-stored").status_code == 200


def test_the_same_latin_title_updates_the_same_article(client):
    first = _ids(client.post("/v1/documents", json={"text": ARTICLE, "title": "Vellmar council news"}))
    again = client.post("/v1/documents", json={"text": ARTICLE.replace("64", "65"), "title": "Vellmar council news"})
    assert first == ["Vellmar-council-news"] and _ids(again) == first  # the id older versions gave it
    assert [d["doc_id"] for d in again.json()["documents"]] == first
    assert client.delete(f"/v1/documents/{first[0]}").status_code == 200


def test_line_separators_in_articles_do_not_break_event_streams(client):
    text = "The Orrin ferry carries 300 passengers\u2028across the bay daily.\u2029It sails from Kessel.\x85Done."
    assert _ids(client.post("/v1/documents", json={"text": text, "id": "orrin-ferry"})) == ["orrin-ferry"]
    question = "How many passengers does the Orrin ferry carry across the bay?"
    try:
        with client.stream("POST", "/v1/ask", json={"question": question, "stream": True}) as r:
            events = list(sse_events(r))
        assert [e for e, _ in events][-2:] == ["citations", "done"]
        answer = json.loads(events[-2][1])
        assert "\u2028" in answer["citations"][0]["text"]
        body = {"messages": [{"role": "user", "content": question}], "stream": True}
        with client.stream("POST", "/v1/chat/completions", json=body) as r:
            chunks = [d for _, d in sse_events(r)]
        assert chunks[-1] == "[DONE]"
        assert "\u2028" in json.loads(chunks[-2])["rag"]["citations"][0]["text"]
        assert all(json.loads(d) for d in chunks[:-1])
    finally:
        client.delete("/v1/documents/orrin-ferry")
