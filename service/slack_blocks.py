"""An `Answer` as Slack Block Kit: the answer with its markers, conflict notes, the
sources with their quoted passages, and 👍 / 👎 buttons. Within Slack's limits
(section text ≤ 3000 characters, ≤ 50 blocks); article text is mrkdwn-escaped, and
every mrkdwn object is `verbatim`, so a written "@channel" in an article notifies no one."""

from __future__ import annotations

from urllib.parse import urlsplit

from rag.schema import EvidenceSentence, Answer, Citation

SECTION_CHARS = 3000
MAX_BLOCKS = 50
MAX_ANSWER_SECTIONS = 12
MAX_CONFLICTS = 3  # conflict notes shown; the others are named in one line
QUOTE_CHARS = 700
FALLBACK_CHARS = 3000

WORKING = "Looking through the articles…"
APOLOGY = "Sorry, I couldn't answer that."
NOT_IN_ARTICLES = "The articles don't say."
FEEDBACK_UP = "feedback_up"
FEEDBACK_DOWN = "feedback_down"
BREAKS = (("\n\n",), ("\n",), (". ", "? ", "! "), (" ",))  # paragraph, line, sentence, word ends: best first


def escape(text: str) -> str:
    """Slack's three control characters in mrkdwn (https://api.slack.com/reference/surfaces/formatting#escaping)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:  # never cut an escape like &amp; in half
        cut = cut[:amp]
    return cut.rstrip() + "…"


def _break(window: str) -> int:
    """Just after the last paragraph end in the window's second half, else the last line end,
    sentence end or word end there; 0 when there is none."""
    for ends in BREAKS:
        at = max(window.rfind(end) for end in ends)
        if at >= len(window) // 2:
            return at + 1
    return 0


def split_text(text: str, limit: int = SECTION_CHARS) -> list[str]:
    """Pieces of at most `limit` characters, cut at a paragraph, line, sentence or word end when possible."""
    pieces: list[str] = []
    text = text.strip()
    while len(text) > limit:
        window = text[:limit]
        cut = _break(window)
        if not cut:
            cut = limit
            amp = window.rfind("&")
            if amp != -1 and ";" not in window[amp:]:
                cut = amp or limit
        pieces.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text:
        pieces.append(text)
    return pieces


def _mrkdwn(text: str) -> dict:
    # verbatim: Slack turns no bare URL, #channel or @mention in the text into a link or a notification.
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def _section(mrkdwn: str) -> dict:
    return {"type": "section", "text": _mrkdwn(mrkdwn)}


def _context(mrkdwn: str) -> dict:
    return {"type": "context", "elements": [_mrkdwn(_cut(mrkdwn, SECTION_CHARS))]}


def web_url(url: str | None) -> str | None:
    """The url if it is an http(s) link, else None: an article's url is whatever its uploader wrote,
    and other schemes (javascript:, data:, file:) must not become clickable."""
    if not url:
        return None
    parts = urlsplit(url.strip())
    return url.strip() if parts.scheme.lower() in ("http", "https") and parts.netloc else None


def _link(url: str, label: str) -> str:
    return f"<{escape(url).replace('|', '%7C')}|{label}>"


def source_block(c: Citation) -> dict:
    title = escape(" ".join(c.title.split()) or c.doc_id)
    url = web_url(c.url)
    head = f"*[{c.marker}]* " + (_link(url, title) if url else f"*{title}*") + byline(c)
    return _section(_cut(f"{head}\n>{_highlighted(c)}", SECTION_CHARS))


def byline(c: Citation) -> str:
    """" · 2017-03-14 · bbc.co.uk · by Jane Doe": the article's date, publication and author, as known."""
    parts = [f"{c.published_at:%Y-%m-%d}" if c.published_at else "", c.source or "", f"by {c.author}" if c.author else ""]
    return "".join(f" · {escape(p)}" for p in parts if p)


