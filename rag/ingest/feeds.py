"""Articles from the web: RSS/Atom feeds (feedparser) and news pages (trafilatura), fetched politely.

    ingest_urls(urls, ingest, state_path)           one pass: feeds and single pages
    FeedWatcher(feeds, every_s, ingest, state_path) polls feeds until stopped (`rag watch`, `rag serve`)

Fetching is polite (`rag.ingest.fetch`: user agent, robots.txt, a per-host interval, Retry-After,
conditional requests, a size cap). An entry seen before with the same content (a hash of its
id, link, title, dates and summary) is skipped without a request; a changed one is fetched
again (conditionally) and its article updated.

An entry whose page cannot be had is stored from the feed's own text (content, else summary);
when the page was only unavailable for a while (a server error, a timeout, a pause), it is
fetched again on the next poll and the article updated.

The state lives in SQLite under the data dir (one file per collection). An entry counts as
seen only once its article is stored, so a failed store is tried again on the next poll.
Lines at the edges of most of one host's articles (a plug, a "first published in" note) are
site furniture and are dropped (`clean.recurring_edge_lines`; counts kept in the state).
Syndicated copies of one story, from several feeds, become separate articles that the
indexer records as near-duplicates, as it does for files.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import feedparser
from tqdm import tqdm

from rag.errors import UnreadableFile
from rag.ingest.clean import edge_lines, recurring_edge_lines, strip_edge_lines
from rag.ingest.fetch import FeedState, Fetched, Fetcher, FetchError
from rag.ingest.html import extract_page, fragment_text
from rag.ingest.load import build_article, decode_text, make_doc_id, with_text
from rag.schema import Article, IngestReport

log = logging.getLogger(__name__)

FEED_TYPES = ("rss", "atom", "xml", "rdf")

RETRY = "~retry"  # marks an entry stored from the feed's text while its page was unavailable for a while

Ingest = Callable[[list[Article]], IngestReport]


def is_url(arg: str) -> bool:
    return urlsplit(arg).scheme in ("http", "https")


# --- feeds and pages into articles ------------------------------------------------------


@dataclass
class PollReport:
    """One pass over some URLs: what the indexer did, plus what was fetched."""

    ingest: IngestReport = field(default_factory=IngestReport)
    not_modified: list[str] = field(default_factory=list)  # URLs named (feeds, pages) that answered 304
    entries_seen: int = 0  # skipped: stored before, unchanged
    pages_fetched: int = 0  # bodies downloaded
    pages_not_modified: int = 0  # answered 304
    fallbacks: list[str] = field(default_factory=list)  # entries stored from the feed's own text


@dataclass
class _Pending:
    article: Article
    key: str | None = None  # feed entry key (None: a page given on its own)
    digest: str = ""
    feed: str | None = None  # the feed it came from
    validators: list[tuple[str, str | None, str | None]] = field(default_factory=list)


class WebIngest:
    """Feeds and pages into the store through `ingest` (the indexer's `ingest_articles`)."""

    def __init__(
        self,
        ingest: Ingest,
        state_path: Path,
        *,
        min_interval_s: float = 1.0,
        progress: bool = False,
        is_stored: Callable[[str], bool] | None = None,
    ) -> None:
        """`is_stored(doc_id)`, when given, is asked about each entry seen before: one whose article is no
        longer stored (removed) is fetched again. Without it (the watcher), a removal stands."""
        self.ingest = ingest
        self.is_stored = is_stored
        self.state = FeedState(state_path)
        self.cancel = threading.Event()  # set: the pass stops at the next request and stores nothing
        self.fetcher = Fetcher(
            self.state, min_interval_s=min_interval_s, sleep=self._pause, cancelled=self.cancel.is_set
        )
        self.progress = progress
        self._feeds: dict[str, tuple[str | None, str | None]] = {}  # feed -> validators, kept once all is stored

    def _pause(self, seconds: float) -> None:
        self.cancel.wait(seconds)  # a stop ends the wait for a host's turn

    def close(self) -> None:
        self.fetcher.close()
        self.state.close()

    def __enter__(self) -> WebIngest:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(self, urls: Iterable[str], conditional: bool = True) -> PollReport:
        """Each URL as a feed (every new or changed entry) or a page; then one ingest of all articles.

        With `conditional` off, the URLs named are fetched whole even if unchanged since the last
        fetch (a user's explicit ingest: the indexer then says "unchanged"); their entries' pages
        are still asked for conditionally."""
        report = PollReport()
        pending: list[_Pending] = []
        for url in urls:
            if self.cancel.is_set():
                break
            try:
                pending.extend(self._url(url, report, conditional))
            except (FetchError, UnreadableFile) as e:
                message = e.message
                report.ingest.skipped[url] = message
                log.warning("skipped %s", message)
        if pending and not self.cancel.is_set():  # cancelled: nothing marked seen, the next pass fetches again
            self._store(_one_per_page(pending), report)
        return report

    def _store(self, pending: list[_Pending], report: PollReport) -> None:
        """One ingest of every article; an entry and the validators of what it was read from are kept
        only once its article is stored (else the next poll would take a 304 for done)."""
        edges = {id(p): edge_lines(p.article.text) for p in pending}
        self._strip_furniture(pending, edges)
        done = self.ingest([p.article for p in pending])
        stored = set(done.added) | set(done.updated) | set(done.unchanged)
        for feed, (etag, modified) in self._feeds.items():
            # Done only when every new entry is stored in full: else the next poll must read the feed again.
            if all(p.article.doc_id in stored and not p.digest.endswith(RETRY) for p in pending if p.feed == feed):
                self.state.remember(feed, etag, modified)
        self._feeds.clear()
        for item in pending:
            if item.article.doc_id not in stored:
                continue
            if item.key:
                self.state.mark_entry(item.key, item.article.doc_id, item.digest)
            self.state.record_edges(_host(item.article), item.article.doc_id, edges[id(item)])
            for url, etag, modified in item.validators:
                self.state.remember(url, etag, modified)
        for name in ("added", "updated", "unchanged", "warnings", "not_stored"):
            getattr(report.ingest, name).extend(getattr(done, name))
        report.ingest.skipped.update(done.skipped)
        report.ingest.chunks += done.chunks
        report.ingest.seconds += done.seconds

    def _strip_furniture(self, pending: list[_Pending], edges: dict[int, set[str]]) -> None:
        """Lines at the edges of most of a host's articles (stored before, or in this pass) are
        dropped from its articles (see `clean.recurring_edge_lines`)."""
        by_host: dict[str, list[_Pending]] = {}
        for item in pending:
            by_host.setdefault(_host(item.article), []).append(item)
        for host, items in by_host.items():
            batch = {p.article.doc_id for p in items}
            lines = set().union(*(edges[id(p)] for p in items))
            counts, stored = self.state.edge_counts(host, lines, exclude=batch)
            for p in items:
                for line in edges[id(p)]:
                    counts[line] += 1
            furniture = recurring_edge_lines(counts, stored + len(items))
            for p in items:
                text = strip_edge_lines(p.article.text, furniture)
                if text != p.article.text and len(text) >= 20:
                    p.article = with_text(p.article, text)

    def _url(self, url: str, report: PollReport, conditional: bool) -> list[_Pending]:
        fetched = self.fetcher.get(url, conditional=conditional)
        if fetched.status == 304:
            report.not_modified.append(url)
            return []
        if _looks_like_feed(fetched):
            parsed = feedparser.parse(fetched.body, response_headers={"content-type": fetched.content_type})
            if parsed.entries or parsed.version:
                return self._feed(url, fetched, parsed, report)
        report.pages_fetched += 1
        page = self._page_article(fetched)
        return [_Pending(page, validators=[(url, fetched.etag, fetched.last_modified)])]

    def _feed(self, url: str, fetched: Fetched, parsed, report: PollReport) -> list[_Pending]:
        pending: list[_Pending] = []
        for entry in tqdm(parsed.entries, desc="fetch", unit="entry", disable=not self.progress, leave=False):
            if self.cancel.is_set():
                break
            key, digest = _entry_key(url, entry), _entry_digest(entry)
            seen = self.state.entry(key)
            removed = bool(seen) and self.is_stored is not None and not self.is_stored(seen[1])
            if seen and seen[0] == digest and not removed:
                report.entries_seen += 1
                continue
            item = self._entry(entry, key, digest, report, conditional=not removed, publisher=parsed.feed.get("title"))
            if item is not None:
                pending.append(item)
        if pending:  # the feed's validators are kept once all its new entries are stored (see `_store`)
            self._feeds[url] = (fetched.etag, fetched.last_modified)
            for item in pending:
                item.feed = url
        else:
            self.state.remember(url, fetched.etag, fetched.last_modified)
        return pending

    def _entry(
        self, entry, key: str, digest: str, report: PollReport, conditional: bool, publisher: str | None = None
    ) -> _Pending | None:
        """One feed entry as an article: its page's text, else the entry's own. The page names its
        publication and author when it can; else the feed's title and the entry's author stand in."""
        link = entry.get("link")
        published = _entry_date(entry)
        page_error = None
        if link:
            try:
                fetched = self.fetcher.get(link, conditional=conditional)
                if fetched.status == 304:
                    report.pages_not_modified += 1
                    self.state.mark_entry(key, make_doc_id(_url_name(link)), digest)
                    return None
                report.pages_fetched += 1
                article = self._page_article(fetched, title=entry.get("title"), published=published,
                                             publisher=publisher, author=entry.get("author"))  # fmt: skip
                return _Pending(article, key, digest, validators=[(link, fetched.etag, fetched.last_modified)])
            except (FetchError, UnreadableFile) as e:
                page_error = e.message
                if isinstance(e, FetchError) and e.transient:
                    digest += RETRY  # stored from the feed's text for now; its page is tried again next poll
        article = self._entry_article(entry, link or key, published, page_error, publisher)
        report.fallbacks.append(link or key)
        return _Pending(article, key, digest)

    def _page_article(self, fetched: Fetched, title: str | None = None, published: datetime | None = None,
                      publisher: str | None = None, author: str | None = None) -> Article:  # fmt: skip
        if fetched.content_type and not any(t in fetched.content_type for t in ("html", "text/plain")):
            raise UnreadableFile(
                f"{fetched.url}: is {fetched.content_type}, not a web page or feed; "
                "only HTML pages and RSS/Atom feeds are read from URLs."
            )
        text = decode_text(fetched.body, fetched.url, declared=fetched.charset, html=True)
        page = extract_page(text, url=fetched.url)
        return build_article(
            _url_name(fetched.url),
            page.text,
            title=page.title or title,
            url=fetched.url,
            published_at=published or page.published_at,
            source=fetched.url,
            publisher=page.site or publisher,
            author=page.author or author,
        )

    @staticmethod
    def _entry_article(
        entry, link: str, published: datetime | None, page_error: str | None, publisher: str | None = None
    ) -> Article:
        """The entry's own text (its content, else its summary), when its page cannot be had."""
        contents = [c.get("value", "") for c in entry.get("content") or []]
        raw = max(contents + [entry.get("summary", "")], key=len)
        text = fragment_text(raw)
        if not text.strip():
            raise UnreadableFile(f"{link}: {page_error or 'no page'}, and the feed entry has no text of its own.")
        return build_article(
            _url_name(link),
            text,
            title=entry.get("title"),
            url=link if is_url(link) else None,
            published_at=published,
            source=link,
            publisher=publisher,
            author=entry.get("author"),
        )


def _one_per_page(pending: list[_Pending]) -> list[_Pending]:
    """One article per page in a pass: a page named on its own and by a feed (or by two feeds)
    is read once; the first reading is kept."""
    first: dict[str, _Pending] = {}
    for item in pending:
        first.setdefault(item.article.doc_id, item)
    return list(first.values())


def _host(article: Article) -> str:
    return urlsplit(article.url or article.source or "").netloc


def _looks_like_feed(fetched: Fetched) -> bool:
    if any(t in fetched.content_type for t in FEED_TYPES):
        return True
    head = fetched.body[:512].lstrip().lower()
    return head.startswith(b"<?xml") or head.startswith(b"<rss") or head.startswith(b"<feed")


def _url_name(url: str) -> str:
    """The name an article from a URL is known by: host and path (and query), without the scheme."""
    parts = urlsplit(url)
    return parts.netloc + parts.path.rstrip("/") + (f"?{parts.query}" if parts.query else "") if parts.netloc else url


def _entry_key(feed_url: str, entry) -> str:
    return feed_url + " " + (entry.get("id") or entry.get("link") or entry.get("title") or "")


def _entry_digest(entry) -> str:
    """What says an entry changed: its id, link, title, dates, summary and content."""
    fields = [entry.get(k) for k in ("id", "link", "title", "published", "updated", "summary")]
    fields += [c.get("value") for c in entry.get("content") or []]
    return hashlib.sha256(json.dumps(fields, default=str).encode()).hexdigest()[:16]


def _entry_date(entry) -> datetime | None:
    stamp = entry.get("published_parsed") or entry.get("updated_parsed")
    return datetime(*stamp[:6], tzinfo=UTC) if stamp else None


def ingest_urls(
    urls: list[str],
    ingest: Ingest,
    state_path: Path,
    *,
    min_interval_s: float = 1.0,
    progress: bool = False,
    is_stored: Callable[[str], bool] | None = None,
) -> PollReport:
    """One pass over feeds and pages, as a user's explicit `rag ingest URL...`: the URLs named are
    fetched whole; entries seen before are skipped unless their article is no longer stored."""
    with WebIngest(ingest, state_path, min_interval_s=min_interval_s, progress=progress, is_stored=is_stored) as web:
        return web.run(urls, conditional=False)


class FeedWatcher:
    """Polls feeds every `every_s` seconds in a thread (or in the caller's, with `run`), until `stop()`.

    `lock`, when given, is held while articles are stored (the service's write lock: uploads
    and removals wait, and the watcher waits for them). A poll that fails is logged and tried
    again at the next interval; robots.txt is read afresh on each poll.
    """

    def __init__(
        self,
        feeds: list[str],
        every_s: float,
        ingest: Ingest,
        state_path: Path,
        *,
        min_interval_s: float = 1.0,
        lock: threading.Lock | None = None,
        on_poll: Callable[[PollReport], None] | None = None,
    ) -> None:
        self.feeds, self.every_s = list(feeds), every_s
        self.lock = lock
        self.on_poll = on_poll
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.web = WebIngest(self._locked(ingest), state_path, min_interval_s=min_interval_s)
        self.polls = 0

    def _locked(self, ingest: Ingest) -> Ingest:
        if self.lock is None:
            return ingest

        def run(articles: list[Article]) -> IngestReport:
            with self.lock:
                return ingest(articles)

        return run

    def poll(self) -> PollReport:
        self.web.fetcher.forget_robots()
        report = self.web.run(self.feeds)
        self.polls += 1
        r = report.ingest
        log.info(
            "feeds polled: added %d, updated %d, skipped %d; %d entries seen before, %d pages fetched, "
            "%d not modified, %d feeds not modified",
            len(r.added),
            len(r.updated),
            len(r.skipped),
            report.entries_seen,
            report.pages_fetched,
            report.pages_not_modified,
            len(report.not_modified),
        )
        if self.on_poll:
            self.on_poll(report)
        return report

    def run(self) -> None:
        """Poll now, then every `every_s` seconds until `stop()`."""
        while not self._stop.is_set():
            try:
                self.poll()
            except Exception:  # noqa: BLE001 - a bad poll must not end the watcher: try again later
                log.warning("feed poll failed; trying again in %.0f s", self.every_s, exc_info=True)
            self._stop.wait(self.every_s)

    def start(self) -> FeedWatcher:
        self._thread = threading.Thread(target=self.run, name="feed-watch", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self.web.cancel.set()  # a poll under way stops at its next entry (a store under way finishes)
        if self._thread is not None:
            self._thread.join(timeout)
        self.web.close()

