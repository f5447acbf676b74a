"""/mcp: the MCP tools over Streamable HTTP, inside the OpenHITL app, for callers with an API key.

Every HTTP request must carry `Authorization: Bearer hitl_live_…`, checked by the API's own
authentication before MCP sees it. A tool call then goes through the REST API in-process (httpx's ASGI
transport: no socket, no second server) with the caller's own key, so MCP callers get exactly the REST
API's permissions, validation, rate limits and answers, and the tools are the same code as over stdio.
The transport is stateless: any replica can serve any request, and no session outlives its request.
"""

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx
from fastapi import FastAPI
from mcp.server.mcpserver import Context
from mcp.server.transport_security import TransportSecuritySettings
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from openhitl.accounts.auth import authenticate_with
from openhitl.client.aio import AsyncClient
from openhitl.kit.envelope import error_response
from openhitl.kit.errors import ApiError, Unauthorized
from openhitl.kit.state import AppState
from openhitl.mcp_server.tools import build_server

MCP_PATH = "/mcp"


class McpEndpoint:
    def __init__(self, app: FastAPI, state: AppState) -> None:
        self.app = app
        self.state = state
        server = build_server(self.client_for)
        # Bearer keys, not cookies, authenticate here, so DNS rebinding gains an attacker nothing.
        server.streamable_http_app(
            stateless_http=True,
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )
        self.sessions = server.session_manager

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            if not request.headers.get("authorization"):
                raise Unauthorized("Missing or invalid authorization header")
            await authenticate_with(request, self.state)
        except ApiError as error:
            headers = {"WWW-Authenticate": "Bearer"} if error.status_code == 401 else None
            await error_response(error.status_code, error.msg, error.data, headers)(scope, receive, send)
            return
        await self.sessions.handle_request(scope, receive, send)

    @asynccontextmanager
    async def client_for(self, ctx: Context) -> AsyncIterator[AsyncClient]:
        request = ctx.request_context.request
        assert isinstance(request, Request), "the HTTP transport hands tools the HTTP request"
        key = request.headers["authorization"].partition(" ")[2].strip()
        async with AsyncClient(
            key, str(request.base_url), transport=httpx.ASGITransport(app=self.app)
        ) as client:
            yield client

    def running(self) -> AbstractAsyncContextManager[None]:
        """The transport's task group; runs for as long as the app does."""
        return self.sessions.run()


def mount_mcp(app: FastAPI, state: AppState) -> McpEndpoint:
    """Serves MCP at /mcp (outside the OpenAPI document: it is not a REST route)."""
    endpoint = McpEndpoint(app, state)
    # POST only: a stateless server has no stream to offer on GET and no session to end on DELETE, and
    # MCP asks such servers to answer those with 405.
    app.router.routes.append(Route(MCP_PATH, endpoint, methods=["POST"], include_in_schema=False))
    return endpoint
