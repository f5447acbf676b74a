"""The application factory: settings in, a FastAPI app with every route and its lifespan out."""

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import structlog
from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute
from pydantic import BaseModel

import openhitl
from openhitl.accounts.router import router as accounts_router
from openhitl.accounts.schemas import EmailLinkRequest, SignIn, SignUp
from openhitl.accounts.sessions import SESSION_COOKIE
from openhitl.config import Settings
from openhitl.delivery.email import EMAIL_KIND, email_handler, email_sender
from openhitl.delivery.worker import Handler, OutboxWorker
from openhitl.kit.bodies import declare_storable_text
from openhitl.kit.clock import Clock
from openhitl.kit.http import FrontDoor, install_error_handlers
from openhitl.kit.logging import configure_logging
from openhitl.kit.routing import Aliases
from openhitl.kit.state import AppState
from openhitl.loops.router import qr_router
from openhitl.loops.router import router as loops_router
from openhitl.mcp_server.http import mount_mcp
from openhitl.notifications.emails import DIGEST_KIND, REQUEST_EMAIL_KIND, RequestEmails
from openhitl.notifications.push import PUSH_KIND
from openhitl.notifications.push_sender import PushSender
from openhitl.notifications.router import router as notifications_router
from openhitl.ops.metrics import count_response
from openhitl.ops.router import router as ops_router
from openhitl.requests.router import router as requests_router
from openhitl.reviewers.router import loop_router as loop_deletion_router
from openhitl.reviewers.router import router as reviewers_router
from openhitl.runtime import Background, build_state
from openhitl.streams.router import router as realtime_router
from openhitl.web import install as install_web
from openhitl.web.links import router as links_router
from openhitl.web.signin import router as signin_router
from openhitl.webhooks.messages import WEBHOOK_KIND
from openhitl.webhooks.router import router as webhooks_router
from openhitl.webhooks.sender import WebhookSender

# HITL.sh clients use /v1/api (production), /v1 (the OpenAPI reference) and /api/v1 (newer clients). The API
# is mounted once, under the first; FrontDoor rewrites the others to it.
API_PREFIXES = ("/v1/api", "/v1", "/api/v1")
ALIASES = Aliases(API_PREFIXES[0], API_PREFIXES[1:])
log = structlog.get_logger("openhitl.app")


class Health(BaseModel):
    status: str
    version: str


def operation_id(route: APIRoute) -> str:
    return f"{route.tags[0]}-{route.name}" if route.tags else route.name


def api_router() -> APIRouter:
    """Starlette tries routes in order, so each route a request passes costs it time (BENCHMARKS.md,
    "Create request", "Second round (2026-11-21, afternoon)", item 6): the busiest (creating, waiting for
    and answering requests) come first. Where two paths could match the same URL the more specific one is
    listed first within its router, and kit/routing.py answers 405s before routing."""
    api = APIRouter()
    api.include_router(requests_router)
    api.include_router(realtime_router)
    api.include_router(reviewers_router)
    api.include_router(loops_router)
    api.include_router(loop_deletion_router)
    api.include_router(accounts_router)
    api.include_router(notifications_router)
    api.include_router(webhooks_router)
    return api


def build_worker(state: AppState) -> OutboxWorker:
    """The background worker with a handler for every kind of side effect the server produces."""
    settings = state.settings
    emails = RequestEmails(state.db, state.clock, settings)
    handlers: dict[str, Handler] = {
        EMAIL_KIND: email_handler(email_sender(settings), settings.email_from),
        PUSH_KIND: PushSender(
            state.db,
            state.clock,
            contact=settings.vapid_contact,
            allow_private=settings.callback_allow_private,
        ),
        REQUEST_EMAIL_KIND: emails.request_email,
        DIGEST_KIND: emails.digest,
        WEBHOOK_KIND: WebhookSender(db=state.db, clock=state.clock, settings=settings),
    }
    return OutboxWorker(state.db, state.clock, handlers, poll_seconds=settings.worker_poll_seconds)


def say_where_links_go(settings: Settings) -> None:
    """Links in emails never follow a request's Host header: say at start-up where they point."""
    if settings.base_url:
        log.info("links in emails use OPENHITL_BASE_URL", base_url=settings.link_base_url)
    else:
        log.warning(
            "OPENHITL_BASE_URL is not set: links in emails point to this server's own address; set it to "
            "the address people use to reach this server",
            base_url=settings.link_base_url,
        )


