"""Prompt and structured reply: the model writes answer sentences, each with the ids of
the evidence sentences it rests on, as JSON constrained by a schema (the server's
grammar), so the reply always parses and can cite only evidence it was shown."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from rag.answer import prompts
from rag.llm.client import ChatLLM, Completion, Message
from rag.schema import EvidenceSentence

MAX_SENTENCES = 3


@dataclass
class Draft:
    """One sentence the model wrote, with the evidence ids it gave."""

    text: str
    evidence: list[int] = field(default_factory=list)


def quote(text: str) -> str:
    """Evidence as the model sees it: one line, no bracketed numbers it could take for ids."""
    return re.sub(r"\s+", " ", text.replace("[", "(").replace("]", ")")).strip()


def messages(question: str, evidence: list[EvidenceSentence]) -> list[Message]:
    """The instructions first and the same for every question (the server's prompt cache
    keeps them), then the evidence and the question."""
    lines = "\n".join(f"[{e.id}] {quote(e.text)}" for e in evidence)
    return [
        {"role": "system", "content": prompts.load("answer_system")},
        {"role": "user", "content": prompts.load("answer_user").format(evidence=lines, question=question.strip())},
    ]


def schema(evidence: list[EvidenceSentence]) -> dict:
    """The reply's JSON schema; evidence ids are limited to those shown."""
    ids = [e.id for e in evidence] or [1]
    return {
        "type": "object",
        "properties": {
            "sentences": {
                "type": "array",
                "maxItems": MAX_SENTENCES,
                "items": {
                    "type": "object",
                    "properties": {  # the sentence first: a small model writes better than it plans
                        "text": {"type": "string", "minLength": 1, "maxLength": 300},
                        "evidence": {"type": "array", "items": {"type": "integer", "enum": ids}, "minItems": 1, "maxItems": 3},
                    },
                    "required": ["text", "evidence"],
                },
            }
        },
        "required": ["sentences"],
    }


def parse_reply(text: str) -> list[Draft] | None:
    """The drafts of a reply; None when it is not the JSON asked for (a server without
    grammar support may answer in prose: then its sentences and "[n]" markers are read)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return _prose(text)
    items = data.get("sentences") if isinstance(data, dict) else None
    if not isinstance(items, list):
        return _prose(text)
    drafts = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            continue
        ids = [int(i) for i in item.get("evidence") or [] if isinstance(i, int) or (isinstance(i, str) and i.isdigit())]
        drafts.append(Draft(item["text"].strip(), list(dict.fromkeys(ids))))
    return drafts


def _prose(text: str) -> list[Draft] | None:
    text = text.strip()
    if not text:
        return None
    drafts = []
    for piece in re.split(r"(?<=[.!?])\s+(?=[A-Z\"“])", text):
        ids = [int(n) for n in re.findall(r"\[(\d+)\]", piece)]
        drafts.append(Draft(re.sub(r"\s*\[\d+\]", "", piece).strip(), ids))
    return drafts


_TEXT_VALUE = re.compile(r'"text"\s*:\s*"((?:[^"\\]|\\.)*)("?)')


class TextStream:
    """Reads the answer's text out of a JSON reply as it streams: feed deltas, get the new
    characters of the sentences' "text" values (sentences joined by a space)."""

    def __init__(self) -> None:
        self.raw = ""
        self.shown = ""

    def feed(self, delta: str) -> str:
        self.raw += delta
        parts = []
        for m in _TEXT_VALUE.finditer(self.raw):
            body = m.group(1)
            if not m.group(2):  # still being written: leave out a half-written escape
                body = re.sub(r"\\(?:u[0-9a-fA-F]{0,3})?$", "", body)
            try:
                parts.append(json.loads(f'"{body}"'))
            except json.JSONDecodeError:
                parts.append(body)
        text = " ".join(p.strip() for p in parts if p.strip())
        text = re.sub(r"\s*\[\d+\]", "", text)  # a marker the model wrote inside the text is never shown
        if not text.startswith(self.shown):
            return ""
        new, self.shown = text[len(self.shown) :], text
        return new


def generate(llm: ChatLLM, question: str, evidence: list[EvidenceSentence], completion: Completion,
             stream: bool = True) -> Iterator[str]:  # fmt: skip
    """Yields the answer text as it is written; `completion` holds the raw reply at the end."""
    msgs = messages(question, evidence)
    response_format = {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema(evidence), "strict": True}}
    if not stream:
        done = llm.complete(msgs, response_format=response_format)
        completion.text, completion.usage = done.text, done.usage
        return
    reader = TextStream()
    for delta in llm.stream(msgs, completion, response_format=response_format):
        shown = reader.feed(delta)
        if shown:
            yield shown
