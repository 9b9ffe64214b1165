"""Text cleaning: unicode and whitespace normalisation, boilerplate removal."""

from __future__ import annotations

import re
import unicodedata

from rag.nlp.parse import sentences

# Lines that belong to the page, not the report. Matched against whole lines.
BOILERPLATE_LINES = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"^(click|tap) here to .*$",
        r"^(sign up|subscribe) (for|to) (our|the) newsletter.*$",
        r"^advertisement$",
        r"^share (this|on) .*$",
        r"^read more:?.*$",
        r"^related( articles)?:?$",
        r"^copyright ©.*$",
        r"^all rights reserved\.?$",
        r"^(additional )?reporting by [^.]{0,120}$",
        r"^editing by [^.]{0,120}$",
    )
]
# A notice about the page's comment section (see `is_comment_notice`): it names the section...
_COMMENT_SECTION = re.compile(r"\bcomment(s|ing|ers?)?\b", re.IGNORECASE)
# ...and speaks to the reader, points at the page itself, or has the section as its subject.
_ABOUT_THE_PAGE = re.compile(
    r"\b(you|your|yours|please|kindly|refrain)\b"
    r"|\bhere\b|\bbelow\b(?! the)|\bthis (site|website|page|article|story|section)\b"
    r"|^(all |reader |readers' |user )?comments\b",
    re.IGNORECASE,
)
_QUOTE_MARKS = re.compile(r"[\"“”«»]")

# A wire-service credit such as "(Reuters)" closing the article.
TRAILING_CREDIT = re.compile(r"\s*\((?:[A-Z][A-Za-z&.]+(?: [A-Z][A-Za-z&.]+)?)\)\s*$")

_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200b\u202f\u205f\u3000]+")
_CONTROL = re.compile(r"[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\ufeff]")


