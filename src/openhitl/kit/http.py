"""ASGI plumbing: request ids, rate-limit headers, alias prefixes, raw routes, and the envelope on every
error."""

import json
import re
import uuid
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openhitl.kit.bodies import unparseable_body_hint
from openhitl.kit.db import database_unavailable
from openhitl.kit.envelope import error_response
from openhitl.kit.errors import ApiError
from openhitl.kit.routing import Aliases, PathIndex, method_not_allowed, path_templates, serve_raw
from openhitl.kit.validation import summarise

log = structlog.get_logger("openhitl.http")
UNAVAILABLE_HINT = "The database is out of reach for a moment; retry (with the same Idempotency-Key)"
HTTP_MESSAGES = {
    400: "Bad request",
    401: "Authentication required",
    403: "Access denied",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    413: "Request body too large",
    415: "Unsupported media type",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service temporarily unavailable",
}


MAX_BODY_BYTES = 1_048_576
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# An incoming X-Request-ID is kept when it is short and plain (safe in headers and log lines); else a new one.
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


async def _refuse(send: Send, status: int, msg: str, data: str) -> None:
    body = json.dumps({"error": True, "msg": msg, "data": data}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def read_body(scope: Scope, receive: Receive, send: Send) -> bytes | None:
    """The body of a request that may have one; refuses one that is too large, before any handler runs
    (unstorable text: see kit.bodies). b"" for the other methods, None when it already answered."""
    if scope["method"] not in BODY_METHODS:
        return b""
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            await _refuse(send, 413, "Request body too large", f"Send at most {MAX_BODY_BYTES} bytes")
            return None
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


def replaying(body: bytes, receive: Receive) -> Receive:
    """`receive` for the layers inside: the body read once more, then what the client sends next."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class FrontDoor:
    """What every HTTP request passes before routing, in one layer (each layer is a wrapped `send` and
    a suspended coroutine per request): an X-Request-ID on every answer and in every log line, the API's
    alias prefixes rewritten to its one mount (kit/routing.py: `Aliases`), bodies over the limit refused,
    405 for a path whose routes lack the method, CORS, the X-RateLimit-* headers, and
    `on_response(route template, method, status)` for the metrics. The raw routes (kit/routing.py:
    `RawRoute`) are served from here, with no layer under this one but CORS for a cross-origin request.

    CORS is Starlette's middleware, entered only by requests that carry an Origin: the others need no CORS
    headers, only `Vary: Origin` (their answer differs from a cross-origin request's).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        routes: Callable[[], Sequence[BaseRoute]],
        aliases: Aliases,
        cors: Callable[[ASGIApp], ASGIApp],
        on_response: Callable[[str, str, int], None],
    ) -> None:
        self.app = app
        self.make_cors = cors
        self.cors = cors(app)
        self.routes = routes
        self.aliases = aliases
        self.on_response = on_response
        self.index: PathIndex | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.index is None:  # read on the first request, when every router has been included
            self.index = PathIndex(path_templates(self.routes()))
        asked = scope["path"]
        path = self.aliases.rewrite(scope)
        headers = scope["headers"]
        incoming = origin = None
        for name, value in headers:
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
            elif name == b"origin":
                origin = value
        request_id = incoming if incoming and REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        template = self.index.find(path)
        route = template.path if template is not None else "unmatched"
        method = scope["method"]
        on_response = self.on_response

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [(b"x-request-id", request_id.encode("latin-1"))]
                if origin is None:
                    extra.append((b"vary", b"Origin"))
                for name, value in (state.get("rate_limit_headers") or {}).items():
                    extra.append((name.lower().encode(), value.encode()))
                message["headers"] = [*message.get("headers", ()), *extra]
                if path is not asked and 300 <= message["status"] < 400:
                    message["headers"] = [
                        (name, self.aliases.restore(value, asked) if name == b"location" else value)
                        for name, value in message["headers"]
                    ]
                on_response(route, method, message["status"])
            await send(message)

        tokens = structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            body = await read_body(scope, receive, send_with_headers)
            if body is None:
                return
            guarded = replaying(body, receive) if method in BODY_METHODS else receive
            if template is not None and (handler := template.raw.get(method)) is not None:
                scope["path_params"] = template.parameters(path)
                if origin is None:
                    await serve_raw(handler, scope, guarded, send_with_headers)
                else:
                    await self.make_cors(partial(serve_raw, handler))(scope, guarded, send_with_headers)
                return
            refused = method_not_allowed(template, method) if template is not None else None
            if refused is None:
                app = self.app if origin is None else self.cors
            else:
                app = refused if origin is None else self.make_cors(refused)
            await app(scope, guarded, send_with_headers)
        finally:
            structlog.contextvars.reset_contextvars(**tokens)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> Any:
        return error_response(exc.status_code, exc.msg, exc.data, exc.headers or None)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Any:
        errors = list(exc.errors())
        msg, data = summarise(errors)
        content_type = request.headers.get("content-type", "")
        if msg == "Invalid request body" and "json" not in content_type:
            content_type = content_type or "no Content-Type"
            data = f"Send the body as JSON with Content-Type: application/json (got {content_type})"
        return error_response(400, msg, data)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> Any:
        msg = (
            exc.detail
            if isinstance(exc.detail, str) and exc.detail
            else HTTP_MESSAGES.get(exc.status_code, "Error")
        )
        if exc.status_code == 404 and msg == "Not Found":
            msg = "Route not found"
        if exc.status_code == 405 and msg == "Method Not Allowed":
            msg = "Method not allowed"
        if exc.status_code == 400 and msg == "There was an error parsing the body":
            return error_response(400, "Invalid request body", unparseable_body_hint(exc.__cause__))
        return error_response(exc.status_code, msg, None, dict(exc.headers) if exc.headers else None)

    # Database errors are listed by type so that FastAPI's routes answer them here rather than in the
    # server-error layer; a driver's own error, raised outside SQLAlchemy's wrapping (kit/prepared.py),
    # arrives as a plain Exception. Either way the database being away is a 503, anything else a 500.
    @app.exception_handler(OSError)
    @app.exception_handler(DBAPIError)
    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Any:
        if database_unavailable(exc):
            log.warning("database unavailable", path=request.url.path, error=str(exc) or type(exc).__name__)
            return error_response(
                503, "Service temporarily unavailable", UNAVAILABLE_HINT, {"Retry-After": "1"}
            )
        log.exception("unhandled error", path=request.url.path)
        return error_response(500, "Internal server error")
