"""Liveness, readiness and metrics: always open, never behind the API key."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from service.deps import StateDep
from service.errors import store_problem
from service.metrics import CONTENT_TYPE
from service.models import Health, Readiness

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process answers (the model may still be loading)."""
    return Health(status="ok")


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
async def readyz(state: StateDep):
    """Ready once the articles are indexed and the model is loaded and answering; 503 until then,
    and again while the local model restarts or a remote LLM does not answer."""
    documents, store_error = 0, None
    if state.pipeline is not None:
        try:
            documents = len(await run_in_threadpool(state.pipeline.documents))
        except Exception as e:  # noqa: BLE001 - a Chroma server away: not ready, say why
            store_error = store_problem(e, state.settings)
            if store_error is None:
                raise
    status, error = state.llm_status, state.llm_error
    if status == "ready" and state.pipeline is not None and (problem := await run_in_threadpool(state.llm_problem)):
        status = "restarting" if state.llm_outage() else "failed"
        error = problem
    body = Readiness(ready=status == "ready" and not store_error, llm=status, documents=documents,
                     error="; ".join(e for e in (error, store_error) if e) or None)  # fmt: skip
    return JSONResponse(body.model_dump(), status_code=200 if body.ready else 503)


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(state: StateDep) -> Response:
    """Prometheus text format."""
    return Response(state.metrics.render(), media_type=CONTENT_TYPE)