def normalise(text: str) -> str:
    """Unicode NFC, no control characters, single spaces, at most one blank line in a row."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _CONTROL.sub("", text)
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def is_comment_notice(sentence: str) -> bool:
    """A notice about the page's own comment section: its rules, its disclaimer, how to take part.

    News sites close articles with such notices ("Comments are moderated", "Please keep your
    comments civil", "The comments below are not from the editors"): they are about the page,
    not the story, and would be cited as if the report said them. Recognised in general terms:
    the sentence names the comment section and either speaks to the reader (you, please,
    kindly), points at the page itself (here, below, this site/page/article), or has the
    comments as its subject. Reported speech (in quotation marks) and long sentences are
    the report's own, whatever they mention.
    """
    sentence = sentence.strip()
    return (
        len(sentence) <= 300
        and not _QUOTE_MARKS.search(sentence)
        and bool(_COMMENT_SECTION.search(sentence))
        and bool(_ABOUT_THE_PAGE.search(sentence))
    )


def strip_trailing_notices(text: str) -> str:
    """The text without the comment-section notices at its end (see `is_comment_notice`).

    Only trailing sentences are looked at, one by one from the end: that is where a page's
    comment section sits, and a sentence inside the report stays whatever it says. A line
    break ends a sentence; within a line the parser finds the sentences (`rag.nlp.parse`), so
    "Comments close at 9 a.m. Monday." is one sentence, not a notice and a stray "Monday.".
    Only the end of the article is parsed, never all of it.
    """
    while text:
        head, _, line = text.rpartition("\n")
        kept = _line_without_trailing_notices(line)
        if kept:
            return f"{head}\n{kept}" if head else kept
        text = head.rstrip()
    return text


_TAIL_CHARS = 2000  # notices are short (at most 300 characters): the end of a long line is enough to read


def _line_without_trailing_notices(line: str) -> str:
    """The line without the notices that end it ("" if it is all notices). A line that does not
    name a comment section holds no notice and is not parsed. Only its last _TAIL_CHARS are
    parsed; the first piece found there may be a sentence cut in two, so it is kept, never judged."""
    if not _COMMENT_SECTION.search(line[-_TAIL_CHARS:]):
        return line.rstrip()
    offset = max(0, len(line) - _TAIL_CHARS)
    found = sentences(line[offset:], full=False)[1 if offset else 0 :]
    cut = len(line)
    for sentence in reversed(found):
        if not is_comment_notice(sentence.text):
            return line[: offset + sentence.end]
        cut = offset + sentence.start
    return line[:cut].rstrip()


def remove_boilerplate(text: str, title: str | None = None) -> str:
    """Drop repeated headlines and page furniture; keep the report itself."""
    kept: list[str] = []
    seen_headline = False
    for line in text.split("\n"):
        if any(p.match(line) for p in BOILERPLATE_LINES):
            continue
        if title and line.strip() == title.strip():
            if seen_headline:
                continue  # the headline repeated below itself
            seen_headline = True
        kept.append(line)
    cleaned = strip_trailing_notices("\n".join(kept).rstrip())
    cleaned = TRAILING_CREDIT.sub("", cleaned)
    return re.sub(r"\n{3,}", "\n\n", cleaned).strip()


def looks_like_headline(line: str) -> bool:
    """A short first line without closing punctuation reads as a headline."""
    line = line.strip()
    return 0 < len(line) <= 150 and len(line.split()) <= 20 and not re.search(r"[.!?:;,\"”]$", line)


def split_title(text: str) -> tuple[str | None, str]:
    """(headline, body) when the text opens with a headline line, else (None, text)."""
    first, _, rest = text.partition("\n")
    if rest.strip() and looks_like_headline(first):
        return first.strip(), text
    return None, text


def derive_title(text: str, max_words: int = 12) -> str:
    """A title for an article that has none: its first sentence, shortened.

    The parser is asked only when a sentence could end within the first `max_words` words
    (one of them ends in . ! ? or …); otherwise the first words are the title either way."""
    words = text.split()
    if any(re.search(r"[.!?…][\"”’)\]]*$", w) for w in words[:max_words]):
        snippet = " ".join(words[: max_words * 4])  # the first sentence's end is well inside it
        found = sentences(snippet, full=False)
        words = found[0].text.split() if found else []
    return " ".join(words[:max_words]) + ("…" if len(words) > max_words else "")


def clean_article(raw: str, title: str | None = None) -> tuple[str, str]:
    """Returns (title, cleaned text). The headline, if any, stays once at the top."""
    text = normalise(raw)
    if title is None:
        title, text = split_title(text)
    else:
        title = normalise(title)
    text = remove_boilerplate(text, title)
    if title and text.startswith(title):
        text = text[len(title) :].lstrip()
    return (title or derive_title(text)), text


# Lines at an article's edges that recur across a source's articles are site furniture: see
# `recurring_edge_lines`.
EDGE_DEPTH = 3  # lines looked at from each end
# Furniture is a plug, a note, a byline; a longer line is reporting (a reused background paragraph).
MAX_FURNITURE_CHARS = 120
MIN_FURNITURE_ARTICLES = 3


def edge_lines(text: str, depth: int = EDGE_DEPTH) -> set[str]:
    """The short non-empty lines among the first and last `depth` of an article."""
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    return {line for line in lines[:depth] + lines[-depth:] if len(line) <= MAX_FURNITURE_CHARS}


def recurring_edge_lines(counts: dict[str, int], articles: int) -> set[str]:
    """Site furniture, from how many of a source's `articles` carry each edge line (`counts`).

    A site puts the same lines around every report: a newsletter plug, a "first published on"
    note, a standing byline, a footer that page extraction kept. A line is furniture when it
    sits at the edge of at least three articles of one source and of at least half of them:
    reporting does not repeat itself word for word across most of a site's stories, and lines
    longer than `MAX_FURNITURE_CHARS` (a background paragraph a wire service reuses) are never
    counted. The cost: a short background sentence closing most of one site's stories is taken
    for furniture too (articles stored before it recurred keep it).
    """
    return {line for line, n in counts.items() if n >= MIN_FURNITURE_ARTICLES and n * 2 >= articles}


def strip_edge_lines(text: str, furniture: set[str]) -> str:
    """The text without furniture lines at its beginning or end (a line inside the report stays)."""
    lines = text.split("\n")
    while lines and (not lines[0].strip() or lines[0].strip() in furniture):
        lines.pop(0)
    while lines and (not lines[-1].strip() or lines[-1].strip() in furniture):
        lines.pop()
    return "\n".join(lines)
