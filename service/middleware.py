"""Pure ASGI middleware: request metrics, body size limits (413 before the route reads it) and a
deadline for the body to arrive (408); and the access-log filter that keeps query strings out."""

from __future__ import annotations

import json
import logging
import time

import anyio

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.metrics import Metrics


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            self.metrics.observe_request(scope["method"], path, status, time.perf_counter() - started)


class BodyLimitMiddleware:
    """JSON bodies up to `max_json`, multipart uploads up to `max_upload` bytes, the whole body
    within `timeout_s` of the request's start.

    The deadline is for the body as a whole, not per read: a client trickling a byte every few
    seconds would pass any idle timeout while holding a connection (and a worker) for minutes.
    """

    def __init__(self, app: ASGIApp, max_json: int, max_upload: int, timeout_s: float = 30.0) -> None:
        self.app = app
        self.max_json = max_json
        self.max_upload = max_upload
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        multipart = headers.get(b"content-type", b"").startswith(b"multipart/")
        limit = self.max_upload if multipart else self.max_json
        what = "an upload" if multipart else "a JSON body"
        hint = f"{what} may be at most {limit // 1024} KB" + (
            "; split the file into several articles." if multipart else "; upload large articles as a file to POST /v1/documents."
        )
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            await _send_413(send, f"The request body is {int(length) // 1024} KB; {hint}")
            return
        seen = 0
        complete = False
        deadline = time.monotonic() + self.timeout_s

        async def limited_receive() -> Message:
            nonlocal seen, complete
            if complete:  # after the body: only the disconnect is left to wait for, as long as it takes
                return await receive()
            try:
                with anyio.fail_after(max(0.0, deadline - time.monotonic())):
                    message = await receive()
            except TimeoutError:
                raise HTTPException(
                    408,
                    f"The request body did not arrive within {self.timeout_s:g} s (RAG_BODY_TIMEOUT_S); send it "
                    "whole and promptly, or check the network.",
                    headers={"Connection": "close"},
                ) from None
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                complete = not message.get("more_body", False)
                if seen > limit:
                    raise HTTPException(413, f"The request body is over the limit: {hint}")
            else:
                complete = True  # the client is gone
            return message

        await self.app(scope, limited_receive, send)


async def _send_413(send: Send, message: str) -> None:
    body = json.dumps({"error": {"type": "payload_too_large", "message": message}}).encode()
    await send({
        "type": "http.response.start", "status": 413,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close")],
    })  # fmt: skip
    await send({"type": "http.response.body", "body": body})


class DropQueryStrings(logging.Filter):
    """Access-log lines without query strings: a client may put a secret there (`?api_key=...`,
    a token) and the log would keep it. The path stays; the query is replaced by `?<redacted>`."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str) and "?" in args[2]:
            record.args = (*args[:2], args[2].split("?", 1)[0] + "?<redacted>", *args[3:])
        return True


def redact_access_log(logger_name: str = "uvicorn.access") -> None:
    """Add the filter once (create_app may run several times in one process)."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, DropQueryStrings) for f in logger.filters):
        logger.addFilter(DropQueryStrings())
