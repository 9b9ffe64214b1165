"""Dependencies, as `Annotated` aliases the routes declare.

They are `async def` on purpose: none blocks, and FastAPI would run each plain `def`
dependency in the thread pool (a thread hop per dependency per request)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from rag.pipeline import Pipeline
from service.gate import LLMGate
from service.metrics import Metrics
from service.settings import ServiceSettings
from service.state import AppState


async def get_state(request: Request) -> AppState:
    return request.app.state.rag


async def get_pipeline(state: Annotated[AppState, Depends(get_state)]) -> Pipeline:
    if state.pipeline is None:
        raise HTTPException(503, "The service is starting; retry in a moment.")
    return state.pipeline


async def get_gate_later(state: Annotated[AppState, Depends(get_state)]) -> Callable[[], LLMGate]:
    """The gate, taken only once the request is known to be valid: a bad request is a 400 that
    says what to fix, also while the model loads or restarts (not a 503 telling to retry it)."""
    return state.ready_gate


async def get_service_settings(state: Annotated[AppState, Depends(get_state)]) -> ServiceSettings:
    return state.service


async def get_metrics(state: Annotated[AppState, Depends(get_state)]) -> Metrics:
    return state.metrics


StateDep = Annotated[AppState, Depends(get_state)]
PipelineDep = Annotated[Pipeline, Depends(get_pipeline)]
GateLaterDep = Annotated[Callable[[], LLMGate], Depends(get_gate_later)]
ServiceSettingsDep = Annotated[ServiceSettings, Depends(get_service_settings)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]

_bearer = HTTPBearer(auto_error=False, description="one of RAG_API_KEYS, when that is set")


async def require_api_key(
    service: ServiceSettingsDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    keys = service.keys()
    if not keys:
        return
    given = credentials.credentials if credentials else ""
    if not any(secrets.compare_digest(given.encode(), key.encode()) for key in keys):
        reason = "is not one of the accepted keys" if given else "is missing"
        raise HTTPException(
            401,
            f"The API key {reason}: send `Authorization: Bearer <key>` with a key from RAG_API_KEYS.",
            headers={"WWW-Authenticate": "Bearer"},
        )
