"""405 answers that name every method of the path, and literal path segments that win over `{id}` ones.

Starlette takes the first route whose pattern and method match, so `PUT /loops/join` would reach
`PUT /loops/{loop_id}` (and fail as a malformed id), and a 405 lists only the methods of the first route
whose pattern matched. Here the most specific path template that matches decides: if it has no route for
the method, the answer is 405 with `Allow` listing all of its methods.
"""

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fastapi.routing import iter_route_contexts
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from openhitl.kit.envelope import error_response

_PARAMETER = re.compile(r"{[^}]+}")


@dataclass(frozen=True)
class PathTemplate:
    path: str
    pattern: re.Pattern[str]
    # One number per segment: 2 literal, 1 literal with a parameter in it, 0 parameter only.
    specificity: tuple[int, ...]
    methods: frozenset[str]


def _compile(path: str) -> re.Pattern[str]:
    pieces = _PARAMETER.split(path)
    return re.compile("^" + "[^/]+".join(re.escape(piece) for piece in pieces) + "$")


def _specificity(path: str) -> tuple[int, ...]:
    segments = path.strip("/").split("/")
    return tuple(2 if not _PARAMETER.search(s) else 1 if _PARAMETER.sub("", s) else 0 for s in segments)


def path_templates(routes: Sequence[BaseRoute]) -> list[PathTemplate]:
    """Every path of the app with the union of the methods of all its routes."""
    methods: dict[str, set[str]] = {}
    for context in iter_route_contexts(routes):
        if context.methods and context.path:
            methods.setdefault(context.path, set()).update(context.methods)
    return [
        PathTemplate(path, _compile(path), _specificity(path), frozenset(found))
        for path, found in methods.items()
    ]


def most_specific(templates: list[PathTemplate], path: str) -> PathTemplate | None:
    matching = [t for t in templates if t.pattern.match(path)]
    return max(matching, key=lambda t: t.specificity, default=None)


class MethodNotAllowedMiddleware:
    """Answers 405 (with the envelope and a full `Allow`) before routing, when the path's own routes lack
    the method. `routes` is read on the first request, when every router has been included."""

    def __init__(self, app: ASGIApp, routes: Callable[[], Sequence[BaseRoute]]) -> None:
        self.app = app
        self.routes = routes
        self.templates: list[PathTemplate] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if self.templates is None:
                self.templates = path_templates(self.routes())
            template = most_specific(self.templates, scope["path"])
            if template is not None and scope["method"] not in template.methods:
                allowed = ", ".join(sorted(template.methods))
                answer = error_response(
                    405,
                    "Method not allowed",
                    f"{scope['method']} is not allowed here; use {allowed}",
                    {"Allow": allowed},
                )
                await answer(scope, receive, send)
                return
        await self.app(scope, receive, send)
