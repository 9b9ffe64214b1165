"""Reading articles from files: .txt, .md, .html, .json and .jsonl.

A bad file (binary, empty, undecodable, malformed) raises `UnreadableFile` with
the reason; callers report it and go on with the other files. In a file of several
records, a bad record is reported on its own and the others load.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from rag.errors import UnreadableFile
from rag.ingest.clean import clean_article
from rag.schema import Article

SUPPORTED = {".txt", ".md", ".markdown", ".html", ".htm", ".json", ".jsonl"}
log = logging.getLogger(__name__)

MAX_FILE_BYTES = 20 * 1024 * 1024
_DOC_ID = re.compile(r"[^A-Za-z0-9_.-]+")


def make_doc_id(name: str) -> str:
    """Stable id from a file stem or title: letters, digits, `_.-` only."""
    doc_id = _DOC_ID.sub("-", name.strip()).strip("-.")[:128]
    if not doc_id:
        raise UnreadableFile(f"Cannot make a document id from {name!r}: give the article an 'id' or a file name.")
    return doc_id


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def build_article(
    doc_id: str,
    text: str,
    *,
    title: str | None = None,
    url: str | None = None,
    published_at: datetime | str | None = None,
    source: str | None = None,
) -> Article:
    """Clean raw text into an `Article`; refuses text with nothing left to index."""
    if not isinstance(text, str) or not text.strip():
        raise UnreadableFile(f"{source or doc_id}: the article text is empty; nothing to index.")
    title, cleaned = clean_article(text, title or None)
    if len(cleaned) < 20:
        raise UnreadableFile(f"{source or doc_id}: under 20 characters of text after cleaning; nothing to index.")
    try:
        return Article(
            doc_id=make_doc_id(doc_id),
            title=title,
            text=cleaned,
            url=url or None,
            published_at=published_at or None,
            source=source,
            content_hash=content_hash(title + "\n" + cleaned + f"\n{url}\n{published_at}"),
        )
    except ValidationError as e:
        first = e.errors()[0]
        raise UnreadableFile(f"{source or doc_id}: field '{first['loc'][0]}' {first['msg']}.") from None


def iter_files(paths: list[Path]) -> Iterator[Path]:
    """The files named, and the supported files under each folder named (sorted)."""
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUPPORTED)
        else:
            yield path


def read_text(path: Path) -> str:
    if not path.exists():
        raise UnreadableFile(f"{path}: no such file.")
    if path.suffix.lower() not in SUPPORTED:
        raise UnreadableFile(f"{path}: unsupported type '{path.suffix}'; use one of {', '.join(sorted(SUPPORTED))}.")
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise UnreadableFile(f"{path}: larger than {MAX_FILE_BYTES // 2**20} MB; split it into articles.")
        data = path.read_bytes()
    except OSError as e:
        raise UnreadableFile(f"{path}: cannot be read ({e.strerror or e}); check that it is a readable file.") from None
    if b"\x00" in data[:8192]:
        raise UnreadableFile(f"{path}: looks binary (NUL bytes); save it as UTF-8 text.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise UnreadableFile(f"{path}: not valid UTF-8 (byte {e.start}); re-save it as UTF-8.") from None


def load_file(path: Path, skipped: dict[str, str] | None = None) -> list[Article]:
    """All articles in one file (a .jsonl or a .json list holds several).

    A bad record among good ones goes into `skipped` (by `path:line` or `path#record`) when it is
    given, and the others load; without it, or when no record is good, `UnreadableFile` is raised.
    """
    text = read_text(path)
    suffix = path.suffix.lower()
    if suffix in (".json", ".jsonl"):
        return _load_json(path, text, skipped)
    if suffix in (".html", ".htm"):
        title, body = html_to_text(text)
        return [build_article(path.stem, body, title=title, source=str(path))]
    return [build_article(path.stem, text, source=str(path))]


def _load_json(path: Path, text: str, skipped: dict[str, str] | None) -> list[Article]:
    jsonl = path.suffix.lower() == ".jsonl"
    if jsonl:  # one record a line, each parsed on its own
        items = [(f"{path}:{n}", f"line {n}", line) for n, line in enumerate(text.split("\n"), 1) if line.strip()]
    else:
        try:
            loaded = _parse_json(text)
        except UnreadableFile as e:
            raise UnreadableFile(f"{path}: {e.message}; fix it and ingest again.") from None
        records = loaded if isinstance(loaded, list) else [loaded]
        items = [(f"{path}#{n}", f"record {n}", record) for n, record in enumerate(records, 1)]
    if not items:
        raise UnreadableFile(f"{path}: no records.")
    articles: list[Article] = []
    failed: dict[str, str] = {}  # report key -> "line 3: why"
    for n, (key, where, item) in enumerate(items, 1):
        source = f"{path}#{n}"
        try:
            record = _parse_json(item) if jsonl else item
            articles.append(article_from_record(record, path.stem if len(items) == 1 else f"{path.stem}-{n}", source))
        except UnreadableFile as e:
            failed[key] = f"{where}: {e.message.removeprefix(f'{source}: ').rstrip('.')}"
    if failed and (skipped is None or not articles):
        first = next(iter(failed.values()))
        none_read = f"none of its {len(items)} records could be read; " if len(items) > 1 and not articles else ""
        raise UnreadableFile(f"{path}: {none_read}{first}; fix it and ingest again.")
    for key, reason in failed.items():
        skipped[key] = f"{path}: {reason}; fix it and ingest again (the other records were read)."
        log.warning("skipped %s", skipped[key])
    return articles


def _parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        where = f"column {e.colno}" if e.lineno == 1 else f"line {e.lineno}, column {e.colno}"
        raise UnreadableFile(f"invalid JSON ({e.msg} at {where})") from None
    except RecursionError:
        raise UnreadableFile("invalid JSON (nested too deeply; give each article as a flat record)") from None


# What a JSON record's fields may hold, and how to say so.
RECORD_FIELDS = {
    "title": ((str,), "a string"),
    "url": ((str,), "a string"),
    "published_at": ((str, int, float, datetime), 'a date string such as "2025-05-18"'),
    "id": ((str, int), "a string"),
    "doc_id": ((str, int), "a string"),
}


def article_from_record(record: dict[str, Any], default_id: str, source: str) -> Article:
    if not isinstance(record, dict) or not isinstance(record.get("text"), str):
        raise UnreadableFile(f"{source}: needs a string 'text' field (and optionally title, url, published_at, id).")
    for field, (types, what) in RECORD_FIELDS.items():
        value = record.get(field)
        if value is not None and (isinstance(value, bool) or not isinstance(value, types)):
            raise UnreadableFile(f"{source}: '{field}' must be {what}, not {json.dumps(value, default=str)[:40]}.")
    doc_id = str(record.get("id") or record.get("doc_id") or default_id)
    return build_article(
        doc_id,
        record["text"],
        title=record.get("title"),
        url=record.get("url"),
        published_at=record.get("published_at"),
        source=source,
    )


# Inline styles that hide an element from readers.
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)


class _HTMLText(HTMLParser):
    """The text a reader sees, and the headline candidates (first h1, og:title, <title> of the head).

    Page furniture (nav, form, header, footer, ...) is dropped when its end tag closes it; left
    open, it is kept rather than hiding the rest of the page. Scripts, styles, templates and
    elements hidden by the `hidden` attribute or display:none are always dropped.
    """

    FURNITURE = {"nav", "footer", "header", "aside", "form", "noscript", "svg"}
    UNSEEN = {"script", "style", "template", "title"}  # title: a headline candidate, not body text
    BLOCK = {"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "section", "article", "blockquote"}
    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: str | None = None
        self.og_title: str | None = None
        self.h1: str | None = None
        self._open: list[tuple[str, int, bool]] = []  # (tag, where its text starts in parts, hidden)
        self._tags: Counter[str] = Counter()  # open elements by tag
        self._h1_at = 0  # where the h1's text starts in parts

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        attrs = dict(attrs)
        if tag == "meta" and attrs.get("property") == "og:title" and self.og_title is None:
            self.og_title = attrs.get("content")
        if tag in self.BLOCK:
            self.parts.append("\n")
        if tag in self.VOID:
            return
        hidden = tag in self.UNSEEN or "hidden" in attrs or bool(_HIDDEN_STYLE.search(attrs.get("style") or ""))
        self._open.append((tag, len(self.parts), hidden))
        self._tags[tag] += 1

    def handle_endtag(self, tag: str) -> None:
        if not self._tags[tag]:
            return  # nothing open to close
        while self._open[-1][0] != tag:
            self._close(explicit=False)  # an element left open ends with its parent
        self._close(explicit=True)

    def handle_data(self, data: str) -> None:
        self.parts.append(data)

    def close(self) -> None:
        super().close()
        while self._open:
            self._close(explicit=False)

    def _close(self, explicit: bool) -> None:
        tag, start, hidden = self._open.pop()
        self._tags[tag] -= 1
        if tag == "title" and self.title is None and not (self._tags["body"] or self._tags["svg"]):
            self.title = "".join(self.parts[start:])
        elif tag == "h1" and self.h1 is None and not hidden:
            self.h1, self._h1_at = "".join(self.parts[start:]), start
        if hidden or (explicit and tag in self.FURNITURE):
            del self.parts[start:]
            if self.h1 is not None and self._h1_at >= start:
                self.h1 = None  # it was part of what is dropped
        if tag in self.BLOCK:
            self.parts.append("\n")


def html_to_text(html: str) -> tuple[str | None, str]:
    parser = _HTMLText()
    parser.feed(html)
    parser.close()
    title = next((t.strip() for t in (parser.h1, parser.og_title, parser.title) if t and t.strip()), None)
    return title, "".join(parser.parts)
