"""Ids from callers never become part of a path unchecked: the SDK, the MCP tools and the CLI are driven as a
prompt-injected agent would drive them, with path-traversal strings for ids, against a live server. Nothing is
sent, and the webhook and invite code those strings aim at stay as they were."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from openhitl import AsyncClient, Client, InvalidId
from openhitl.cli import cli
from tests.integration.reviewing import Team
from tests.sdk.conftest import answer
from tests.sdk.test_mcp import failure, over_http
from tests.support.live import Account, LiveServer, full_access_account
from tests.support.payloads import SEED_LOOP, yes_no

HOOK_URL = "http://127.0.0.1:9/kept"
EVIL_URL = "http://127.0.0.1:9/taken"


class Recording(httpx.BaseTransport):
    """The real transport, keeping every request that went through it."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.sent: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


@dataclass
class Target:
    """What the traversal strings aim at: a webhook endpoint and a loop's invite code, of the SDK's own user."""

    server: LiveServer
    owner: Account
    loop_id: str
    webhook_id: str
    completed_request_id: str

    def state(self) -> tuple[str, str, bool]:
        with self.server.client(self.owner) as http:
            hook = http.get(f"/v1/api/webhooks/{self.webhook_id}")
            loop = http.get(f"/v1/api/loops/{self.loop_id}").json()["data"]["loop"]
            request = http.get(f"/v1/api/requests/{self.completed_request_id}").json()["data"]
        assert hook.status_code == 200, "the webhook was deleted"
        return hook.json()["data"]["webhook"]["url"], loop["invite_code"], bool(request["feedback"])


@pytest.fixture
def target(server: LiveServer, team: Team) -> Target:
    owner = full_access_account(server, "owner")
    with server.client(owner) as http:
        hook = http.post("/v1/api/webhooks", json={"url": HOOK_URL, "events": ["request.completed"]})
        loop = http.post("/v1/api/loops", json=SEED_LOOP).json()["data"]["loop"]
    assert hook.status_code == 201, hook.text
    server.add_member(loop["id"], team.reviewers[0].user_id)
    with server.client(owner) as http:
        created = http.post(f"/v1/api/loops/{loop['id']}/requests", json=yes_no("Ship it?"))
    request_id = created.json()["data"]["request_id"]
    answer(team, request_id, True)
    return Target(server, owner, loop["id"], hook.json()["data"]["webhook"]["id"], request_id)


def traversals(target: Target) -> list[str]:
    hook, loop = target.webhook_id, target.loop_id
    return [
        f"../webhooks/{hook}",
        f"../loops/{loop}/invite-code?x=",
        f"..%2Fwebhooks%2F{hook}",
        f"%2e%2e/webhooks/{hook}",
        f"{hook}/../../webhooks/{hook}",
        f"{hook}#",
        f"{hook}\n",
        f" {hook}",
        "",
        "..",
    ]


# Every SDK call that takes an id, aimed by `bad` at the target (a webhook change, an invite code regenerated).
CALLS: dict[str, Callable[[Any, str], Any]] = {
    "update_request": lambda c, bad: c.update_request(bad, {"url": EVIL_URL}),
    "add_feedback": lambda c, bad: c.add_feedback(bad, {"rating": 5}),
    "get_request": lambda c, bad: c.get_request(bad),
    "cancel_request": lambda c, bad: c.cancel_request(bad),
    "wait": lambda c, bad: c.wait(bad, timeout=1),
    "create_request": lambda c, bad: c.create_request(bad, {"request_text": "x"}),
    "get_loop": lambda c, bad: c.get_loop(bad),
    "update_loop": lambda c, bad: c.update_loop(bad, name="taken"),
    "delete_loop": lambda c, bad: c.delete_loop(bad),
    "list_members": lambda c, bad: c.list_members(bad),
    "remove_member": lambda c, bad: c.remove_member(bad, bad),
    "list_requests": lambda c, bad: c.list_requests(loop_id=bad or "../x"),
    "get_webhook": lambda c, bad: c.get_webhook(bad),
    "update_webhook": lambda c, bad: c.update_webhook(bad, url=EVIL_URL),
    "delete_webhook": lambda c, bad: c.delete_webhook(bad),
    "test_webhook": lambda c, bad: c.test_webhook(bad),
    "revoke_api_key": lambda c, bad: c.revoke_api_key(bad),
}


