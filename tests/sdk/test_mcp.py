"""The MCP server driven by the official `mcp` client: `openhitl mcp` over stdio, and /mcp over HTTP."""

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client as McpClient
from mcp import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from tests.integration.reviewing import Team
from tests.sdk.conftest import answer_when_asked
from tests.support.live import Account, LiveServer
from tests.support.payloads import request_body

HITL_TOOLS = {
    "list_loops",
    "create_request",
    "list_requests",
    "get_request",
    "update_request",
    "cancel_request",
    "add_request_feedback",
}


def stdio(server: LiveServer, account: Account) -> McpClient:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENHITL_")}
    env.update(OPENHITL_URL=server.url, OPENHITL_API_KEY=account.key)
    return McpClient(StdioServerParameters(command=sys.executable, args=["-m", "openhitl", "mcp"], env=env))


@asynccontextmanager
async def over_http(server: LiveServer, account: Account) -> AsyncIterator[McpClient]:
    headers = {"Authorization": f"Bearer {account.key}"}
    http = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=120))
    async with http, McpClient(streamable_http_client(f"{server.url}/mcp", http_client=http)) as client:
        yield client


async def call(client: McpClient, tool: str, **arguments: Any) -> Any:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content
    return result.structured_content


async def failure(client: McpClient, tool: str, **arguments: Any) -> str:
    result = await client.call_tool(tool, arguments)
    assert result.is_error
    return str(result.content[0].text)  # type: ignore[union-attr]


@pytest.mark.anyio
async def test_stdio_serves_the_hitl_tools_and_ask_human_for_the_configured_key(
    server: LiveServer, team: Team
) -> None:
    async with stdio(server, team.owner) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert set(tools) == HITL_TOOLS | {"ask_human"}
        assert {"loop_id", "request_text", "response_type", "default_response"} <= set(
            tools["create_request"].input_schema["required"]
        )
        loops = await call(client, "list_loops")
        assert loops["message"] == "Loops retrieved successfully" and loops["count"] == 1
        assert loops["loops"][0]["id"] == team.loop_id
        body = {k: v for k, v in request_body(callback_url=None).items() if k != "platform"}
        created = await call(client, "create_request", loop_id=team.loop_id, **body)
        request_id = created["data"]["request_id"]
        assert created["message"] == "Request created and broadcasted successfully"
        updated = await call(client, "update_request", request_id=request_id, updates={"priority": "high"})
        assert updated["data"]["priority"] == "high"
        listed = await call(client, "list_requests", loop_id=team.loop_id, priority="high")
        assert listed["summary"] == {"count": 1, "total": 1, "has_more": False}
        too_early = await failure(
            client, "add_request_feedback", request_id=request_id, feedback={"rating": 5}
        )
        assert too_early.endswith(
            "Feedback can only be added to completed requests: Request is pending (status 400)"
        )
        cancelled = await call(client, "cancel_request", request_id=request_id, reason="test")
        assert cancelled["data"]["status"] == "cancelled"
        fetched = await call(client, "get_request", request_id=request_id)
        assert (fetched["message"], fetched["data"]["cancel_reason"]) == (
            "Request retrieved successfully",
            "test",
        )
        answering = asyncio.create_task(asyncio.to_thread(answer_when_asked, team, "Ship"))
        decision = await call(
            client, "ask_human", loop_id=team.loop_id, question="Ship it?", options=["Ship", "Hold"]
        )
        await answering
    assert (decision["status"], decision["value"], decision["is_default"]) == ("completed", "Ship", False)
    assert decision["answered_by"]["user_id"] == team.reviewers[0].user_id


@pytest.mark.anyio
async def test_http_acts_as_the_key_owner(server: LiveServer, team: Team) -> None:
    stranger = server.account("stranger")
    async with over_http(server, team.owner) as owner, over_http(server, stranger) as other:
        assert {tool.name for tool in (await owner.list_tools()).tools} == HITL_TOOLS | {"ask_human"}
        answering = asyncio.create_task(asyncio.to_thread(answer_when_asked, team, "Hold"))
        decision = await call(
            owner, "ask_human", loop_id=team.loop_id, question="Ship it?", options=["Ship", "Hold"]
        )
        await answering
        assert (decision["status"], decision["value"]) == ("completed", "Hold")
        assert (await call(other, "list_loops"))["count"] == 0
        hidden = await failure(other, "get_request", request_id=decision["request_id"])
        assert hidden.endswith("(status 404)") or hidden.endswith("(status 403)")
        owned = await call(owner, "list_loops")
        assert owned["loops"][0]["join_url"].startswith(server.url)


@pytest.mark.anyio
async def test_ask_human_takes_the_question_as_request_text_too(server: LiveServer, team: Team) -> None:
    async with over_http(server, team.owner) as owner:
        answering = asyncio.create_task(asyncio.to_thread(answer_when_asked, team, "Ship"))
        decision = await call(
            owner,
            "ask_human",
            loop_id=team.loop_id,
            request_text="Ship it?",
            options=["Ship", "Hold"],
            tags=["release"],
        )
        await answering
        both = await failure(
            owner, "ask_human", loop_id=team.loop_id, question="Ship?", request_text="Ship?", options=["Ship"]
        )
        neither = await failure(owner, "ask_human", loop_id=team.loop_id, options=["Ship"])
    assert (decision["status"], decision["value"]) == ("completed", "Ship")
    assert decision["response_by"] == decision["answered_by"]
    assert decision["response_by"]["user_id"] == team.reviewers[0].user_id
    assert both.endswith("give the question as question or as request_text, not both")
    assert "needs the question" in neither
    shown = team.status(decision["request_id"])
    assert (shown["request_text"], shown["tags"]) == ("Ship it?", ["release"])


def test_http_refuses_calls_without_a_valid_key_and_other_methods(server: LiveServer) -> None:
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    missing = httpx.post(f"{server.url}/mcp", json=ping)
    wrong = httpx.post(f"{server.url}/mcp", json=ping, headers={"Authorization": "Bearer hitl_live_nope"})
    for answer in (missing, wrong):
        assert answer.status_code == 401 and answer.headers["www-authenticate"] == "Bearer"
        assert answer.json()["error"] is True
    assert missing.json()["msg"] == "Missing or invalid authorization header"
    assert wrong.json()["msg"] == "Invalid authorization token"
    # Stateless: no stream to listen on and no session to end.
    for method in ("GET", "DELETE"):
        assert httpx.request(method, f"{server.url}/mcp", timeout=10).status_code == 405
