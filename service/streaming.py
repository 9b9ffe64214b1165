"""Streaming glue: run the pipeline's blocking generator off the event loop, hold a turn
of the LLM while it runs, and stop it when the client goes away."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

import anyio
from fastapi.sse import EventSourceResponse, format_sse_event
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.types import Message as ASGIMessage
from starlette.types import Receive, Scope, Send

from rag.errors import RagError
from rag.llm.client import Message
from rag.pipeline import Pipeline
from rag.schema import Answer, EvidenceSentence, Filters
from service.errors import store_error
from service.gate import Ticket
from service.metrics import Metrics

T = TypeVar("T")
_DONE = object()
# JSON leaves these unescaped, but line-based SSE readers (httpx's `iter_lines`, str.splitlines) end a line there.
_LINE_BREAKS = str.maketrans({"\u0085": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


class ClientGone(RagError, status=499, kind="client_closed"):
    """The client went away before its answer was ready; nobody reads this reply."""


async def iterate_sync(gen: Iterator[T]) -> AsyncIterator[T]:
    """Each `next()` in a worker thread; closing this closes `gen` (which stops the LLM stream)."""
    try:
        while True:
            item = await run_in_threadpool(next, gen, _DONE)
            if item is _DONE:
                return
            yield item  # type: ignore[misc]
    finally:
        with anyio.CancelScope(shield=True):
            await run_in_threadpool(gen.close)


async def answer_items(
    pipeline: Pipeline,
    ticket: Ticket,
    metrics: Metrics,
    question: str,
    k: int | None = None,
    filters: Filters | None = None,
    history: list[Message] | None = None,
    short: bool = False,
) -> AsyncIterator[str | list[EvidenceSentence] | Answer]:
    """Waits for a turn of the model, condenses a follow-up if there is history, then
    yields the evidence shown to the model (a list), text deltas and the checked `Answer`. Releases the ticket at the end."""
    try:
        async with ticket.turn():
            if history:
                question = await run_in_threadpool(pipeline.condense, history, question)
            async for item in iterate_sync(pipeline.stream(question, k, filters, short=short, evidence=True)):
                if isinstance(item, Answer):
                    metrics.observe_answer(item)
                yield item
    except Exception as e:
        if unavailable := store_error(e, pipeline.settings):  # a stream has started: say what failed
            raise unavailable from e
        raise
    finally:
        ticket.release()


async def final_answer(items: AsyncIterator[str | Answer]) -> Answer:
    answer = None
    async for item in items:
        if isinstance(item, Answer):
            answer = item
    assert answer is not None, "the pipeline ended without an answer"
    return answer


async def answer_unless_gone(request: Request, items: AsyncIterator[str | Answer], metrics: Metrics) -> Answer:
    """`final_answer`, watching for the client leaving: then the generation stops at once
    (freeing its turn of the model, or its place in the queue) and `ClientGone` is raised."""

    async def watch(scope: anyio.CancelScope) -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass
        scope.cancel()

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(watch, tg.cancel_scope)
            answer = await final_answer(items)
            tg.cancel_scope.cancel()
            return answer
    except ExceptionGroup as group:  # the generation's own error, for the error handlers
        raise group.exceptions[0] from None
    metrics.observe_disconnect()
    raise ClientGone("The client went away before the answer was ready; its generation was stopped.")


def sse_json(data: Any) -> str:
    """JSON on one line, whatever line breaks its strings hold."""
    return json.dumps(data, ensure_ascii=False).translate(_LINE_BREAKS)


def sse(event: str | None, data: Any) -> str:
    """One event in the SSE wire format, written by FastAPI's encoder: `event: NAME` (none for
    a plain message, as OpenAI's chunks are), then the data as JSON on one `data:` line."""
    return format_sse_event(event=event, data_str=sse_json(data)).decode()


def sse_raw(data: str) -> str:
    """A message whose data is not JSON (OpenAI's closing `data: [DONE]`)."""
    return format_sse_event(data_str=data).decode()


class SSEResponse(EventSourceResponse):
    """FastAPI's text/event-stream response, which also watches for the client leaving
    (whatever the ASGI version) and then closes the body iterator, so generation stops at once.

    FastAPI streams SSE by itself only from endpoints that are generators; these endpoints
    answer JSON or a stream as the request asks, and refuse (429) before a stream starts,
    so they return this response with events encoded by `sse`."""

    def __init__(
        self,
        content: AsyncIterator[str],
        on_close: Callable[[], None] | None = None,
        on_disconnect: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(content, headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self.on_close = on_close
        self.on_disconnect = on_disconnect

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        disconnected = False
        complete = False  # the last body message went out: a disconnect after it is the normal end

        async def sending(message: ASGIMessage) -> None:
            nonlocal complete
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                complete = True  # set before sending: the server reports the disconnect as soon as it is sent
            await send(message)

        try:
            async with anyio.create_task_group() as tg:

                async def stream() -> None:
                    nonlocal disconnected
                    try:
                        await self.stream_response(sending)
                    except OSError:
                        disconnected = True
                    tg.cancel_scope.cancel()

                async def listen() -> None:
                    nonlocal disconnected
                    await self.listen_for_disconnect(receive)
                    disconnected = True
                    tg.cancel_scope.cancel()

                tg.start_soon(stream)
                tg.start_soon(listen)
        finally:
            with anyio.CancelScope(shield=True):
                await self.body_iterator.aclose()  # type: ignore[attr-defined]
            if self.on_close:
                self.on_close()
            if disconnected and not complete and self.on_disconnect:
                self.on_disconnect()