@pytest.fixture
def recorded(server: LiveServer, target: Target) -> Iterator[tuple[Client, Recording]]:
    transport = Recording()
    with Client(target.owner.key, server.url, transport=transport, retries=0) as client:
        yield client, transport


@pytest.mark.parametrize("call", sorted(CALLS))
def test_sdk_refuses_an_id_that_is_not_one_and_sends_nothing(
    recorded: tuple[Client, Recording], target: Target, call: str
) -> None:
    client, transport = recorded
    before = target.state()
    for bad in traversals(target):
        with pytest.raises(InvalidId, match="must be a 24-character hexadecimal id") as refused:
            CALLS[call](client, bad)
        assert isinstance(refused.value, ValueError)
    assert transport.sent == [], [str(request.url) for request in transport.sent]
    assert target.state() == before


def test_sdk_quotes_and_sends_a_well_formed_id(recorded: tuple[Client, Recording], target: Target) -> None:
    client, transport = recorded
    assert client.get_webhook(target.webhook_id).url == HOOK_URL
    assert [request.url.raw_path for request in transport.sent] == [
        f"/v1/api/webhooks/{target.webhook_id}".encode()
    ]


@pytest.mark.anyio
async def test_async_sdk_refuses_the_traversals_too(server: LiveServer, target: Target) -> None:
    before = target.state()
    async with AsyncClient(target.owner.key, server.url) as client:
        for bad in traversals(target):
            with pytest.raises(InvalidId):
                await client.update_request(bad, {"url": EVIL_URL})
            with pytest.raises(InvalidId):
                await client.add_feedback(bad, {"rating": 5})
    assert target.state() == before


@pytest.mark.anyio
async def test_mcp_tools_refuse_the_traversals_before_calling_the_api(
    server: LiveServer, target: Target
) -> None:
    before = target.state()
    async with over_http(server, target.owner) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        for name in ("get_request", "update_request", "cancel_request", "add_request_feedback"):
            assert tools[name].input_schema["properties"]["request_id"]["pattern"] == "^[0-9a-fA-F]{24}$"
        assert tools["create_request"].input_schema["properties"]["loop_id"]["pattern"] == "^[0-9a-fA-F]{24}$"
        for bad in traversals(target):
            refusals = [
                await failure(client, "update_request", request_id=bad, updates={"url": EVIL_URL}),
                await failure(client, "add_request_feedback", request_id=bad, feedback={"rating": 5}),
                await failure(client, "cancel_request", request_id=bad),
                await failure(client, "get_request", request_id=bad),
                await failure(client, "create_request", **_create_arguments(bad)),
                await failure(client, "ask_human", loop_id=bad, question="Ship it?", options=["Yes", "No"]),
            ]
            assert all("pattern" in refusal for refusal in refusals), refusals
        listed = await failure(client, "list_requests", loop_id="../webhooks")
        assert "pattern" in listed
    assert target.state() == before


def _create_arguments(loop_id: str) -> dict[str, Any]:
    return {
        "loop_id": loop_id,
        "processing_type": "deferred",
        "type": "markdown",
        "priority": "low",
        "request_text": "x",
        "response_type": "boolean",
        "response_config": {},
        "default_response": False,
    }


def test_cli_refuses_an_id_that_is_not_one_with_a_usage_error(server: LiveServer, target: Target) -> None:
    before = target.state()
    env = {"OPENHITL_URL": server.url, "OPENHITL_API_KEY": target.owner.key}
    runner = CliRunner()
    for bad in traversals(target):
        for args in (
            ["requests", "cancel", bad],
            ["requests", "get", bad],
            ["requests", "list", "--loop", bad or ".."],
            ["ask", "Ship it?", "--loop", bad, "--options", "Yes,No", "--timeout", "60"],
        ):
            result = runner.invoke(cli, args, env=env)
            assert result.exit_code == 2, (args, result.output)
            assert "24-character hexadecimal id" in result.output, result.output
    assert target.state() == before
