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
        limit, hint = self._limit(headers)
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            await _send_413(send, f"The request body is {int(length) // 1024} KB; {hint}")  # refused before it is read
            return
        await self.app(scope, _LimitedBody(receive, limit, hint, self.timeout_s), send)

    def _limit(self, headers: dict[bytes, bytes]) -> tuple[int, str]:
        """The size limit for this kind of body, and what to tell a client over it (an upload
        can be split; a long article sent as JSON can be uploaded as a file instead)."""
        multipart = headers.get(b"content-type", b"").startswith(b"multipart/")
        limit = self.max_upload if multipart else self.max_json
        what = "an upload" if multipart else "a JSON body"
        hint = f"{what} may be at most {limit // 1024} KB" + (
            "; split the file into several articles." if multipart else "; upload large articles as a file to POST /v1/documents."
        )
        return limit, hint


class _LimitedBody:
    """The app's `receive`: counts the body as it arrives (a missing or false Content-Length
    cannot get past the limit) and holds it to one deadline for the whole body."""

    def __init__(self, receive: Receive, limit: int, hint: str, timeout_s: float) -> None:
        self.receive = receive
        self.limit = limit
        self.hint = hint
        self.timeout_s = timeout_s
        self.deadline = time.monotonic() + timeout_s
        self.seen = 0
        self.complete = False

    async def __call__(self) -> Message:
        if self.complete:  # after the body: only the disconnect is left to wait for, as long as it takes
            return await self.receive()
        message = await self._before_deadline()
        if message["type"] == "http.request":
            self.seen += len(message.get("body", b""))
            self.complete = not message.get("more_body", False)
            if self.seen > self.limit:
                raise HTTPException(413, f"The request body is over the limit: {self.hint}")
        else:
            self.complete = True  # the client is gone
        return message

    async def _before_deadline(self) -> Message:
        try:
            with anyio.fail_after(max(0.0, self.deadline - time.monotonic())):
                return await self.receive()
        except TimeoutError:
            raise HTTPException(
                408,
                f"The request body did not arrive within {self.timeout_s:g} s (RAG_BODY_TIMEOUT_S); send it "
                "whole and promptly, or check the network.",
                headers={"Connection": "close"},
            ) from None


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
