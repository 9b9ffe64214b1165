"""Every failure as `{"error": {"type", "message"}}` with a status that fits:
`RagError` by its own `.status`/`.kind`, validation and HTTP errors by ours."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

import httpx

from rag.errors import RagError, StoreUnavailable
from rag.settings import Settings, public_url
from service.gate import QueueFull

log = logging.getLogger(__name__)

_HTTP_KINDS = {
    400: "invalid_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed", 408: "request_timeout",
    413: "payload_too_large", 415: "unsupported_media_type", 422: "invalid_request", 429: "busy", 503: "unavailable",
}  # fmt: skip


def error_response(status: int, kind: str, message: str, headers: dict[str, str] | None = None, **extra) -> JSONResponse:
    return JSONResponse({"error": {"type": kind, "message": message, **extra}}, status_code=status, headers=headers)


def rag_error_response(e: RagError) -> JSONResponse:
    headers = {"Retry-After": str(e.retry_after)} if isinstance(e, QueueFull) else None
    if e.status >= 500:
        log.warning("%s: %s", e.kind, e.message)
    return error_response(e.status, e.kind, e.message, headers)


def _shown(value: object) -> str:
    """A short repr of what the client sent (a value nested too deeply to repr is described instead)."""
    try:
        text = repr(value)
    except RecursionError:
        return f"a {type(value).__name__} nested too deeply"
    return text if len(text) <= 40 else text[:40] + "…"


def _describe(errors: list[dict]) -> str:
    parts = []
    for err in errors[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        if err.get("type") == "missing":
            parts.append(f"`{loc}` is required")
        elif err.get("type") == "extra_forbidden":
            parts.append(f"`{loc}` is not a field of this request; remove it")
        else:
            shown = _shown(err.get("input"))
            parts.append(f"`{loc}`: {err.get('msg', 'invalid')} (got {shown})")
    return "Fix the request: " + "; ".join(parts) + ". See /docs for the request schema."


def _chain(e: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    while e is not None and e not in seen and len(seen) < 10:
        seen.append(e)
        e = e.__cause__ or (None if e.__suppress_context__ else e.__context__)
    return seen


def _raised_in_chroma(e: BaseException) -> bool:
    """The error passed through Chroma's client code (not, say, a remote embedding service's)."""
    tb = e.__traceback__
    while tb is not None:
        if str(tb.tb_frame.f_globals.get("__name__", "")).startswith("chromadb"):
            return True
        tb = tb.tb_next
    return False


def store_problem(e: BaseException, settings: Settings) -> str | None:
    """What to tell a client when a request failed because the Chroma server went away, else None.

    A transport error (or a refused connection) raised through Chroma's client is the server's
    outage, neither the client's fault nor a bug of ours: 503, retry later. (The LLM client turns
    its own transport failures into `LLMUnavailable`; a RagError already says what failed.)"""
    if isinstance(e, RagError):
        return None
    chain = _chain(e)
    if not any(isinstance(x, httpx.TransportError | ConnectionError) for x in chain):
        return None
    if not any(_raised_in_chroma(x) for x in chain):
        return None
    where = f"the Chroma server at {public_url(settings.chroma_url)}" if settings.chroma_url else "the article store"
    return f"{where} is not answering ({type(e).__name__}); retry in a few seconds, search and answers resume once it is back"


def store_error(e: BaseException, settings: Settings) -> StoreUnavailable | None:
    """`store_problem` as the error to raise or send, else None."""
    problem = store_problem(e, settings)
    return StoreUnavailable(problem[0].upper() + problem[1:] + ".") if problem else None


def install_error_handlers(app: FastAPI) -> None:
    """Every failure leaves as `{"error": {"type", "message"}}`: none as FastAPI's default shapes."""
    app.add_exception_handler(RagError, _rag_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)


async def _rag_error(request: Request, e: RagError) -> JSONResponse:
    """Our own errors carry their status and kind."""
    return rag_error_response(e)


async def _validation_error(request: Request, e: RequestValidationError) -> JSONResponse:
    """A body that is not JSON is 400 and says so; a JSON body of the wrong shape is 422 naming
    each field to fix."""
    errors = list(e.errors())
    if not_json := _not_json(errors):
        return not_json
    details = [{"loc": [str(p) for p in err.get("loc", ())], "msg": err.get("msg", "")} for err in errors]
    return error_response(422, "invalid_request", _describe(errors), details=details)


def _not_json(errors: list[dict]) -> JSONResponse | None:
    """400 for a body that does not parse (where it breaks), or that is a bare string or bytes."""
    if bad := next((err for err in errors if err.get("type") == "json_invalid"), None):
        where = bad.get("loc", ("body", "?"))[-1]
        ctx = (bad.get("ctx") or {}).get("error", "")
        return error_response(
            400, "invalid_json", f"The body is not valid JSON ({ctx} at character {where}); send a JSON object."
        )
    if any(tuple(err.get("loc", ())) == ("body",) and isinstance(err.get("input"), bytes | str) for err in errors):
        return error_response(
            400, "invalid_json", "The body is not a JSON object: send one, with `Content-Type: application/json`."
        )
    return None


async def _http_error(request: Request, e: HTTPException) -> JSONResponse:
    """HTTP errors in our shape, with messages that say what to do (Starlette's say "Not Found")."""
    message = e.detail if isinstance(e.detail, str) else str(e.detail)
    if isinstance(e.__cause__, UnicodeDecodeError):  # FastAPI's "There was an error parsing the body"
        return error_response(400, "invalid_json", "The body is not UTF-8: send JSON encoded as UTF-8.")
    if e.status_code == 404 and message == "Not Found":
        message = f"No route {request.method} {request.url.path}; see /docs for the API."
    if e.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}; see /docs for the API."
    return error_response(e.status_code, _HTTP_KINDS.get(e.status_code, "http_error"), message, e.headers)


async def _unexpected_error(request: Request, e: Exception) -> JSONResponse:
    """A store outage is 503 (retry later); anything else is our bug: logged, 500, no details out."""
    if unavailable := store_error(e, request.app.state.rag.settings):
        return rag_error_response(unavailable)
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return error_response(500, "internal_error", f"Unexpected {type(e).__name__}; the service logged it. Try again.")
