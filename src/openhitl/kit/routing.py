"""405 answers that name every method of the path, and literal path segments that win over `{id}` ones.

Starlette takes the first route whose pattern and method match, so `PUT /loops/join` would reach
`PUT /loops/{loop_id}` (and fail as a malformed id), and a 405 lists only the methods of the first route
whose pattern matched. Here the most specific path template that matches decides (`PathIndex`, used by
kit/http.py's `FrontDoor`, which also labels the metrics with it): if it has no route for the method, the
answer is 405 with `Allow` listing all of its methods.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass

from fastapi.routing import iter_route_contexts
from starlette.routing import BaseRoute
from starlette.types import ASGIApp

from openhitl.kit.envelope import error_response

_PARAMETER = re.compile(r"{[^}]+}")


@dataclass(frozen=True)
class PathTemplate:
    path: str
    methods: frozenset[str]


def path_templates(routes: Sequence[BaseRoute]) -> list[PathTemplate]:
    """Every path of the app with the union of the methods of all its routes."""
    methods: dict[str, set[str]] = {}
    for context in iter_route_contexts(routes):
        if context.methods and context.path:
            methods.setdefault(context.path, set()).update(context.methods)
    return [PathTemplate(path, frozenset(found)) for path, found in methods.items()]


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
