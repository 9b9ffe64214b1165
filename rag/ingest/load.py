"""Reading articles from files: .txt, .md, .html, .json and .jsonl.

A bad file (binary, empty, undecodable, malformed) raises `UnreadableFile` with
the reason; callers report it and go on with the other files.
"""

from __future__ import annotations

import hashlib
import json
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
    if path.stat().st_size > MAX_FILE_BYTES:
        raise UnreadableFile(f"{path}: larger than {MAX_FILE_BYTES // 2**20} MB; split it into articles.")
    data = path.read_bytes()
    if b"\x00" in data[:8192]:
        raise UnreadableFile(f"{path}: looks binary (NUL bytes); save it as UTF-8 text.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise UnreadableFile(f"{path}: not valid UTF-8 (byte {e.start}); re-save it as UTF-8.") from None


def load_file(path: Path) -> list[Article]:
    """All articles in one file (a .jsonl or a .json list holds several)."""
    text = read_text(path)
    suffix = path.suffix.lower()
    if suffix in (".json", ".jsonl"):
        return _load_json(path, text)
    if suffix in (".html", ".htm"):
        title, body = html_to_text(text)
        return [build_article(path.stem, body, title=title, source=str(path))]
    return [build_article(path.stem, text, source=str(path))]


def _load_json(path: Path, text: str) -> list[Article]:
    try:
        if path.suffix.lower() == ".jsonl":
            records = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            loaded = json.loads(text)
            records = loaded if isinstance(loaded, list) else [loaded]
    except json.JSONDecodeError as e:
        raise UnreadableFile(f"{path}: invalid JSON at line {e.lineno}: {e.msg}.") from None
    if not records:
        raise UnreadableFile(f"{path}: no records.")
    articles = []
    for n, record in enumerate(records, 1):
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            raise UnreadableFile(f"{path}: record {n} needs a string 'text' field (and optionally title, url, published_at, id).")
        default_id = path.stem if len(records) == 1 else f"{path.stem}-{n}"
        articles.append(article_from_record(record, default_id, source=f"{path}#{n}"))
    return articles


def article_from_record(record: dict[str, Any], default_id: str, source: str) -> Article:
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
