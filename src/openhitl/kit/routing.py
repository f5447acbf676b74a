"""405 answers that name every method of the path, literal path segments that win over `{id}` ones, the API's
alias prefixes, and the raw routes.

Starlette takes the first route whose pattern and method match, so `PUT /loops/join` would reach
`PUT /loops/{loop_id}` (and fail as a malformed id), and a 405 lists only the methods of the first route
whose pattern matched. Here the most specific path template that matches decides (`PathIndex`, used by
kit/http.py's `FrontDoor`, which also labels the metrics with it): if it has no route for the method, the
answer is 405 with `Allow` listing all of its methods.

The API is mounted once, under its canonical prefix; `Aliases` names the other prefixes clients use, which
FrontDoor rewrites to it before anything else looks at the path.

A `RawRoute` is served by FrontDoor itself: its handler takes the `Request` alone, validates its own input
and answers, without FastAPI's router, dependency solving or the layers inside FrontDoor (an event stream
stays open for as long as its client listens; a create is cheaper than FastAPI's handling of it:
BENCHMARKS.md, "Create request", "Third round").
"""

import inspect
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from fastapi import APIRouter, Request
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from openhitl.kit.envelope import error_response

_PARAMETER = re.compile(r"{[^}]+}")
_PLAIN_PARAMETER = re.compile(r"{(\w+)}")
# (the request, with its path parameters) -> the answer. Its exceptions reach the app's exception handlers.
RawHandler = Callable[[Request], Awaitable[Response]]


class RawRoute(APIRoute):
    """A route answered by `handler`, a function of the `Request` that checks what it reads itself (with the
    same errors as FastAPI's validation would give), served by FrontDoor (kit/http.py).

    It is declared to FastAPI with a documenting endpoint, which is never called: its signature states the
    parameters, body, authentication and responses for the OpenAPI document (and for the tests that read
    the routes' dependencies); the handler's docstring describes the operation. Only for routes whose path
    parameters are plain `{name}` segments.
    """

    def __init__(
        self, path: str, endpoint: Callable[..., Any], *, handler: RawHandler, **options: Any
    ) -> None:
        super().__init__(path, endpoint, **options)
        self.handler = handler

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Reached only by an app without FrontDoor in front: the same handler."""
        if scope["method"] not in (self.methods or ()):
            await super().handle(scope, receive, send)
            return
        await serve_raw(self.handler, scope, receive, send)


async def serve_raw(handler: RawHandler, scope: Scope, receive: Receive, send: Send) -> None:
    """The handler's answer, or the app's answer to its exception."""
    request = Request(scope, receive)
    try:
        response = await handler(request)
    except Exception as exc:
        response = await answer_error(request, exc)
    del request  # a stream goes on long after: it keeps what it needs, not the request
    await response(scope, receive, send)


async def answer_error(request: Request, exc: Exception) -> Response:
    """The app's answer to an exception, by the handler registered for its type (kit/http.py)."""
    handlers = request.app.exception_handlers
    for kind in type(exc).__mro__:
        if kind in handlers:
            answer: Response = await handlers[kind](request, exc)
            return answer
    raise exc


def raw_route(
    router: APIRouter, path: str, *, method: str, documented_by: Callable[..., Any], **options: Any
) -> Callable[[RawHandler], RawHandler]:
    """Adds the decorated handler to `router` as a `RawRoute`; `documented_by` is its documenting endpoint,
    `options` those of `APIRouter.add_api_route` (status_code, response_model, responses, ...)."""

    def add(handler: RawHandler) -> RawHandler:
        class Route(RawRoute):
            def __init__(self, path: str, endpoint: Callable[..., Any], **more: Any) -> None:
                super().__init__(path, endpoint, handler=handler, **more)

        router.add_api_route(
            path,
            documented_by,
            methods=[method],
            name=handler.__name__,
            description=inspect.cleandoc(handler.__doc__ or ""),
            route_class_override=Route,
            **options,
        )
        return handler

    return add


