"""`rag serve`: the HTTP service on 127.0.0.1:8000 (see --help)."""

from __future__ import annotations

import argparse
import logging

from service.settings import AppSettings, ServiceSettings

log = logging.getLogger(__name__)


def register(parser: argparse.ArgumentParser) -> None:
    host, port = (ServiceSettings.model_fields[name].default for name in ("host", "port"))
    parser.description = "Serve the HTTP API, the OpenAI-compatible endpoints and the chat page."
    parser.add_argument("--host", help=f"address to listen on (default: RAG_HOST, else {host})")
    parser.add_argument("--port", type=int, help=f"port (default: RAG_PORT, else {port})")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    parser.set_defaults(func=serve)


def serve(args: argparse.Namespace) -> None:
    import uvicorn

    from rag.settings import read
    from service.app import create_app

    flags = {name: getattr(args, name) for name in ("host", "port") if getattr(args, name) is not None}
    config = read(AppSettings, **flags)  # every setting, read once
    service = config.service
    app = create_app(config.rag, service=service, slack=config.slack)
    log.info("listening on http://%s:%d (chat page at /, API docs at /docs)", service.host, service.port)
    uvicorn.run(app, host=service.host, port=service.port, log_level=args.log_level, timeout_graceful_shutdown=5)
