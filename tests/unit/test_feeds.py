"""Feeds and pages over real HTTP on loopback, into a real embedded Chroma with the real embedder."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from rag.ingest.feeds import FeedWatcher, WebIngest, ingest_urls
from rag.ingest.fetch import USER_AGENT, FeedState, Fetcher
from rag.pipeline import Pipeline
from rag.settings import parse_every
from tests.conftest import make_settings
from tests.fixtures.news_site import BASE_DATE, NewsServer, atom, news_page, publish, rss, story


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    settings = make_settings(tmp_path_factory.mktemp("feeds") / "data", auto_seed=False)
    with Pipeline(settings, start_llm=False) as p:
        yield p


@pytest.fixture
def server() -> Iterator[NewsServer]:
    with NewsServer() as s:
        yield s


def state_path(pipeline: Pipeline, name: str) -> Path:
    return pipeline.settings.data_dir / "feeds" / f"{name}.sqlite"


def test_a_feed_of_50_entries_polled_again_with_nothing_new_downloads_no_page(pipeline: Pipeline, server: NewsServer):
    site, base = server.site, server.base_url
    items = publish(site, base, 50, prefix="/fifty")
    state = state_path(pipeline, "fifty")
    first = ingest_urls([base + "/feed.rss"], pipeline.ingest_articles, state, min_interval_s=0)
    assert len(first.ingest.added) == 50 and not first.ingest.skipped
    assert site.count("/fifty", 200) == 50

    # Nothing new: the feed answers 304, no page is asked for.
    watcher = FeedWatcher([base + "/feed.rss"], 60, pipeline.ingest_articles, state, min_interval_s=0)
    try:
        again = watcher.poll()
        assert again.not_modified == [base + "/feed.rss"]
        assert site.count("/fifty") == 50 and again.pages_fetched == 0

        # Every entry's summary changes, no page does: each page is asked for conditionally and answers 304.
        site.put(
            "/feed.rss", rss([{**i, "summary": i["summary"] + " (updated)"} for i in items]), "application/rss+xml"
        )
        touched = watcher.poll()
        assert touched.pages_not_modified == 50 and touched.pages_fetched == 0
        assert site.count("/fifty", 304) == 50 and site.count("/fifty", 200) == 50  # no page body downloaded again
        assert touched.ingest.added == [] and touched.ingest.updated == []

        # One story corrected and one published: those two pages, and only they, are fetched.
        title, paragraphs = story(7)
        corrected = paragraphs[:2] + ["The cooperative withdrew its plan for a second cold store on Tuesday."]
        site.put("/fifty/story-7.html", news_page(title, corrected), modified=BASE_DATE + timedelta(days=1))
        new_title, new_paragraphs = story(50)
        site.put("/fifty/story-50.html", news_page(new_title, new_paragraphs))
        items[7] = {**items[7], "date": BASE_DATE + timedelta(days=1)}
        items.append(
            {
                "title": new_title,
                "link": base + "/fifty/story-50.html",
                "guid": base + "/fifty/story-50.html",
                "date": BASE_DATE + timedelta(days=2),
                "summary": new_paragraphs[0],
            }
        )
        site.put("/feed.rss", rss(items), "application/rss+xml")
        before = site.count("/fifty", 200)
        changed = watcher.poll()
        assert site.count("/fifty", 200) - before == 2
        assert len(changed.ingest.updated) == 1 and len(changed.ingest.added) == 1
        [doc_id] = changed.ingest.updated
        assert "withdrew its plan" in pipeline.document(doc_id)[1]
    finally:
        watcher.stop()
    assert {agent for _, _, agent in site.hits} == {USER_AGENT}


def test_an_atom_feed_robots_txt_and_pages_that_cannot_be_fetched(pipeline: Pipeline, server: NewsServer):
    """robots.txt is obeyed (the disallowed page is never requested); an entry whose page is disallowed
    or missing is stored from the feed's own content; a server that ignores conditional requests
    still gets no page request for entries seen before."""
    site, base = server.site, server.base_url
    site.put("/robots.txt", "User-agent: *\nDisallow: /private/\n", "text/plain")
    title, paragraphs = story(101)
    site.put("/wire/open.html", news_page(title, paragraphs))
    site.put(
        "/private/closed.html", news_page("Secret", ["Never to be fetched by a polite reader, as robots.txt says."])
    )
    entries = [
        {"title": title, "link": base + "/wire/open.html", "guid": "urn:1", "date": BASE_DATE},
        {
            "title": "Ferry timetable changes in Oban",
            "link": base + "/private/closed.html",
            "guid": "urn:2",
            "date": BASE_DATE,
            "summary": "Short summary.",
            "content": "<p>The ferry from Oban to Mull will run every "
            "ninety minutes from December, the operator said on Friday.</p><p>Winter fares rise by 4 percent.</p>",
        },
        {
            "title": "Lighthouse keepers honoured",
            "link": base + "/wire/gone.html",
            "guid": "urn:3",
            "date": BASE_DATE,
            "summary": "Three former keepers of the Portree lighthouse received medals for forty years of service.",
        },
    ]
    site.put("/wire.atom", atom(entries), "application/atom+xml")
    site.conditional = False
    state = state_path(pipeline, "atom")
    report = ingest_urls([base + "/wire.atom"], pipeline.ingest_articles, state, min_interval_s=0)
    assert len(report.ingest.added) == 3 and not report.ingest.skipped
    assert site.count("/private") == 0
    assert sorted(report.fallbacks) == [base + "/private/closed.html", base + "/wire/gone.html"]
    texts = {pipeline.document(d)[0].title: pipeline.document(d)[1] for d in report.ingest.added}
    assert "every ninety minutes" in texts["Ferry timetable changes in Oban"]
    assert texts["Ferry timetable changes in Oban"].endswith("Winter fares rise by 4 percent.")
    assert "medals for forty years" in texts["Lighthouse keepers honoured"]

    pages_before = site.count("/wire/")
    again = ingest_urls([base + "/wire.atom"], pipeline.ingest_articles, state, min_interval_s=0)
    assert again.entries_seen == 3 and site.count("/wire/") == pages_before
    assert site.count("/wire.atom", 200) == 2  # this server cannot say 304: the feed is read, its pages are not


def test_a_single_page_url(pipeline: Pipeline, server: NewsServer):
    title, paragraphs = story(202)
    server.site.put("/news/one.html", news_page(title, paragraphs, date="2026-10-02T06:15:00+00:00", author="Li Wei"))
    report = ingest_urls(
        [server.base_url + "/news/one.html"], pipeline.ingest_articles, state_path(pipeline, "page"), min_interval_s=0
    )
    [doc_id] = report.ingest.added
    info, text = pipeline.document(doc_id)
    assert info.title == title and info.url == server.base_url + "/news/one.html"
    assert info.published_at.isoformat() == "2026-10-02T06:15:00+00:00"
    assert text == "\n".join(paragraphs)


def test_syndicated_copies_of_one_story_are_near_duplicates(pipeline: Pipeline, server: NewsServer):
    title, paragraphs = story(303)
    for site_name, path in (("The Daily Ledger", "/ledger/wire-story.html"), ("Coast Gazette", "/gazette/wire.html")):
        server.site.put(path, news_page(title, paragraphs, site=site_name))
    urls = [server.base_url + "/ledger/wire-story.html", server.base_url + "/gazette/wire.html"]
    report = ingest_urls(urls, pipeline.ingest_articles, state_path(pipeline, "wire"), min_interval_s=0)
    first, second = report.ingest.added
    docs = {d.doc_id: d for d in pipeline.documents()}
    assert first in docs[second].near_duplicates or second in docs[first].near_duplicates


def test_unreachable_missing_and_oversized_urls_are_reported_and_the_rest_ingested(
    pipeline: Pipeline, server: NewsServer
):
    title, paragraphs = story(404)
    server.site.put("/ok.html", news_page(title, paragraphs))
    server.site.put("/huge.html", b"<html><body>" + b"<p>word </p>" * 200_000 + b"</body></html>")
    state = state_path(pipeline, "errors")
    with WebIngest(pipeline.ingest_articles, state, min_interval_s=0) as web:
        web.fetcher.max_bytes = 1_000_000
        report = web.run(
            [
                server.base_url + "/missing.html",
                server.base_url + "/huge.html",
                "http://127.0.0.1:9/x",
                server.base_url + "/ok.html",
            ]
        )
    assert len(report.ingest.added) == 1
    skipped = report.ingest.skipped
    assert "answered 404" in skipped[server.base_url + "/missing.html"]
    assert "larger than" in skipped[server.base_url + "/huge.html"]
    assert "could not be fetched" in skipped["http://127.0.0.1:9/x"]


def test_requests_to_one_host_are_spaced_by_the_interval_or_crawl_delay(tmp_path: Path, server: NewsServer):
    """The clock and sleep are the fetcher's own; recorded here to read the waits it chose."""
    now = [0.0]
    waits: list[float] = []

    def sleep(s: float) -> None:
        waits.append(round(s, 3))
        now[0] += s

    server.site.put("/a.html", "<p>a</p>")
    fetcher = Fetcher(FeedState(tmp_path / "s.sqlite"), min_interval_s=2.0, sleep=sleep, clock=lambda: now[0])
    for _ in range(3):
        fetcher.get(server.base_url + "/a.html")
    assert waits == [2.0, 2.0, 2.0]  # robots.txt (404 here), then three pages
    server.site.put("/robots.txt", "User-agent: *\nCrawl-delay: 5\n", "text/plain")
    fetcher.forget_robots()
    waits.clear()
    fetcher.get(server.base_url + "/a.html")
    fetcher.get(server.base_url + "/a.html")
    assert waits[-1] == 5.0
    fetcher.close()


