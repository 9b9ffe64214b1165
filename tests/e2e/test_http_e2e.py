"""The service with the real local model, over real HTTP, and the chat page in headless Chromium."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from rag.pipeline import Pipeline
from service.settings import ServiceSettings
from tests.fixtures.http_server import ServiceServer, sse_events

pytestmark = pytest.mark.e2e

SWAP = "How many prisoners did each side agree to swap?"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


@pytest.fixture(scope="module")
def real_service(real_pipeline: Pipeline) -> Iterator[ServiceServer]:
    with ServiceServer(real_pipeline, ServiceSettings(api_keys=None)) as server:
        yield server


def test_ask_prisoner_swap_with_the_real_model(real_service):
    r = httpx.post(real_service.base_url + "/v1/ask", json={"question": SWAP}, timeout=300)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert not answer["abstained"], answer
    assert "1,000" in answer["answer"] or "1000" in answer["answer"]
    assert any("1,000" in c["text"] for c in answer["citations"])
    doc = httpx.get(f"{real_service.base_url}/v1/documents/{answer['citations'][0]['doc_id']}", timeout=30).json()
    c = answer["citations"][0]
    assert doc["text"][c["start"] : c["end"]] == c["text"]


def test_streamed_ask_with_the_real_model(real_service):
    with httpx.stream("POST", real_service.base_url + "/v1/ask", json={"question": SWAP, "stream": True}, timeout=300) as r:
        assert r.status_code == 200
        events = list(sse_events(r))
    names = [e for e, _ in events]
    assert names[0] == "evidence" and names.count("token") > 3
    assert names[-2:] == ["citations", "done"] and set(names[1:-2]) <= {"token", "retract"}
    answer = json.loads(events[-2][1])
    assert not answer["abstained"] and answer["citations"]


def test_chat_page_streams_and_highlights_the_cited_passage(real_service, tmp_path):
    if not CHROMIUM.exists() or shutil.which("chromium") is None:
        pytest.skip("needs Debian's chromium at /usr/bin/chromium: apt-get update && apt-get install -y chromium")
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs the `playwright` Python package (pip install playwright)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(real_service.base_url + "/")
            page.fill("#question", SWAP)
            page.click("#send")
            # tokens arrive while the model writes ...
            page.wait_for_function("Number(document.querySelector('#answer').dataset.tokens || 0) > 3", timeout=120_000)
            # ... then the checked answer, with clickable citation markers and a sources list
            page.wait_for_selector("#answer button.cite", timeout=180_000)
            assert "1,000" in page.inner_text("#answer") or "1000" in page.inner_text("#answer")
            assert page.is_visible("#sources-box") and page.locator("#sources li").count() >= 1
            marker = page.locator("#answer button.cite").first
            number = int(marker.get_attribute("data-marker"))
            marker.click()
            page.wait_for_selector("#article mark#passage", timeout=30_000)
            highlighted = page.inner_text("#article mark#passage")
            page.screenshot(path=str(tmp_path / "chat-page.png"), full_page=True)
            answer = page.evaluate("current")
            cited = next(c for c in answer["citations"] if c["marker"] == number)
            assert highlighted.strip() == cited["text"].strip()
            assert cited["title"] in page.inner_text("#article h3") or page.inner_text("#article h3")
        finally:
            browser.close()


def test_chat_page_shows_the_sentence_an_abstention_cites():
    """An answer flagged abstained because the articles say the thing is not known keeps its cited
    sentence: the page shows "The articles don't say.", the reason, and that sentence with its
    marker; a plain abstention shows no marker. The page's own renderer, in headless Chromium."""
    if not CHROMIUM.exists() or shutil.which("chromium") is None:
        pytest.skip("needs Debian's chromium at /usr/bin/chromium: apt-get update && apt-get install -y chromium")
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs the `playwright` Python package (pip install playwright)")
    page_file = (Path(__file__).parents[2] / "service" / "static" / "index.html").resolve()
    cited = {"marker": 1, "text": "The cause of death was not released.", "doc_id": "d", "title": "t", "sentences": []}
    not_known = {"answer": "The cause of death was not released [1].", "abstained": True,
                 "abstain_reason": "the articles say that what was asked is not known", "citations": [cited]}  # fmt: skip
    plain = {"answer": "The articles don't say.", "abstained": True, "abstain_reason": "no passage matched", "citations": []}
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(page_file.as_uri())
            page.evaluate("a => { current = a; renderAnswer(a); }", not_known)
            shown = page.inner_text("#answer")
            assert "The articles don't say." in shown and "not known" in shown and "not released" in shown
            assert page.locator("#answer button.cite").count() == 1
            page.evaluate("a => { current = a; renderAnswer(a); }", plain)
            assert page.locator("#answer button.cite").count() == 0 and "no passage matched" in page.inner_text("#answer")
        finally:
            browser.close()
