"""Questions: /v1/ask, /v1/search, /v1/chat."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import aclosing

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from rag.errors import RagError
from rag.pipeline import clean_question, split_chat
from rag.schema import Answer, EvidenceSentence
from service.deps import GateLaterDep, MetricsDep, PipelineDep
from service.models import AskRequest, ChatRequest, SearchHit, SearchRequest, SearchResponse, error_responses
from service.streaming import SSEResponse, answer_items, answer_unless_gone, sse

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["questions"])

_ERRORS = error_responses(400, 401, 422, 429, 503, described={
    429: "the model's queue is full; see Retry-After", 503: "the model is loading or unreachable",
})  # fmt: skip
_STREAM_DOC = {
    200: {
        "model": Answer,
        "description": "the answer object; with `stream: true` or `Accept: text/event-stream`, server-sent "
        "events `evidence` ({evidence: [numbered sentences with doc_id, start, end]}, before the model "
        "writes), `token` ({text}), `retract` ({removed, answer}: sentences streamed that the checks removed), "
        "then `citations` (the answer object), then `done` (or `error`)",
        "content": {"text/event-stream": {}},
    }
}


def wants_stream(request: Request, stream: bool) -> bool:
    return stream or "text/event-stream" in request.headers.get("accept", "")


async def answer_events(items: AsyncIterator[str | list[EvidenceSentence] | Answer]) -> AsyncIterator[str]:
    """evidence, token*, retract?, citations, done — or an error event if something fails
    mid-stream. `retract` tells the client which streamed sentences the checks removed (and
    the answer's final text) before `citations` carries the whole answer."""
    streamed = ""
    try:
        async with aclosing(items):
            async for item in items:
                if isinstance(item, list):
                    yield sse("evidence", {"evidence": [e.model_dump(mode="json") for e in item]})
                elif isinstance(item, Answer):
                    removed = [s for s in item.unsupported if s[:40] in streamed]
                    if removed or (streamed and item.quoted) or (streamed and item.abstained):
                        yield sse("retract", {"removed": removed or [streamed.strip()], "answer": item.answer})
                    yield sse("citations", item.model_dump(mode="json"))
                else:
                    streamed += item
                    yield sse("token", {"text": item})
        yield sse("done", {})
    except RagError as e:
        yield sse("error", {"type": e.kind, "message": e.message})
    except Exception as e:  # noqa: BLE001 - the stream already started: report, don't drop
        log.exception("stream failed")
        yield sse("error", {"type": "internal_error", "message": f"Unexpected {type(e).__name__}; try again."})


@router.post("/ask", response_model=Answer, responses={**_ERRORS, **_STREAM_DOC})
async def ask(body: AskRequest, request: Request, pipeline: PipelineDep, ready_gate: GateLaterDep, metrics: MetricsDep):
    """Answer one question from the articles, with verified citations."""
    question = clean_question(body.question)
    filters = body.filters(pipeline.settings)  # a bad date is a 400 before a turn of the model is taken
    ticket = ready_gate().admit()
    items = answer_items(pipeline, ticket, metrics, question, body.k, filters, short=body.short)
    if wants_stream(request, body.stream):
        return SSEResponse(answer_events(items), on_close=ticket.release, on_disconnect=metrics.observe_disconnect)
    return await answer_unless_gone(request, items, metrics)


@router.post("/chat", response_model=Answer, responses={**_ERRORS, **_STREAM_DOC})
async def chat(body: ChatRequest, request: Request, pipeline: PipelineDep, ready_gate: GateLaterDep, metrics: MetricsDep):
    """Multi-turn: the last user message is rewritten into a standalone question (the
    answer's `question` field shows it) and answered with verified citations."""
    history, question = split_chat([m.model_dump() for m in body.messages])
    question = clean_question(question)
    filters = body.filters(pipeline.settings)  # a bad date is a 400 before a turn of the model is taken
    ticket = ready_gate().admit()
    items = answer_items(pipeline, ticket, metrics, question, body.k, filters, history=history)
    if wants_stream(request, body.stream):
        return SSEResponse(answer_events(items), on_close=ticket.release, on_disconnect=metrics.observe_disconnect)
    return await answer_unless_gone(request, items, metrics)


@router.post("/search", response_model=SearchResponse, responses=_ERRORS)
async def search(body: SearchRequest, pipeline: PipelineDep) -> Response:
    """Ranked passages for a question (hybrid dense + keyword retrieval); no LLM involved."""
    started = time.perf_counter()
    filters = body.filters(pipeline.settings)
    passages = pipeline.cached_search(body.question, body.k, filters, body.mode)  # repeats: no thread hop
    if passages is None:
        passages = await run_in_threadpool(pipeline.search, body.question, body.k, filters, body.mode)
    reply = SearchResponse(
        question=clean_question(body.question),
        passages=[SearchHit.from_passage(rank, p) for rank, p in enumerate(passages, 1)],
        retrieve_ms=round((time.perf_counter() - started) * 1000, 1),
    )
    # Built and validated just above: sent as is, without FastAPI validating it a second time.
    return Response(reply.model_dump_json(), media_type="application/json")