@pytest.mark.parametrize(("text", "seconds"), [("15m", 900), ("1h", 3600), ("90s", 90), ("2h30m", 9000), ("45", 45)])
def test_poll_intervals(text: str, seconds: float):
    assert parse_every(text) == seconds


@pytest.mark.parametrize("text", ["soon", "0", "15x", "m"])
def test_bad_poll_intervals_say_how_to_write_one(text: str):
    with pytest.raises(ValueError, match="15m|too short"):
        parse_every(text)


def test_rag_serve_polls_the_feeds_of_its_settings(tmp_path: Path, server: NewsServer, fake_llm):
    """RAG_WATCH_FEEDS inside the service: the feed's stories are searchable without any request to ingest."""
    import time

    import httpx

    from tests.fixtures.http_server import ServiceServer

    publish(server.site, server.base_url, 2, prefix="/served", feed="/served.rss")
    settings = make_settings(
        tmp_path / "data",
        auto_seed=False,
        openai_base_url=fake_llm.base_url,
        llm_model="fake",
        watch_feeds=server.base_url + "/served.rss",
        watch_every="1h",
        feed_host_interval_s=0,
    )
    with Pipeline(settings, start_llm=False) as pipeline, ServiceServer(pipeline) as service:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            docs = httpx.get(service.base_url + "/v1/documents", timeout=10).json()["documents"]
            if len(docs) == 2:
                break
            time.sleep(0.2)
        assert sorted(d["title"] for d in docs) == sorted(story(i)[0] for i in range(2))
    assert server.site.count("/served/", 200) == 2


