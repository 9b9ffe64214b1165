"""`rag serve`: the HTTP service on 127.0.0.1:8000 (see --help)."""

from __future__ import annotations

import argparse
import logging

from service.settings import ServiceSettings

log = logging.getLogger(__name__)


def register(parser: argparse.ArgumentParser) -> None:
    defaults = ServiceSettings()
    parser.description = "Serve the HTTP API, the OpenAI-compatible endpoints and the chat page."
    parser.add_argument("--host", default=defaults.host, help=f"address to listen on (default {defaults.host}; RAG_HOST)")
    parser.add_argument("--port", type=int, default=defaults.port, help=f"port (default {defaults.port}; RAG_PORT)")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    parser.set_defaults(func=serve)


def serve(args: argparse.Namespace) -> None:
    import uvicorn

    from rag.settings import get_settings
    from service.app import create_app

    service = ServiceSettings(host=args.host, port=args.port)
    app = create_app(get_settings(), service=service)
    log.info("listening on http://%s:%d (chat page at /, API docs at /docs)", args.host, args.port)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, timeout_graceful_shutdown=5)