class Aliases:
    """Other prefixes of the API, rewritten to the canonical one: `/v1/x` and `/api/v1/x` are `/v1/api/x`."""

    def __init__(self, canonical: str, others: Sequence[str]) -> None:
        self.canonical = canonical
        self._canonical = canonical + "/"
        self._others = tuple((prefix + "/", len(prefix)) for prefix in others)

    def rewrite(self, scope: Scope) -> str:
        """The request's path under the canonical prefix, written into `scope` (its `path` and `raw_path`)."""
        path: str = scope["path"]
        if path.startswith(self._canonical):
            return path
        for prefix, length in self._others:
            if path.startswith(prefix):
                path = scope["path"] = self.canonical + path[length:]
                raw_path = scope.get("raw_path")
                if raw_path is not None:
                    scope["raw_path"] = self.canonical.encode() + raw_path[length:]
                return path
        return path

    def restore(self, location: bytes, original: str) -> bytes:
        """A redirect's Location (Starlette's, to the path without its trailing slash) under the prefix the
        client used, `original` being the path it asked for."""
        if original.startswith(self._canonical):
            return location
        for prefix, _ in self._others:
            if original.startswith(prefix):
                return location.replace(self._canonical.encode(), prefix.encode(), 1)
        return location


@dataclass(frozen=True)
class PathTemplate:
    path: str
    methods: frozenset[str]
    raw: Mapping[str, RawHandler] = field(default_factory=dict)  # by method

    @cached_property
    def _parameter_segments(self) -> tuple[tuple[int, str], ...]:
        return tuple(
            (position, found.group(1))
            for position, segment in enumerate(self.path.split("/"))
            if (found := _PLAIN_PARAMETER.fullmatch(segment)) is not None
        )

    def parameters(self, path: str) -> dict[str, str]:
        """The path parameters of a path this template matched."""
        segments = path.split("/")
        return {name: segments[position] for position, name in self._parameter_segments}


def path_templates(routes: Sequence[BaseRoute]) -> list[PathTemplate]:
    """Every path of the app with the union of the methods of all its routes, and its raw handlers."""
    methods: dict[str, set[str]] = {}
    raw: dict[str, dict[str, RawHandler]] = {}
    for context in iter_route_contexts(routes):
        if context.methods and context.path:
            methods.setdefault(context.path, set()).update(context.methods)
            route = context.original_route
            if isinstance(route, RawRoute):
                raw.setdefault(context.path, {}).update(dict.fromkeys(context.methods, route.handler))
    return [PathTemplate(path, frozenset(found), raw.get(path, {})) for path, found in methods.items()]


class PathIndex:
    """The most specific template for a path, found by walking its segments (not by trying every template).

    Each level tries literal segments first, then segments that mix text and a parameter, then plain
    parameters, and backtracks: the first template reached this way is the most specific one, comparing
    segments left to right with literal > mixed > parameter.
    """

    def __init__(self, templates: Sequence[PathTemplate]) -> None:
        self.root = _Node()
        for template in templates:
            node = self.root
            for segment in template.path.split("/")[1:]:
                node = node.child(segment)
            node.template = node.template or template

    def find(self, path: str) -> PathTemplate | None:
        return self.root.find(path.split("/")[1:], 0)


class _Node:
    __slots__ = ("literal", "mixed", "parameter", "template")

    def __init__(self) -> None:
        self.literal: dict[str, _Node] = {}
        self.mixed: dict[str, tuple[re.Pattern[str], _Node]] = {}  # by segment template
        self.parameter: _Node | None = None
        self.template: PathTemplate | None = None

    def child(self, segment: str) -> "_Node":
        if not _PARAMETER.search(segment):
            return self.literal.setdefault(segment, _Node())
        if not _PARAMETER.sub("", segment):
            if self.parameter is None:
                self.parameter = _Node()
            return self.parameter
        if segment not in self.mixed:
            pieces = _PARAMETER.split(segment)
            pattern = re.compile("^" + "[^/]+".join(re.escape(piece) for piece in pieces) + "$")
            self.mixed[segment] = (pattern, _Node())
        return self.mixed[segment][1]

    def find(self, segments: list[str], depth: int) -> PathTemplate | None:
        if depth == len(segments):
            return self.template
        segment = segments[depth]
        literal = self.literal.get(segment)
        if literal is not None and (found := literal.find(segments, depth + 1)) is not None:
            return found
        for pattern, node in self.mixed.values():
            if pattern.match(segment) and (found := node.find(segments, depth + 1)) is not None:
                return found
        if self.parameter is not None and segment:
            return self.parameter.find(segments, depth + 1)
        return None


def method_not_allowed(template: PathTemplate, method: str) -> ASGIApp | None:
    """The 405 answer (envelope and a full `Allow`) when the path's own routes lack the method."""
    if method in template.methods:
        return None
    allowed = ", ".join(sorted(template.methods))
    return error_response(
        405, "Method not allowed", f"{method} is not allowed here; use {allowed}", {"Allow": allowed}
    )
