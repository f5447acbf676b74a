"""/mcp: the MCP tools over Streamable HTTP, inside the OpenHITL app, for callers with an API key.

Every HTTP request must carry `Authorization: Bearer hitl_live_…`, checked by the API's own
authentication before MCP sees it. A tool call then goes through the REST API in-process (httpx's ASGI
transport: no socket, no second server) with the caller's own key, so MCP callers get exactly the REST
API's permissions, validation, rate limits and answers, and the tools are the same code as over stdio.
The transport is stateless: any replica can serve any request, and no session outlives its request.

The MCP SDK (~17 MiB once imported) is loaded by the first authenticated call, not at start-up: a server
whose callers never use MCP never holds it.
"""

import asyncio
import contextvars
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import TYPE_CHECKING

import httpx
from fastapi import FastAPI
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from openhitl.accounts.auth import authenticate
from openhitl.client.aio import AsyncClient
from openhitl.kit.envelope import error_response
from openhitl.kit.errors import ApiError, Unauthorized
from openhitl.kit.state import AppState

if TYPE_CHECKING:
    from mcp.server.mcpserver import Context
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

MCP_PATH = "/mcp"


class McpEndpoint:
    def __init__(self, app: FastAPI, state: AppState) -> None:
        self.app = app
        self.state = state
        self._sessions: StreamableHTTPSessionManager | None = None
        self._starting = asyncio.Lock()
        self._stop: asyncio.Event | None = None
        self._transport: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            if not request.headers.get("authorization"):
                raise Unauthorized("Missing or invalid authorization header")
            await authenticate(request, self.state)
        except ApiError as error:
            headers = {"WWW-Authenticate": "Bearer"} if error.status_code == 401 else None
            await error_response(error.status_code, error.msg, error.data, headers)(scope, receive, send)
            return
        sessions = self._sessions or await self._start()
        await sessions.handle_request(scope, receive, send)

    async def _start(self) -> "StreamableHTTPSessionManager":
        """Builds the MCP server and runs its transport's task group until the app stops."""
        async with self._starting:
            if self._sessions is not None:
                return self._sessions
            if self._stop is None:
                raise RuntimeError("MCP is served only while the app runs (its lifespan)")
            from mcp.server.transport_security import TransportSecuritySettings

            from openhitl.mcp_server.tools import build_server

            server = build_server(self.client_for)
            # Bearer keys, not cookies, authenticate here, so DNS rebinding gains an attacker nothing.
            server.streamable_http_app(
                stateless_http=True,
                transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
            )
            sessions = server.session_manager
            started = asyncio.get_running_loop().create_future()
            # A context of its own: not the first caller's (its request id would label the transport's logs).
            self._transport = asyncio.create_task(
                self._run(sessions, self._stop, started), name="openhitl-mcp", context=contextvars.Context()
            )
            await started
            self._sessions = sessions
            return sessions

    @staticmethod
    async def _run(
        sessions: "StreamableHTTPSessionManager", stop: asyncio.Event, started: asyncio.Future[None]
    ) -> None:
        try:
            async with sessions.run():
                started.set_result(None)
                await stop.wait()
        except BaseException as exc:
            if not started.done():
                started.set_exception(exc)
            raise

    @asynccontextmanager
    async def client_for(self, ctx: "Context") -> AsyncIterator[AsyncClient]:
        request = ctx.request_context.request
        assert isinstance(request, Request), "the HTTP transport hands tools the HTTP request"
        key = request.headers["authorization"].partition(" ")[2].strip()
        async with AsyncClient(
            key, str(request.base_url), transport=httpx.ASGITransport(app=self.app)
        ) as client:
            yield client

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """For as long as the app runs; the transport's task group, once a first call has started it, stops
        with it."""
        self._stop = asyncio.Event()
        try:
            yield
        finally:
            self._stop.set()
            if self._transport is not None:
                with suppress(Exception):  # it failed its callers already; shutting down goes on
                    await self._transport
            self._sessions, self._transport, self._stop = None, None, None


def mount_mcp(app: FastAPI, state: AppState) -> McpEndpoint:
    """Serves MCP at /mcp (outside the OpenAPI document: it is not a REST route)."""
    endpoint = McpEndpoint(app, state)
    # POST only: a stateless server has no stream to offer on GET and no session to end on DELETE, and
    # MCP asks such servers to answer those with 405.
    app.router.routes.append(Route(MCP_PATH, endpoint, methods=["POST"], include_in_schema=False))
    return endpoint
