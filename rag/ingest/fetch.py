"""Polite HTTP for feeds and pages, and what it remembers between polls.

- a User-Agent that names the product (`USER_AGENT`), timeouts, and a cap on the bytes read;
- robots.txt respected (urllib.robotparser, RFC 9309 on errors), its Crawl-delay included;
- at most one request per `min_interval_s` to one host; a 429 or 503 pauses the host for its
  Retry-After (at most an hour);
- conditional requests: the ETag and Last-Modified of every URL are kept (`FeedState`), and a
  304 answer means nothing is downloaded.

`FeedState` (SQLite, write-ahead log) also keeps which feed entries were stored, and which
lines sit at the edges of each host's articles (for `clean.recurring_edge_lines`).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
import urllib.robotparser
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from rag import __version__
from rag.ingest.load import decode_text

log = logging.getLogger(__name__)

USER_AGENT = f"news-rag/{__version__} (news question answering; feed reader; respects robots.txt)"
ROBOTS_AGENT = "news-rag"  # the token robots.txt rules name
MAX_BYTES = 5 * 2**20  # a news page or feed larger than this is not a news page or feed
TIMEOUT = httpx.Timeout(20.0, connect=10.0)


# --- state ----------------------------------------------------------------------


class FeedState:
    """What was fetched (validators per URL) and which feed entries were stored (content hash)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self.db = sqlite3.connect(path, check_same_thread=False)
        # A write-ahead log without an fsync per commit: a poll records a few rows per entry, and
        # losing the last ones in a power cut only means fetching those entries again.
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        with self.db:
            self.db.execute("CREATE TABLE IF NOT EXISTS http (url TEXT PRIMARY KEY, etag TEXT, last_modified TEXT)")
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS entries (key TEXT PRIMARY KEY, doc_id TEXT, hash TEXT, seen_at TEXT)"
            )
            # Which articles of a host carry which edge lines (for `clean.recurring_edge_lines`).
            self.db.execute("CREATE TABLE IF NOT EXISTS host_docs (host TEXT, doc_id TEXT, PRIMARY KEY (host, doc_id))")
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS edge_lines "
                "(host TEXT, line TEXT, doc_id TEXT, PRIMARY KEY (host, line, doc_id))"
            )

    def validators(self, url: str) -> tuple[str | None, str | None]:
        with self._lock:
            row = self.db.execute("SELECT etag, last_modified FROM http WHERE url = ?", (url,)).fetchone()
        return row or (None, None)

    def remember(self, url: str, etag: str | None, last_modified: str | None) -> None:
        with self._lock, self.db:
            self.db.execute("INSERT OR REPLACE INTO http VALUES (?, ?, ?)", (url, etag, last_modified))

    def entry(self, key: str) -> tuple[str, str] | None:
        """(content hash, doc id) of an entry stored before."""
        with self._lock:
            row = self.db.execute("SELECT hash, doc_id FROM entries WHERE key = ?", (key,)).fetchone()
        return (row[0], row[1]) if row else None

    def mark_entry(self, key: str, doc_id: str, digest: str) -> None:
        now = datetime.now(UTC).isoformat()
        with self._lock, self.db:
            self.db.execute("INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?)", (key, doc_id, digest, now))

    def edge_counts(self, host: str, lines: Iterable[str], exclude: set[str]) -> tuple[dict[str, int], int]:
        """How many stored articles of `host` (other than `exclude`) carry each line at an edge, and
        how many articles of the host there are."""
        with self._lock:
            docs = {d for (d,) in self.db.execute("SELECT doc_id FROM host_docs WHERE host = ?", (host,))} - exclude
            counts = {}
            for line in lines:
                rows = self.db.execute("SELECT doc_id FROM edge_lines WHERE host = ? AND line = ?", (host, line))
                counts[line] = len({d for (d,) in rows} - exclude)
        return counts, len(docs)

    def record_edges(self, host: str, doc_id: str, lines: set[str]) -> None:
        with self._lock, self.db:
            self.db.execute("INSERT OR IGNORE INTO host_docs VALUES (?, ?)", (host, doc_id))
            self.db.execute("DELETE FROM edge_lines WHERE host = ? AND doc_id = ?", (host, doc_id))
            self.db.executemany(
                "INSERT OR IGNORE INTO edge_lines VALUES (?, ?, ?)", [(host, ln, doc_id) for ln in lines]
            )

    def close(self) -> None:
        self.db.close()


# --- polite fetching ----------------------------------------------------------------


@dataclass
class Fetched:
    url: str  # after redirects
    status: int  # 200, or 304 (not modified: no body)
    body: bytes = b""
    content_type: str = ""
    charset: str | None = None
    etag: str | None = None
    last_modified: str | None = None


class FetchError(Exception):
    """A URL that could not be fetched; the message says why and what to do. `transient`: it may work
    later (a server error, a timeout, "too many requests"); else it will not (404, robots.txt, size)."""

    def __init__(self, message: str, status: int | None = None, transient: bool = False) -> None:
        super().__init__(message, status)
        self.message, self.status, self.transient = message, status, transient


