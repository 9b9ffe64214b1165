"""The bytes of the event streams clients parse: named events for /v1/ask and /v1/chat,
unnamed `data:` chunks and `data: [DONE]` for OpenAI's SDKs, whatever the text holds."""

from __future__ import annotations

import json

from service.streaming import sse, sse_raw


def test_a_named_event_is_one_event_line_one_data_line_and_a_blank_line() -> None:
    assert sse("evidence", {"evidence": []}) == 'event: evidence\ndata: {"evidence": []}\n\n'
    assert sse("done", {}) == "event: done\ndata: {}\n\n"


def test_openai_chunks_have_no_event_name_and_the_stream_ends_with_done() -> None:
    chunk = {"choices": [{"delta": {"content": "Hi"}}]}
    assert sse(None, chunk) == 'data: {"choices": [{"delta": {"content": "Hi"}}]}\n\n'
    assert sse_raw("[DONE]") == "data: [DONE]\n\n"


def test_text_with_line_breaks_of_any_kind_stays_on_one_data_line() -> None:
    """A news quote with a newline, a CR, and Unicode line/paragraph separators (which JSON
    leaves unescaped but line-based readers split on) still makes one event."""
    text = "Prices rose.\nThey said\r\n so.\u2028Next\u2029para\u0085end — café"
    wire = sse("token", {"text": text})
    lines = wire.split("\n")
    assert lines[0] == "event: token" and lines[1].startswith("data: ") and lines[2:] == ["", ""]
    assert wire.splitlines() == lines[:3]  # str.splitlines (which splits on U+2028/2029/0085 too) agrees
    assert json.loads(lines[1][6:]) == {"text": text}  # nothing lost, accents kept as they are
