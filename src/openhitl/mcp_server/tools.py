"""The MCP tools, written once over the SDK's AsyncClient.

They match the official HITL.sh MCP server (hitl-api.md §10.1): the same seven names and argument shapes,
answers shaped `{message, data}` (`{message, loops, count}` and `{message, summary, requests}` for the
lists), and failures that show the server's `msg` with `(status N)`. `ask_human` adds what that server
lacks: it asks and blocks until a human answers or the request times out.

Where the client comes from is the transport's business: over stdio, one client configured from the
environment; over HTTP, a client per call carrying the caller's own API key (see mcp_server.http).
"""

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import partial
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

import openhitl
from openhitl.client import api
from openhitl.client.aio import AsyncClient
from openhitl.client.api import AskOptions
from openhitl.client.core import Call, Envelope
from openhitl.client.errors import OpenHITLError
from openhitl.kit.ids import ID_PATTERN

ClientFor = Callable[[Context], AbstractAsyncContextManager[AsyncClient]]

ProcessingType = Literal["time-sensitive", "deferred"]
ContentType = Literal["markdown", "image"]
Priority = Literal["low", "medium", "high", "critical"]
ResponseType = Literal["text", "single_select", "multi_select", "rating", "number", "boolean"]
Status = Literal["pending", "claimed", "completed", "timeout", "cancelled"]
RequestText = Annotated[
    str, Field(min_length=1, max_length=2000, description="What the reviewer sees (Markdown)")
]
# Ids become part of request paths: a string that is not one is refused before any call is made.
RequestId = Annotated[
    str, Field(pattern=ID_PATTERN, description="The request's id (24 hexadecimal characters)")
]
LoopId = Annotated[str, Field(pattern=ID_PATTERN, description="The loop's id (24 hexadecimal characters)")]
LoopFilter = Annotated[
    str, Field(pattern=f"^({ID_PATTERN[1:-1]})?$", description="Only this loop's requests")
]
INSTRUCTIONS = (
    "Human-in-the-loop: send questions to a loop of human reviewers and get their answers. "
    "Use ask_human to ask and wait for the answer; the other tools manage loops and requests."
)


