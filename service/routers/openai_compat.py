"""OpenAI-compatible /v1/chat/completions and /v1/models, so the official SDKs work unchanged.

The message content is the verified answer followed by a numbered "Sources:" list; the
whole answer object rides along in a top-level `rag` field (in the last chunk when streamed).
Streamed content is the verified text: the model's raw tokens are not sent, because
verification may drop sentences and renumber citations.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing

from fastapi import APIRouter, Request

from rag.errors import RagError
from rag.pipeline import clean_question, split_chat
from rag.schema import Answer
from service.deps import GateLaterDep, MetricsDep, PipelineDep, ServiceSettingsDep
from service.models import (
    OAIChatCompletion,
    OAIChatRequest,
    OAIChoice,
    OAIChoiceMessage,
    OAIModel,
    OAIModelList,
    OAIUsage,
    error_responses,
)
from service.streaming import SSEResponse, answer_items, answer_unless_gone, sse, sse_raw

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["openai-compatible"])


def message_content(answer: Answer) -> str:
    """The answer text, then 'Sources:' with [n] title (doc id): "passage"."""
    if not answer.citations:
        return answer.answer
    lines = [answer.answer, "", "Sources:"]
    for c in answer.citations:
        quote = " ".join(c.text.split())
        about = ", ".join(x for x in (c.doc_id, c.published_at and f"{c.published_at:%Y-%m-%d}", c.source) if x)
        lines.append(f'[{c.marker}] {c.title} ({about}): "{quote}"')
    return "\n".join(lines)


def _usage(answer: Answer) -> OAIUsage:
    u = answer.usage
    return OAIUsage(prompt_tokens=u.prompt_tokens, completion_tokens=u.completion_tokens,
                    total_tokens=u.prompt_tokens + u.completion_tokens)  # fmt: skip


@router.get("/models", response_model=OAIModelList)
async def models(service: ServiceSettingsDep) -> OAIModelList:
    return OAIModelList(data=[OAIModel(id=service.model_id)])


@router.post(
    "/chat/completions",
    response_model=OAIChatCompletion,
    responses=error_responses(400, 401, 429),
)
async def chat_completions(
    body: OAIChatRequest, request: Request, pipeline: PipelineDep, ready_gate: GateLaterDep, metrics: MetricsDep
):
    """Any `model` name is accepted; the last user message is answered from the articles."""
    messages = [{"role": m.role, "content": m.text()} for m in body.messages]
    history, question = split_chat(messages)
    question = clean_question(question)
    filters = body.filters(pipeline.settings)  # a bad date is a 400 before a turn of the model is taken
    ticket = ready_gate().admit()
    items = answer_items(pipeline, ticket, metrics, question, body.k, filters, history=history)
    completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
    created = int(time.time())
    if body.stream:
        chunks = _chunks(items, completion_id, created, body.model)
        return SSEResponse(chunks, on_close=ticket.release, on_disconnect=metrics.observe_disconnect)
    answer = await answer_unless_gone(request, items, metrics)
    return OAIChatCompletion(
        id=completion_id, created=created, model=body.model,
        choices=[OAIChoice(message=OAIChoiceMessage(content=message_content(answer)))],
        usage=_usage(answer), rag=answer,
    )  # fmt: skip


async def _chunks(items: AsyncIterator[str | list | Answer], completion_id: str, created: int, model: str) -> AsyncIterator[str]:
    def chunk(delta: dict, finish: str | None = None, **extra) -> str:
        body = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}  # fmt: skip
        return sse(None, body)

    def error(kind: str, message: str) -> str:
        return sse(None, {"error": {"type": kind, "message": message}})

    yield chunk({"role": "assistant", "content": ""})
    try:
        async with aclosing(items):
            answer = None
            async for item in items:
                if isinstance(item, list):  # the evidence, before the model writes: an extra field
                    yield chunk({}, rag_evidence=[e.model_dump(mode="json") for e in item])
                elif isinstance(item, Answer):
                    answer = item
            assert answer is not None, "the pipeline ended without an answer"
    except RagError as e:
        yield error(e.kind, e.message)
        return
    except Exception as e:  # noqa: BLE001 - the stream already started: report, don't drop
        log.exception("stream failed")
        yield error("internal_error", f"Unexpected {type(e).__name__}; try again.")
        return
    content = message_content(answer)
    for start in range(0, len(content), 64):
        yield chunk({"content": content[start : start + 64]})
    yield chunk({}, "stop", usage=_usage(answer).model_dump(), rag=answer.model_dump(mode="json"))
    yield sse_raw("[DONE]")
