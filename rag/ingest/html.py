"""Article text and metadata from an HTML page, by trafilatura.

trafilatura is the field's standard for news pages: it finds the article body among
navigation, ads, share bars, related links and comment sections, and reads the headline,
date and author from the page's metadata (Open Graph, JSON-LD, meta tags, bylines).

One thing it does not do is leave out what a reader never sees: text inside `<template>`,
elements marked `hidden` or styled `display:none` / `visibility:hidden` is extracted like
any other. Such text is a way to slip instructions to a model past a human reader, so it
is removed from the tree before trafilatura reads it.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import lxml.html
import trafilatura
from lxml import etree

log = logging.getLogger(__name__)

# Inline styles that hide an element from readers.
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
# Elements whose content is never shown as text.
_UNSEEN_TAGS = ("script", "style", "template", "noscript")
# Dates as ISO 8601 with the time when the page gives one (htmldate's default keeps only the day).
_DATE_PARAMS = {"extensive_search": False, "original_date": True, "outputformat": "%Y-%m-%dT%H:%M:%S%z"}


@dataclass
class PageText:
    title: str | None
    text: str
    published_at: str | None = None  # ISO 8601, as the page states it
    author: str | None = None
    site: str | None = None  # the publication's name, as the page states it (og:site_name, JSON-LD publisher)


def visible_tree(html: str | bytes) -> etree._Element | None:
    """The page parsed, without the elements a reader does not see (see the module's docstring)."""
    if isinstance(html, str):  # lxml refuses text that still declares its byte encoding
        html = _XML_DECLARATION.sub("", html, count=1)
    try:
        tree = lxml.html.document_fromstring(html)
    except (etree.ParserError, ValueError):
        return None  # empty or not HTML at all
    hidden = [el for el in tree.iter(*_UNSEEN_TAGS)]
    for el in tree.iter():
        if not isinstance(el.tag, str) or el in hidden:
            continue
        if el.get("hidden") is not None or _HIDDEN_STYLE.search(el.get("style") or ""):
            hidden.append(el)
    for el in hidden:
        if el.getparent() is not None:
            el.drop_tree()  # keeps the element's tail (the text after it belongs to the parent)
    return tree


def extract_page(html: str | bytes, url: str | None = None) -> PageText:
    """The article on a page: title, body text (paragraphs on their own lines), date and author.

    `favor_precision` leaves out borderline blocks (link lists, teasers, short nav lines):
    a missing sentence of furniture costs nothing, a menu item read as news costs a wrong
    citation. Comments are never extracted: readers' posts are not the report.
    """
    tree = visible_tree(html)
    if tree is None:
        return PageText(None, "")
    doc = trafilatura.bare_extraction(
        tree,
        url=url,
        with_metadata=True,
        include_comments=False,
        include_tables=True,
        favor_precision=True,
        date_extraction_params=_DATE_PARAMS,
    )
    if doc is None or not (doc.text or "").strip():
        return PageText(_head_title(tree), "")
    return PageText(
        title=(doc.title or "").strip() or _head_title(tree),
        text=doc.text,
        published_at=doc.date or None,
        author=(doc.author or "").strip() or None,
        site=_declared_site(doc.sitename, url),
    )


def _declared_site(name: str | None, url: str | None) -> str | None:
    """The publication's name as the page declares it; trafilatura falls back to the URL's host,
    which is not a name (a feed's title is a better one: see rag.ingest.feeds)."""
    name = (name or "").strip()
    host = urlsplit(url).netloc.lower() if url else ""
    if not name or (host and name.lower() in (host, host.removeprefix("www."), host.split(":")[0])):
        return None
    return name


def _head_title(tree: etree._Element) -> str | None:
    """The document's own <title> (never one inside an inline <svg>)."""
    found = tree.find("head/title")
    return found.text_content().strip() or None if found is not None else None


_BLOCKS = ("p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "section", "article")


def fragment_text(html: str) -> str:
    """The visible text of an HTML fragment (a feed entry's summary or content), a line per block.

    A fragment is too short for article extraction to make sense of: it is all content, so
    its text is taken whole, without the elements a reader does not see.
    """
    if "<" not in html:
        return html
    tree = visible_tree(f"<html><body>{html}</body></html>")
    if tree is None:
        return ""
    for el in tree.iter(*_BLOCKS):
        el.tail = "\n" + (el.tail or "")
    return tree.text_content()
