"""`rag eval --replay`: kept model replies are reused for the same request, and only for it."""

from __future__ import annotations

from pathlib import Path

from eval.replay import ReplayLLM
from rag.llm.client import ChatLLM, Completion
from tests.fixtures.fake_llm import FakeLLMServer

PROMPT = "Evidence:\n[1] The council approved a budget of 40 million euros for new trams.\n\nQuestion: How much was the tram budget?"


def _replay(fake_llm: FakeLLMServer, directory: Path, started: list[int]) -> ReplayLLM:
    def start() -> ChatLLM:
        started.append(1)
        return ChatLLM(fake_llm.base_url, "unused", "fake", timeout_s=10, max_tokens=64, concurrency=1)

    return ReplayLLM(start, directory, model="fake", concurrency=1)


def test_a_kept_reply_is_replayed_without_asking_the_model(fake_llm: FakeLLMServer, tmp_path: Path) -> None:
    started: list[int] = []
    messages = [{"role": "user", "content": PROMPT}]
    first = _replay(fake_llm, tmp_path, started).complete(messages)
    asked = len(fake_llm.requests)
    assert "40 million" in first.text and started == [1]

    again = _replay(fake_llm, tmp_path, started)  # a later run, a new process in real use
    second = again.complete(messages)
    streamed = Completion()
    chunks = list(again.stream(messages, streamed))
    assert second.text == first.text == streamed.text == "".join(chunks)
    assert second.usage == first.usage
    assert len(fake_llm.requests) == asked and started == [1]  # the model was neither started nor asked
    assert (again.hits, again.misses) == (2, 0)


def test_another_request_is_asked_and_kept(fake_llm: FakeLLMServer, tmp_path: Path) -> None:
    started: list[int] = []
    replay = _replay(fake_llm, tmp_path, started)
    replay.complete([{"role": "user", "content": PROMPT}])
    other = PROMPT.replace("40 million", "55 million")  # other evidence: another request
    streamed = Completion()
    text = "".join(replay.stream([{"role": "user", "content": other}], streamed))
    assert "55 million" in text and replay.misses == 2
    assert "55 million" in _replay(fake_llm, tmp_path, started).complete([{"role": "user", "content": other}]).text
    assert len(list(tmp_path.glob("*.json"))) == 2