def create_app(
    settings: Settings | None = None, *, clock: Clock | None = None, freeze_after_start: bool = False
) -> FastAPI:
    """`freeze_after_start` (for `openhitl serve`, one app per process): once started, everything the
    process holds so far (modules, routes, models, pools) is moved out of the cyclic garbage collector's
    sight with `gc.freeze()`. Each full collection would otherwise walk all of it again, holding the event
    loop for as long as the walk takes (BENCHMARKS.md, "Fan-out and memory", "Second round (2026-11-21,
    afternoon)")."""
    settings = settings or Settings()
    configure_logging(level=settings.log_level, fmt=settings.log_format)
    state = build_state(settings, clock)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        background = Background(
            state, worker=build_worker(state) if settings.worker_enabled else None, streams=True
        )
        app.state.background = background  # /readyz asks it whether its tasks still run
        await background.start()
        say_where_links_go(settings)
        if freeze_after_start:
            gc.collect()
            gc.freeze()
        try:
            async with mcp.running():
                yield
        finally:
            await background.stop()
            await state.db.dispose()

    app = FastAPI(
        title="OpenHITL",
        version=openhitl.__version__,
        description="Self-hosted human-in-the-loop server speaking the HITL.sh API. Every route under /v1/api "
        "also answers under /v1 and /api/v1.",
        lifespan=lifespan,
        # The bundled docs pages load their scripts from a CDN; the server must work offline.
        docs_url=None,
        redoc_url=None,
        generate_unique_id_function=operation_id,
    )
    app.state.openhitl = state
    install_error_handlers(app)
    # API callers are scripts and other origins' pages; no cookies cross origins, so "*" is safe here.
    cors = partial(
        CORSMiddleware,
        allow_origins=["*"],
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID", "Last-Event-ID"],
        expose_headers=["X-Request-ID", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"],
    )
    app.add_middleware(
        FrontDoor, routes=lambda: app.routes, aliases=ALIASES, cors=cors, on_response=count_response
    )
    app.include_router(api_router(), prefix=API_PREFIXES[0])
    app.include_router(qr_router)
    app.include_router(signin_router)
    app.include_router(links_router)
    app.include_router(ops_router)
    mcp = mount_mcp(app, state)
    install_web(app)

    @app.get("/health", tags=["health"])
    async def health() -> Health:
        """Liveness: the process answers."""
        return Health(status="ok", version=openhitl.__version__)

    _drop_default_422(app)
    return app


def _drop_default_422(app: FastAPI) -> None:
    """FastAPI documents a 422 on every route; ours answer 400 with the envelope instead."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        for path in schema.get("paths", {}).values():
            for operation in path.values():
                responses = operation.get("responses", {})
                if "422" in responses:
                    responses.pop("422")
                    responses.setdefault(
                        "400",
                        {
                            "description": "Bad request",
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}
                            },
                        },
                    )
        components = schema.setdefault("components", {})
        for name in ("HTTPValidationError", "ValidationError"):
            components.get("schemas", {}).pop(name, None)
        _add_body_models(components)
        _declare_bearer_security(schema)
        declare_storable_text(schema)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _add_body_models(components: dict[str, Any]) -> None:
    """Routes that read JSON or a form themselves (sign-up, sign-in) name their models; define them."""
    schemas = components.setdefault("schemas", {})
    for model in (SignUp, SignIn, EmailLinkRequest):
        found = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, definition in found.pop("$defs", {}).items():
            schemas.setdefault(name, definition)
        schemas.setdefault(model.__name__, found)


def _declare_bearer_security(schema: dict[str, Any]) -> None:
    """Every API operation that can answer 401 authenticates: a Bearer API key, or a browser's session cookie."""
    schema.setdefault("components", {})["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer", "description": "An API key: hitl_live_…"},
        "session": {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE},
    }
    for path, operations in schema.get("paths", {}).items():
        if not path.startswith(f"{API_PREFIXES[0]}/"):
            continue
        for operation in operations.values():
            if "401" in operation.get("responses", {}):
                operation["security"] = [{"bearer": []}, {"session": []}]
