"""Admission to the LLM: `concurrency` questions run at once, `queue_size` more wait,
the rest get 429 with a Retry-After estimated from recent answer times."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from rag.errors import Busy
from service.metrics import Gauges
from service.settings import ServiceSettings


class QueueFull(Busy):
    def __init__(self, waiting: int, queue_size: int, retry_after: int) -> None:
        super().__init__(
            f"The model is busy: {waiting} question(s) already wait (queue size {queue_size}). "
            f"Retry in about {retry_after} s; search and documents stay available."
        )
        self.retry_after = retry_after


class Ticket:
    """A place in the line; released once (by the route, or by the stream when it ends)."""

    def __init__(self, gate: LLMGate) -> None:
        self._gate = gate
        self._released = False

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._gate.admitted -= 1

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Wait for a free slot of the model, hold it for the block."""
        gate = self._gate
        gate.waiting += 1
        try:
            await gate.semaphore.acquire()
        finally:
            gate.waiting -= 1
        gate.running += 1
        started = time.perf_counter()
        try:
            yield
        finally:
            gate.running -= 1
            gate.semaphore.release()
            gate.observe(time.perf_counter() - started)


class LLMGate:
    def __init__(self, concurrency: int, queue_size: int) -> None:
        self.concurrency = max(1, concurrency)
        self.queue_size = queue_size
        self.semaphore = asyncio.Semaphore(self.concurrency)
        self.admitted = 0  # running + waiting + admitted but not yet started
        self.waiting = 0
        self.running = 0
        self.rejected = 0
        self._avg_s = 10.0

    @classmethod
    def for_model(cls, model_concurrency: int, service: ServiceSettings) -> LLMGate:
        """The one gate of a process, sized by the settings: RAG_LLM_CONCURRENCY questions at
        once (default: what the backend serves at once) and RAG_QUEUE_SIZE more waiting. Every
        caller of the model (HTTP, the OpenAI endpoint, chat, Slack in either mode) queues here."""
        return cls(service.llm_concurrency or model_concurrency, service.queue_size)

    def admit(self) -> Ticket:
        """Call on the event loop before any await, so admission is atomic."""
        if self.admitted >= self.concurrency + self.queue_size:
            self.rejected += 1
            queued = self.admitted - self.concurrency + 1
            retry_after = max(1, math.ceil(self._avg_s * queued / self.concurrency))
            raise QueueFull(self.admitted - self.concurrency, self.queue_size, retry_after)
        self.admitted += 1
        return Ticket(self)

    def observe(self, seconds: float) -> None:
        self._avg_s = 0.8 * self._avg_s + 0.2 * seconds

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Admission and a turn in one block, for answers that are not streamed."""
        ticket = self.admit()
        try:
            async with ticket.turn():
                yield
        finally:
            ticket.release()


def llm_gauges(gate: LLMGate | None, queue_size: int, local_llm: Any = None) -> Gauges:
    """The model's line and the local model's restarts as /metrics shows them (zeros and not
    ready before the model is loaded): the same series whether the gate is the service's or a
    Socket Mode bot's, so one dashboard reads both."""
    return {
        "rag_llm_queue_waiting": ("Questions waiting for the model.", gate.waiting if gate else 0),
        "rag_llm_running": ("Questions the model is answering now.", gate.running if gate else 0),
        "rag_llm_queue_capacity": ("Questions that may wait before 429.", queue_size),
        "rag_llm_rejected_total": ("Questions refused with 429 (queue full).", gate.rejected if gate else 0),
        "rag_llm_ready": ("1 once the model is loaded.", 1 if gate else 0),
        "rag_llm_restarts_total": ("Times the local model process was restarted after it failed.",
                                   local_llm.restarts if local_llm else 0),
    }  # fmt: skip