def build_server(client_for: ClientFor) -> MCPServer:
    server = MCPServer("openhitl", version=openhitl.__version__, instructions=INSTRUCTIONS)

    async def relay(ctx: Context, build: Callable[[], Call[Any]]) -> Envelope:
        """Builds the call (which checks its ids: nothing is sent for a bad one) and sends it."""
        try:
            call = build()
            async with client_for(ctx) as client:
                return await client.send(call.raw())
        except OpenHITLError as error:
            raise ToolError(str(error)) from error

    @server.tool()
    async def list_loops(ctx: Context) -> dict[str, Any]:
        """List the loops (groups of human reviewers) you belong to."""
        answer = await relay(ctx, api.list_loops)
        return {"message": answer.msg, "loops": answer.data["loops"], "count": answer.data["count"]}

    @server.tool()
    async def create_request(
        ctx: Context,
        loop_id: LoopId,
        processing_type: ProcessingType,
        type: ContentType,
        priority: Priority,
        request_text: RequestText,
        response_type: ResponseType,
        response_config: dict[str, Any],
        default_response: Any,
        timeout_seconds: Annotated[int | None, Field(gt=0, description="Required if time-sensitive")] = None,
        platform: str = "api",
        image_url: Annotated[str | None, Field(description="Required if type is image")] = None,
        context: dict[str, Any] | None = None,
        callback_url: str | None = None,
        tags: list[str] | None = None,
    ) -> dict[str, Any]:
        """Send a request to a loop's reviewers; returns at once with its id (see get_request)."""
        body = {
            "processing_type": processing_type,
            "type": type,
            "priority": priority,
            "request_text": request_text,
            "response_type": response_type,
            "response_config": response_config,
            "default_response": default_response,
            "timeout_seconds": timeout_seconds,
            "platform": platform,
            "image_url": image_url,
            "context": context,
            "callback_url": callback_url,
            "tags": tags,
        }
        answer = await relay(
            ctx, lambda: api.create_request(loop_id, {k: v for k, v in body.items() if v is not None})
        )
        return {"message": answer.msg, "data": answer.data}

    @server.tool()
    async def list_requests(
        ctx: Context,
        status: Status | None = None,
        priority: Priority | None = None,
        loop_id: LoopFilter | None = None,
        limit: Annotated[int, Field(ge=1, le=100)] = 50,
        offset: Annotated[int, Field(ge=0)] = 0,
        sort: Literal["created_at_desc", "created_at_asc", "priority_desc", "status_asc"] | None = None,
    ) -> dict[str, Any]:
        """List requests, newest first, with filters."""
        call = partial(
            api.list_requests,
            status=status,
            priority=priority,
            loop_id=loop_id,
            sort=sort,
            limit=limit,
            offset=offset,
        )
        answer = await relay(ctx, call)
        summary = {key: answer.data[key] for key in ("count", "total", "has_more")}
        return {"message": answer.msg, "summary": summary, "requests": answer.data["requests"]}

    @server.tool()
    async def get_request(ctx: Context, request_id: RequestId) -> dict[str, Any]:
        """One request: its status and, once answered, the response."""
        answer = await relay(ctx, lambda: api.get_request(request_id))
        return {"message": answer.msg, "data": answer.data["request"]}

    @server.tool()
    async def update_request(ctx: Context, request_id: RequestId, updates: dict[str, Any]) -> dict[str, Any]:
        """Change a pending request: any create_request field, such as request_text or priority."""
        answer = await relay(ctx, lambda: api.update_request(request_id, updates))
        return {"message": answer.msg, "data": answer.data["request"]}

    @server.tool()
    async def cancel_request(
        ctx: Context, request_id: RequestId, reason: str | None = None
    ) -> dict[str, Any]:
        """Cancel a pending or claimed request."""
        answer = await relay(ctx, lambda: api.cancel_request(request_id, reason=reason))
        return {"message": answer.msg, "data": answer.data}

    @server.tool()
    async def add_request_feedback(
        ctx: Context,
        request_id: RequestId,
        feedback: Annotated[
            dict[str, Any],
            Field(
                min_length=1,
                description="Any of rating, accuracy, timeliness, helpfulness (1-5), comment, would_recommend, "
                "tags, follow_up_needed, category (positive|constructive|issue)",
            ),
        ],
    ) -> dict[str, Any]:
        """Rate or comment on the answer to a completed request."""
        answer = await relay(ctx, lambda: api.add_feedback(request_id, feedback))
        return {"message": answer.msg, "data": answer.data}

    @server.tool()
    async def ask_human(
        ctx: Context,
        loop_id: LoopId,
        question: Annotated[
            RequestText | None, Field(description="The question; or give request_text")
        ] = None,
        request_text: Annotated[
            RequestText | None, Field(description="The question, by its create_request name")
        ] = None,
        options: Annotated[list[str] | None, Field(description="Choices; the human picks one")] = None,
        response_type: ResponseType | None = None,
        response_config: dict[str, Any] | None = None,
        default_response: Annotated[
            Any, Field(description="The answer if nobody answers in time (default: the last option)")
        ] = None,
        timeout_seconds: Annotated[int, Field(ge=60, le=86400)] = 3600,
        priority: Priority = "medium",
        context: dict[str, Any] | None = None,
        title: str | None = None,
        tags: list[str] | None = None,
        callback_url: str | None = None,
    ) -> dict[str, Any]:
        """Ask a loop's human reviewers and wait for the answer (up to timeout_seconds). Returns the status
        (completed, timeout, cancelled), the answer `value`, whether it is the default, and who answered
        (`answered_by`, also as `response_by`)."""
        if question is not None and request_text is not None:
            raise ToolError("give the question as question or as request_text, not both")
        asking: AskOptions = {"timeout": timeout_seconds, "priority": priority}
        if options is not None:
            asking["options"] = options
        if response_type is not None:
            asking["response_type"] = response_type
        if response_config is not None:
            asking["response_config"] = response_config
        if default_response is not None:
            asking["default"] = default_response
        if context is not None:
            asking["context"] = context
        if title is not None:
            asking["title"] = title
        if tags is not None:
            asking["tags"] = tags
        if callback_url is not None:
            asking["callback_url"] = callback_url
        try:
            async with client_for(ctx) as client:
                decision = await client.ask(loop_id, question or request_text, **asking)
        except (OpenHITLError, ValueError, TypeError) as error:
            raise ToolError(str(error)) from error
        answer = decision.model_dump(mode="json", exclude={"request"})
        return {**answer, "response_by": answer["answered_by"]}

    return server


@asynccontextmanager
async def environment_client(_: Context) -> AsyncIterator[AsyncClient]:
    """Over stdio: the server named by OPENHITL_URL, as the owner of OPENHITL_API_KEY."""
    async with AsyncClient() as client:
        yield client


def run_stdio() -> None:
    build_server(environment_client).run("stdio")