def test_a_watcher_stopped_mid_poll_stops_waiting_for_its_turn_and_stores_nothing(
    pipeline: Pipeline, server: NewsServer
):
    import time

    publish(server.site, server.base_url, 3, prefix="/slow", feed="/slow.rss")
    before = len(pipeline.documents())
    watcher = FeedWatcher(
        [server.base_url + "/slow.rss"],
        3600,
        pipeline.ingest_articles,
        state_path(pipeline, "slow"),
        min_interval_s=600,
    ).start()
    deadline = time.monotonic() + 30
    while server.site.count("/robots.txt") == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    watcher.stop(timeout=20)
    assert not watcher._thread.is_alive()
    assert server.site.count("/slow") == 0  # after robots.txt, the host's next turn (in 10 min) never came
    assert len(pipeline.documents()) == before


def test_a_url_that_is_not_a_page_or_feed_is_reported(pipeline: Pipeline, server: NewsServer):
    server.site.put("/report.pdf", b"%PDF-1.7 \x00\x01binary", "application/pdf")
    report = ingest_urls(
        [server.base_url + "/report.pdf"], pipeline.ingest_articles, state_path(pipeline, "pdf"), min_interval_s=0
    )
    assert "application/pdf, not a web page or feed" in report.ingest.skipped[server.base_url + "/report.pdf"]


def test_an_explicit_ingest_brings_back_a_removed_entry_the_watcher_leaves_it_removed(
    pipeline: Pipeline, server: NewsServer
):
    publish(server.site, server.base_url, 2, prefix="/rm", feed="/rm.rss")
    feed, state = server.base_url + "/rm.rss", state_path(pipeline, "rm")

    def stored(doc_id: str) -> bool:
        return doc_id in {d.doc_id for d in pipeline.documents()}

    first = ingest_urls([feed], pipeline.ingest_articles, state, min_interval_s=0, is_stored=stored)
    gone = first.ingest.added[0]
    pipeline.remove(gone)
    server.site.put("/rm.rss", server.site.resources["/rm.rss"].body + b" ")  # the feed changes, its entries do not
    watcher = FeedWatcher([feed], 3600, pipeline.ingest_articles, state, min_interval_s=0)
    try:
        assert watcher.poll().entries_seen == 2 and not stored(gone)  # the user's removal stands
    finally:
        watcher.stop()
    again = ingest_urls([feed], pipeline.ingest_articles, state, min_interval_s=0, is_stored=stored)
    assert again.ingest.added == [gone] and again.entries_seen == 1

    page = server.base_url + "/rm/story-0.html"
    twice = [ingest_urls([page], pipeline.ingest_articles, state, min_interval_s=0, is_stored=stored) for _ in range(2)]
    assert twice[1].ingest.unchanged and not twice[1].not_modified  # named explicitly: read, found unchanged


