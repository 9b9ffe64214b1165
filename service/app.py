"""The FastAPI app factory: `create_app(settings, pipeline=None)`.

The pipeline is built once at start-up (or handed in, e.g. by tests) and reaches the
routes through dependencies; the routes only parse, call it and shape the response.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

from fastapi import Depends, FastAPI
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from rag.pipeline import Pipeline
from rag.settings import Settings, parse_every
from service.deps import require_api_key
from service.errors import install_error_handlers
from service.middleware import BodyLimitMiddleware, MetricsMiddleware, redact_access_log
from service.routers import documents, health, openai_compat, qa
from service.settings import ServiceSettings, SlackSettings
from service.slack import mount_slack
from service.state import AppState

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"


def _start_feed_watcher(state: AppState):
    """With RAG_WATCH_FEEDS set, poll those feeds every RAG_WATCH_EVERY in a thread, storing under
    the same write lock as uploads and removals."""
    settings = state.settings
    if not settings.watch_feed_urls:
        return None
    from rag.ingest.feeds import FeedWatcher

    log.info("watching %d feed(s) every %s", len(settings.watch_feed_urls), settings.watch_every)
    return FeedWatcher(settings.watch_feed_urls, parse_every(settings.watch_every), state.pipeline.ingest_articles,
                       settings.feeds_state_path, min_interval_s=settings.feed_host_interval_s,
                       lock=state.write_lock).start()


@asynccontextmanager
async def _lifespan(state: AppState, app: FastAPI) -> AsyncIterator[None]:
    """Start-up: the pipeline (unless given), the seeds on first use, the model in the background,
    the feed watcher. Shutdown: the watcher, the Slack answers under way, then the pipeline."""
    if state.pipeline is None:
        state.pipeline = await run_in_threadpool(Pipeline, state.settings, start_llm=False)
        state.owns_pipeline = True
    report = await run_in_threadpool(state.pipeline.ensure_seeded)
    if report:
        log.info("ingested %d seed articles (%d chunks)", len(report.added), report.chunks)
    state.start_llm()
    # What a question or a new article needs loads while the model starts, not when the first one comes.
    threading.Thread(target=state.pipeline.warm_up, name="warm-up", daemon=True).start()
    watcher = _start_feed_watcher(state)
    # Start-up objects (models, indexes, libraries) live as long as the process: keep them out
    # of the garbage collector's full passes, which otherwise stall requests for tens of ms.
    gc.collect()
    gc.freeze()
    if state.service.keys():
        log.info("API keys required on /v1 routes (%d configured)", len(state.service.keys()))
    try:
        yield
    finally:
        if watcher is not None:
            await run_in_threadpool(watcher.stop)  # a poll under way finishes its store first
        if bot := getattr(app.state, "slack_bot", None):
            await bot.drain()  # Slack answers under way finish (for a while) before the pipeline closes
        if state.owns_pipeline:
            state.pipeline.close()


def create_app(
    settings: Settings, pipeline: Pipeline | None = None, service: ServiceSettings | None = None,
    slack: SlackSettings | None = None,
) -> FastAPI:  # fmt: skip
    """The app. `service` and `slack` default to what the environment says (`rag serve` passes
    the sections of the one `AppSettings` it read)."""
    state = AppState(settings=settings, service=service or ServiceSettings(), pipeline=pipeline)

    lifespan = partial(_lifespan, state)

    app = FastAPI(
        title="news-rag",
        version="0.1.0",
        summary="Questions over news articles, answered with citations that are checked against the text.",
        lifespan=lifespan,
    )
    app.state.rag = state
    install_error_handlers(app)
    auth = [Depends(require_api_key)]
    for router in (qa.router, openai_compat.router, documents.router):
        app.include_router(router, dependencies=auth)
    app.include_router(health.router)
    mount_slack(app, lambda: state.pipeline, settings, slack, dependencies=auth,
                admission=lambda: (state.ready_gate(), state.metrics))  # fmt: skip

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    app.add_middleware(BodyLimitMiddleware, max_json=state.service.max_json_bytes, max_upload=state.service.max_upload_bytes,
                       timeout_s=state.service.body_timeout_s)  # fmt: skip
    redact_access_log()
    app.add_middleware(MetricsMiddleware, metrics=state.metrics)
    return app
