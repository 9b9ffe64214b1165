"""Liveness, readiness and metrics: always open, never behind the API key."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.concurrency import run_in_threadpool

from service.deps import StateDep
from service.models import Health, Readiness

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process answers (the model may still be loading)."""
    return Health(status="ok")


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
async def readyz(state: StateDep):
    """Ready once the articles are indexed and the model is loaded; 503 until then."""
    documents = 0
    if state.pipeline is not None:
        documents = len(await run_in_threadpool(state.pipeline.documents))
    status = state.llm_status
    if status == "ready" and state.pipeline is not None and not await run_in_threadpool(state.pipeline.llm_ready):
        status = "failed"
        state_error = "the model server stopped answering"
    else:
        state_error = state.llm_error
    body = Readiness(ready=status == "ready", llm=status, documents=documents, error=state_error)
    return JSONResponse(body.model_dump(), status_code=200 if body.ready else 503)


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(state: StateDep) -> PlainTextResponse:
    """Prometheus text format."""
    gate = state.gate
    gauges = {
        "rag_llm_queue_waiting": ("Questions waiting for the model.", gate.waiting if gate else 0),
        "rag_llm_running": ("Questions the model is answering now.", gate.running if gate else 0),
        "rag_llm_queue_capacity": ("Questions that may wait before 429.", state.service.queue_size),
        "rag_llm_rejected_total": ("Questions refused with 429 (queue full).", gate.rejected if gate else 0),
        "rag_llm_ready": ("1 once the model is loaded.", 1 if gate else 0),
    }
    return PlainTextResponse(state.metrics.render(gauges), media_type="text/plain; version=0.0.4")
