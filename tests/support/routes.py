"""The application's route table, as tests that cover every route read it."""

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from openhitl.accounts.auth import authenticate


def uses_authentication(dependant: Dependant) -> bool:
    return any(
        dependency.call is authenticate or uses_authentication(dependency)
        for dependency in dependant.dependencies
    )


def api_routes(app: FastAPI) -> dict[tuple[str, str], Dependant]:
    """(path, method) -> dependency tree of every FastAPI route, through included routers."""
    # FastAPI 0.165 includes routers lazily: app.routes holds the included routers, not their routes.
    routes: dict[tuple[str, str], Dependant] = {}
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, APIRoute):
            assert context.path is not None, context.original_route  # an APIRoute always has one
            for method in context.methods or ():
                routes[(context.path, method.lower())] = context.dependant
    return routes