class Fetcher:
    """HTTP GET with the politeness rules of the module's docstring."""

    def __init__(
        self,
        state: FeedState,
        *,
        min_interval_s: float = 1.0,
        max_bytes: int = MAX_BYTES,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        cancelled: Callable[[], bool] = lambda: False,
    ) -> None:
        self.state = state
        self.cancelled = cancelled
        self.min_interval_s = min_interval_s
        self.max_bytes = max_bytes
        self.sleep, self.clock = sleep, clock
        self.client = httpx.Client(headers={"User-Agent": USER_AGENT}, timeout=TIMEOUT, follow_redirects=True)
        self._last: dict[str, float] = {}  # host -> when its last request was sent
        self._robots: dict[str, urllib.robotparser.RobotFileParser | None] = {}  # None: the host said nothing
        self._robots_problem: dict[str, str] = {}  # origin -> why its robots.txt could not be read
        self._not_before: dict[str, float] = {}  # origin -> no request before (a 429 or 503's Retry-After)

    def close(self) -> None:
        self.client.close()

    def get(self, url: str, conditional: bool = True) -> Fetched:
        """The URL's body, or status 304 when it has not changed since the validators kept in the state."""
        if (until := self._not_before.get(_origin(url), 0.0)) > self.clock():
            raise FetchError(
                f"{url}: not fetched, its site asked for a pause ({until - self.clock():.0f} s more).", transient=True
            )
        if not self.allowed(url):
            if problem := self._robots_problem.get(_origin(url)):
                raise FetchError(
                    f"{url}: not fetched, its site's robots.txt could not be read ({problem}); "
                    "it is tried again on the next poll.",
                    transient=True,
                )
            raise FetchError(
                f"{url}: robots.txt of {urlsplit(url).netloc} disallows it for {ROBOTS_AGENT}; not fetched."
            )
        headers = {}
        if conditional:
            etag, modified = self.state.validators(url)
            headers.update({"If-None-Match": etag} if etag else {})
            headers.update({"If-Modified-Since": modified} if modified else {})
        return self._request(url, headers)

    def allowed(self, url: str) -> bool:
        host = _origin(url)
        if host not in self._robots:
            self._robots[host] = self._read_robots(host)
        rules = self._robots[host]
        return rules is None or rules.can_fetch(ROBOTS_AGENT, url)

    def _read_robots(self, origin: str) -> urllib.robotparser.RobotFileParser | None:
        """The host's robots.txt. As RFC 9309 says: none (4xx) allows everything; a server error or
        no answer disallows everything for now (it is asked again on the next poll)."""
        rules = urllib.robotparser.RobotFileParser(origin + "/robots.txt")
        try:
            fetched = self._request(origin + "/robots.txt", {})
        except FetchError as e:
            if e.status and 400 <= e.status < 500 and e.status != 429:
                return None
            log.warning("robots.txt of %s unavailable (%s): not fetching from it this time", origin, e)
            self._robots_problem[origin] = e.message.removeprefix(origin + "/robots.txt: ")
            rules.disallow_all = True
            return rules
        rules.parse(decode_text(fetched.body, origin + "/robots.txt").splitlines())
        return rules

    def forget_robots(self) -> None:
        """Read robots.txt again on the next request (a long-running watcher does so each poll)."""
        self._robots.clear()
        self._robots_problem.clear()

    def _wait_turn(self, url: str) -> None:
        """At most one request per interval (or the host's Crawl-delay, if longer) to one host."""
        host = _origin(url)
        rules = self._robots.get(host)
        delay = rules.crawl_delay(ROBOTS_AGENT) if rules is not None else None
        interval = max(self.min_interval_s, float(delay or 0))
        last = self._last.get(host)
        if last is not None:
            wait = last + interval - self.clock()
            if wait > 0:
                self.sleep(wait)
        if self.cancelled():
            raise FetchError(f"{url}: not fetched, the poll was stopped.", transient=True)
        self._last[host] = self.clock()

    def _pause_host(self, url: str, retry_after: str | None) -> None:
        """A 429 or 503 asks for a pause: none of this host's URLs are asked for until it is over
        (Retry-After in seconds or as a date; without one, the interval times 60; at most an hour)."""
        seconds = 60 * max(self.min_interval_s, 1.0)
        if retry_after:
            if retry_after.strip().isdigit():
                seconds = float(retry_after)
            else:
                try:
                    seconds = (parsedate_to_datetime(retry_after) - datetime.now(UTC)).total_seconds()
                except (TypeError, ValueError):
                    pass
        self._not_before[_origin(url)] = self.clock() + min(max(seconds, 0.0), 3600.0)

    def _request(self, url: str, headers: dict[str, str]) -> Fetched:
        self._wait_turn(url)
        try:
            with self.client.stream("GET", url, headers=headers) as r:
                if r.status_code == 304:
                    return Fetched(
                        str(r.url), 304, etag=r.headers.get("etag"), last_modified=r.headers.get("last-modified")
                    )
                if r.status_code in (429, 503):
                    self._pause_host(url, r.headers.get("retry-after"))
                if r.status_code >= 400:
                    transient = r.status_code == 429 or r.status_code >= 500
                    advice = "tried again on the next poll" if transient else "check the address"
                    raise FetchError(f"{url}: the server answered {r.status_code}; {advice}.", r.status_code, transient)
                body = bytearray()
                for chunk in r.iter_bytes():
                    body += chunk
                    if len(body) > self.max_bytes:
                        raise FetchError(
                            f"{url}: larger than {self.max_bytes / 2**20:.1f} MB; not a news page or feed."
                        )
                ctype = r.headers.get("content-type", "")
                return Fetched(
                    str(r.url),
                    r.status_code,
                    bytes(body),
                    ctype.split(";")[0].strip().lower(),
                    r.charset_encoding,
                    r.headers.get("etag"),
                    r.headers.get("last-modified"),
                )
        except httpx.HTTPError as e:
            raise FetchError(
                transient=True,
                message=f"{url}: could not be fetched ({type(e).__name__}: {e}); check the address and network.",
            ) from None


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
