"""Replayed model replies, for tuning what runs after the model.

`rag eval --replay DIR` keeps every reply of the model in DIR, keyed by a hash of the exact
request (messages, token limit, reply schema). A later run that sends the same request gets
the kept reply without asking the model, so a change to the checks, the conflict finder or the
metrics is scored on the full gold sets in a minute instead of an hour. A change to the prompt
or to the evidence shown changes the request, and that question is asked afresh (and kept).
The model is started only on the first request that is not kept.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from rag.llm.client import ChatLLM, Completion, Message
from rag.schema import Usage


class ReplayLLM:
    """A `ChatLLM` look-alike that answers from DIR when it can and asks the real model
    (built by `real` on first need) when it cannot."""

    def __init__(self, real: Callable[[], ChatLLM], directory: Path, model: str, concurrency: int) -> None:
        self._real_factory = real
        self._real: ChatLLM | None = None
        self._lock = threading.Lock()
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.model = model
        self.concurrency = concurrency
        self.hits = 0
        self.misses = 0

    @property
    def real(self) -> ChatLLM:
        with self._lock:
            if self._real is None:
                self._real = self._real_factory()
            return self._real

    @property
    def base_url(self) -> str:
        return self.real.base_url

    @property
    def max_tokens(self) -> int:
        return self.real.max_tokens

    def _path(self, messages: list[Message], max_tokens: int | None, response_format: dict | None) -> Path:
        request = json.dumps([messages, max_tokens, response_format], sort_keys=True, ensure_ascii=False)
        return self.directory / f"{hashlib.sha256(request.encode()).hexdigest()[:32]}.json"

    def _kept(self, path: Path) -> Completion | None:
        if not path.is_file():
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        self.hits += 1
        return Completion(text=data["text"], usage=Usage(**data["usage"]))

    def _keep(self, path: Path, completion: Completion) -> None:
        self.misses += 1
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"text": completion.text, "usage": completion.usage.model_dump()}), encoding="utf-8")
        tmp.replace(path)

    def complete(self, messages: list[Message], max_tokens: int | None = None, response_format: dict | None = None) -> Completion:
        path = self._path(messages, max_tokens, response_format)
        kept = self._kept(path)
        if kept is None:
            kept = self.real.complete(messages, max_tokens, response_format)
            self._keep(path, kept)
        return kept

    def stream(self, messages: list[Message], completion: Completion, max_tokens: int | None = None,
               response_format: dict | None = None) -> Iterator[str]:  # fmt: skip
        path = self._path(messages, max_tokens, response_format)
        kept = self._kept(path)
        if kept is not None:
            completion.text, completion.usage = kept.text, kept.usage
            yield kept.text
            return
        yield from self.real.stream(messages, completion, max_tokens, response_format)
        self._keep(path, completion)