def test_a_sites_standing_lines_that_page_extraction_keeps_are_dropped_once_they_recur(
    pipeline: Pipeline, server: NewsServer
):
    """A note inside each article's own markup (so trafilatura keeps it) recurs on every story of the site."""
    note = "This story first appeared in the Coastal Courier weekly print edition."
    items = []
    for i in range(4):
        title, paragraphs = story(500 + i)
        path = f"/courier/story-{i}.html"
        server.site.put(path, news_page(title, paragraphs + [note], site="Coastal Courier"))
        items.append({"title": title, "link": server.base_url + path, "guid": path, "date": BASE_DATE})
    server.site.put("/courier.rss", rss(items[:3]), "application/rss+xml")
    state = state_path(pipeline, "courier")
    first = ingest_urls([server.base_url + "/courier.rss"], pipeline.ingest_articles, state, min_interval_s=0)
    assert len(first.ingest.added) == 3
    assert all(note not in pipeline.document(d)[1] for d in first.ingest.added)
    server.site.put("/courier.rss", rss(items), "application/rss+xml")  # one more story, on its own in this poll
    second = ingest_urls([server.base_url + "/courier.rss"], pipeline.ingest_articles, state, min_interval_s=0)
    [new] = second.ingest.added
    text = pipeline.document(new)[1]
    assert note not in text and text.endswith(story(503)[1][-1])


def test_a_page_in_a_legacy_encoding_declared_only_by_the_server(pipeline: Pipeline, server: NewsServer):
    html = news_page(
        "Caf\u00e9s reopen in Z\u00fcrich",
        [
            "The caf\u00e9s on the Limmat reopened on Monday after a "
            "week\u2019s closure for floods, their owners said \u2014 \u201cfinally\u201d."
        ],
    )
    html = html.replace('<meta charset="utf-8">', "")
    server.site.put("/cp.html", html.encode("cp1252"), "text/html; charset=windows-1252")
    report = ingest_urls(
        [server.base_url + "/cp.html"], pipeline.ingest_articles, state_path(pipeline, "cp"), min_interval_s=0
    )
    [doc_id] = report.ingest.added
    info, text = pipeline.document(doc_id)
    assert (
        info.title == "Caf\u00e9s reopen in Z\u00fcrich"
        and "week\u2019s closure" in text
        and "\u201cfinally\u201d" in text
    )


def test_a_page_that_is_down_for_a_while_is_stored_from_the_feed_then_fetched_on_a_later_poll(
    pipeline: Pipeline, server: NewsServer
):
    """A 503 with Retry-After pauses the whole host (its other pages are not asked for); the entries are
    stored from the feed's text, and their pages are fetched once the site is back."""
    items = publish(server.site, server.base_url, 2, prefix="/busy", feed="/busy.rss")
    server.site.failing["/busy/story-0.html"] = (503, {"Retry-After": "0"})
    state = state_path(pipeline, "busy")
    first = ingest_urls([server.base_url + "/busy.rss"], pipeline.ingest_articles, state, min_interval_s=0)
    assert len(first.ingest.added) == 2 and len(first.fallbacks) == 1
    summary_only = pipeline.document(first.ingest.added[0])[1]
    assert summary_only == items[0]["summary"]

    server.site.failing["/busy/story-0.html"] = (503, {"Retry-After": "3600"})
    watcher = FeedWatcher([server.base_url + "/busy.rss"], 3600, pipeline.ingest_articles, state, min_interval_s=0)
    try:
        server.site.put("/busy.rss", server.site.resources["/busy.rss"].body + b" ")  # the feed is read again
        watcher.poll()
        hits = len(server.site.hits)
        watcher.poll()  # the host asked for an hour's pause: nothing is asked for, not even the feed
        assert len(server.site.hits) == hits
        del server.site.failing["/busy/story-0.html"]
        watcher.web.fetcher._not_before.clear()  # the hour is over
        later = watcher.poll()
    finally:
        watcher.stop()
    assert later.ingest.updated == [first.ingest.added[0]]
    assert pipeline.document(first.ingest.added[0])[1] == "\n".join(story(0)[1])
