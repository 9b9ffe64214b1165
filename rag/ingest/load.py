"""Reading articles from files: .txt, .md, .html, .json and .jsonl.

A bad file (binary, empty, undecodable, malformed) raises `UnreadableFile` with
the reason; callers report it and go on with the other files. In a file of several
records, a bad record is reported on its own and the others load.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import logging
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import charset_normalizer
from pydantic import ValidationError

from rag.errors import UnreadableFile
from rag.ingest.clean import clean_article
from rag.schema import Article

SUPPORTED = {".txt", ".md", ".markdown", ".html", ".htm", ".json", ".jsonl"}
log = logging.getLogger(__name__)

MAX_FILE_BYTES = 20 * 1024 * 1024
_DOC_ID = re.compile(r"[^A-Za-z0-9_.-]+")


MAX_DOC_ID = 128


def make_doc_id(name: str) -> str:
    """Stable id from a file stem, title or URL: letters, digits, `_.-` only, at most 128 characters.

    An id that fits is the name itself, made safe (stores written before keep their ids). A longer
    one keeps its beginning and ends with a short hash of the whole name: names that share their
    first 128 characters (the paragraphs `..._p000`, `..._p001` of one long title, two pages under
    one long URL) stay distinct instead of colliding.
    """
    doc_id = _DOC_ID.sub("-", name.strip()).strip("-.")
    if not doc_id:
        raise UnreadableFile(f"Cannot make a document id from {name!r}: give the article an 'id' or a file name.")
    if len(doc_id) > MAX_DOC_ID:
        digest = hashlib.sha256(name.strip().encode("utf-8", "surrogatepass")).hexdigest()[:12]
        doc_id = doc_id[: MAX_DOC_ID - len(digest) - 1].rstrip("-.") + "-" + digest
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
    publisher: str | None = None,
    author: str | None = None,
) -> Article:
    """Clean raw text into an `Article`; refuses text with nothing left to index. Without a
    publisher, the URL's host stands for it ("www.bbc.co.uk" -> "bbc.co.uk")."""
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
            content_hash=content_hash(title + "\n" + cleaned + f"\n{url}\n{published_at}" + _byline(publisher, author)),
            publisher=_clean_name(publisher) or host_name(url),
            author=_clean_name(author),
        )
    except ValidationError as e:
        first = e.errors()[0]
        raise UnreadableFile(f"{source or doc_id}: field '{first['loc'][0]}' {first['msg']}.") from None


def _byline(publisher: str | None, author: str | None) -> str:
    """Publisher and author count in the content hash only when given, so articles stored before
    these fields existed keep their hash (and are not all re-indexed)."""
    return f"\n{publisher}\n{author}" if publisher or author else ""


def _clean_name(value: object) -> str | None:
    text = " ".join(str(value).split()) if value is not None else ""
    return text[:200] or None


def host_name(url: str | None) -> str | None:
    """The site an article's URL is on, without "www.": what a reader calls its source when the
    page names no publication."""
    if not url:
        return None
    host = (urlsplit(url).hostname or "").lower()
    return host.removeprefix("www.") or None


def with_text(article: Article, text: str) -> Article:
    """The article with another (cleaner) text, and the content hash that goes with it."""
    digest = content_hash(article.title + "\n" + text + f"\n{article.url}\n{article.published_at}"
                          + _byline(article.publisher, article.author))  # fmt: skip
    return article.model_copy(update={"text": text, "content_hash": digest})


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
    return decode_text(data, str(path), html=path.suffix.lower() in (".html", ".htm"))


_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
# The WHATWG encoding standard's default for unlabelled legacy Western text (browsers decode
# "latin-1" and "iso-8859-1" labels as it too): it wins a tie between equally plausible readings.
_WESTERN_DEFAULT = "cp1252"


def decode_text(data: bytes, where: str, declared: str | None = None, html: bool = False) -> str:
    """Bytes as text in whatever encoding they were written: a byte-order mark, the charset the
    sender declared (HTTP header, or an HTML page's <meta charset>), UTF-8, else the encoding
    charset-normalizer finds most plausible. Only bytes that read as text in no encoding are refused.
    """
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return _decode_as(data, codec, where)
    if b"\x00" in data[:8192]:
        raise UnreadableFile(f"{where}: looks binary (NUL bytes); save it as text.")
    if html and not declared and (meta := _META_CHARSET.search(data[:4096])):
        declared = meta.group(1).decode("ascii")
    if declared and _known_codec(declared):
        try:
            return data.decode(_known_codec(declared))
        except UnicodeDecodeError:
            pass  # mislabelled: find out below
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    return _decode_as(data, _guess_encoding(data, where), where)


def _known_codec(label: str) -> str | None:
    """Python's codec for an encoding label; latin-1 labels are read as Windows-1252, as browsers do."""
    try:
        name = codecs.lookup(label.strip()).name
    except LookupError:
        return None
    return _WESTERN_DEFAULT if name in ("latin-1", "iso8859-1", "ascii") else name


def _guess_encoding(data: bytes, where: str) -> str:
    """The most plausible encoding by charset-normalizer (least mess, then most coherent language);
    among readings equally good, Windows-1252 (see `_WESTERN_DEFAULT`)."""
    results = list(charset_normalizer.from_bytes(data))
    if not results:
        raise UnreadableFile(f"{where}: not text in any encoding we recognise; save it as UTF-8 text.")
    best = min((r.chaos, -r.coherence) for r in results)
    tied = [r for r in results if (r.chaos, -r.coherence) == best]
    if any(_WESTERN_DEFAULT in r.could_be_from_charset for r in tied):
        return _WESTERN_DEFAULT
    return tied[0].encoding


def _decode_as(data: bytes, codec: str, where: str) -> str:
    try:
        return data.decode(codec)
    except UnicodeDecodeError as e:
        raise UnreadableFile(f"{where}: not valid {codec} (byte {e.start}); save it as UTF-8 text.") from None


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
        from rag.ingest.html import extract_page  # trafilatura takes a while to import: only when needed

        page = extract_page(text)
        return [build_article(path.stem, page.text, title=page.title, published_at=page.published_at, source=str(path),
                              publisher=page.site, author=page.author)]  # fmt: skip
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
    "source": ((str,), "a string (the publication)"),
    "publisher": ((str,), "a string"),
    "author": ((str,), "a string"),
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
        publisher=record.get("publisher") or record.get("source"),  # a record's "source" is its outlet
        author=record.get("author"),
    )
