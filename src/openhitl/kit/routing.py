"""405 answers that name every method of the path, and literal path segments that win over `{id}` ones.

Starlette takes the first route whose pattern and method match, so `PUT /loops/join` would reach
`PUT /loops/{loop_id}` (and fail as a malformed id), and a 405 lists only the methods of the first route
whose pattern matched. Here the most specific path template that matches decides (`PathIndex`, used by
kit/http.py's `FrontDoor`, which also labels the metrics with it): if it has no route for the method, the
answer is 405 with `Allow` listing all of its methods.

The index also knows the routes that are served directly (`served_directly`): FrontDoor answers their
well-formed requests itself, without FastAPI's router and dependency solving, which cost more than the
work of creating a request.
"""

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TypeVar

from fastapi import Request
from fastapi.routing import iter_route_contexts
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp

from openhitl.kit.envelope import error_response

_PARAMETER = re.compile(r"{[^}]+}")
_PLAIN_PARAMETER = re.compile(r"{(\w+)}")
DIRECT = "openhitl_direct"
# (request with its path parameters, the body read) -> the answer; None leaves the request to the app.
DirectHandler = Callable[[Request, bytes], Awaitable[Response | None]]
Endpoint = TypeVar("Endpoint", bound=Callable[..., object])


def served_directly(handler: DirectHandler) -> Callable[[Endpoint], Endpoint]:
    """Marks a route's endpoint: FrontDoor hands the route's requests to `handler` instead of the app.

    The route stays a FastAPI route: it is documented from the endpoint, and it answers whatever `handler`
    declines. `handler` takes the requests it can answer as the endpoint would and returns None for the rest
    (input that fails validation, say), before it has done anything: the app then answers them, with the
    very same errors. Its exceptions reach the app's exception handlers. Only for routes whose path
    parameters are plain `{name}` segments.
    """

    def mark(endpoint: Endpoint) -> Endpoint:
        setattr(endpoint, DIRECT, handler)
        return endpoint

    return mark


@dataclass(frozen=True)
class PathTemplate:
    path: str
    methods: frozenset[str]
    direct: Mapping[str, DirectHandler] = field(default_factory=dict)  # by method

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
    """Every path of the app with the union of the methods of all its routes, and its direct handlers."""
    methods: dict[str, set[str]] = {}
    direct: dict[str, dict[str, DirectHandler]] = {}
    for context in iter_route_contexts(routes):
        if context.methods and context.path:
            methods.setdefault(context.path, set()).update(context.methods)
            handler = getattr(context.endpoint, DIRECT, None)
            if handler is not None:
                direct.setdefault(context.path, {}).update(dict.fromkeys(context.methods, handler))
    return [PathTemplate(path, frozenset(found), direct.get(path, {})) for path, found in methods.items()]


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