def _highlighted(c: Citation) -> str:
    """The passage, with the sentences that back the answer in bold (Slack mrkdwn)."""
    parts, at = [], 0
    for s in sorted(c.sentences, key=lambda s: s.start):
        start, end = s.start - c.start, s.end - c.start
        if start < at or end > len(c.text):
            continue
        parts += [escape(c.text[at:start]), f"*{escape(' '.join(s.text.split()))}*"]
        at = end
    parts.append(escape(c.text[at:]))
    return _cut(" ".join("".join(parts).split()), QUOTE_CHARS)


def feedback_block(answer_id: str) -> dict:
    def button(emoji: str, label: str, action_id: str) -> dict:
        text = {"type": "plain_text", "text": f"{emoji} {label}", "emoji": True}
        return {"type": "button", "text": text, "action_id": action_id, "value": answer_id}

    return {
        "type": "actions",
        "block_id": "feedback",
        "elements": [button("👍", "Helpful", FEEDBACK_UP), button("👎", "Not helpful", FEEDBACK_DOWN)],
    }


def answer_blocks(answer: Answer, answer_id: str | None = None) -> list[dict]:
    head: list[dict] = []
    if answer.abstained:
        head.append(_section(f":grey_question: *{NOT_IN_ARTICLES}*"))
        if answer.answer.strip() and answer.answer.strip() != NOT_IN_ARTICLES:
            head += [_section(piece) for piece in split_text(escape(answer.answer))[:MAX_ANSWER_SECTIONS]]
        if answer.abstain_reason:
            head.append(_context(escape(answer.abstain_reason)))
    else:
        head += [_section(piece) for piece in split_text(escape(answer.answer))[:MAX_ANSWER_SECTIONS]]

    for conflict in answer.conflicts[:MAX_CONFLICTS]:
        lines = [f":warning: *The articles disagree* about {escape(conflict.about)}:"]
        lines += [f"• [{claim.marker}] “{escape(_cut(claim.quote, 400))}”" for claim in conflict.claims]
        head.append(_section(_cut("\n".join(lines), SECTION_CHARS)))
    if len(answer.conflicts) > MAX_CONFLICTS:
        rest = [escape(c.about) for c in answer.conflicts[MAX_CONFLICTS:]]
        head.append(_context(f"…and {len(rest)} more points they disagree about: " + "; ".join(rest)))

    tail: list[dict] = []
    if answer_id:
        tail.append(feedback_block(answer_id))

    sources: list[dict] = []
    if answer.citations:
        sources = [{"type": "divider"}, _section("*Sources*")]
        room = MAX_BLOCKS - len(head) - len(tail) - len(sources) - 1  # one spare for "n more"
        shown = answer.citations[: max(room, 0)]
        sources += [source_block(c) for c in shown]
        if len(shown) < len(answer.citations):
            rest = answer.citations[len(shown) :]
            sources.append(_context("…and " + ", ".join(f"[{c.marker}] {escape(c.title)}" for c in rest)))

    return (head + sources)[: MAX_BLOCKS - len(tail)] + tail


def fallback_text(answer: Answer) -> str:
    """The message's plain `text`: notifications, and the turn read back as chat history."""
    text = answer.answer.strip() or NOT_IN_ARTICLES
    return _cut(escape(text), FALLBACK_CHARS)


def evidence_text(evidence: list[EvidenceSentence], limit: int = 2) -> str:
    """The placeholder while the model writes: the best evidence sentences and their articles."""
    best = sorted(evidence, key=lambda e: -e.score)[:limit]
    lines = [f"> {escape(_cut(e.text, 300))} _({escape(_cut(e.title, 80))})_" for e in best]
    return "\n".join([WORKING + " Best evidence so far:", *lines]) if lines else WORKING


def apology_blocks(message: str) -> list[dict]:
    return [_section(_cut(f":warning: {escape(apology_text(message))}", SECTION_CHARS))]


def apology_text(message: str) -> str:
    return f"{APOLOGY} {message}"
