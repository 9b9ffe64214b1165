"""The Slack bot's local memory, in SQLite files in the data dir.

`SlackState` (`slack.sqlite`): event ids and messages already handled (so Slack's
retries and repeated deliveries never get a second reply) and the threads the bot
answered in (so follow-ups there are answered without a mention).

`FeedbackStore` (`feedback.sqlite`): every answer posted, and the 👍 / 👎 clicks on
them; listed by GET /v1/feedback and exported as candidate gold cases for eval/.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, Field

from rag.schema import Answer

KEEP_EVENTS_S = 7 * 24 * 3600  # Slack retries within minutes; a week is plenty


class _SQLite:
    """One short-lived connection per operation: safe from the event loop and worker threads alike."""

    schema = ""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._db() as db:
            db.executescript(self.schema)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=10)
        db.row_factory = sqlite3.Row
        try:
            with db:
                yield db
        finally:
            db.close()


class SlackState(_SQLite):
    schema = """
    PRAGMA journal_mode=WAL;
    CREATE TABLE IF NOT EXISTS handled (key TEXT PRIMARY KEY, at REAL NOT NULL);
    CREATE INDEX IF NOT EXISTS handled_at ON handled (at);
    CREATE TABLE IF NOT EXISTS threads (channel TEXT NOT NULL, thread_ts TEXT NOT NULL, at REAL NOT NULL,
                                        PRIMARY KEY (channel, thread_ts));
    """

    def claim(self, key: str) -> bool:
        """True the first time `key` is seen (an event id, or channel+ts of a message); False ever after."""
        now = time.time()
        with self._db() as db:
            db.execute("DELETE FROM handled WHERE at < ?", (now - KEEP_EVENTS_S,))
            return db.execute("INSERT OR IGNORE INTO handled (key, at) VALUES (?, ?)", (key, now)).rowcount == 1

    def remember_thread(self, channel: str, thread_ts: str) -> None:
        with self._db() as db:
            db.execute("INSERT OR REPLACE INTO threads VALUES (?, ?, ?)", (channel, thread_ts, time.time()))

    def is_bot_thread(self, channel: str, thread_ts: str) -> bool:
        with self._db() as db:
            row = db.execute("SELECT 1 FROM threads WHERE channel = ? AND thread_ts = ?", (channel, thread_ts))
            return row.fetchone() is not None


class CitedSource(BaseModel):
    marker: int
    doc_id: str
    title: str
    url: str | None = None


class FeedbackRecord(BaseModel):
    """One 👍 / 👎 click, with the answer it rates (what GET /v1/feedback lists)."""

    id: int
    answer_id: str
    rating: str  # "up" | "down"
    user: str
    time: datetime
    question: str  # the standalone question that was answered
    asked: str  # the user's own words
    answer: str
    abstained: bool
    citations: list[CitedSource] = Field(default_factory=list)
    channel: str = ""
    thread_ts: str = ""


class FeedbackStore(_SQLite):
    schema = """
    PRAGMA journal_mode=WAL;
    CREATE TABLE IF NOT EXISTS answers (
        id TEXT PRIMARY KEY, question TEXT NOT NULL, asked TEXT NOT NULL, answer TEXT NOT NULL,
        abstained INTEGER NOT NULL, citations TEXT NOT NULL, channel TEXT NOT NULL, thread_ts TEXT NOT NULL,
        at REAL NOT NULL);
    CREATE TABLE IF NOT EXISTS feedback (
        id INTEGER PRIMARY KEY AUTOINCREMENT, answer_id TEXT NOT NULL REFERENCES answers (id),
        user TEXT NOT NULL, rating TEXT NOT NULL, at REAL NOT NULL, UNIQUE (answer_id, user));
    """

    def record_answer(self, answer: Answer, asked: str, channel: str, thread_ts: str) -> str:
        """Keeps what a later click needs; returns the id the buttons carry."""
        answer_id = uuid.uuid4().hex[:16]
        cited = [
            CitedSource(marker=c.marker, doc_id=c.doc_id, title=c.title, url=c.url).model_dump()
            for c in answer.citations
        ]
        with self._db() as db:
            db.execute(
                "INSERT INTO answers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    answer_id,
                    answer.question or asked,
                    asked,
                    answer.answer,
                    int(answer.abstained),
                    json.dumps(cited),
                    channel,
                    thread_ts,
                    time.time(),
                ),
            )
        return answer_id

    def add(self, answer_id: str, rating: str, user: str) -> bool:
        """Stores a click (a user's later click on the same answer replaces the earlier one).
        False when the answer is unknown (e.g. the data dir was wiped since it was posted)."""
        if rating not in ("up", "down"):
            raise ValueError(f"rating must be 'up' or 'down', got {rating!r}")
        with self._db() as db:
            if db.execute("SELECT 1 FROM answers WHERE id = ?", (answer_id,)).fetchone() is None:
                return False
            db.execute(
                "INSERT INTO feedback (answer_id, user, rating, at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (answer_id, user) DO UPDATE SET rating = excluded.rating, at = excluded.at",
                (answer_id, user, rating, time.time()),
            )
        return True

    def list(self, rating: str | None = None) -> list[FeedbackRecord]:
        query = (
            "SELECT f.id, f.answer_id, f.rating, f.user, f.at, a.question, a.asked, a.answer, a.abstained, "
            "a.citations, a.channel, a.thread_ts FROM feedback f JOIN answers a ON a.id = f.answer_id"
        )
        params: tuple = ()
        if rating:
            query += " WHERE f.rating = ?"
            params = (rating,)
        with self._db() as db:
            rows = db.execute(query + " ORDER BY f.at, f.id", params).fetchall()
        return [
            FeedbackRecord(
                id=r["id"],
                answer_id=r["answer_id"],
                rating=r["rating"],
                user=r["user"],
                time=datetime.fromtimestamp(r["at"], UTC),
                question=r["question"],
                asked=r["asked"],
                answer=r["answer"],
                abstained=bool(r["abstained"]),
                citations=json.loads(r["citations"]),
                channel=r["channel"],
                thread_ts=r["thread_ts"],
            )
            for r in rows
        ]

    def gold_cases(self) -> list[dict]:
        """👍-rated answers as eval gold lines (facts left for a person to fill in)."""
        cases: dict[str, dict] = {}
        for r in self.list(rating="up"):
            cases.setdefault(
                r.answer_id,
                {
                    "id": f"slack-{r.answer_id}",
                    "question": r.question,
                    "facts": [],
                    "sources": sorted({c.doc_id for c in r.citations}),
                    "answerable": not r.abstained,
                    "conflict": False,
                    "answer": r.answer,
                },
            )
        return list(cases.values())

    def export_gold(self, path: Path) -> int:
        """Writes `gold_cases()` as JSONL to `path`; returns how many."""
        cases = self.gold_cases()
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as f:
            for case in cases:
                f.write(json.dumps(case, ensure_ascii=False) + "\n")
        return len(cases)
